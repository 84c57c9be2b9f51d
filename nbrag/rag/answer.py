"""``ask``: retrieve, assemble the prompt, generate, find the citations and check their support.

    answer = nbrag.ask("When was the lens installed?", index="docs", mode="hybrid", k=4)
    answer.text, answer.citations, answer.prompt, answer.support

Every step is kept in the :class:`~nbrag.rag.base.Answer`, with its time and tokens. What goes
wrong in the input gets one clear message: an empty index, a question the embedder cannot match
to the documents' language (a warning), a generator that ignores the citation format (a
warning, the answer is kept), sources that overflow the budget (cut, with a warning), a
question too long for the model (an error), an endpoint that does not answer (an
:class:`~nbrag.errors.EndpointError` naming the URL, after ``timeout`` seconds at most).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nbrag import llm
from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError, NbragTypeError, readable, whole_number
from nbrag.rag.base import Answer
from nbrag.rag.prompt import CLOSED_BOOK_TEMPLATE, DEFAULT_TEMPLATE, PromptTemplate, assemble
from nbrag.rag.support import SUPPORT_THRESHOLD, check_threshold, parse_citations, support_check, support_warning
from nbrag.text import script_share


def open_index(index: Any) -> Any:
    """An Index from an Index or its name; an empty one is refused with what to do."""
    from nbrag.retrieval import Index

    if isinstance(index, str):
        index = Index(index, create=False)
    if not hasattr(index, "search"):
        raise NbragTypeError("not an index: give an nbrag.Index or the name of one.", option="index", value=index)
    if len(index) == 0:
        raise NbragError(f"the index {index.name!r} has no documents: add some with index.add(texts) or "
                         "index.add_files(folder) (or %nbrag index), then ask again.", option="index")
    return index


# --------------------------------------------------------------------------- scripts


def script_of(text: str) -> str | None:
    share = script_share(text)
    if share["han"] >= 0.5:
        return "Chinese"
    if share["latin"] >= 0.5:
        return "English"
    return None


def script_mismatch(question: str, texts: list[str], embedder: str) -> str | None:
    """A warning when the question and the passages are written in different scripts (Chinese and English)."""
    asked = script_of(question)
    found = script_of(" ".join(texts))
    if asked is None or found is None or asked == found:
        return None
    return (f"The question is in {asked}, but the passages retrieved are in {found}: the embedder {embedder!r} and "
            f"BM25 match words of one language, so these passages may be unrelated. Ask in {found}, or index the "
            "documents with a multilingual embedder (e.g. nbrag.Index(name, embedder="
            "'sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2'), where a hub is reachable).")


# --------------------------------------------------------------------------- ask


def ask(question: str, index: Any = None, *, mode: str = "hybrid", k: int = 4, template: PromptTemplate | None = None,
        generator: Any = None, endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
        max_new_tokens: int = 200, context_tokens: int = 1024, support_threshold: float | None = None,
        stream: Callable[[str], Any] | None = None, timeout: float = DEFAULT_TIMEOUT,
        **search_options: Any) -> Answer:
    """Answer ``question`` from the ``k`` passages ``index`` returns for it, citing them by number.

    ``index``: an :class:`nbrag.Index` or an index name; None answers from the model alone (no
    retrieval, for comparison). ``mode`` and ``search_options`` go to ``index.search`` (``fusion``,
    ``weights``, ``hyde``, ``rerank``, ``graph``, …). ``generator``: anything :func:`nbrag.llm.resolve`
    accepts (None for the configured offline generator, a model name or Hugging Face id, a
    ``(model, tokenizer)`` pair, a ``complete(messages) -> str`` callable, an ``nbrag.llm.Generator``);
    or ``endpoint="http://host:port/v1", model="NAME"`` for an OpenAI-compatible server.
    ``context_tokens`` bounds the prompt (sources that do not fit are cut or left out, with a warning);
    ``stream`` receives each piece of the answer as it is generated. ``support_threshold`` defaults
    to :data:`nbrag.rag.support.SUPPORT_THRESHOLD`.
    """
    check_question(question)
    check_counts(k=k, max_new_tokens=max_new_tokens, context_tokens=context_tokens)
    threshold = check_threshold(support_threshold)
    check_template(template)
    check_stream(stream)
    gen = llm.resolve(generator, endpoint=endpoint, model=model, api_key=api_key, timeout=timeout)
    retrieval, seconds, warnings = None, {}, []
    hits: list[Any] = []
    if index is not None:
        index = open_index(index)
        check_search_options(index, search_options, "ask")
        started = time.perf_counter()
        retrieval = index.search(question, k=k, mode=mode, **with_generator(search_options, gen))
        seconds["retrieve"] = time.perf_counter() - started
        hits = list(retrieval.hits)
        mismatch = script_mismatch(question, [h.text for h in hits] or [index.document(d) for d in index.documents[:3]],
                                   index.embedder)
        if mismatch:
            warnings.append(mismatch)
    return answer_from_hits(question, hits, gen, template=template, max_new_tokens=max_new_tokens,
                            context_tokens=context_tokens, threshold=threshold, stream=stream,
                            retrieval=retrieval, seconds=seconds, warnings=warnings,
                            params={"mode": mode, "k": k, **search_options} if index is not None else {})


def answer_from_hits(question: str, hits: list[Any], gen: llm.Generator, *, template: PromptTemplate | None = None,
                     max_new_tokens: int = 200, context_tokens: int = 1024, threshold: float = SUPPORT_THRESHOLD,
                     stream: Callable[[str], Any] | None = None, retrieval: Any = None,
                     seconds: dict[str, float] | None = None, warnings: list[str] | None = None,
                     params: dict[str, Any] | None = None, embedder: str | None = None) -> Answer:
    """The generation half of ``ask``, from hits already found (the agent drafts its answers with it)."""
    seconds = dict(seconds or {})
    warnings = list(warnings or [])
    if template is None:
        template = DEFAULT_TEMPLATE if hits or retrieval is not None else CLOSED_BOOK_TEMPLATE
    alone = gen.count_messages(template.messages(question, ""))
    if gen.context_length is not None and alone + max_new_tokens > gen.context_length:
        raise NbragError(f"The question and the template take {alone} tokens, and {max_new_tokens} more are kept for "
                         f"the answer: more than the {gen.context_length} tokens {gen.name} reads. Shorten the "
                         "question or the template, or lower max_new_tokens.")
    if gen.context_length is not None and context_tokens + max_new_tokens > gen.context_length:
        warnings.append(f"context_tokens={context_tokens} and max_new_tokens={max_new_tokens} exceed the "
                        f"{gen.context_length} tokens {gen.name} reads: the prompt was held to "
                        f"{gen.context_length - max_new_tokens} tokens.")
        context_tokens = gen.context_length - max_new_tokens
    messages, sources, cut = assemble(template, question, hits if template.has_sources else [], gen, context_tokens)
    warnings += cut
    if hits and not template.has_sources:
        warnings.append("The template has no {sources} placeholder: the retrieved passages were not given to the "
                        "model.")
    if retrieval is not None and not hits:
        warnings.append("The search found no passage for this question: the answer comes from the model alone.")
    if stream is not None and template.answer_prefix:
        stream(template.answer_prefix)
    completion = gen.reply(messages, max_new_tokens=max_new_tokens, on_text=stream)
    seconds["generate"] = completion.seconds
    text = (template.answer_prefix + completion.text).strip()
    if not completion.text.strip():
        warnings.append(f"{gen.name} returned an empty answer.")
    citations, said = parse_citations(text, sources)
    warnings += said
    started = time.perf_counter()
    support = support_check(text, sources, citations, threshold, embedder=embedder) if sources else []
    seconds["support"] = time.perf_counter() - started
    warnings += support_warning(support, threshold)
    return Answer(question=question, text=text, sources=sources, citations=citations, messages=messages,
                  prompt=completion.prompt, support=support, support_threshold=threshold, retrieval=retrieval,
                  generator=gen.name, seconds=seconds,
                  tokens={"prompt": completion.prompt_tokens, "completion": completion.completion_tokens},
                  warnings=warnings, template=template,
                  params={**(params or {}), "max_new_tokens": max_new_tokens, "context_tokens": context_tokens})


def check_question(question: Any) -> None:
    if not isinstance(question, str):
        raise NbragTypeError(f"give the question as a str, one per call (got a {type(question).__name__}).",
                             option="query")
    if not question.strip():
        raise NbragError("the question is empty: write what you want to know.", option="query")
    readable(question, "query")


def check_template(template: Any) -> None:
    if template is not None and not isinstance(template, PromptTemplate):
        raise NbragTypeError("not a PromptTemplate: build one with nbrag.rag.PromptTemplate(system=..., user=..., "
                             "source=...).", option="template", value=template)


def check_stream(stream: Any) -> None:
    if stream is not None and not callable(stream):
        raise NbragTypeError("give a function that receives each piece of the answer (a str), or None.",
                             option="stream", value=stream)


def check_search_options(index: Any, options: dict[str, Any], caller: str) -> None:
    """Each of ``options`` a keyword of ``index.search`` other than those ``caller`` sets itself; else an error naming
    it, with the keywords there are (a typo gets a message, not a TypeError from deep in the search)."""
    import inspect

    parameters = inspect.signature(index.search).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # an index of one's own that takes any keyword
    known = [name for name, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL
             and name not in ("query", "k", "mode", "generator")]
    for name, value in options.items():
        if name not in known:
            raise NbragTypeError(f"not an option of {caller} or of the index's search, which take {', '.join(known)} "
                                 "besides their own.", option=name, value=value)


def with_generator(search_options: dict[str, Any], gen: llm.Generator) -> dict[str, Any]:
    """The search options, with the model that answers for HyDE and reranking where they are asked for (the search
    would load the configured generator otherwise)."""
    if search_options.get("hyde") or search_options.get("rerank"):
        return {**search_options, "generator": gen}
    return dict(search_options)


def check_counts(least: int = 1, **values: Any) -> None:
    """Each of ``values`` a whole number of at least ``least``, else an error naming it."""
    for name, value in values.items():
        whole_number(value, name, least)
