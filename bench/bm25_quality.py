"""The ``bm25-quality`` entry of bench/run.py: nbrag's BM25 analyzers against bm25s with PyStemmer.

On the HotpotQA and MuSiQue BEIR sets, every judged query, each passage as ``nbrag.eval.load_beir``
reads it and an Index indexes it (``title + "\\n" + text``): nDCG@10 and R@10 (ir-measures, as
``nbrag.eval.beir`` scores them, by rank) of

* the peer, bm25s run directly: ``bm25s.tokenize(texts, stopwords="en",
  stemmer=Stemmer.Stemmer("english"))``, ``bm25s.BM25().index(...)`` (Lucene, k1 1.5, b 0.75,
  nbrag's defaults), the queries tokenized the same way, the top 10 with a score above 0;
* ``nbrag.ranking.bm25.BM25`` (the backend every Index uses, default parameters) with language
  ``none`` (whole words, nbrag before languages), ``english`` and ``auto``.

Goal: nbrag's ``english`` and ``auto`` within 0.005 nDCG@10 of the peer, or above, on both sets.
Seconds to index every passage and to run every query, medians of ``repeat`` rounds with the
sides in turns (the peer, then each nbrag language), and the load average beside them.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

SETS = ("hotpotqa", "musique")
LANGUAGES = ("none", "english", "auto")
K = 10
GOAL = 0.005  # nDCG@10 that english and auto may be below the peer
PEER = "bm25s+stem"


def _metrics(data, runs: dict[str, list[str]]) -> dict[str, float]:
    import ir_measures
    from ir_measures import R, nDCG

    qrels = [ir_measures.Qrel(q, d, s) for q in data.queries for d, s in data.qrels[q].items()]
    scored = [ir_measures.ScoredDoc(q, d, float(len(ranked) - r)) for q, ranked in runs.items()
              for r, d in enumerate(ranked)]
    got = {str(m): 0.0 for m in (nDCG @ K, R @ K)}
    per_query: dict[str, dict[str, float]] = {q: dict(got) for q in data.queries}
    for metric in ir_measures.iter_calc([nDCG @ K, R @ K], qrels, scored):
        per_query[metric.query_id][str(metric.measure)] = float(metric.value)
    return {name: round(statistics.fmean(row[name] for row in per_query.values()), 4) for name in got}


def _peer(ids: list[str], texts: list[str], queries: list[str]) -> tuple[list[list[str]], float, float]:
    """bm25s with PyStemmer, as its README runs it: the top K ids per query, seconds to index and to search."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t = time.perf_counter()
    model = bm25s.BM25()
    model.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    indexed = time.perf_counter() - t
    t = time.perf_counter()
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    found, scores = model.retrieve(tokens, k=K, show_progress=False, n_threads=1)
    ranked = [[ids[i] for i, s in zip(row, row_scores) if s > 0] for row, row_scores in zip(found, scores)]
    return ranked, indexed, time.perf_counter() - t


def _nbrag(language: str, ids: list[str], texts: list[str],
           queries: list[str]) -> tuple[list[list[str]], float, float, list[str]]:
    from nbrag.ranking.bm25 import BM25

    t = time.perf_counter()
    bm25 = BM25(language=language)
    bm25.upsert(ids, texts)
    bm25.search("warm up", 1)  # the first search builds the postings: part of indexing
    indexed = time.perf_counter() - t
    t = time.perf_counter()
    ranked = [[i for i, _ in bm25.search(query, K)] for query in queries]
    return ranked, indexed, time.perf_counter() - t, bm25.languages


def bm25_quality(shared: Path, repeat: int = 3) -> dict:
    """Every side's metrics on each set, and its indexing and search seconds (medians of ``repeat`` rounds)."""
    from nbrag.analyzers import detect
    from nbrag.eval import load_beir

    detect("py3langid's model loads once per process, before the rounds")  # not part of any round
    entry: dict = {"k": K, "repeat": repeat, "goal": GOAL, "sets": {}}
    for name in SETS:
        data = load_beir(shared / name)
        ids, texts = list(data.corpus), list(data.corpus.values())
        qids, queries = list(data.queries), list(data.queries.values())
        sides = (PEER, *LANGUAGES)
        seconds: dict[str, dict[str, list[float]]] = {s: {"index": [], "search": []} for s in sides}
        runs: dict[str, list[list[str]]] = {}
        languages: dict[str, list[str]] = {}
        load = []
        for _ in range(repeat):  # in turns, so that load from elsewhere slows every side alike
            load.append(os.getloadavg()[0])
            ranked, indexed, searched = _peer(ids, texts, queries)
            runs[PEER] = ranked
            seconds[PEER]["index"].append(indexed)
            seconds[PEER]["search"].append(searched)
            for language in LANGUAGES:
                ranked, indexed, searched, languages[language] = _nbrag(language, ids, texts, queries)
                runs[language] = ranked
                seconds[language]["index"].append(indexed)
                seconds[language]["search"].append(searched)
        metrics = {side: _metrics(data, dict(zip(qids, ranked))) for side, ranked in runs.items()}
        entry["sets"][name] = {
            "passages": len(ids), "queries": len(qids), "metrics": metrics,
            "index_s": {s: round(statistics.median(v["index"]), 3) for s, v in seconds.items()},
            "search_s": {s: round(statistics.median(v["search"]), 3) for s, v in seconds.items()},
            "languages_found": dict(languages),
            "load": [round(x, 2) for x in load],
        }
    entry["goal_met"] = all(s["metrics"][language]["nDCG@10"] >= s["metrics"][PEER]["nDCG@10"] - GOAL
                            for s in entry["sets"].values() for language in ("english", "auto"))
    return entry


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    q = results.get("bm25_quality")
    if not q:
        return []
    rows = []
    for name, s in q["sets"].items():
        peer = s["metrics"][PEER]["nDCG@10"]
        for language in LANGUAGES:
            ours = s["metrics"][language]["nDCG@10"]
            verdict = "" if language == "none" else \
                f"; goal >= peer - {GOAL}: {'met' if ours >= peer - GOAL else 'MISSED'}"
            rows.append((f"BM25 nDCG@10 {name} {language}", ours, peer, PEER, f"{s['queries']} queries{verdict}"))
        rows.append((f"BM25 index {name} auto (s)", s["index_s"]["auto"], s["index_s"][PEER], PEER,
                     f"{s['passages']} passages, median of {q['repeat']}, load {max(s['load'])}"))
    return rows


def report(results: dict) -> None:
    """The table of every side below run.py's table."""
    q = results.get("bm25_quality")
    if not q:
        return
    print(f"\nBM25 analyzers, nDCG@{q['k']} / R@{q['k']} (every query) and seconds (medians of {q['repeat']}, "
          f"in turns): {PEER} is bm25s.tokenize(stopwords='en', stemmer=Stemmer('english')) + bm25s.BM25()")
    for name, s in q["sets"].items():
        print(f"  {name}: {s['passages']} passages, {s['queries']} queries, load average {s['load']}")
        print(f"    {'side':<14}{'nDCG@10':>9}{'R@10':>8}{'index s':>9}{'search s':>10}  languages found")
        for side, m in s["metrics"].items():
            found = ", ".join(s["languages_found"].get(side, [])) or "-"
            print(f"    {side:<14}{m['nDCG@10']:>9.4f}{m['R@10']:>8.4f}{s['index_s'][side]:>9.3f}"
                  f"{s['search_s'][side]:>10.3f}  {found}")
    print(f"  goal (english and auto within {q['goal']} nDCG@10 of {PEER}, or above, on both sets): "
          f"{'met' if q['goal_met'] else 'MISSED'}")
