"""A fuzz of nbrag's public API: random arguments, good and bad, to every entry point a person calls.

The contract: a call returns, or raises nbrag's user error (:class:`~nbrag.errors.NbragError` and its
subclasses; from a magic, IPython's ``UsageError``) whose message is one line. Nothing else escapes:
no other exception and no hang (each call runs under a wall-clock alarm), and a failing ``add``
leaves a persistent index as it was, on disk as in memory. No standard exception is allowed besides
them: every keyword nbrag takes freely (``**options``) is checked and named in an NbragError.

Models are the tiny random-weight ones of tests/tiny.py and plain ``complete(messages) -> str``
functions, so nothing large loads. Counts that set how much work a valid call does (tokens to
generate, training steps, examples per batch) are drawn small: a valid request for a billion new
tokens is a long call, not a hang. Inputs that still break nbrag in files this fuzz may not change
are left out of the strategies, each with a comment naming it, and kept as examples in
``test_known_failures`` (strict xfail: a fix turns them into a failure that says to remove the mark
and widen the strategy).

A fixed set of examples runs by default, so that a run is repeatable; ``NBRAG_HYPOTHESIS_EXAMPLES=N``
explores N fresh examples per test (as tests/chunking/test_properties.py does).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import nbrag
from nbrag.errors import NbragError
from nbrag.rag import PromptTemplate

# complete= is the llm chunker's old name for generator=, still taken with a FutureWarning.
pytestmark = pytest.mark.filterwarnings("ignore:complete= is now generator=:FutureWarning")
BOUND = 60.0  # seconds one call may take on a busy two-core machine; a hang shows up as Hang, not as a stuck run


# Fixed examples by default, so a CI run is repeatable; NBRAG_HYPOTHESIS_EXAMPLES=N explores N fresh ones.
def examples(default: int):
    return settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", default)), deadline=None,
                    derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Hang(BaseException):
    """A call ran past :data:`BOUND` (a BaseException, so that no ``except Exception`` in nbrag can hide it)."""


@contextlib.contextmanager
def bounded(seconds: float = BOUND) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``."""

    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(message: str) -> None:
    assert message.strip(), "an error without a message"
    assert "\n" not in message and "\r" not in message, f"a message of several lines: {message!r}"


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` within :data:`BOUND`: its result, or the NbragError it raised (one line).
    Any other exception propagates and fails the test, with its traceback."""
    with bounded():
        try:
            result = function(*args, **kwargs)
        except NbragError as error:
            one_line(str(error))
            event(f"{getattr(function, '__name__', 'call')}: refused ({error.option or type(error).__name__})")
            return error
    event(f"{getattr(function, '__name__', 'call')}: returned")
    return result


# --------------------------------------------------------------------------- values


# Wrong in kind or in range for almost every option (no huge number: see HUGE).
JUNK = st.sampled_from([None, True, False, -1, 0, 1.5, -0.0, math.nan, math.inf, -math.inf, "", " ", "x", "3",
                        "\x00", [], [1], ["x"], {}, {"x": 1}, (1, 2, 3), b"bytes"])
HUGE = st.sampled_from([10**30, 2**64, 2**63 - 1])  # for options where a huge valid value costs no work


def mostly(valid: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any] = JUNK, odds: int = 6) -> st.SearchStrategy:
    """A value of ``valid`` ``odds`` times in ``odds + 1``, else one of ``wrong``: so that a call with several
    arguments often gets past the checks of all of them, and goes deep."""
    return st.integers(0, odds).flatmap(lambda n: wrong if n == 0 else valid)


PLAIN_WORDS = st.sampled_from(["The", "cat", "sat", "on", "the", "mat.", "Rain", "gauges", "tip", "buckets", "lens",
                               "1912", "检索", "增强生成。", "🙂", "👍🏽", "e\u0301", "🇫🇷", "\n\n", "# Title\n",
                               "- item\n", "<p>", "</p>", "```\n", "| a | b |\n", "\x00", "\x07", "\u200b", "\r\n",
                               "\t", ".", "?", "[1]", "{question}"])
WORDS = mostly(PLAIN_WORDS, st.just("\ud800"), odds=40)  # now and then a lone surrogate: no tokenizer reads it
PLAIN_TEXT = st.lists(PLAIN_WORDS, max_size=24).map(" ".join) | st.text(max_size=40)  # st.text draws no surrogate
TEXT = st.lists(WORDS, max_size=24).map(" ".join) | PLAIN_TEXT
SHORT_TEXT = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)
PLAIN_QUESTION = st.lists(PLAIN_WORDS, min_size=2, max_size=10).map(" ".join) | PLAIN_TEXT
QUESTION = st.lists(PLAIN_WORDS, min_size=2, max_size=10).map(" ".join) | TEXT


def small(low: int, high: int) -> st.SearchStrategy[Any]:
    """A whole number from ``low`` to ``high``, mostly; else junk."""
    return mostly(st.integers(low, high))


def real(low: float, high: float) -> st.SearchStrategy[Any]:
    return mostly(st.floats(low, high, allow_nan=False) | st.integers(int(low), int(high)))


# --------------------------------------------------------------------------- generators: plain functions


def cites(messages: list[dict[str, str]]) -> str:
    return "The cat sat on the mat [1]. Rain gauges tip their buckets [2]."


def yes(messages: list[dict[str, str]]) -> str:
    return "Yes"


def no(messages: list[dict[str, str]]) -> str:
    return "No, not at all."


def silent(messages: list[dict[str, str]]) -> str:
    return ""


def echo(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"][:300]


def plans(messages: list[dict[str, str]]) -> str:
    return "1. What is 1912 - 1869?\n2. Where did the cat sit after #1 years?\n3. 2"


def odd(messages: list[dict[str, str]]) -> str:
    return "[99] [0] [-1] [1,2] [a] ]] [[ \x00 \u200b 🙂 {sources} #1"


def shown(piece: Any) -> None:
    """A stream= or callbacks= receiver that shows nothing."""


GENERATORS = st.sampled_from([cites, yes, no, silent, echo, plans, odd])
# What else a person may pass as generator=; never None or a model's name: those load a real model.
# Not "": resolve("") loads the configured model (nbrag/llm.py reads "" as None before its check for an empty name).
BAD_GENERATORS = st.sampled_from([5, (1, 2, 3), "nosuch-model", " ", object()])


# --------------------------------------------------------------------------- chunking


REFUSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, so the connection is refused at once

# Values for every option of every chunker (nbrag.chunking's Config dataclasses), and one no chunker has.
CHUNK_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "size": small(1, 64) | HUGE,
    "max_size": small(1, 64) | HUGE,
    "min_size": small(0, 64),
    "overlap": small(-2, 70),
    "unit": mostly(st.sampled_from(["token", "char", "word"])),
    # Not a packaged generator's name (SmolLM2-135M-Instruct): that deadlocks; not a list or a float: TypeError
    # (test_known_failures).
    "tokenizer": st.sampled_from(["all-MiniLM-L6-v2", "nosuch-tokenizer", "", None, 5]),
    "threshold": real(-10, 120),
    "threshold_type": mostly(st.sampled_from(["percentile", "absolute", "std", "zz"])),
    "window": small(-1, 40),
    "embedder": st.sampled_from(["all-MiniLM-L6-v2", "nosuch-embedder", 5]),
    "format": mostly(st.sampled_from(["auto", "markdown", "html", "pdf"])),
    # A str or a list of level names; not another type or a list of lists: TypeError (test_known_failures).
    "levels": st.sampled_from(["sentence", "zz", (), [], ["word"], ("paragraph", "sentence"), ["sentence", "zz"],
                               ["section", "paragraph", "line", "sentence", "clause", "word"], [5]]),
    "generator": mostly(GENERATORS, BAD_GENERATORS),
    "complete": mostly(GENERATORS, BAD_GENERATORS),
    "max_new_tokens": small(0, 64),
    "endpoint": st.sampled_from([None, REFUSED, "ftp://x", "not a url", 5]),
    "model": st.sampled_from([None, "m", "", 5]),
    "api_key": st.sampled_from([None, "key", 5]),
    "timeout": st.sampled_from([1.0, 0, -1, math.nan, math.inf, "x", True]),
    "bogus": JUNK,
}
CHUNKERS = ["fixed", "token", "recursive", "hierarchical", "semantic", "structure", "markdown", "html", "llm"]
METHODS = mostly(st.sampled_from(CHUNKERS), st.sampled_from(["", "zz", "Fixed", None, 5, ["fixed"]]))


def chunk_options(max_size: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    names = st.lists(st.sampled_from(sorted(CHUNK_OPTIONS)), unique=True, max_size=max_size)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: CHUNK_OPTIONS[n] for n in chosen}))


def no_default_generator(method: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The llm chunker with neither a generator nor an endpoint would load the configured model: give it one."""
    if method == "llm" and all(options.get(k) is None for k in ("generator", "complete", "endpoint")):
        return {**options, "generator": plans}
    return options


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Torch on one thread (tests/conftest.py says why)."""
    yield


@pytest.fixture(autouse=True, scope="module")
def _offline_data_dir(tmp_path_factory):
    """Whatever an example writes under settings.data_dir goes to a folder of this module's own."""
    saved = nbrag.settings.data_dir
    nbrag.settings.update(data_dir=str(tmp_path_factory.mktemp("data")))
    yield
    nbrag.settings.update(data_dir=saved)


@examples(80)
@given(text=mostly(TEXT), method=METHODS, options=chunk_options())
def test_chunk(text, method, options):
    result = call(nbrag.chunk, text, method, **no_default_generator(method, options))
    if not isinstance(result, NbragError):
        assert all(text[c.start:c.end] == c.text for c in result)


# --------------------------------------------------------------------------- the index

DOCUMENTS = {
    "cat": "The cat sat on the mat because it was tired. Then it slept in the sun until noon.",
    "rain": "A tipping-bucket rain gauge empties itself: each bucket tips when full and records 0.2 mm of rain.",
    "lens": "The Fresnel lens of the lighthouse was installed in 1912. It bends light into a narrow beam.",
}
_names = itertools.count()


def fresh(prefix: str) -> str:
    return f"fuzz-{prefix}-{next(_names)}-{time.monotonic_ns()}"


@pytest.fixture(scope="module")
def searched():
    """A memory index of three documents with an offline knowledge graph: searched, asked, never changed."""
    index = nbrag.Index(fresh("searched"), memory=True)
    index.add(DOCUMENTS, chunker="recursive", size=16, progress=False)
    index.build_graph(progress=False)
    return index


@pytest.fixture(scope="module")
def scratch():
    """A memory index the fuzz adds to and deletes from."""
    index = nbrag.Index(fresh("scratch"), memory=True)
    index.add(DOCUMENTS, progress=False)
    return index


IDS = st.sampled_from(["cat", "rain", "new", " ", "", "a/b", "#", "x" * 300, "\x00"])
TEXTS = (TEXT | st.lists(mostly(PLAIN_TEXT), max_size=3) | st.tuples(PLAIN_TEXT) | st.integers(0, 5)
         | st.dictionaries(IDS, mostly(TEXT), max_size=3))
ADD_IDS = st.none() | st.integers(0, 5) | st.just("ab") | st.lists(IDS | st.integers(-1, 3) | st.none(), max_size=4)
BATCH = st.integers(-2, 128) | HUGE | st.just(1.5)
CHUNKER_NAMES = st.sampled_from(CHUNKERS) | st.sampled_from(["zz", "", 5, None])


@examples(15)
@given(texts=TEXTS, ids=ADD_IDS, chunker=CHUNKER_NAMES, batch_size=BATCH, options=chunk_options(max_size=3),
       deleted=IDS | st.sampled_from(list(DOCUMENTS)) | st.integers(0, 3))
def test_index_add_and_delete(scratch, texts, ids, chunker, batch_size, options, deleted):
    report = call(scratch.add, texts, ids=ids, chunker=chunker, batch_size=batch_size, progress=False,
                  **no_default_generator(chunker, options))
    if isinstance(texts, dict) and not isinstance(report, NbragError):
        assert all(scratch.document(str(doc_id)) == text for doc_id, text in texts.items())
    gone = call(scratch.delete, deleted)
    if not isinstance(gone, NbragError):
        assert deleted not in scratch.documents


def disk_state(index: Any) -> tuple[dict[str, str], list[str]]:
    """Documents and their text, and the ids of every chunk, as Chroma holds them."""
    return ({d: index.document(d) for d in index.documents},
            sorted(index.collection.get(include=[])["ids"]))


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    name = fresh("disk")
    index = nbrag.Index(name, path=folder)
    index.add(DOCUMENTS, progress=False)
    return index, name, folder


# Adds that fail part-way through the documents: a good one first, then one that chunking refuses.
FAILING = st.fixed_dictionaries({"good": TEXT.filter(str.strip), "bad": st.sampled_from([5, None, "\ud800 x"])})


@examples(10)
@given(texts=FAILING | TEXTS, chunker=CHUNKER_NAMES, options=chunk_options(max_size=3))
def test_a_failing_add_leaves_the_index_on_disk_as_it_was(on_disk, texts, chunker, options):
    index, name, folder = on_disk
    before = disk_state(index)
    report = call(index.add, texts, chunker=chunker, progress=False, **no_default_generator(chunker, options))
    reopened = nbrag.Index(name, path=folder, create=False)  # what another process would find
    if isinstance(report, NbragError):
        assert disk_state(index) == disk_state(reopened) == before
    else:
        assert disk_state(reopened) == disk_state(index)
    assert reopened.bm25.stamp == index.bm25.stamp


SEARCH_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "fusion": st.sampled_from(["rrf", "minmax", "zscore", "borda", "", None, 5, 1.5, ["rrf"], {}]),
    "weights": st.none() | st.dictionaries(st.sampled_from(["bm25", "dense", "graph", "sparse"]),
                                           real(-1, 2), max_size=3)
               | st.sampled_from([0, "", [], [("bm25", 1)], "bm25", True]),
    "rrf_k": small(0, 100) | HUGE,
    "candidates": st.none() | st.integers(-2, 60) | st.sampled_from([1.5, " "]),
    "hyde": mostly(st.sampled_from([False, True, "average", "replace"])),
    # rerank: not a cross-encoder's name: the error for one that is not here has several lines. Both:
    # test_known_failures.
    "rerank": st.sampled_from([False, True, "generator", None, 0, 1, 1.5, "", " ", [], ["x"], {}]),
    "graph": mostly(st.sampled_from(["ppr", "local", "global", "zz"])),
    "graph_options": st.sampled_from([None, {}, {"level": 0}, {"level": 99}, {"dense_weight": 0}, {"zz": 1}]),
}


def search_options(exclude: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    names = st.lists(st.sampled_from(sorted(set(SEARCH_OPTIONS) - set(exclude))), unique=True, max_size=4)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: SEARCH_OPTIONS[n] for n in chosen}))


MODES = mostly(st.sampled_from(["bm25", "dense", "hybrid", "graph", "hybrid+graph"]),
               st.sampled_from(["zz", "", None, 5]))


@examples(30)
@given(query=mostly(PLAIN_QUESTION, st.just("\ud800 cat")),
       k=small(1, 12) | HUGE, mode=MODES, generator=mostly(GENERATORS, BAD_GENERATORS),
       options=search_options())
def test_search(searched, query, k, mode, generator, options):
    result = call(searched.search, query, k, mode, generator=generator, **options)
    if not isinstance(result, NbragError):
        assert [h.rank for h in result] == list(range(1, len(result) + 1))
        for hit in result:
            assert searched.document(hit.document)[hit.start:hit.end] == hit.text


# --------------------------------------------------------------------------- ask and the agent

TEMPLATES = mostly(st.none(), st.sampled_from(["template", 5])) | st.builds(
    PromptTemplate, system=st.sampled_from(["Answer.", ""]),
    user=st.sampled_from(["{sources}\n\nQuestion: {question}", "Q: {question}"]),
    source=st.sampled_from(["[{number}] {text}", "{number}. {title}: {text}"]),
    answer_prefix=st.sampled_from(["", "According to source ["]))
INDEXES = mostly(st.just("searched"), st.sampled_from(["missing", None, 5]))


def the_index(searched: Any, which: Any) -> Any:
    return {"searched": searched, "missing": "fuzz-no-such-index"}.get(which, which)


ASK_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "max_new_tokens": small(1, 300) | HUGE,
    "context_tokens": small(1, 2048) | HUGE,
    "support_threshold": st.none() | real(-2, 2),
    "stream": st.sampled_from([None, shown, 5, "x"]),
    "timeout": st.sampled_from([1.0, 0, -1, math.nan, "x"]),
    "endpoint": st.sampled_from([None, None, None, REFUSED, "not a url"]),
    "model": st.sampled_from([None, None, "m"]),
    "api_key": st.sampled_from([None, None, "key"]),
    "bogus": JUNK,
}


def ask_options(extra: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    table = {**ASK_OPTIONS, **(extra or {})}
    names = st.lists(st.sampled_from(sorted(table)), unique=True, max_size=4)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({n: table[n] for n in chosen}))


def without_generator_if_endpoint(generator: Any, options: dict[str, Any]) -> dict[str, Any]:
    """generator= and endpoint= together are refused; one of them is what is being tried here."""
    return {**options, "generator": None} if options.get("endpoint") == REFUSED and options.get("model") else \
        {**options, "generator": generator}


@examples(40)
@given(question=mostly(QUESTION), which=INDEXES, mode=MODES, k=small(1, 8), template=TEMPLATES,
       generator=mostly(GENERATORS, BAD_GENERATORS), options=ask_options(),
       search=search_options(exclude=("graph_options",)))
def test_ask(searched, question, which, mode, k, template, generator, options, search):
    answer = call(nbrag.ask, question, the_index(searched, which), mode=mode, k=k, template=template,
                  **without_generator_if_endpoint(generator, options), **search)
    if not isinstance(answer, NbragError):
        for c in answer.citations:
            assert str(c.number) in answer.text[c.start:c.end]
            assert c.source is None or 0 <= c.source < len(answer.sources)


AGENT_OPTIONS = {
    "max_steps": small(1, 12),
    "token_budget": small(1, 8000) | HUGE,
    "rewrites": small(0, 2),
    "graph": mostly(st.sampled_from([None, True, False, "ppr", "local", "global", "zz"])),
    "verify": st.sampled_from([True, False, "no", None]),
}


@examples(20)
@given(question=mostly(QUESTION), which=INDEXES, mode=MODES, k=small(1, 6), template=TEMPLATES,
       generator=mostly(GENERATORS, BAD_GENERATORS), options=ask_options(AGENT_OPTIONS),
       search=search_options(exclude=("graph", "graph_options")))
def test_agent(searched, question, which, mode, k, template, generator, options, search):
    result = call(nbrag.agent, question, the_index(searched, which), mode=mode, k=k, template=template,
                  **without_generator_if_endpoint(generator, options), **search)
    if not isinstance(result, NbragError):
        assert isinstance(result.answer, str) and len(result.steps) <= options.get("max_steps", 10)


# --------------------------------------------------------------------------- inspectors


@pytest.fixture(scope="module")
def models():
    from tests.tiny import tiny

    return {"llama": tiny("llama"), "mixtral": tiny("mixtral"), "gpt2": tiny("gpt2")}


MODELS = mostly(st.sampled_from(["llama", "mixtral", "gpt2", "tiny:llama"]),
                st.sampled_from(["tiny:zz", 5, (1, 2, 3), (5, 6), "half"]))


def the_model(models: dict[str, Any], which: Any) -> Any:
    if which == "half":
        return models["llama"][0]  # a model without its tokenizer
    return models.get(which, which) if isinstance(which, str) else which


@examples(15)
@given(text=mostly(TEXT), which=MODELS, layers=mostly(st.none() | st.lists(small(-3, 3), max_size=3)),
       max_tokens=small(1, 64) | HUGE)
def test_attention(models, text, which, layers, max_tokens):
    from nbrag.inspectors import attention

    result = call(attention, text, the_model(models, which), layers=layers, max_tokens=max_tokens)
    if not isinstance(result, NbragError):
        assert result.weights.shape[-1] == len(result.tokens)


@examples(12)
@given(prompt=mostly(TEXT), which=MODELS, max_new_tokens=small(1, 4), window=st.none() | small(-1, 20) | HUGE,
       max_tokens=small(1, 64))
def test_kv_cache(models, prompt, which, max_new_tokens, window, max_tokens):
    from nbrag.inspectors import kv_cache

    result = call(kv_cache, prompt, the_model(models, which), max_new_tokens, window=window, max_tokens=max_tokens)
    if not isinstance(result, NbragError):
        assert result.new_tokens == max_new_tokens


@examples(6)
@given(prompt=mostly(SHORT_TEXT), which=MODELS,
       lengths=mostly(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.lists(small(-1, 3), max_size=3) | JUNK))
def test_speed(models, prompt, which, lengths):
    from nbrag.inspectors import speed

    result = call(speed, prompt, the_model(models, which), lengths)
    if not isinstance(result, NbragError):
        assert [row.new_tokens for row in result.rows] == list(lengths)


@examples(12)
@given(text=mostly(TEXT), which=mostly(st.just("mixtral"), MODELS), max_tokens=small(1, 64) | HUGE)
def test_routing(models, text, which, max_tokens):
    from nbrag.inspectors import routing

    result = call(routing, text, the_model(models, which), max_tokens=max_tokens)
    if not isinstance(result, NbragError):
        assert result.num_tokens == len(result.tokens)


# --------------------------------------------------------------------------- LoRA: one training step at most


@pytest.fixture(scope="module")
def records():
    from nbrag.data import sample_instructions

    return sample_instructions("documents")[:4]


DATA = mostly(st.sampled_from(["records", "one line of text\nand another", "train.jsonl",
                               [{"instruction": "Q", "output": ["A"]}], [{"text": None}]]),
              st.sampled_from(["{\"instruction\": \"Q\", \"output\": \"A\"}\n{bad", "", "/nonexistent/train.json",
                               "\x00.json", 5, None, {"a"}, [], [{1: "a", "b": 2}], [{"prompt": "", "output": "A"}],
                               ["", "x"], [5], ["a \ud800 b"]]))
TRAIN_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "r": small(1, 8) | HUGE,
    "alpha": real(0.5, 64),
    "lr": st.none() | real(0, 1),
    "steps": small(0, 1),  # at most one step: valid calls train, quickly
    "batch_size": small(1, 4),  # small: a batch larger than the data repeats examples (and may fill the memory)
    "grad_accum": small(1, 2),
    "max_length": small(1, 512) | HUGE,
    "target_modules": st.sampled_from([None, "q_proj", "q_proj,v_proj", ["q_proj", "v_proj"], "", [], "zz", 5, [5]]),
    "eval_fraction": real(0, 0.9),
    "eval_every": small(1, 3),
    "seed": small(0, 3) | HUGE,
    "dropout": real(0, 0.9),
    "loraplus_ratio": real(0.5, 32),
    "delta_lambda": real(0, 2),
    "delta_start": small(0, 2) | HUGE,
    "callbacks": st.sampled_from([(), [shown], [5], "ab", shown, None, "iterator", "bad iterator"]),
    "save": st.sampled_from([None, "", "folder", "\x00", "file", 5]),
}
VARIANT_NAMES = mostly(st.sampled_from(["lora", "dora", "vera", "lora-plus", "lora-fa", "delta-lora"]),
                       st.sampled_from(["zz", "", None, 5]))


@examples(15)
@given(data=DATA, variant=VARIANT_NAMES, which=mostly(st.sampled_from(["llama", "gpt2"]),
                                                   st.sampled_from([5, (5, 6), "half", "tiny:llama"])),
       options=st.lists(st.sampled_from(sorted(TRAIN_OPTIONS)), unique=True, max_size=5).flatmap(
           lambda chosen: st.fixed_dictionaries({n: TRAIN_OPTIONS[n] for n in chosen})))
def test_lora_train(models, records, tmp_path_factory, data, variant, which, options):
    from nbrag import lora

    folder = tmp_path_factory.mktemp("lora")
    (folder / "train.jsonl").write_text(json.dumps({"instruction": "Q?", "output": "A."}) + "\n", encoding="utf-8")
    (folder / "file").write_text("not a folder", encoding="utf-8")
    data = {"records": records, "train.jsonl": str(folder / "train.jsonl")}.get(data, data) \
        if isinstance(data, str) else data
    options = {"steps": 1, **options}
    if options.get("save") in ("folder", "file"):
        options["save"] = str(folder / options["save"])
    if options.get("callbacks") in ("iterator", "bad iterator"):
        options["callbacks"] = (c for c in ([shown] if options["callbacks"] == "iterator" else [shown, 5]))
    run = call(lora.train, data, variant, model=the_model(models, which), progress=False, **options)
    if not isinstance(run, NbragError):
        assert len(run.history) == options["steps"]


# --------------------------------------------------------------------------- magics


@pytest.fixture(scope="module")
def shell(ip, models, records, tmp_path_factory):
    """IPython's test shell with what the lines refer to: models, a generator, texts, an index, files."""
    folder = tmp_path_factory.mktemp("magics")
    (folder / "docs").mkdir()
    for name, text in DOCUMENTS.items():
        (folder / "docs" / f"{name}.txt").write_text(text, encoding="utf-8")
    (folder / "train.jsonl").write_text(json.dumps({"instruction": "Q?", "output": "A."}) + "\n", encoding="utf-8")
    index = nbrag.Index(fresh("magic"), memory=True)
    index.add(DOCUMENTS, progress=False)
    ip.user_ns.update(pair=models["llama"], moe=models["mixtral"], model_only=models["llama"][0], gen=cites,
                      doc=DOCUMENTS["cat"], other=DOCUMENTS["rain"], empty=" ", number=5, records=records,
                      docs_index=index, tpl=PromptTemplate(system="Answer.", user="{sources}\n{question}"))
    return ip, folder


# Values for options whose argparse declaration takes any str: names the shell holds, and some it does not.
POOLS: dict[str, list[str]] = {
    "model": ["pair", "moe", "model_only", "tiny:llama", "tiny:mixtral", "tiny:zz", "number", "nosuch-model"],
    "generator": ["gen", "doc", "number", "nosuch-model"],
    "index": ["docs_index", "nosuch", "doc"],
    "var": ["doc", "empty", "number", "records", "nosuch"],
    "vs": ["other", "empty", "number", "nosuch"],
    "template": ["tpl", "doc", "nosuch"],
    "output": ["out", "1x", "class", "out_2"],
    "file": ["{folder}/docs/cat.txt", "{folder}/docs", "/nonexistent.txt", "'{folder}/docs/cat.txt'", "'\x00'"],
    "data": ["{folder}/train.jsonl", "/nonexistent.jsonl", "{folder}", "'\x00'"],
    "save": ["{folder}/adapter", "{folder}/train.jsonl", "'\x00'"],
    "resume": ["lora_run", "doc", "nosuch"],
    "endpoint": [REFUSED, "not-a-url"],
    "methods": ["fixed,recursive", "fixed,,zz", ",", "semantic,structure", "llm,fixed"],
    "method": ["fixed", "recursive", "semantic", "structure", "llm", "zz"],
    "modes": ["bm25,dense", "bm25,zz", ",", "hybrid,graph"],
    "variants": ["lora,vera", "lora", "zz,lora", "lora,lora", "lora,lora-fa"],
    "variant": ["lora", "dora", "vera", "lora-fa", "zz"],
    "weights": ["0.3,0.7", "a,b", "bm25=1,dense=0", "bm25=nan,dense=1", "1", "graph=1"],
    "fusion": ["rrf", "minmax", "zscore", "zz"],
    "rerank": ["generator"],  # not a cross-encoder's name: see SEARCH_OPTIONS
    "speed": ["1,2", "0", "x", "1,,2", "-1"],  # small: a valid --speed 10000 is a long call, not a hang
    "target_modules": ["q_proj", "q_proj,v_proj", "zz", ","],
    "tokenizer": ["all-MiniLM-L6-v2", "nosuch-tokenizer"],
    "chunker": ["recursive", "fixed", "zz"],  # not llm: %nbrag index has no --generator, so it would load the model
    "name": ["fuzz-index", "a", "x y"],
    "path": ["{folder}/docs", "{folder}/docs/cat.txt", "/nonexistent"],
}
# Whole numbers that set how much work a valid call does: drawn small.
SMALL = {"steps": (0, 1), "max_new_tokens": (-1, 3), "batch_size": (0, 3), "max_steps": (0, 6)}
NUMBER_WORDS = ["x", "1.5", "nan", "-", "99999999999999999999", "0x10"]
STRAY = ["--nosuch", "-", "--", "'", '"', "x", "\\", "--size=3", "-k", "?"]


def value_words(action: Any) -> st.SearchStrategy[str]:
    """Words for one option's value, from its argparse declaration (or the pool for its dest)."""
    if action.dest in POOLS:
        return st.sampled_from(POOLS[action.dest])
    if action.choices:
        return mostly(st.sampled_from([str(c) for c in action.choices]), st.just("zz"))
    if action.type is int:
        low, high = SMALL.get(action.dest, (-3, 40))
        return mostly(st.integers(low, high).map(str),
                      st.sampled_from(NUMBER_WORDS if action.dest not in SMALL else ["x", "1.5", "nan"]))
    if action.type is float:
        return mostly(st.floats(-2, 100).map(repr), st.floats().map(repr) | st.sampled_from([*NUMBER_WORDS, "-inf"]))
    return st.sampled_from(["x", "a,b", "''"])


def option_words(action: Any) -> st.SearchStrategy[list[str]]:
    flag = st.sampled_from(action.option_strings)
    if action.nargs == 0:
        return flag.map(lambda f: [f])
    with_value = st.tuples(flag, value_words(action)).map(lambda pair: [pair[0], pair[1]])
    if action.nargs == "?":
        return with_value | flag.map(lambda f: [f])
    return with_value


def magic_line(parser: Any) -> st.SearchStrategy[str]:
    """A line of options drawn from ``parser``'s own declarations, with stray words among them."""
    options = [a for a in parser._actions if a.option_strings and a.dest != "query"]
    positional = [a for a in parser._actions if not a.option_strings]
    parts = st.lists(st.sampled_from(options).flatmap(option_words), max_size=5).map(
        lambda words: [w for group in words for w in group])
    stray = mostly(st.just([]), st.lists(st.sampled_from(STRAY), min_size=1, max_size=2))
    heads = st.tuples(*[value_words(a).map(lambda w: [w]) for a in positional]) if positional else st.just(())
    return st.tuples(heads, parts, stray).map(lambda t: " ".join([w for h in t[0] for w in h] + t[1] + t[2]))


# What each magic starts its line with, so that no default loads the configured model (a later flag overrides).
SAFE = {"attention": "--model pair", "kvcache": "--model pair --max-new-tokens 2", "moe": "--model moe",
        "lora": "--model pair --steps 1", "ask": "--generator gen --index docs_index", "retrieve": "--generator gen "
        "--index docs_index", "graphrag": "--index docs_index", "chunk": "", "index": ""}
SOME_CELLS = st.sampled_from(["", "The cat sat on the mat.", "hello world\nanother example",
                              '{"instruction": "Q", "output": "A"}', "{bad", "Who built the lens", "   "])
CELLS = SOME_CELLS | TEXT
PLAIN_CELLS = SOME_CELLS | PLAIN_TEXT  # a query: the index's search refuses no lone surrogate (see test_search)
QUERIES = st.sampled_from(["", " --query", " --query The cat", " --query 'quoted'", " Who sat on the mat"])


def magic_source(name: str, parser: Any) -> st.SearchStrategy[tuple[str, str]]:
    """``(line, cell)`` for magic ``name``: the cell is None for the line form."""
    queries = QUERIES if name == "ask" or any(a.dest == "query" for a in parser._actions) else st.just("")
    cells = PLAIN_CELLS if name in ("retrieve", "graphrag") else CELLS
    return st.tuples(magic_line(parser), queries, st.none() | cells).map(
        lambda t: (t[0] + (t[1] if t[2] is None else ""), t[2]))


def magic_parsers() -> dict[str, Any]:
    from nbrag.magics import AskMagics, ChunkMagics, GraphragMagics, InspectorMagics, LoraMagics, RetrieveMagics
    from nbrag.magics.retrieve import index_arguments

    return {"chunk": ChunkMagics.chunk.parser, "retrieve": RetrieveMagics.retrieve.parser,
            "graphrag": GraphragMagics.graphrag.parser, "attention": InspectorMagics.attention.parser,
            "kvcache": InspectorMagics.kvcache.parser, "moe": InspectorMagics.moe.parser,
            "lora": LoraMagics.lora.parser, "ask": AskMagics.ask.parser, "index": index_arguments.parser}


PARSERS = magic_parsers()


def run_magic(ip: Any, source: str) -> None:
    """Run a cell: it returns, or raises a one-line UsageError; anything else fails the test."""
    with bounded():
        outcome = ip.run_cell(source, store_history=False)
    error = outcome.error_before_exec or outcome.error_in_exec
    magic = source.split(maxsplit=1)[0]
    if error is None:
        event(f"{magic}: returned")
        return
    if isinstance(error, UsageError):
        one_line(str(error))
        event(f"{magic}: UsageError {str(error).split(':')[0][:30]}")
        return
    raise error


@pytest.mark.parametrize("name", sorted(PARSERS))
@examples(12)
@given(data=st.data())
def test_magic_options(shell, name, data):
    ip, folder = shell
    line, cell = data.draw(magic_source(name, PARSERS[name]), label="line, cell")
    line = f"{SAFE[name]} {line}".strip().replace("{folder}", str(folder))
    if name == "chunk" and "llm" in line:
        line += " --generator gen"  # the llm chunker would load the configured model
    if name == "graphrag" and "llm" in line and "--endpoint" not in line:
        line += " --generator gen"
    if name == "index":
        source = f"%nbrag index {line}"
    else:
        source = f"%{name} {line}" if cell is None else f"%%{name} {line}\n{cell}"
    run_magic(ip, source)


@examples(6)
@given(line=st.sampled_from(["", "info", "config", "help", "zz", "config x", "index", "index --memory",
                             "index /nonexistent", "help --x"]))
def test_nbrag_magic(shell, line):
    ip, _ = shell
    run_magic(ip, f"%nbrag {line}")


# --------------------------------------------------------------------------- bugs found here, fixed


def test_an_unclosed_quote_in_a_magic_is_a_usage_error(ip):
    with pytest.raises(UsageError, match=r"^Cannot read the options \(No closing quotation\): close each quote"):
        ip.run_line_magic("chunk", '--var "doc')


def test_a_nul_in_a_magic_file_path_is_a_usage_error(ip):
    with pytest.raises(UsageError, match=r"^Cannot read --file '\x00': embedded null byte$"):
        ip.run_line_magic("chunk", "--file '\x00'")


def test_a_lone_surrogate_is_refused_by_readable_and_the_inspectors(models):
    from nbrag.errors import readable
    from nbrag.inspectors import attention

    assert readable("检索 🙂") == "检索 🙂"
    with pytest.raises(NbragError, match=r"^Example 2 holds a lone surrogate '\\udc80' at character 1, which is not "
                                         r"text; decode the source with errors='replace'\.$"):
        readable("a\udc80", what="Example 2")

    with pytest.raises(NbragError, match=r"^text: holds a lone surrogate '\\ud800' at character 2, which is not text"):
        attention("a \ud800", models["llama"])
    with pytest.raises(NbragError, match=r"^text=5: needs a str, got int"):
        attention(5, models["llama"])


def test_layers_and_lengths_must_be_lists(models):
    from nbrag.inspectors import attention, speed

    with pytest.raises(NbragError, match=r"^layers=1: give a list of layer numbers \(e\.g\. \[0, -1\]\)"):
        attention("The cat sat.", models["llama"], layers=1)
    with pytest.raises(NbragError, match=r"^lengths=3: give a list of numbers of new tokens"):
        speed("The cat sat.", models["llama"], 3)


def test_ask_checks_stream_and_the_search_options(searched):
    with pytest.raises(NbragError, match=r"^stream=5: give a function that receives each piece of the answer"):
        nbrag.ask("Where did the cat sit", searched, generator=cites, stream=5)
    with pytest.raises(NbragError, match=r"^fusoin='rrf': not an option of ask or of the index's search, which take "
                                         r"fusion, weights, rrf_k, candidates, hyde, rerank, graph, graph_options"):
        nbrag.ask("Where did the cat sit", searched, generator=cites, fusoin="rrf")
    with pytest.raises(NbragError, match=r"^bogus=1: not an option of agent"):
        nbrag.agent("Where did the cat sit", searched, generator=cites, bogus=1)
    with pytest.raises(NbragError, match=r"^query: holds a lone surrogate '\\ud800' at character 4, which is not text"):
        nbrag.ask("cat \ud800", searched, generator=cites)


def test_hyde_and_rerank_in_ask_use_the_answering_model(searched):
    asked = []

    def imagines(messages):
        asked.append(messages[-1]["content"])
        return "A cat on a mat [1]."

    answer = nbrag.ask("Where did the cat sit", searched, generator=imagines, hyde=True, rerank=True)
    assert answer.retrieval.hyde == "A cat on a mat [1]."  # the hypothetical answer came from it
    assert len(asked) >= 3  # HyDE, a judgement per reranked passage, the answer


def test_lora_refuses_odd_data_paths_pairs_seeds_ranks_and_callbacks(models, records, tmp_path):
    from nbrag import lora

    with pytest.raises(NbragError, match=r"^Example 1 of the data has keys \[1, 'b'\]; an instruction example"):
        lora.train([{1: "a", "b": 2}], model=models["llama"], steps=1, progress=False)
    with pytest.raises(NbragError, match=r"^Example 2 of the data holds a lone surrogate '\\ud800' at character 2"):
        lora.train(["fine", "a \ud800 b"], model=models["llama"], steps=1, progress=False)
    with pytest.raises(NbragError, match=r"^save='a\\x00b': holds a NUL character"):
        lora.train(records, model=models["llama"], steps=1, save="a\x00b", progress=False)
    with pytest.raises(NbragError, match=r"^model: \(int, int\) is not a \(model, tokenizer\) pair"):
        lora.train(records, model=(5, 6), steps=1, progress=False)
    with pytest.raises(NbragError, match=r"^seed=18446744073709551616: give a whole number from 0 to "
                                         r"18446744073709551615"):
        lora.train(records, model=models["llama"], steps=1, seed=2**64, progress=False)
    with pytest.raises(NbragError, match=r"^callbacks=\[<built-in function print>, 5\]: give a list of functions"):
        lora.train(records, model=models["llama"], steps=1, callbacks=(c for c in [print, 5]), progress=False)
    with pytest.raises(NbragError, match=r"^r=1000000000: larger than every dimension of the adapted layers \(the "
                                         r"largest is 64\): VeRA's shared random projections"):
        lora.train(records, "vera", model=models["llama"], steps=1, r=10**9, progress=False)
    events = []
    run = lora.train(records, model=models["llama"], steps=1, callbacks=(c for c in [events.append]), progress=False)
    assert [e["step"] for e in events if e["loss"] is not None] == [1] and len(run.history) == 1


# --------------------------------------------------------------------------- bugs found here, in files others change


# Each should raise a one-line NbragError; today another exception escapes (or, batch_size=0, nothing is stored and
# nothing says so). Found by this fuzz, left out of its strategies where the comments above say.
KNOWN: dict[str, Callable[[Any], Any]] = {
    "levels-int": lambda index: nbrag.chunk("Some text.", "recursive", levels=5),
    "levels-nested": lambda index: nbrag.chunk("Some text.", "recursive", levels=[["word"]]),
    "tokenizer-list": lambda index: nbrag.chunk("Some text.", tokenizer=["x"]),
    "tokenizer-float": lambda index: nbrag.chunk("Some text.", tokenizer=1.5),
    "cross-encoder": lambda index: index.search("cat", rerank="nosuch-cross-encoder"),  # a message of several lines
}


@pytest.mark.xfail(strict=True, raises=(Exception, pytest.fail.Exception),
                   reason="nbrag.chunking, nbrag.retrieval, nbrag.ranking and nbrag.models let these escape; widen "
                          "the strategies above when this passes")
@pytest.mark.parametrize("case", list(KNOWN))
def test_known_failures(scratch, case):
    with bounded(), pytest.raises(NbragError) as caught:
        KNOWN[case](scratch)
    one_line(str(caught.value))


@pytest.mark.slow
def test_a_generators_tokenizer_loads_without_a_deadlock():
    # nbrag.models._cached took its lock again to load the generator whose tokenizer was asked for (now an RLock).
    with bounded(600):
        assert len(nbrag.chunk("Some text.", tokenizer="SmolLM2-135M-Instruct")) == 1
