"""ScoreView: why each passage ranked where it did. RetrievalComparisonView: several modes' rankings side by side.

Python computes everything that is drawn: the character spans of the query terms that
BM25 matched in each passage, each retriever's part of the fused score (the engine's
``RetrievalResult.parts()``: RRF ``w / (rrf_k + rank)``; min-max and z-score, the weight
times the scaled score), and where each part of the bar starts and ends. The JavaScript in
``widgets/retrieval.js`` only draws, and sets every piece of text as text.

A hybrid result gets a slider for the BM25 weight (dense = 1 - it) and a fusion menu
(``hybrid+graph``: the menu only): both fuse the same candidates again (``result.fuse``,
no new search) and redraw. A hit found through the knowledge graph says by which path
("via A → B → C").
Clicking a hit opens its document below, with the index's chunk boundaries and the
hits of that document starred by rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets

from nbrag.analyzers import spans as term_spans
from nbrag.errors import NbragError
from nbrag.ranking.fusion import FUSIONS, settle
from nbrag.views.boundary import LEGEND, BoundaryView
from nbrag.views.shared import WithStaticHTML, e, static, style

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.retrieval.base import Hit, RetrievalResult
    from nbrag.retrieval.comparison import RetrievalComparison

LEGENDS = {
    "rrf": "each retriever's share of the fused score, weight / (rrf_k + its rank)",
    "minmax": "each retriever's part of the fused score, weight × its score scaled to 0–1 over its candidates",
    "zscore": "each retriever's part of the fused score, weight × its z-score over its candidates "
              "(left of the line: below its mean)",
    "bm25": "the BM25 score",
    "dense": "the cosine similarity of passage and query",
    "graph": "the graph search's score",
}
SCORE_NAMES = {"bm25": "score", "dense": "cosine"}
# The graph retriever's score, per graph search (params["graph"]).
GRAPH_SCORES = {"ppr": "PageRank", "local": "local score", "global": "global score"}
GRAPH_LEGENDS = {
    "ppr": "the chunk's personalized PageRank, from the query's entities (and best dense hits) through the graph",
    "local": "the local graph score: the query's entities and their neighbours that the chunk names, the rarer "
             "the more",
    "global": "the global graph score: how much the chunk names the communities whose reports match the query",
}
LIVE = {"continuous_update": False, "style": {"description_width": "initial"}}
HINT = "Marked words: the query terms BM25 matched. Hover a hit for every score and rank"
LIVE_HINT = HINT + "; click it to open its document."


# ---------------------------------------------------------------------- what is drawn

def highlight_spans(text: str, terms: Mapping[str, float], language: str = "none") -> list[dict[str, Any]]:
    """Where the BM25 ``terms`` (lower-cased words or their stems, CJK bigrams) occur in ``text``, as merged
    character spans.

    The text is cut and stemmed as the BM25 analyzer of ``language`` (the index's) did, so a term is found where
    BM25 found it: ``Lighthouse`` for ``lighthouse``, ``running`` and ``runs`` for the stem ``run``, 储存 inside
    绿茶储存, never ``light`` inside ``lighthouse``. Each span says which terms it holds and their share of the score.
    """
    wanted = dict(terms)
    if not wanted:
        return []
    found = [(start, end, term) for term, start, end in term_spans(text, language) if term in wanted]
    spans: list[dict[str, Any]] = []
    for start, end, term in sorted(found):
        if spans and start <= spans[-1]["end"]:  # overlapping or touching (bigrams of one CJK run): one mark
            spans[-1]["end"] = max(spans[-1]["end"], end)
            spans[-1]["terms"].setdefault(term, wanted[term])
        else:
            spans.append({"start": start, "end": end, "terms": {term: wanted[term]}})
    for span in spans:
        span["title"] = " · ".join(f"{t} {s:.3f}" for t, s in span["terms"].items())
    return spans


def score_parts(result: RetrievalResult) -> dict[str, dict[str, float]]:
    """Per hit id, each retriever's part of the score that ranked it (``result.parts()``); in hybrid mode the
    parts sum to the fused score."""
    return result.parts()


def bar_segments(parts: list[dict[str, float]]) -> tuple[float, list[list[dict[str, Any]]]]:
    """Where each part's bar lies, in percent of one scale shared by all hits: positive parts stack right
    of the zero line, negative ones left of it. Returns the zero line's position and the segments."""
    highs = [sum(v for v in p.values() if v > 0) for p in parts]
    lows = [sum(v for v in p.values() if v < 0) for p in parts]
    high, low = max([0.0, *highs]), min([0.0, *lows])
    scale = (high - low) or 1.0
    zero = 100 * -low / scale
    drawn = []
    for p in parts:
        right = left = zero
        row = []
        for name, value in p.items():
            width = 100 * abs(value) / scale
            if value >= 0:
                start, right = right, right + width
            else:
                left -= width
                start = left
            row.append({"name": name, "value": value, "left": _percent(start), "width": _percent(width)})
        drawn.append(row)
    return _percent(zero), drawn


def _percent(x: float) -> float:
    return round(x, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def slider_weights(bm25: float) -> dict[str, float]:
    """The weights the slider stands for: BM25 ``bm25``, dense the rest."""
    return {"bm25": bm25, "dense": 1.0 - bm25}


def score_name(name: str, result: RetrievalResult) -> str:
    """What a retriever's raw score is: BM25 score, cosine, or the graph search's score (PageRank, ...)."""
    if name == "graph":
        return GRAPH_SCORES.get(result.params.get("graph") or "", "graph score")
    return SCORE_NAMES.get(name, "score")


def bm25_weight(result: RetrievalResult) -> float:
    """BM25's normalised weight in a hybrid result (the default's when none were given)."""
    return float(result.weights().get("bm25", 0.0))


def fusion_name(result: RetrievalResult) -> str:
    """The fusion a result of several retrievers was fused with (the default's when none was given)."""
    return settle(result.candidates, result.params.get("fusion")).fusion


def describe(result: RetrievalResult) -> str:
    """The column title: mode and the options that shaped the ranking."""
    p = result.params
    parts = [result.mode]
    if p.get("graph") and "graph" in result.candidates:
        parts.append(f"graph search {p['graph']}")
    if len(result.candidates) > 1:
        fusion = fusion_name(result)
        parts.append(f"{fusion} (rrf_k {settle(result.candidates, rrf_k=p.get('rrf_k')).rrf_k})"
                     if fusion == "rrf" else fusion)
        if set(result.candidates) == {"bm25", "dense"}:
            w = bm25_weight(result)
            parts.append(f"bm25 {w:.2f} / dense {1 - w:.2f}")
        else:
            parts.append(" / ".join(f"{n} {w:.2f}" for n, w in result.weights().items()))
    if result.hyde:
        parts.append("HyDE")
    if p.get("rerank"):
        parts.append("reranked")
    parts.append(f"{len(result)} hits")
    return " · ".join(parts)


def legend(result: RetrievalResult) -> str:
    """What the bar of a column stands for (the view puts a colour swatch per retriever before it)."""
    hybrid = len(result.candidates) > 1
    name = fusion_name(result) if hybrid else next(iter(result.candidates), result.mode)
    text = GRAPH_LEGENDS.get(result.params.get("graph") or "", LEGENDS["graph"]) if name == "graph" else LEGENDS[name]
    if result.params.get("rerank"):
        text += "; the order is the reranker's"
    return text + "."


def _why(hit: Hit, parts: dict[str, float], result: RetrievalResult) -> str:
    """The hover text of a hit: each retriever's raw score and rank, then how the parts add up."""
    lines = []
    for name, ranked in result.candidates.items():
        if name in hit.ranks:
            lines.append(f"{name}: {score_name(name, result)} {hit.scores[name]:.4f}, rank {hit.ranks[name]}")
        else:
            lines.append(f"{name}: not among its {len(ranked)} candidates")
    if len(result.candidates) > 1:
        lines.append(f"fused {sum(parts.values()):.4f} = " + " + ".join(f"{n} {v:.4f}" for n, v in parts.items()))
    if "rerank" in hit.scores:
        lines.append(f"rerank {hit.scores['rerank']:.4f}")
    if hit.meta.get("graph_path"):
        lines.append(via(hit))
    lines.append(f"chunk {hit.id}")
    return "\n".join(lines)


def via(hit: Hit) -> str:
    """The graph path that led to a hit, from a query entity: "via A → B → C" ("" without one)."""
    path = hit.meta.get("graph_path") or []
    return "via " + " → ".join(map(str, path)) if path else ""


def move_label(move: int | None) -> str:
    """A rank change as drawn: ▲2 (up two), ▼1, = (same), new (not in the first list)."""
    if move is None:
        return "new"
    return "=" if move == 0 else f"▲{move}" if move > 0 else f"▼{-move}"


def column(result: RetrievalResult, moves: list[int | None] | None = None) -> dict[str, Any]:
    """One ranked list as the widget draws it."""
    parts = score_parts(result)
    zero, drawn = bar_segments([parts[h.id] for h in result.hits])
    hybrid = len(result.candidates) > 1
    language = getattr(result.index, "language", "none")  # BM25's analyzer, to find the words a stem came from
    hits = []
    for i, h in enumerate(result.hits):
        mine = parts[h.id]
        score_name = "fused" if hybrid else next(iter(mine), "score")
        hits.append({
            "id": h.id, "rank": h.rank, "document": h.document, "start": h.start, "end": h.end, "text": h.text,
            "marks": [{k: s[k] for k in ("start", "end", "title")} for s in highlight_spans(h.text, h.terms, language)],
            "score": round(sum(mine.values()), 6), "scoreName": score_name,
            "ranks": [{"name": n, "rank": h.ranks.get(n, 0)} for n in result.candidates] if hybrid else [],
            "rerank": h.scores.get("rerank"), "bar": drawn[i], "title": _why(h, mine, result), "via": via(h),
            "move": move_label(moves[i]) if moves is not None else "",
        })
    return {"mode": result.mode, "title": describe(result), "legend": legend(result), "zero": zero, "hits": hits}


# ---------------------------------------------------------------------- widgets

class HitsWidget(WithStaticHTML, anywidget.AnyWidget):
    """Ranked hits in one column per result: rank, where, marked passage, score bar, rank change."""

    _esm = static("retrieval.js")
    _css = static("retrieval.css")

    query = traitlets.Unicode("").tag(sync=True)
    hint = traitlets.Unicode(LIVE_HINT).tag(sync=True)
    hyde = traitlets.Unicode("").tag(sync=True)
    columns = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)  # [column, hit] clicked, [] for none

    def to_html(self) -> str:
        """The same columns as static HTML (every piece of text escaped)."""
        side = " nbrag-side-by-side" if len(self.columns) > 1 else ""
        out = [style("retrieval.css"),
               f'<div class="nbrag-retrieval{side}" data-columns="{len(self.columns)}">',
               f'<div class="nbrag-query"><span>Query</span> {e(self.query)}</div>']
        if self.hyde:
            out.append(f'<div class="nbrag-hyde"><span>HyDE searched with this imagined answer</span>'
                       f'{e(self.hyde)}</div>')
        out.append(f'<div class="nbrag-hint">{e(HINT)}.</div>'
                   f'<div class="nbrag-columns" style="--columns: {len(self.columns)}">')
        # Heads first, then bodies: the grid puts each in its row, so the first hits line up.
        out += [f'<div class="nbrag-col-head"><div class="nbrag-col-title">{e(col["title"])}</div>'
                f'<div class="nbrag-col-legend">{_swatches(col)}{e(col["legend"])}</div></div>' for col in self.columns]
        for col in self.columns:
            out.append(f'<div class="nbrag-column" data-mode="{e(col["mode"])}" data-hits="{len(col["hits"])}">')
            out += [_static_hit(hit, col["zero"]) for hit in col["hits"]]
            out.append("</div>")
        out.append("</div></div>")
        return "".join(out)


def _swatches(col: dict[str, Any]) -> str:
    names = list(dict.fromkeys(seg["name"] for hit in col["hits"] for seg in hit["bar"]))
    shown = " ".join(f'<span class="nbrag-swatch nbrag-part-{e(n)}"></span>{e(n)}' for n in names)
    return f"{shown}: " if shown else ""


def _static_hit(hit: dict[str, Any], zero: float) -> str:
    head = [f'<span class="nbrag-rank">#{hit["rank"]}</span>']
    if hit["move"]:
        head.append(f'<span class="nbrag-move" data-move="{e(hit["move"])}">{e(hit["move"])}</span>')
    head.append(f'<span class="nbrag-where">{e(hit["document"])} · chars {hit["start"]}–{hit["end"]}</span>')
    head += [f'<span class="nbrag-chip">{e(r["name"])} #{r["rank"] or "–"}</span>' for r in hit["ranks"]]
    head.append(f'<span class="nbrag-score">{e(hit["scoreName"])} {hit["score"]:#.4g}</span>')
    if hit["rerank"] is not None:
        head.append(f'<span class="nbrag-chip nbrag-rerank">rerank {hit["rerank"]:.3f}</span>')
    bar = [f'<div class="nbrag-bar"><span class="nbrag-zero" style="left:{zero}%"></span>']
    bar += [f'<span class="nbrag-part nbrag-part-{e(s["name"])}" style="left:{s["left"]}%;width:{s["width"]}%" '
            f'title="{e(s["name"])} {s["value"]:.4f}"></span>' for s in hit["bar"]]
    bar.append("</div>")
    if hit.get("via"):
        bar.append(f'<div class="nbrag-via">{e(hit["via"])}</div>')
    text, pieces, at = hit["text"], [], 0
    for mark in hit["marks"]:
        pieces.append(e(text[at:mark["start"]]))
        pieces.append(f'<mark title="{e(mark["title"])}">{e(text[mark["start"]:mark["end"]])}</mark>')
        at = mark["end"]
    pieces.append(e(text[at:]))
    return (f'<div class="nbrag-hit" data-id="{e(hit["id"])}" title="{e(hit["title"])}">'
            f'<div class="nbrag-hit-head">{"".join(head)}</div>{"".join(bar)}'
            f'<div class="nbrag-passage">{"".join(pieces)}</div></div>')


class _HitsView(WithStaticHTML, ipywidgets.VBox):
    """Hits, a status line and, when a hit is clicked, its document with the index's chunks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hits = HitsWidget()
        self.status = ipywidgets.HTML()
        self.document = BoundaryView()
        self.document.layout.display = "none"
        self.hits.observe(self._clicked, names="selected")

    def results(self) -> list[RetrievalResult]:  # pragma: no cover - each view has its own
        raise NotImplementedError

    def _clicked(self, change: dict[str, Any]) -> None:
        if len(change["new"]) != 2:
            self.document.layout.display = "none"
            return
        col, row = change["new"]
        self.show_hit(self.results()[col], row)

    def show_hit(self, result: RetrievalResult, row: int) -> None:
        """Show hit ``row``'s document below the hits: its chunks in the index, this result's hits starred."""
        hit = result.hits[row]
        if result.index is None:
            self._error("This result does not know its index, so its document cannot be shown.")
            return
        try:
            doc = result.index.document_chunks(hit.document)
        except NbragError as error:
            self._error(str(error))
            return
        where = {(c.start, c.end): c.index for c in doc.chunks}
        starred = {where[(h.start, h.end)]: h.rank for h in reversed(result.hits)
                   if h.document == hit.document and (h.start, h.end) in where}
        self.document.show(doc, hits=starred)
        with self.document.hold_sync():
            self.document.title = (f"{hit.document} · {len(doc.chunks)} chunks ({doc.method}) · "
                                   f"{len(doc.source):,} chars · hit #{hit.rank}: chars {hit.start}–{hit.end}")
            self.document.legend = LEGEND + " ★ marks this result's hits in the document, by rank."
        if (hit.start, hit.end) in where:
            self.document.select(where[(hit.start, hit.end)])
        self.status.value = ""
        self.document.layout.display = None

    def _error(self, message: str) -> None:
        self.status.value = f'<span class="nbrag-retrieval-error">{e(message)}</span>'

    def to_html(self) -> str:
        return self.hits.to_html()


class ScoreView(_HitsView):
    """What a ``RetrievalResult`` shows: its hits with their scores; for hybrid results, a BM25-weight slider
    and a fusion menu that fuse the same candidates again."""

    def __init__(self, result: RetrievalResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.weight: ipywidgets.FloatSlider | None = None
        self.fusion: ipywidgets.Dropdown | None = None
        self.dense = ipywidgets.Label(layout={"margin": "0 18px 0 4px"})
        controls: list[ipywidgets.Widget] = []
        if result.mode == "hybrid" and set(result.candidates) == {"bm25", "dense"}:
            self.weight = ipywidgets.FloatSlider(value=round(bm25_weight(result), 2), min=0.0, max=1.0, step=0.05,
                                                 readout_format=".2f", description="BM25 weight",
                                                 layout={"width": "340px"}, **LIVE)
            self.weight.observe(self._changed, names="value")
            controls = [self.weight, self.dense]
        if len(result.candidates) > 1:
            self.fusion = ipywidgets.Dropdown(options=list(FUSIONS), value=fusion_name(result),
                                              description="fusion", layout={"width": "180px"},
                                              style={"description_width": "initial"})
            self.fusion.observe(self._changed, names="value")
            controls.append(self.fusion)
        self.children = [ipywidgets.HBox(controls, layout={"align_items": "center", "flex_flow": "row wrap"}),
                         self.status, self.hits, self.document]
        self._draw()

    @classmethod
    def of(cls, result: RetrievalResult, **options: Any) -> ScoreView:
        """The view of ``result``; ``options`` go to the widget box (e.g. ``layout``)."""
        return cls(result, **options)

    def results(self) -> list[RetrievalResult]:
        return [self.result]

    def _changed(self, change: dict[str, Any]) -> None:
        weights = {"weights": slider_weights(self.weight.value)} if self.weight is not None else {}
        self.fuse(fusion=self.fusion.value, **weights)

    def fuse(self, **changes: Any) -> None:
        """Fuse the same candidates again with these options changed (``weights``, ``fusion``, ...) and redraw;
        a value the engine refuses leaves the drawing as it was and says why."""
        try:
            result = self.result.fuse(**changes)
        except NbragError as error:
            self._error(str(error))
            return
        self.status.value = ""
        self.result = result
        self._draw()

    def _draw(self) -> None:
        if self.weight is not None:
            self.dense.value = f"dense weight {1 - self.weight.value:.2f}"
        with self.hits.hold_sync():
            self.hits.query = self.result.query
            self.hits.hyde = self.result.hyde or ""
            self.hits.columns = [column(self.result)]
            self.hits.selected = []
        self.document.layout.display = "none"


class RetrievalComparisonView(_HitsView):
    """A ``RetrievalComparison``: one column per mode, rank changes against the first mode."""

    def __init__(self, comparison: RetrievalComparison, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.comparison = comparison
        moves = comparison.moves()
        first = comparison.modes[0]
        hyde = next((r.hyde for r in comparison.results.values() if r.hyde), "")
        with self.hits.hold_sync():
            self.hits.query = comparison.query
            self.hits.hyde = hyde or ""
            self.hits.columns = [column(r, moves[m] if m != first else None) for m, r in comparison.results.items()]
        self.children = [self.status, self.hits, self.document]

    @classmethod
    def of(cls, comparison: RetrievalComparison, **options: Any) -> RetrievalComparisonView:
        """The view of ``comparison``; ``options`` go to the widget box (e.g. ``layout``)."""
        return cls(comparison, **options)

    def results(self) -> list[RetrievalResult]:
        return list(self.comparison.results.values())


def result_view(result: RetrievalResult, **options: Any) -> Any:
    """What a ``RetrievalResult`` shows: its scored hits; for a graph search, the subgraph around the query
    above them."""
    if result.graph is not None:
        from nbrag.views.graph import GraphSearchView

        return GraphSearchView.of(result, **options)
    return ScoreView.of(result, **options)
