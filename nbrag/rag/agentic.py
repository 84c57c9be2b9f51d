"""An agent for multi-hop questions: plan, retrieve per sub-question, judge, rewrite, answer, verify.

The loop is driven by code, and the model makes each small decision with a short, strict prompt
whose reply is parsed with fallbacks (a 135M model rarely follows a free-form ReAct format, and
a larger one does not need to). Every step is recorded as an :class:`~nbrag.rag.base.AgentStep`
with what it meant to do, what it did, what it saw, its time and tokens, the model's raw reply,
and a ``note`` naming any fallback taken.

1. **plan**: the model splits the question into sub-questions, one a line, later ones naming
   earlier answers as ``#1``, ``#2`` (as MuSiQue's decompositions do). A reply that is not such
   a list (no line shares a content word with the question, or it repeats the example) falls
   back to a split of the question's wording (:mod:`nbrag.rag.planning`).
2. For each sub-question, ``#n`` is replaced by the answer found for sub-question n; an
   arithmetic sub-question ("What is 1912 - 1869?") goes to the safe calculator
   (:func:`~nbrag.rag.calculator.calculate`). Otherwise **retrieve** (and **graph_search** when the
   index has a knowledge graph and ``graph`` allows), then judge whether the passages answer it:
   the model's "Yes"/"No" (next-token logits for a local model, the reply for an endpoint or a
   callable); a reply that is neither falls back to lexical overlap (at least 60% of the
   sub-question's content words occur in the passages). Evidence judged insufficient makes the
   model **rewrite** the query (fallback: the sub-question's content words missing from the
   passages, with its names) and retrieve again, at most ``rewrites`` times. When a later
   sub-question needs this one's answer, the model answers it in a few words from the passages
   (fallback: the title, i.e. first line, of the best passage).
3. **answer**: a draft with citations over all the evidence (the passages of every sub-question in
   turn, best first, under ``context_tokens``), the intermediate answers given with the question.
4. **verify** (``verify=True``): the claim "question + answer" is compared with the cited passages
   by the support check (the same embedding similarity and threshold as ``ask``), and the model
   is asked whether the passages support the answer. A failed check retries once: the whole
   question is retrieved again with twice ``k`` and a new draft is made; a second failure
   answers "I cannot answer from the documents" with the reason.

``max_steps`` and ``token_budget`` (prompt and completion tokens of every model call) stop the
loop; ``stopped`` says which limit and where, and the answer is the draft so far, if any.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbrag import llm
from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError
from nbrag.rag.answer import (
    answer_from_hits,
    check_counts,
    check_question,
    check_search_options,
    check_stream,
    check_template,
    open_index,
    script_mismatch,
    with_generator,
)
from nbrag.rag.base import AgentResult, AgentStep, Answer
from nbrag.rag.calculator import calculate
from nbrag.rag.planning import arithmetic_of, heuristic_plan, parse_plan, plan_messages, substitute
from nbrag.rag.prompt import PromptTemplate
from nbrag.rag.support import MARKER, check_threshold, source_similarity
from nbrag.text import STOP_WORDS, content_words

CANNOT = "I cannot answer from the documents"
LEXICAL_ENOUGH = 0.6
PASSAGE_CHARS = 600  # of each passage shown to the judge and the short answer

JUDGE_SYSTEM = "You check search results. Answer with Yes or No only."
JUDGE_USER = "Passages:\n{passages}\n\nQuestion: {question}\n\nDo the passages answer the question?"
VERIFY_USER = "Passages:\n{passages}\n\nQuestion: {question}\nAnswer: {answer}\n\nDo the passages support the answer?"
REWRITE_SYSTEM = ("Write a better search query to find the missing information. Reply with the query only, on one "
                  "line.")
SHORT_SYSTEM = "Answer the question with a few words taken from the passages. Write only the answer."


def lexical_coverage(question: str, texts: list[str]) -> float:
    words = set(content_words(question))
    if not words:
        return 1.0
    found = set(content_words(" ".join(texts)))
    return len(words & found) / len(words)


# --------------------------------------------------------------------------- the loop


class _Stop(Exception):
    pass


@dataclass
class _Run:
    question: str
    gen: llm.Generator
    max_steps: int
    token_budget: int
    steps: list[AgentStep] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    stopped: str | None = None

    @property
    def spent(self) -> int:
        return self.tokens["prompt"] + self.tokens["completion"]

    def step(self, action: str, thought: str, **arguments: Any) -> AgentStep:
        if len(self.steps) >= self.max_steps:
            self.stopped = (f"max_steps={self.max_steps} reached before the step '{action}'; raise max_steps to let "
                            "the agent go on.")
            raise _Stop
        if self.spent >= self.token_budget:
            self.stopped = (f"token_budget={self.token_budget} spent ({self.spent} tokens) before the step '{action}'; "
                            "raise token_budget to let the agent go on.")
            raise _Stop
        step = AgentStep(number=len(self.steps) + 1, thought=thought, action=action, arguments=arguments)
        self.steps.append(step)
        return step

    def ask(self, step: AgentStep, messages: list[dict[str, str]], max_new_tokens: int) -> str:
        completion = self.gen.reply(messages, max_new_tokens=max_new_tokens)
        self._count(step, completion.prompt_tokens, completion.completion_tokens)
        step.raw = completion.text
        return completion.text

    def yes_no(self, step: AgentStep, messages: list[dict[str, str]]) -> bool | None:
        """The model's yes or no (:meth:`nbrag.llm.Generator.verdict`: a local model's logits, else its reply);
        None when it says neither."""
        verdict = self.gen.verdict(messages)
        self._count(step, verdict.prompt_tokens, verdict.completion_tokens)
        step.raw = verdict.raw
        return None if verdict.score is None else verdict.score > 0

    def _count(self, step: AgentStep, prompt: int, completion: int) -> None:
        step.prompt_tokens += prompt
        step.completion_tokens += completion
        self.tokens["prompt"] += prompt
        self.tokens["completion"] += completion


def _passages(hits: list[Any], limit: int = 3) -> str:
    return "\n".join(f"[{i}] {' '.join(h.text.split())[:PASSAGE_CHARS]}" for i, h in enumerate(hits[:limit], 1))


def _observe(hits: list[Any]) -> str:
    return "\n".join(f"{h.document}: {' '.join(h.text.split())[:160]}" for h in hits) or "no passage found"


def _short(reply: str) -> str | None:
    line = next((ln for ln in reply.splitlines() if ln.strip()), "")
    line = MARKER.sub("", line)
    line = re.sub(r"^(?:the\s+)?(?:short\s+)?answer\s*(?:is)?\s*[:：]?\s*", "", line.strip(), flags=re.IGNORECASE)
    words = line.strip(" .。\"'").split()
    return " ".join(words[:10]) or None


def agent(question: str, index: Any = None, *, max_steps: int = 10, token_budget: int = 6000, k: int = 4,
          mode: str = "hybrid", graph: bool | str | None = None, verify: bool = True, generator: Any = None,
          endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
          stream: Callable[[str], Any] | None = None, timeout: float = DEFAULT_TIMEOUT, max_new_tokens: int = 128,
          context_tokens: int = 1024, support_threshold: float | None = None, rewrites: int = 1,
          template: PromptTemplate | None = None, **search_options: Any) -> AgentResult:
    """Answer ``question`` by planning sub-questions, retrieving for each, and checking the draft (see the module).

    ``graph``: None uses graph search when the index has a knowledge graph, True requires it, False
    never uses it, or ``"ppr"``/``"local"``/``"global"`` picks the graph search. Generator options
    are those of :func:`nbrag.ask`; ``stream`` receives the draft answer as it is generated; ``template``
    writes the draft's prompt (default :data:`nbrag.rag.DEFAULT_TEMPLATE`).
    """
    check_question(question)
    check_counts(max_steps=max_steps, token_budget=token_budget, k=k, max_new_tokens=max_new_tokens,
                 context_tokens=context_tokens)
    check_counts(0, rewrites=rewrites)
    check_template(template)
    check_stream(stream)
    threshold = check_threshold(support_threshold)
    if index is None:
        raise NbragError("the agent retrieves from an index: give index= (an nbrag.Index or its name).",
                         option="index")
    gen = llm.resolve(generator, endpoint=endpoint, model=model, api_key=api_key, timeout=timeout)
    index = open_index(index)
    check_search_options(index, search_options, "agent")
    graph_kind = _graph_kind(index, graph)
    mismatch = script_mismatch(question, [index.document(d) for d in index.documents[:3]], index.embedder)
    started = time.perf_counter()
    run = _Run(question=question, gen=gen, max_steps=max_steps, token_budget=token_budget)
    state: dict[str, Any] = {"plan": [question], "answers": [], "evidence": [], "draft": None, "verified": None,
                             "final": None, "warnings": [mismatch] if mismatch else []}
    search = {"k": k, "mode": mode, **with_generator(search_options, gen)}
    drafting = {"threshold": threshold, "context_tokens": context_tokens, "max_new_tokens": max_new_tokens,
                "stream": stream, "template": template}
    with contextlib.suppress(_Stop):  # a limit stopped the loop: run.stopped says which
        _loop(run, index, search, graph_kind, state, rewrites, verify, drafting)
    draft: Answer | None = state["draft"]
    if state["final"] is not None:
        text = state["final"]
    elif draft is not None:
        text = draft.text
    else:
        text = f"{CANNOT}: the agent stopped before drafting an answer." if run.stopped else f"{CANNOT}."
    warnings = list(state["warnings"])
    if run.stopped:
        warnings.append(f"Stopped: {run.stopped}")
    keep = draft is not None and text == draft.text
    return AgentResult(question=question, answer=text, sources=draft.sources if draft else [],
                       citations=draft.citations if keep else [], support=draft.support if keep else [],
                       sub_questions=list(state["plan"]), steps=run.steps, verified=state["verified"],
                       stopped=run.stopped, tokens=dict(run.tokens), seconds=time.perf_counter() - started,
                       warnings=warnings, support_threshold=threshold, sub_answers=list(state["answers"]),
                       generator=gen.name, draft=draft)


def _graph_kind(index: Any, graph: bool | str | None) -> str | None:
    if graph is False:
        return None
    if graph is None:
        return "ppr" if index.graph is not None else None
    kind = "ppr" if graph is True else graph
    if kind not in ("ppr", "local", "global"):
        raise NbragError("use None (graph search when the index has a graph), True, False, or one of 'ppr', "
                         "'local', 'global'.", option="graph", value=graph)
    if index.graph is None:
        raise NbragError(f"asks for graph search, but the index {index.name!r} has no knowledge graph: build it with "
                         "index.build_graph(), or pass graph=None.", option="graph", value=graph)
    return str(kind)


def _loop(run: _Run, index: Any, search: dict[str, Any], graph_kind: str | None, state: dict[str, Any],
          rewrites: int, verify: bool, drafting: dict[str, Any]) -> None:
    question = run.question
    state["plan"] = plan = _plan(run, question)
    per_question: list[list[Any]] = []
    for i, sub in enumerate(plan):
        resolved = substitute(sub, state["answers"])
        expression = arithmetic_of(resolved)
        if expression is not None:
            step = run.step("calculate", f"Sub-question {i + 1} is arithmetic: compute it.", expression=expression)
            started = time.perf_counter()
            try:
                value = calculate(expression)
                step.observation = f"{expression} = {value}"
                state["answers"].append(str(value))
            except NbragError as error:  # the calculator refuses the expression: say why
                step.observation = str(error)
                state["answers"].append(None)
            step.seconds = time.perf_counter() - started
            per_question.append([])
            continue
        hits = _gather(run, index, search, graph_kind, resolved, i, rewrites)
        per_question.append(hits)
        needed = any(f"#{i + 1}" in later for later in plan[i + 1:])
        state["answers"].append(_sub_answer(run, resolved, hits, i) if needed else None)
    if arithmetic_of(substitute(plan[-1], state["answers"][:-1])) is not None and state["answers"][-1] is not None:
        state["final"] = state["answers"][-1]  # the last step was exact arithmetic: its value is the answer
        state["verified"] = True
        run.step("finish", "The last sub-question was arithmetic: its value is the answer.",
                 answer=state["final"]).observation = state["final"]
        return
    state["evidence"] = evidence = _interleave(per_question)
    for attempt in (1, 2):
        if attempt == 2:
            step = run.step("retrieve", "The draft failed the check: retrieve for the whole question again, with "
                                        "twice as many passages.", query=question, k=2 * search["k"])
            started = time.perf_counter()
            again = index.search(question, **{**search, "k": 2 * search["k"]}).hits
            step.hits, step.observation = again, _observe(again)
            step.seconds = time.perf_counter() - started
            evidence = _interleave([again, evidence])
        draft = _draft(run, question, plan, state["answers"], evidence, drafting)
        state["draft"] = draft
        if not verify:
            return
        ok, reason = _verify(run, question, draft, drafting["threshold"])
        state["verified"] = ok
        if ok:
            return
    state["final"] = f"{CANNOT}: {reason}"
    run.step("finish", "The answer failed the check twice: say so instead of answering.", reason=reason).observation = \
        state["final"]


def _plan(run: _Run, question: str) -> list[str]:
    step = run.step("plan", "Split the question into sub-questions that each need one lookup.", question=question)
    started = time.perf_counter()
    reply = run.ask(step, plan_messages(question), 64)
    plan = parse_plan(reply, question)
    if plan is None:
        plan = heuristic_plan(question)
        how = "the question's wording" if len(plan) > 1 else "the question itself, which does not split"
        step.note = f"The model's reply is not a usable list of sub-questions; the plan comes from {how}."
    step.observation = "\n".join(f"{i}. {q}" for i, q in enumerate(plan, 1))
    step.seconds = time.perf_counter() - started
    return plan


def _gather(run: _Run, index: Any, search: dict[str, Any], graph_kind: str | None, query: str, i: int,
            rewrites: int) -> list[Any]:
    hits = _retrieve(run, index, search, query, i)
    if graph_kind is not None:
        hits = _merge(hits, _graph(run, index, search, graph_kind, query, i))
    for _ in range(rewrites + 1):
        enough = _judge(run, query, hits, i)
        if enough or _ == rewrites:
            break
        new_query = _rewrite(run, query, hits, i)
        hits = _merge(hits, _retrieve(run, index, search, new_query, i, rewritten=True))
    return hits


def _retrieve(run: _Run, index: Any, search: dict[str, Any], query: str, i: int, rewritten: bool = False) -> list[Any]:
    thought = (f"Search again with the rewritten query for sub-question {i + 1}." if rewritten
               else f"Find passages for sub-question {i + 1}: {query}")
    step = run.step("retrieve", thought, query=query, mode=search["mode"], k=search["k"])
    started = time.perf_counter()
    hits = list(index.search(query, **search).hits)
    step.hits, step.observation = hits, _observe(hits)
    step.seconds = time.perf_counter() - started
    return hits


def _graph(run: _Run, index: Any, search: dict[str, Any], kind: str, query: str, i: int) -> list[Any]:
    step = run.step("graph_search", f"Follow the knowledge graph from the entities of sub-question {i + 1}.",
                    query=query, graph=kind, k=search["k"])
    started = time.perf_counter()
    result = index.search(query, k=search["k"], mode="graph", graph=kind)
    step.hits, step.observation = list(result.hits), _observe(result.hits)
    if result.graph and result.graph.get("entities"):
        step.note = f"query entities: {', '.join(map(str, result.graph['entities'][:8]))}"
    step.seconds = time.perf_counter() - started
    return list(result.hits)


def _judge(run: _Run, query: str, hits: list[Any], i: int) -> bool:
    step = run.step("verify", f"Do the passages answer sub-question {i + 1}?", question=query,
                    target="evidence")
    started = time.perf_counter()
    coverage = lexical_coverage(query, [h.text for h in hits])
    said = run.yes_no(step, [{"role": "system", "content": JUDGE_SYSTEM},
                             {"role": "user", "content": JUDGE_USER.format(passages=_passages(hits), question=query)}])
    if said is None:
        said = coverage >= LEXICAL_ENOUGH
        step.note = (f"The reply is neither yes nor no; lexical overlap decides: {coverage:.0%} of the sub-question's "
                     f"content words are in the passages (enough from {LEXICAL_ENOUGH:.0%}).")
    step.observation = (f"{'enough' if said else 'not enough'} evidence (model); content words found: {coverage:.0%}"
                        if not step.note else f"{'enough' if said else 'not enough'} evidence (lexical overlap)")
    step.seconds = time.perf_counter() - started
    return said


def _rewrite(run: _Run, query: str, hits: list[Any], i: int) -> str:
    step = run.step("rewrite", f"The passages do not answer sub-question {i + 1}: rewrite the search query.",
                    query=query)
    started = time.perf_counter()
    reply = run.ask(step, [{"role": "system", "content": REWRITE_SYSTEM},
                           {"role": "user", "content": f"Question: {query}\nPassages found:\n{_passages(hits, 2)}\n\n"
                                                       "Better query:"}], 32)
    line = next((ln for ln in reply.splitlines() if ln.strip()), "").strip().strip("\"'")
    line = re.sub(r"^(?:better\s+)?query\s*:\s*", "", line, flags=re.IGNORECASE)
    words = line.lower().split()
    loops = len({tuple(words[j:j + 3]) for j in range(len(words) - 2)}) < len(words) - 2
    if (not line or len(words) > 20 or loops or line.lower() == query.lower()
            or not set(content_words(line)) & set(content_words(query))):
        found = set(content_words(" ".join(h.text for h in hits)))
        missing = [w for w in content_words(query) if w not in found]
        names = re.findall(r"\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*", query)
        names = [n for n in names if n.lower() not in STOP_WORDS]
        line = " ".join(dict.fromkeys(missing + names)) or query
        step.note = ("The model's reply is not a usable query; the new query is the sub-question's missing words and "
                     "names.")
    step.arguments["new_query"] = line
    step.observation = line
    step.seconds = time.perf_counter() - started
    return line


def _sub_answer(run: _Run, query: str, hits: list[Any], i: int) -> str | None:
    step = run.step("answer", f"Answer sub-question {i + 1} briefly: a later sub-question needs it.", question=query,
                    sub_question=i + 1)
    started = time.perf_counter()
    reply = run.ask(step, [{"role": "system", "content": SHORT_SYSTEM},
                           {"role": "user", "content": f"Passages:\n{_passages(hits)}\n\nQuestion: {query}\n"
                                                       "Short answer:"}], 16)
    answer = _short(reply)
    if answer is None and hits:
        answer = hits[0].text.strip().splitlines()[0][:80]
        step.note = "The reply is empty; the answer stands in as the title (first line) of the best passage."
    step.observation = f"#{i + 1} = {answer}"
    step.seconds = time.perf_counter() - started
    return answer


def _interleave(lists: list[list[Any]]) -> list[Any]:
    """Passages of every list in turn, best first, each once."""
    out, seen = [], set()
    for rank in range(max((len(x) for x in lists), default=0)):
        for hits in lists:
            if rank < len(hits) and hits[rank].id not in seen:
                seen.add(hits[rank].id)
                out.append(hits[rank])
    return out


def _merge(first: list[Any], second: list[Any]) -> list[Any]:
    seen = {h.id for h in first}
    return first + [h for h in second if h.id not in seen]


def _draft(run: _Run, question: str, plan: list[str], answers: list[str | None], evidence: list[Any],
           drafting: dict[str, Any]) -> Answer:
    step = run.step("answer", "Draft the answer with citations from all the evidence.", passages=len(evidence))
    started = time.perf_counter()
    known = [f"{substitute(q, answers)} {a}" for q, a in zip(plan, answers) if a]
    asked = question + (f"\n(Found so far: {'; '.join(known)})" if known and len(plan) > 1 else "")
    draft = answer_from_hits(asked, evidence, run.gen, params={"agent": True}, **drafting)
    draft.question = question
    run._count(step, draft.tokens["prompt"], draft.tokens["completion"])
    step.raw = draft.text
    step.hits = [s.hit for s in draft.sources if not s.dropped]
    step.observation = draft.text
    if draft.warnings:
        step.note = " ".join(draft.warnings)
    step.seconds = time.perf_counter() - started
    return draft


def _verify(run: _Run, question: str, draft: Answer, threshold: float) -> tuple[bool, str]:
    step = run.step("verify", "Check the draft against the passages it cites.", target="answer")
    started = time.perf_counter()
    claim_text = " ".join(MARKER.sub("", draft.text).split())
    cited = draft.cited or [s for s in draft.sources if not s.dropped]
    if not claim_text or not cited:
        step.observation = "nothing to check: the draft is empty or no source was given"
        step.seconds = time.perf_counter() - started
        return False, "the draft is empty or had no passage to stand on."
    claim = f"{question} {claim_text}"  # scored whole, as the threshold was measured
    score = float(source_similarity([claim], [s.text for s in cited]).max())
    supported = score >= threshold
    said = run.yes_no(step, [{"role": "system", "content": JUDGE_SYSTEM},
                             {"role": "user", "content": VERIFY_USER.format(
                                 passages=_passages([s.hit for s in cited]), question=question, answer=claim_text)}])
    ok = supported and said is not False
    verdict = "supported" if supported else "not supported"
    step.observation = (f"support {score:.2f} (threshold {threshold:g}): {verdict}; "
                        f"model: {({True: 'yes', False: 'no', None: 'no clear reply'})[said]}")
    step.seconds = time.perf_counter() - started
    if ok:
        return True, ""
    why = [f"the answer is not close enough to the passages it cites (similarity {score:.2f} < {threshold:g})"
           ] if not supported else []
    if said is False:
        why.append("the model judged that the passages do not support it")
    return False, " and ".join(why) + "."


__all__ = ["CANNOT", "agent", "heuristic_plan", "parse_plan"]
