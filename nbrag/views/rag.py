"""AnswerView: a RAG answer with clickable citations, its sources and the prompt. TraceView: the agent's steps.

Python computes everything that is drawn: the answer cut into runs (plain text, a citation
marker, each inside its sentence of the support check), each source's card (where its chunk
lies, its fused and per-retriever scores, how much of it reached the prompt), the notes on what
the token budget cut, and the time and tokens. The JavaScript in ``widgets/rag.js`` only draws,
and sets every piece of document and model text as text, never as markup.

Clicking a citation ``[n]`` highlights source n, scrolls to it and opens its full text; a
citation whose number names no source is drawn broken, with a tooltip saying so. A sentence
that the support check did not find in its cited sources is underlined (wavy), with its score
and the threshold on hover. ``StreamView`` shows a reply while the model writes it.
"""

from __future__ import annotations

import json
import time
from itertools import pairwise
from typing import Any

import anywidget
import ipywidgets
import traitlets

from nbrag.errors import NbragError
from nbrag.views.shared import BundleDisplay, WithStaticHTML, e, static, style

CITE_HINT = "Click a citation [n] to see its source; hover a sentence for its support score."
ACTION_HINTS = {
    "plan": "split the question into sub-questions",
    "retrieve": "search the index",
    "graph_search": "search through the knowledge graph",
    "rewrite": "rewrite the query: the evidence was judged insufficient",
    "calculate": "arithmetic, parsed from the expression (never eval)",
    "answer": "draft the answer from the evidence",
    "verify": "check the draft against the evidence",
    "finish": "stop",
}


# ---------------------------------------------------------------------- what is drawn

def _text_of(answer: Any) -> str:
    """The answer's text: ``Answer.text`` or ``AgentResult.answer``."""
    text = getattr(answer, "text", None)
    return text if isinstance(text, str) else str(getattr(answer, "answer", "") or "")


def answer_runs(text: str, citations: list[Any], support: list[Any]) -> list[dict[str, Any]]:
    """``text`` cut at every citation marker and sentence boundary, in order.

    Each run is ``{"text", "sentence", "cite"}``: the index of the support sentence that holds it
    (None between sentences) and, for a marker, ``{"number", "source"}`` (``source`` the index into
    the sources, None when the number cites nothing). The runs' texts join back to ``text``.
    """
    spans = [(max(0, c.start), min(len(text), c.end)) for c in citations]
    cuts = sorted({0, len(text), *(p for s in spans for p in s),
                   *(min(max(0, p), len(text)) for s in support for p in (s.start, s.end))})
    runs: list[dict[str, Any]] = []
    for a, b in pairwise(cuts):
        if a == b:
            continue
        sentence = next((i for i, s in enumerate(support) if s.start <= a < s.end), None)
        cite = next(({"number": c.number, "source": c.source} for c, (s, e) in zip(citations, spans) if s <= a < e),
                    None)
        runs.append({"text": text[a:b], "sentence": sentence, "cite": cite})
    return runs


def _scores(hit: Any) -> list[dict[str, Any]]:
    """The hit's scores, fused first, then per retriever with its rank."""
    if hit is None:
        return []
    out = [{"name": "fused" if len(hit.scores) > 1 else "score", "value": float(hit.score), "rank": hit.rank}]
    out += [{"name": name, "value": float(value), "rank": hit.ranks.get(name)} for name, value in hit.scores.items()]
    return out


def source_cards(answer: Any) -> list[dict[str, Any]]:
    """One card per numbered source: where its chunk lies, its scores, its text and how much the prompt kept."""
    cards = []
    for source in answer.sources:
        hit = source.hit
        full = hit.text if hit is not None else source.text
        status = "dropped" if source.dropped else "truncated" if source.truncated else ""
        card = {"number": source.number, "document": getattr(hit, "document", ""),
                "start": getattr(hit, "start", 0), "end": getattr(hit, "end", len(full)),
                "id": getattr(hit, "id", ""), "text": full, "promptText": source.text, "inPrompt": source.kept,
                "tokens": source.tokens, "status": status, "scores": _scores(hit)}
        card["title"] = "\n".join([f"[{source.number}] {card['document']} · chars {card['start']}–{card['end']}",
                                   *(f"{s['name']} {s['value']:.4f}" + (f", rank {s['rank']}" if s["rank"] else "")
                                     for s in card["scores"]),
                                   f"{source.tokens} tokens in the prompt" + (f" ({status})" if status else "")])
        cards.append(card)
    return cards


def sentence_notes(support: list[Any], threshold: float) -> list[dict[str, Any]]:
    """Per support sentence: its verdict and the hover text that gives its score against the threshold."""
    notes = []
    for s in support:
        uncited = getattr(s, "uncited", False) or not s.cited
        against = "every source (it cites none)" if uncited else "its cited source" + ("s " if len(s.cited) > 1
                                                                                      else " ") + \
            ", ".join(f"[{n}]" for n in s.cited)
        best = getattr(s, "best", None)
        verdict = "supported" if s.supported else "not supported"
        title = (f"{verdict}: similarity {s.score:.3f} {'≥' if s.supported else '<'} threshold {threshold:.2f}, "
                 f"against {against}" + (f"; closest: [{best}]" if best is not None else ""))
        notes.append({"supported": bool(s.supported), "uncited": bool(uncited), "score": float(s.score),
                      "title": title})
    return notes


def budget_notes(answer: Any) -> list[str]:
    """What the token budget did to the sources, one line each."""
    notes = []
    for s in answer.sources:
        if s.dropped:
            notes.append(f"Source [{s.number}] was dropped: no room left in the context budget.")
        elif s.truncated:
            notes.append(f"Source [{s.number}] was truncated to {s.tokens} tokens to fit the context budget.")
    return notes


def _seconds(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"{k} {v:.2f} s" for k, v in value.items()]
        total = sum(value.values())
        return f"{total:.2f} s ({', '.join(parts)})" if parts else ""
    return f"{float(value or 0):.2f} s"


def meta_line(answer: Any) -> str:
    """Generator, time and tokens in one line."""
    tokens = getattr(answer, "tokens", {}) or {}
    parts = [p for p in (getattr(answer, "generator", ""), _seconds(getattr(answer, "seconds", {}))) if p]
    if tokens:
        parts.append(" + ".join(f"{v:,} {k}" for k, v in tokens.items()) + " tokens")
    return " · ".join(parts)


def answer_data(answer: Any) -> dict[str, Any]:
    """Everything the answer view draws, as JSON-able data (an ``Answer`` or an ``AgentResult``)."""
    text = _text_of(answer)
    threshold = float(getattr(answer, "support_threshold", 0.0) or 0.0)
    draft = getattr(answer, "draft", None)
    prompt = getattr(answer, "prompt", None)
    if prompt is None and draft is not None:
        prompt = draft.prompt
    cards = source_cards(answer)
    runs = answer_runs(text, list(answer.citations), list(answer.support))
    for run in runs:
        cite = run["cite"]
        if cite is not None and cite["source"] is None:
            cite["title"] = (f"[{cite['number']}] cites no source: the prompt had "
                             f"{len(cards)} source{'s' if len(cards) != 1 else ''}"
                             + (f" ([1]–[{len(cards)}])." if cards else "."))
        elif cite is not None:
            card = cards[cite["source"]]
            cite["title"] = f"source [{card['number']}]: {card['document']} · chars {card['start']}–{card['end']}"
    return {
        "question": str(getattr(answer, "question", "")),
        "heading": "",
        "runs": runs,
        "sentences": sentence_notes(list(answer.support), threshold),
        "threshold": threshold,
        "sources": cards,
        "prompt": prompt or "",
        "notes": budget_notes(answer),
        "warnings": [str(w) for w in getattr(answer, "warnings", []) or []],
        "meta": meta_line(answer),
    }


def legend(threshold: float) -> str:
    return (f"Wavy underline: a sentence whose best similarity to the sources it cites is below the threshold "
            f"{threshold:.2f} (embedding cosine); dashed: it cites no source. {CITE_HINT}")


def _action_title(step: Any) -> str:
    return ACTION_HINTS.get(step.action, step.action)


def step_rows(result: Any) -> list[dict[str, Any]]:
    """One row per agent step, with its retrieved passages."""
    rows = []
    for step in result.steps:
        rows.append({
            "number": step.number, "action": step.action, "actionTitle": _action_title(step),
            "thought": step.thought or "", "arguments": json.dumps(step.arguments, ensure_ascii=False, default=str),
            "observation": step.observation or "", "seconds": float(step.seconds or 0.0),
            "promptTokens": int(step.prompt_tokens or 0), "completionTokens": int(step.completion_tokens or 0),
            "raw": step.raw or "", "note": step.note or "",
            "hits": [{"rank": h.rank, "document": h.document, "start": h.start, "end": h.end, "text": h.text,
                      "score": float(h.score)} for h in step.hits],
        })
    return rows


def trace_data(result: Any) -> dict[str, Any]:
    """What the trace view draws above the answer."""
    verified = result.verified
    tokens = result.tokens or {}
    return {
        "question": result.question,
        "subQuestions": list(result.sub_questions),
        "subAnswers": [a or "" for a in getattr(result, "sub_answers", [])],
        "steps": step_rows(result),
        "verified": "not checked" if verified is None else "verified" if verified else "not verified",
        "stopped": result.stopped or "",
        "summary": (f"{len(result.steps)} steps · {_seconds(result.seconds)}"
                    + (" · " + " + ".join(f"{v:,} {k}" for k, v in tokens.items()) + " tokens" if tokens else "")),
    }


# ---------------------------------------------------------------------- widgets

class AnswerView(WithStaticHTML, anywidget.AnyWidget):
    """An answer (``nbrag.ask``'s ``Answer``, or an ``AgentResult``): clickable citations, sources, the prompt.

    ``selected`` is the source number whose card is open (0: none); clicking a citation sets it.
    """

    _esm = static("rag.js")
    _css = static("rag.css")

    kind = traitlets.Unicode("answer").tag(sync=True)
    data = traitlets.Dict().tag(sync=True)
    legend = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(0).tag(sync=True)

    def __init__(self, answer: Any, *, heading: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer = answer
        data = answer_data(answer)
        if heading:  # below a trace that already asked the question
            data.update(question="", heading=heading)
        with self.hold_sync():
            self.data = data
            self.legend = legend(data["threshold"])

    def select(self, number: int) -> None:
        """Open source ``number`` (as a click on its citation does); 0 closes it."""
        numbers = [c["number"] for c in self.data["sources"]]
        if number and number not in numbers:
            raise NbragError(f"no such source: this answer has sources {numbers or 'none'}.", option="number",
                             value=number)
        self.selected = number

    def to_html(self) -> str:
        return style("rag.css") + static_answer(self.data, self.legend, self.model_id)


def _uid(model_id: str) -> str:
    return "nbrag-" + "".join(ch for ch in model_id if ch.isalnum())[:12]


def static_answer(data: dict[str, Any], legend_text: str, model_id: str = "") -> str:
    """The answer as static HTML (every piece of text escaped); citations are links to their sources."""
    uid = _uid(model_id)
    out = ['<div class="nbrag-rag">']
    if data["question"]:
        out.append(f'<div class="nbrag-rag-question"><span>Question</span> {e(data["question"])}</div>')
    if data.get("heading"):
        out.append(f'<div class="nbrag-rag-head nbrag-rag-answer-head">{e(data["heading"])}</div>')
    out.append('<div class="nbrag-rag-answer">')
    groups: list[tuple[int | None, list[dict[str, Any]]]] = []
    for run in data["runs"]:
        if groups and groups[-1][0] == run["sentence"] and run["sentence"] is not None:
            groups[-1][1].append(run)
        else:
            groups.append((run["sentence"], [run]))
    for sentence, runs in groups:
        inner = []
        for run in runs:
            cite = run["cite"]
            if cite is None:
                inner.append(e(run["text"]))
            elif cite["source"] is None:
                inner.append(f'<span class="nbrag-cite nbrag-broken" title="{e(cite["title"])}">'
                             f'{e(run["text"])}</span>')
            else:
                number = data["sources"][cite["source"]]["number"]
                inner.append(f'<a class="nbrag-cite" href="#{uid}-{number}" title="{e(cite["title"])}">'
                             f'{e(run["text"])}</a>')
        if sentence is None:
            out.append("".join(inner))
        else:
            note = data["sentences"][sentence]
            cls = "nbrag-sentence" + ("" if note["supported"] else " nbrag-unsupported") + \
                (" nbrag-uncited" if note["uncited"] else "")
            out.append(f'<span class="{cls}" title="{e(note["title"])}">{"".join(inner)}</span>')
    out.append("</div>")
    out.append(f'<div class="nbrag-rag-legend">{e(legend_text)}</div>')
    if data["meta"]:
        out.append(f'<div class="nbrag-rag-meta">{e(data["meta"])}</div>')
    out += [f'<div class="nbrag-rag-warning">{e(w)}</div>' for w in data["warnings"]]
    if data["sources"]:
        out.append(f'<div class="nbrag-rag-sources"><div class="nbrag-rag-head">Sources ({len(data["sources"])})'
                   "</div>")
        out += [_static_card(card, uid) for card in data["sources"]]
        out.append("</div>")
    if data["prompt"]:
        notes = "".join(f'<div class="nbrag-rag-note">{e(n)}</div>' for n in data["notes"])
        out.append(f'<details class="nbrag-rag-prompt"><summary>The prompt, exactly as the model saw it '
                   f'({len(data["prompt"]):,} characters)</summary>{notes}<pre>{e(data["prompt"])}</pre></details>')
    out.append("</div>")
    return "".join(out)


def _rank(rank: int | None) -> str:
    return f" #{rank}" if rank else ""


def _static_card(card: dict[str, Any], uid: str) -> str:
    status = f' <span class="nbrag-rag-status">{e(card["status"])}</span>' if card["status"] else ""
    scores = "".join(f'<span class="nbrag-chip" data-name="{e(s["name"])}">{e(s["name"])} {s["value"]:.4f}'
                     f'{_rank(s["rank"])}</span>' for s in card["scores"])
    kept, rest = card["text"][:card["inPrompt"]], card["text"][card["inPrompt"]:]
    rest_html = f'<span class="nbrag-rag-cut" title="not in the prompt">{e(rest)}</span>' if rest else ""
    return (f'<div class="nbrag-rag-source" id="{uid}-{card["number"]}" data-number="{card["number"]}" '
            f'title="{e(card["title"])}"><div class="nbrag-rag-source-head"><span class="nbrag-rag-number">'
            f'[{card["number"]}]</span><span class="nbrag-where">{e(card["document"])} · chars {card["start"]}–'
            f'{card["end"]}</span>{scores}<span class="nbrag-chip">{card["tokens"]} tokens</span>{status}</div>'
            f'<div class="nbrag-rag-text">{e(kept)}{rest_html}</div></div>')


class TraceWidget(WithStaticHTML, anywidget.AnyWidget):
    """The agent's steps as collapsible rows, its sub-questions, verification and stop message."""

    _esm = static("rag.js")
    _css = static("rag.css")

    kind = traitlets.Unicode("trace").tag(sync=True)
    data = traitlets.Dict().tag(sync=True)

    def to_html(self) -> str:
        return style("rag.css") + static_trace(self.data)


def static_trace(data: dict[str, Any]) -> str:
    """The trace as static HTML, each step a ``<details>`` row (every piece of text escaped)."""
    out = ['<div class="nbrag-trace">',
           f'<div class="nbrag-rag-question"><span>Question</span> {e(data["question"])}</div>',
           f'<div class="nbrag-rag-meta">{e(data["summary"])}</div>']
    if data["subQuestions"]:
        subs = data["subAnswers"] + [""] * len(data["subQuestions"])
        out.append('<div class="nbrag-trace-subs"><div class="nbrag-rag-head">Sub-questions</div><ol>')
        out += [f"<li>{e(q)}" + (f' <span class="nbrag-trace-subanswer">→ {e(a)}</span>' if a else "") + "</li>"
                for q, a in zip(data["subQuestions"], subs)]
        out.append("</ol></div>")
    for step in data["steps"]:
        out.append(f'<details class="nbrag-step" data-action="{e(step["action"])}"><summary>'
                   f'<span class="nbrag-step-number">{step["number"]}</span>'
                   f'<span class="nbrag-badge" data-action="{e(step["action"])}" title="{e(step["actionTitle"])}">'
                   f'{e(step["action"])}</span><span class="nbrag-step-thought">{e(step["thought"])}</span>'
                   f'<span class="nbrag-step-cost">{step["seconds"]:.2f} s · {step["promptTokens"]}+'
                   f'{step["completionTokens"]} tokens</span></summary>'
                   f'<div class="nbrag-step-body"><div><b>arguments</b> <code>{e(step["arguments"])}</code></div>')
        if step["note"]:
            out.append(f'<div class="nbrag-step-note">{e(step["note"])}</div>')
        if step["observation"]:
            out.append(f'<div><b>observation</b><pre>{e(step["observation"])}</pre></div>')
        out += [f'<div class="nbrag-step-hit"><span class="nbrag-where">#{h["rank"]} {e(h["document"])} · chars '
                f'{h["start"]}–{h["end"]} · {h["score"]:.4f}</span><div class="nbrag-rag-text">{e(h["text"])}</div>'
                f'</div>' for h in step["hits"]]
        if step["raw"]:
            out.append(f'<div><b>model reply</b><pre>{e(step["raw"])}</pre></div>')
        out.append("</div></details>")
    out.append(f'<div class="nbrag-trace-verified" data-verified="{e(data["verified"])}">Verification: '
               f'{e(data["verified"])}</div>')
    if data["stopped"]:
        out.append(f'<div class="nbrag-trace-stopped">{e(data["stopped"])}</div>')
    out.append("</div>")
    return "".join(out)


class TraceView(WithStaticHTML, ipywidgets.VBox):
    """An ``AgentResult``: its steps (``trace``), then its final answer drawn by :class:`AnswerView` (``answer``)."""

    def __init__(self, result: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.trace = TraceWidget(data=trace_data(result))
        self.answer = AnswerView(result, heading="Final answer")
        self.children = [self.trace, self.answer]

    def to_html(self) -> str:
        answer = self.answer
        return style("rag.css") + static_trace(self.trace.data) + static_answer(answer.data, answer.legend,
                                                                                answer.model_id)


# ---------------------------------------------------------------------- streaming

class StreamWidget(BundleDisplay, anywidget.AnyWidget):
    """A reply as the model writes it: ``title`` above, ``text`` so far (set as text, never as markup)."""

    _esm = static("rag.js")
    _css = static("rag.css")

    kind = traitlets.Unicode("stream").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)


class StreamView:
    """Shows a reply as the model writes it: call it with each new piece of text (the ``stream`` callback).

    The widget is redrawn at most every ``interval`` seconds (the last piece is drawn by :meth:`flush`),
    so a fast model does not flood the front end with one message per token.
    """

    def __init__(self, title: str = "Generating…", interval: float = 0.1) -> None:
        self.title = title
        self.interval = interval
        self.text = ""
        self.pieces = 0
        self.draws = 0
        self.widget = StreamWidget(title=title)
        self._last = 0.0

    def __call__(self, piece: str) -> None:
        self.text += piece
        self.pieces += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            self.flush()
            self._last = now

    def flush(self) -> None:
        """Draw the text received so far."""
        self.widget.text = self.text
        self.draws += 1

    def close(self) -> None:
        """Remove the streamed text from the page (the finished answer replaces it)."""
        self.widget.close()
