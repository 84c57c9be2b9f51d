"""Retrieval benchmarks for bench/run.py: quality on BEIR-layout sets, and speed.

- ``quality``: nDCG@10 and recall@10 of each search mode (``nbrag.eval.beir``) on the
  HotpotQA and MuSiQue sets; the cheap modes on all queries, and every mode, HyDE and
  generator reranking included, on the first ``slow_queries``;
- ``speed``: BM25 queries per second on ~20,000 passages with bm25s and with rank-bm25's
  BM25Okapi (nbrag's ``BM25`` over each, the same analyzer); hybrid query latency on a
  5,000-chunk index, query embedding included, with the default thread pools and inside
  ``threadpoolctl.threadpool_limits(1)``; indexing throughput of ``Index.add`` against
  sentence-transformers' ``encode`` of the same chunk texts.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETS = ("hotpotqa", "musique")
GOAL_HYBRID_P50_S = 0.05
GOAL_INDEXING_RATIO = 0.9
GOAL_STEADY_P95 = 1.3  # hybrid p95 with a core busy, against idle
CHEAP = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-minmax": {"mode": "hybrid", "fusion": "minmax", "weights": {"bm25": 0.5, "dense": 0.5}},
}
SLOW = {
    "hyde": {"mode": "dense", "hyde": True},
    "rerank": {"mode": "hybrid", "rerank": True},
}


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method, as numpy's default linear interpolation)."""
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --------------------------------------------------------------------------- quality


def quality(shared: Path, slow_queries: int = 30, generator: bool = True) -> dict:
    """Each mode's metrics on each set: cheap modes on every query, all modes on the first ``slow_queries``."""
    from nbrag.eval import beir, load_beir

    entry: dict = {"slow_queries": slow_queries, "generator": generator, "sets": {}}
    slow_modes = {**CHEAP, **SLOW} if generator else dict(CHEAP)
    for name in SETS:
        data = load_beir(shared / name)
        t = time.perf_counter()
        index = data.index()
        indexed = time.perf_counter() - t
        everything = beir(data, CHEAP, index=index, progress=False)
        first = beir(data, slow_modes, queries=slow_queries, index=index, progress=False)
        entry["sets"][name] = {
            "passages": len(data.corpus), "queries": len(data.queries), "index_seconds": round(indexed, 1),
            "all": everything.table(), "first": first.table(),
            "ndcg_all": {mode: everything.scores(mode) for mode in everything.per_query},
            "ndcg_first": {mode: first.scores(mode) for mode in first.per_query},
            "hyde_answers": {qid: record["hyde"] for qid, record in first.per_query.get("hyde", {}).items()},
        }
    return entry


def hybrid_verdicts(entry: dict) -> list[str]:
    """Whether each hybrid mode beats both bm25 and dense, per set and query sample, on nDCG@10 and R@10."""
    lines = []
    for fusion in ("hybrid-rrf", "hybrid-minmax"):
        for sample, label in (("all", "all queries"), ("first", f"first {entry['slow_queries']}")):
            for metric in ("nDCG@10", "R@10"):
                parts, wins = [], 0
                for name, result in entry["sets"].items():
                    rows = {row["mode"]: row for row in result[sample]}
                    h, b, d = rows[fusion][metric], rows["bm25"][metric], rows["dense"][metric]
                    wins += h > b and h > d
                    parts.append(f"{name} {h:.3f} (bm25 {b:.3f}, dense {d:.3f})")
                verdict = {0: "on neither set", len(parts): "on both sets"}.get(wins, "on one set")
                lines.append(f"{fusion} beats bm25 and dense {verdict}, {metric}, {label}: " + "; ".join(parts))
    return lines


# --------------------------------------------------------------------------- speed


def passages(shared: Path) -> list[str]:
    """The HotpotQA and MuSiQue passages, as ``title\\ntext``."""
    out = []
    for name in SETS:
        with (shared / name / "corpus.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                out.append(f"{row['title']}\n{row['text']}" if row.get("title") else row["text"])
    return out


def queries(shared: Path, per_set: int) -> list[str]:
    out = []
    for name in SETS:
        with (shared / name / "queries.jsonl").open(encoding="utf-8") as handle:
            out += [json.loads(line)["text"] for _, line in zip(range(per_set), handle)]
    return out


def varied(texts: list[str], n: int) -> list[str]:
    """``n`` passages: the originals, then copies that each end with the first sentence of another passage."""
    out = []
    for j in range(n):
        i, copy = j % len(texts), j // len(texts)
        other = texts[(i * 7 + copy * 131) % len(texts)].split("\n", 1)[-1].split(". ")[0]
        out.append(texts[i] if copy == 0 else f"{texts[i]} {other}.")
    return out


def bm25_speed(texts: list[str], asked: list[str], n: int) -> dict:
    """Queries per second of nbrag's BM25 (bm25s) and of rank-bm25's BM25Okapi over the same terms, in turns,
    top 10."""
    from nbrag.ranking.bm25 import BM25

    ids = [f"p{i}" for i in range(len(texts))]
    engines, built = {}, {}
    t = time.perf_counter()
    bm25 = BM25("bm25s", language="none")  # whole words: the terms RankBM25 reads
    bm25.upsert(ids, texts)
    bm25.search("warm up", 10)  # the backend's index is built on the first search
    built["bm25s"], engines["bm25s"] = round(time.perf_counter() - t, 2), bm25
    t = time.perf_counter()
    engines["rank_bm25:okapi"] = RankBM25(ids, texts)
    built["rank_bm25:okapi"] = round(time.perf_counter() - t, 2)
    timings: dict[str, list[float]] = {backend: [] for backend in engines}
    tops: dict[str, list[list[str]]] = {}
    for _ in range(n):
        for backend, engine in engines.items():
            t = time.perf_counter()
            tops[backend] = [[i for i, _ in engine.search(q, 10)] for q in asked]
            timings[backend].append(time.perf_counter() - t)
    overlap = statistics.fmean(len(set(a) & set(b)) / max(len(set(a) | set(b)), 1)
                               for a, b in zip(tops["bm25s"], tops["rank_bm25:okapi"]))
    return {"passages": len(texts), "queries": len(asked), "build_seconds": built,
            "qps": {backend: [round(len(asked) / s, 2) for s in runs] for backend, runs in timings.items()},
            "top10_jaccard": round(overlap, 3)}


class RankBM25:
    """The peer: rank-bm25's BM25Okapi over nbrag's terms (``pip install rank-bm25``, in the bench extra)."""

    def __init__(self, ids: list[str], texts: list[str]) -> None:
        from rank_bm25 import BM25Okapi

        from nbrag.text import terms

        self.ids, self.terms = ids, terms
        self.model = BM25Okapi([terms(t) for t in texts])

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        import numpy as np

        scores = self.model.get_scores(self.terms(query))
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in top]


def indexing(texts: list[str], parts: int = 5):
    """Index.add of ``texts`` (one chunk each) against bare ``encode`` of the same texts, in turns by part (which
    goes first swaps every part).

    Returns the timings and the index, which the latency measurement searches.
    """
    import nbrag
    from nbrag.models import load_embedder

    model = load_embedder()
    model.encode(texts[:64], batch_size=32, normalize_embeddings=True)  # first call out of the timing
    index = nbrag.Index("bench-retrieval-speed", memory=True)
    size = max(map(len, texts))
    step = -(-len(texts) // parts)
    seconds = {"index_add": [], "encode": []}
    for turn, first in enumerate(range(0, len(texts), step)):
        part = texts[first:first + step]

        def encode(part: list[str] = part) -> None:
            model.encode(part, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

        def add(part: list[str] = part, first: int = first) -> None:
            index.add({f"p{first + i}": text for i, text in enumerate(part)}, chunker="fixed", unit="char",
                      size=size, overlap=0, progress=False)

        order = [("encode", encode), ("index_add", add)]
        for name, fn in order if turn % 2 == 0 else order[::-1]:  # which goes first swaps every part
            t = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - t)
    assert len(index) == len(texts), "each passage must be one chunk"
    rates = {name: round(len(texts) / sum(runs), 2) for name, runs in seconds.items()}
    return {"chunks": len(texts), "parts": parts, "seconds": seconds, "chunks_per_s": rates,
            "ratio": round(rates["index_add"] / rates["encode"], 3)}, index


@contextlib.contextmanager
def busy_cores(n: int):
    """``n`` other processes that keep a core each busy, as other work on the machine would."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5 if n else 0)
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def latency(index, asked: list[str], busy: int = 0) -> dict:
    """Hybrid search latency (k=10) per query, in turns: nbrag as it ships (the query embedded on
    ``settings.query_threads`` = 1 thread), with the libraries' default pools (``query_threads=0``, as before
    that setting), and inside threadpoolctl's threadpool_limits(1) around the whole call; the query embedding
    alone with and without the limit. ``busy``: cores kept busy by other processes."""
    from threadpoolctl import threadpool_limits

    from nbrag.config import settings
    from nbrag.models import embed, embed_query

    def search(q: str) -> None:
        index.search(q, 10, mode="hybrid")

    def timed(fn, threads: int = 1, limit: bool = False):
        def run(q: str) -> float:
            settings.query_threads = threads
            t = time.perf_counter()
            if limit:
                with threadpool_limits(1):
                    fn(q)
            else:
                fn(q)
            elapsed = time.perf_counter() - t
            settings.query_threads = 1
            return elapsed
        return run

    measures = {"hybrid": timed(search), "hybrid_pools": timed(search, threads=0),
                "hybrid_1thread": timed(search, threads=0, limit=True),
                "embed": timed(lambda q: embed_query([q])), "embed_pools": timed(lambda q: embed([q]))}
    runs: dict[str, list[float]] = {name: [] for name in measures}
    with busy_cores(busy):
        for q in asked[:10]:  # warm up every way
            for fn in measures.values():
                fn(q)
        for i, q in enumerate(asked):
            order = list(measures.items())
            for name, fn in (order if i % 2 == 0 else order[::-1]):  # alternate which goes first
                runs[name].append(fn(q))
    stats = {name: {"p50": round(percentile(v, 50), 5), "p95": round(percentile(v, 95), 5),
                    "mean": round(statistics.fmean(v), 5), "max": round(max(v), 5)} for name, v in runs.items()}
    return {"chunks": len(index), "queries": len(asked), "k": 10, "busy_cores": busy, "stats": stats,
            "seconds": runs}


def limit_overhead(n: int = 200) -> dict:
    """What entering and leaving a one-thread limit costs: threadpool_limits(1), and a kept controller's limit."""
    from threadpoolctl import ThreadpoolController, threadpool_limits

    controller = ThreadpoolController()
    out = {}
    for name, make in (("threadpool_limits", lambda: threadpool_limits(1)),
                       ("controller_limit", lambda: controller.limit(limits=1))):
        seconds = []
        for _ in range(n):
            t = time.perf_counter()
            with make():
                pass
            seconds.append(time.perf_counter() - t)
        out[name] = round(statistics.median(seconds), 6)
    return out


INDEXING_CHUNKS = 5000


def speed(shared: Path, n: int, indexing_only: bool = False, chunks: int = INDEXING_CHUNKS) -> dict:
    """BM25 queries per second (unless ``indexing_only``) and Index.add against encode on ``chunks`` passages."""
    import os

    import torch

    texts = passages(shared)
    asked = queries(shared, 100)
    entry: dict = {"torch_threads": torch.get_num_threads()}
    if not indexing_only:
        entry["bm25"] = bm25_speed(varied(texts, 20_000), asked, n)
    start = os.getloadavg()
    entry["indexing"], _ = indexing(texts[:chunks])
    entry["indexing"]["load_average"] = {"start": start, "end": os.getloadavg()}
    return entry


def search_latency(shared: Path, chunks: int = 5000) -> dict:
    """Hybrid search latency on a ``chunks``-chunk index (MiniLM), on idle cores and with one core busy."""
    import torch
    from threadpoolctl import threadpool_info

    import nbrag

    texts = passages(shared)[:chunks]
    index = nbrag.Index("bench-search-latency", memory=True)
    index.add({f"p{i}": text for i, text in enumerate(texts)}, chunker="fixed", unit="char",
              size=max(map(len, texts)), overlap=0, progress=False)
    entry: dict = {"torch_threads": torch.get_num_threads(),
                   "pools": sorted({f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()})}
    entry["latency"] = latency(index, queries(shared, 200))
    entry["latency_busy"] = latency(index, queries(shared, 100), busy=1)
    entry["limit_overhead_s"] = limit_overhead()
    return entry


# --------------------------------------------------------------------------- report


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    med = statistics.median
    rows = []
    speed = results.get("retrieval_speed")
    if speed:
        bm = speed.get("bm25")  # left out by --indexing-only
        if bm:
            rows.append(("BM25 bm25s (queries/s)", med(bm["qps"]["bm25s"]), med(bm["qps"]["rank_bm25:okapi"]),
                         "rank-bm25", f"BM25Okapi; {bm['passages']:,} passages, {bm['queries']} queries, top 10"))
        ix = speed["indexing"]
        ratio = ix["ratio"]
        load = ix.get("load_average")
        load = f"; load {load['start'][0]:.1f} to {load['end'][0]:.1f}" if load else ""
        rows.append(("Index.add (chunks/s)", ix["chunks_per_s"]["index_add"], ix["chunks_per_s"]["encode"],
                     "ST encode", f"{ix['chunks']:,} passages, one chunk each; ratio {ratio:.3f}, goal >= "
                     f"{GOAL_INDEXING_RATIO}: {'met' if ratio >= GOAL_INDEXING_RATIO else 'MISSED'}{load}"))
    lat = results.get("search_latency")
    if lat:
        idle, busy = lat["latency"]["stats"], lat["latency_busy"]["stats"]
        chunks = f"{lat['latency']['chunks']:,} chunks, k=10, query embedding incl."
        p50, pools = idle["hybrid"]["p50"], idle["hybrid_pools"]["p50"]
        rows.append(("hybrid search p50 (s)", p50, pools, "pools",
                     f"{chunks}; peer: default thread pools; goal <= {GOAL_HYBRID_P50_S} and no slower than the "
                     f"pools: {'met' if p50 <= GOAL_HYBRID_P50_S and p50 <= pools else 'MISSED'}"))
        rows.append(("hybrid search p95 (s)", idle["hybrid"]["p95"], idle["hybrid_1thread"]["p95"], "1 thread",
                     f"{chunks}; peer: inside threadpool_limits(1)"))
        for p in ("p50", "p95"):
            rows.append((f"hybrid, 1 core busy {p} (s)", busy["hybrid"][p], busy["hybrid_pools"][p], "pools",
                         "while another process keeps one core busy; peer: default thread pools"))
        steady = busy["hybrid"]["p95"] / idle["hybrid"]["p95"]
        rows.append(("hybrid busy/idle p95", steady, GOAL_STEADY_P95, "goal", f"{busy['hybrid']['p95']:.4f} s busy "
                     f"against {idle['hybrid']['p95']:.4f} s idle: {'met' if steady <= GOAL_STEADY_P95 else 'MISSED'}"))
    return rows


def report(results: dict) -> None:
    """What the retrieval entries add below the table: quality per mode, verdicts, latency details."""
    speed = results.get("search_latency")
    if speed:
        over = speed["limit_overhead_s"]
        print(f"\nhybrid search and query embedding, in turns: nbrag (hybrid, embed: the query on 1 thread), the "
              f"default thread pools (hybrid_pools, embed_pools: {', '.join(speed['pools'])}; torch "
              f"{speed['torch_threads']} threads) and threadpool_limits(1) around the whole call (hybrid_1thread); "
              f"entering and leaving threadpool_limits(1) alone takes {over['threadpool_limits'] * 1000:.2f} ms, a "
              f"kept ThreadpoolController's limit() {over['controller_limit'] * 1000:.2f} ms (medians):")
        for key in ("latency", "latency_busy"):
            lat = speed[key]
            print(f"  {lat['queries']} queries, {lat['busy_cores']} other core(s) busy:")
            for name, st in lat["stats"].items():
                print(f"    {name:<16} p50 {st['p50'] * 1000:7.1f} ms  p95 {st['p95'] * 1000:7.1f} ms  "
                      f"mean {st['mean'] * 1000:7.1f} ms  max {st['max'] * 1000:7.1f} ms")
    speed = results.get("retrieval_speed")
    if speed and speed.get("bm25"):
        bm = speed["bm25"]
        built = bm["build_seconds"]
        print(f"\nBM25: built in {built['bm25s']} s (bm25s) and {built['rank_bm25:okapi']} s "
              f"(rank-bm25); top-10 overlap between them (Jaccard) {bm['top10_jaccard']}")
    q = results.get("retrieval_quality")
    if not q:
        return
    modes = list(CHEAP) + (list(SLOW) if q["generator"] else [])
    print(f"\nretrieval quality, nDCG@10 / R@10 (nbrag.eval.beir: one chunk per passage, MiniLM, 100 hits per query); "
          f"HyDE and rerank use SmolLM2-135M on the CPU, so every mode also runs on the first "
          f"{q['slow_queries']} queries for a fair comparison:")
    print(f"  {'set':<10}{'queries':>8}  " + "".join(f"{m:>16}" for m in modes))
    for name, result in q["sets"].items():
        for sample in ("all", "first"):
            rows = {row["mode"]: row for row in result[sample]}
            cells = "".join(f"{rows[m]['nDCG@10']:>8.3f}/{rows[m]['R@10']:<7.3f}" if m in rows else " " * 16
                            for m in modes)
            print(f"  {name:<10}{rows['bm25']['queries']:>8}  {cells}")
    for name, result in q["sets"].items():
        rows = {row["mode"]: row for row in result["first"]}
        print(f"  seconds per query, {name}, first {q['slow_queries']}: "
              + ", ".join(f"{m} {row['seconds_per_query']:.3f}" for m, row in rows.items())
              + f"; indexing {result['passages']:,} passages took {result['index_seconds']} s")
    for line in hybrid_verdicts(q):
        print(f"  {line}")
