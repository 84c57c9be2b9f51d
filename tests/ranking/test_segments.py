"""BM25 over segments: any sequence of changes scores and ranks as bm25s built afresh on what is left."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbrag.ranking import segments
from nbrag.ranking.bm25 import BM25, DELTAS, METHODS
from nbrag.ranking.segments import Segments

BACKENDS = BM25.BACKENDS
WORDS = ["tide", "moon", "bread", "yeast", "owl", "river", "lamp", "storm", "salt", "ship"]
UNKNOWN = "zebra"  # never in a document

words = st.lists(st.sampled_from(WORDS), max_size=7)  # empty documents too
queries = st.lists(st.sampled_from([*WORDS, UNKNOWN]), min_size=1, max_size=4)  # repeats and unknown terms too


def engine(backend: str) -> Segments:
    method = METHODS[backend]
    return Segments(1.5, 0.75, method, DELTAS.get(method, 0.5))


def bm25s_scores(docs: list[list[str]], query: list[str], backend: str) -> np.ndarray | None:
    """bm25s run directly on these documents: every document's score, or None when it has nothing to score."""
    import bm25s

    method = METHODS[backend]
    if not any(docs):
        return None
    model = bm25s.BM25(k1=1.5, b=0.75, delta=DELTAS.get(method, 0.5), method=method, dtype="float64")
    model.index(docs, create_empty_token=False, show_progress=False)
    ids = [model.vocab_dict[t] for t in query if t in model.vocab_dict]
    return model.get_scores_from_ids(ids) if ids else None


def bm25s_ranking(docs: dict[str, list[str]], query: list[str], backend: str) -> list[tuple[str, float]]:
    """bm25s's ranking as BM25 defines it: documents that hold a query term and score above 0, best first,
    ties in the documents' order."""
    ids, lists = list(docs), list(docs.values())
    scores = bm25s_scores(lists, query, backend)
    if scores is None:
        return []
    found = [i for i, terms in enumerate(lists) if set(terms) & set(query) and scores[i] > 0]
    found.sort(key=lambda i: (-scores[i], i))
    return [(ids[i], float(scores[i])) for i in found]


def same(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        assert math.isclose(a, b, rel_tol=0, abs_tol=1e-9), (a, b)


def check(seg: Segments, docs: dict[str, list[str]], backend: str, query: list[str]) -> None:
    """Ranking, scores and each document's score against bm25s built on ``docs`` (in their order): the same
    operations in the same order, so the same floats, not just within 1e-9."""
    got, expected = seg.search(query, len(docs) + 1), bm25s_ranking(docs, query, backend)
    same(got, expected)
    assert got == expected
    scores = bm25s_scores(list(docs.values()), query, backend)
    for i, id in enumerate(docs):
        assert seg.score(query, id) == (0.0 if scores is None else float(scores[i]))


# ------------------------------------------------------------------ the engine against bm25s

changes = st.lists(st.one_of(st.tuples(st.just("put"), st.integers(0, 11), words),
                             st.tuples(st.just("remove"), st.integers(0, 11), st.just([])),
                             st.tuples(st.just("compact"), st.just(0), st.just([]))),
                   max_size=25)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(first=st.lists(words, max_size=8), steps=changes, query=queries)
def test_segments_score_as_bm25s_built_afresh(backend, first, steps, query):
    seg = engine(backend)
    docs = {f"d{i}": terms for i, terms in enumerate(first)}
    seg.rebuild(list(docs), list(docs.values()))
    check(seg, docs, backend, query)
    for action, n, terms in steps:
        id = f"d{n}"
        if action == "put" and id in docs:
            seg.replace(id, terms)  # keeps its place
            docs[id] = terms
        elif action == "put":
            seg.add(id, terms)
            docs[id] = terms
        elif action == "remove":
            seg.remove(id)
            docs.pop(id, None)
        else:  # what BM25 does when the tail grows: a new main segment from the live documents
            seg.rebuild(list(docs), list(docs.values()))
        assert len(seg) == len(docs) and all(id in seg for id in docs)
        check(seg, docs, backend, query)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_keep_the_order_documents_came_in(backend):
    seg = engine(backend)
    others = [f"o{i}" for i in range(5)]  # so that Robertson's idf of "moon" is above 0
    seg.rebuild(["a", "b", *others], [["moon", "tide"], ["moon", "tide"], *[["salt"]] * 5])
    seg.add("c", ["moon", "tide"])
    seg.replace("a", ["tide", "moon"])  # the same counts, a new slot: still first
    assert [i for i, _ in seg.search(["moon"], 3)] == ["a", "b", "c"]
    seg.remove("a")
    seg.add("a", ["moon", "tide"])  # deleted, then added again: last
    assert [i for i, _ in seg.search(["moon"], 3)] == ["b", "c", "a"]
    assert len({s for _, s in seg.search(["moon"], 3)}) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_termless(backend):
    seg = engine(backend)
    assert seg.search(["moon"], 5) == [] and len(seg) == 0
    seg.add("blank", [])
    seg.add("also blank", [])
    assert seg.search(["moon"], 5) == [] and seg.score(["moon"], "blank") == 0.0
    seg.add("moon", ["moon"])
    docs = {"blank": [], "also blank": [], "moon": ["moon"]}
    check(seg, docs, backend, ["moon"])
    check(seg, docs, backend, [UNKNOWN])
    seg.remove("moon")
    assert seg.search(["moon"], 5) == []  # the term's only document is gone: it is unknown again
    assert seg.search(["moon"], 0) == []


def test_crowded_counts_tail_and_marks():
    seg = engine("bm25s")
    seg.rebuild([f"d{i}" for i in range(16)], [["moon"]] * 16)
    assert not seg.crowded() and seg.crowded(3)
    seg.add("x", ["tide"])
    seg.remove("d0")
    assert not seg.crowded() and seg.crowded(1)
    assert seg.stats() == {"live": 16, "main": 16, "tail": 1, "dead": 1, "average_length": 1.0}


# ------------------------------------------------------------------ BM25 through its public API

texts = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
operations = st.lists(st.one_of(st.tuples(st.just("upsert"), st.integers(0, 9), texts),
                                st.tuples(st.just("delete"), st.integers(0, 9), st.just("")),
                                st.tuples(st.just("search"), st.just(0), st.sampled_from(WORDS))),
                      max_size=30)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(ops=operations, query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
       fraction=st.sampled_from([0.0, 0.125, 1e9]))
def test_bm25_after_any_changes_equals_a_fresh_build(backend, ops, query, fraction):
    kept = segments.COMPACT_FRACTION
    segments.COMPACT_FRACTION = fraction  # 0: a new main segment at every search; 1e9: never
    try:
        bm25 = BM25(backend)
        for action, n, text in ops:
            if action == "upsert":
                bm25.upsert([f"d{n}"], [text])
            elif action == "delete":
                bm25.delete([f"d{n}"])
            else:
                bm25.search(text, 3)  # the changes so far applied: the next ones go to the tail
        fresh = BM25(backend)
        fresh.upsert(bm25.ids, [bm25._texts[id] for id in bm25.ids])
        for q in (query, *WORDS):
            same(bm25.search(q, 20), fresh.search(q, 20))
        for id, score in bm25.search(query, 20):
            assert math.isclose(sum(bm25.explain(query, id).values()), score, rel_tol=0, abs_tol=1e-9)
    finally:
        segments.COMPACT_FRACTION = kept


def test_bm25_compacts_when_the_tail_grows():
    bm25 = BM25()
    bm25.upsert([f"d{i}" for i in range(40)], [f"moon tide {WORDS[i % 10]}" for i in range(40)])
    before = bm25.search("moon owl", 10)
    assert bm25._build().stats()["main"] == 40
    bm25.upsert(["d3"], ["moon tide owl"])  # one replaced: in the tail
    bm25.search("moon", 1)
    assert bm25._build().stats() == {"live": 40, "main": 40, "tail": 1, "dead": 1, "average_length": 3.0}
    bm25.upsert([f"n{i}" for i in range(5)], ["storm salt"] * 5)  # past an eighth of the main segment: rebuilt
    bm25.search("moon", 1)
    assert bm25._build().stats()["main"] == 45 and bm25._build().stats()["tail"] == 0
    bm25.delete([f"n{i}" for i in range(5)])
    bm25.upsert(["d3"], [f"moon tide {WORDS[3]}"])
    same(bm25.search("moon owl", 10), before)


def test_searches_from_several_threads_apply_the_changes_once():
    from concurrent.futures import ThreadPoolExecutor

    bm25 = BM25()
    bm25.upsert([f"d{i}" for i in range(200)], [" ".join(WORDS[j % 10] for j in range(i % 7 + 1)) for i in range(200)])
    bm25.search("moon", 1)
    bm25.upsert([f"n{i}" for i in range(20)], ["moon tide storm"] * 20)  # in the tail, applied by the first search
    bm25.delete([f"d{i}" for i in range(0, 200, 9)])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda q: bm25.search(q, 50), ["moon tide", "storm", "owl bread"] * 30))
    fresh = BM25()
    fresh.upsert(bm25.ids, [bm25._texts[id] for id in bm25.ids])
    for q, got in zip(["moon tide", "storm", "owl bread"] * 30, results):
        same(got, fresh.search(q, 50))
    assert bm25._build().stats()["live"] == len(fresh) == 200 - 23 + 20


@pytest.mark.parametrize("backend", BACKENDS)
def test_bm25_empty_termless_and_unknown_terms(backend):
    bm25 = BM25(backend)
    assert bm25.search("moon", 5) == [] and bm25.search("", 5) == []
    bm25.upsert(["blank", "stop"], ["", "the and of"])  # no terms at all, stop words only
    assert bm25.search("moon", 5) == [] and bm25.explain("moon", "blank") == {}
    bm25.upsert(["moon"], ["moon tide"])
    assert [i for i, _ in bm25.search("moon", 5)] == ["moon"]
    assert bm25.search(UNKNOWN, 5) == [] and bm25.explain(UNKNOWN, "moon") == {}
    assert bm25.explain("moon", "stop") == {}
    fresh = BM25(backend)
    fresh.upsert(["blank", "stop", "moon"], ["", "the and of", "moon tide"])
    same(bm25.search(f"moon {UNKNOWN} tide", 5), fresh.search(f"moon {UNKNOWN} tide", 5))


# ------------------------------------------------------------------ through an index on disk


def test_index_add_appends_to_bm25_and_searches_as_a_fresh_build(tmp_path):
    from nbrag.data import sample_documents
    from nbrag.retrieval import Index

    index = Index("segments-growth", path=tmp_path)
    index.add(sample_documents(), chunker="recursive", size=128, progress=False)
    index.search("memory", k=5, mode="bm25")  # the main segment, built on the first search
    bm25, built = index.bm25, index.bm25._build()
    main, saved = built.stats()["main"], (tmp_path / "bm25").read_text(encoding="utf-8")
    index.add({"note": "A short note: retrieval keeps the memory of what was added."}, chunker="recursive",
              size=128, progress=False)
    hits = index.search("memory retrieval", k=10, mode="bm25")
    added = len(index) - main
    assert added == 1 and index.bm25 is bm25 and bm25._build() is built  # the same segments, not a rebuild
    assert built.stats() == {**built.stats(), "main": main, "tail": added, "dead": 0}
    now = (tmp_path / "bm25").read_text(encoding="utf-8")
    assert now.startswith(saved) and now.count("\n") == saved.count("\n") + 1  # one line appended
    fresh = BM25(bm25.backend, language=bm25.language)
    fresh.upsert(bm25.ids, [bm25._texts[id] for id in bm25.ids])
    expected = fresh.search("memory retrieval", 10)
    same([(h.id, h.scores["bm25"]) for h in hits], expected)
    reopened = Index("segments-growth", path=tmp_path)  # the snapshot and the appended line, read back
    same(reopened.bm25.search("memory retrieval", 10), expected)
