"""GraphRAG benchmarks for bench/run.py: retrieval quality through the knowledge graph, build cost, extractors.

- ``quality``: nDCG@10, recall@10 (the supporting passages) and search time of dense, bm25,
  hybrid and the graph modes (local, PPR, PPR from entity seeds alone, global, hybrid+graph)
  on the HotpotQA and MuSiQue BEIR sets, with each mode's R@10 against dense's; the project's
  goal is a graph mode at least +0.05 R@10 over dense on MuSiQue. Search times come from the
  first 100 queries with the modes in turns (k=10), apart from the metrics' runs;
- ``build``: the offline graph of each corpus, built in a fresh process: seconds and memory
  per 1,000 chunks (the peak RSS increase: ``ru_maxrss`` after the build less the RSS before
  it, the peak reset just before through ``/proc/self/clear_refs``; and in another fresh
  process the peak of Python's allocations from ``tracemalloc``), the split between extraction and
  communities, and an incremental update that adds 1% more documents against the full build;
- ``extractors``: the offline extractor against the LLM extractor with the default generator
  (SmolLM2-135M on the CPU) on the passages of the first MuSiQue questions: seconds per chunk,
  chunks whose reply was unusable, entities per chunk, and recall@10 of PPR from entity seeds
  alone (``dense_weight=0``, so the graph is all that ranks) on those questions.

``quality`` also times the first global search, which embeds the community reports of its
level, against one bare sentence-transformers ``encode`` of the same report summaries (same
model, batch size 32), in turns (goal: no slower than that one batch).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

SETS = ("hotpotqa", "musique")
NAMES = {"hotpotqa": "HotpotQA", "musique": "MuSiQue"}
GOAL_SET = "musique"
GOAL_R10_GAIN = 0.05  # a graph mode's R@10 over dense's on MuSiQue
SLOW_QUERY_S = 0.2  # a search slower than this (median per query) is flagged
ENTITY_SEEDS = "graph-ppr, entity seeds"
MODES = {
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},
    "hybrid": {"mode": "hybrid"},
    "graph-local": {"mode": "graph", "graph": "local"},
    "graph-ppr": {"mode": "graph", "graph": "ppr"},
    ENTITY_SEEDS: {"mode": "graph", "graph": "ppr", "graph_options": {"dense_weight": 0}},
    "graph-global": {"mode": "graph", "graph": "global"},
    "hybrid+graph": {"mode": "hybrid+graph"},
}
GRAPH_MODES = [m for m in MODES if "graph" in m]
ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def engine_state() -> dict:
    """The commit, and which files of the graph engine differ from it (others may be changing them)."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], check=False, capture_output=True, text=True, cwd=ROOT)
        return out.stdout.strip() if out.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "nbrag/graphrag", "nbrag/retrieval", "nbrag/eval")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in changed.splitlines()]}


# --------------------------------------------------------------------------- quality


def latency(index, asked: list[str]) -> dict[str, list[float]]:
    """Seconds per search (k=10, the query embedding included) of every mode, the modes in turns per query
    (the order reversed every other query), so that a busy machine slows them alike."""
    for q in asked[:5]:  # warm up every mode
        for options in MODES.values():
            index.search(q, 10, **options)
    runs: dict[str, list[float]] = {label: [] for label in MODES}
    for i, q in enumerate(asked):
        order = list(MODES.items())
        for label, options in (order if i % 2 == 0 else order[::-1]):
            t = time.perf_counter()
            index.search(q, 10, **options)
            runs[label].append(time.perf_counter() - t)
    return runs


def quality(shared: Path, queries: int | None = None, timed: int = 100) -> dict:
    """Every mode's metrics on both sets (the first ``queries`` judged queries, or all), and its search
    time on the first ``timed`` queries, the modes in turns."""
    from nbrag.eval import beir, load_beir

    entry: dict = {"engine": engine_state(), "modes": MODES, "sets": {}}
    for name in SETS:
        data = load_beir(shared / name)
        t = time.perf_counter()
        index = data.index()
        indexed = time.perf_counter() - t
        graph = index.build_graph(progress=False)  # offline extractor, through the index
        update = graph.last_update
        # The first search of each kind builds what it keeps between queries (PageRank's matrix,
        # the community reports' vectors): timed apart, so that the per-query times are steady ones.
        first_query = next(iter(data.queries.values()))
        first = {}
        for label in ("graph-local", "graph-ppr", "graph-global"):
            t = time.perf_counter()
            index.search(first_query, 10, **MODES[label])
            first[label] = round(time.perf_counter() - t, 3)
        vectors = report_vectors(index, first_query)
        result = beir(data, MODES, queries=queries, index=index, progress=False)
        asked = list(data.queries.values())[:min(timed, queries or timed)]
        turns = latency(index, asked)
        rows = result.table()
        dense_r10 = next(row["R@10"] for row in rows if row["mode"] == "dense")
        for row in rows:
            seconds = turns[row["mode"]]
            row["dR@10"] = round(row["R@10"] - dense_r10, 4)
            row["p50_s"] = round(percentile(seconds, 50), 4)
            row["p95_s"] = round(percentile(seconds, 95), 4)
        entry["sets"][name] = {
            "passages": len(data.corpus), "queries": rows[0]["queries"], "index_seconds": round(indexed, 1),
            "graph": {"seconds": round(update.seconds, 2),
                      "timings": {k: round(v, 2) for k, v in update.timings.items()}, **graph.stats()},
            "first_query_s": first, "report_vectors": vectors, "timed_queries": len(asked), "rows": rows,
            "r10": {mode: result.scores(mode, "R@10") for mode in result.per_query},
        }
    return entry


def report_vectors(index, query: str, rounds: int = 2, level: int = 1) -> dict:
    """Seconds of the first global search (no report vectors kept: each round starts without them) and of one
    bare ``encode`` of the same report summaries, in turns, the order swapped every round."""
    import os

    from nbrag.models import load_embedder

    graph = index.graph
    summaries = list(dict.fromkeys(c.report["summary"] for c in graph.communities.values()
                                   if c.report and (c.level == level or (c.level < level and not c.children))))
    model = load_embedder(index.embedder)
    start = os.getloadavg()

    def first() -> None:
        graph.vectors.clear()
        graph.cache.clear()  # the reports' BM25 too: all that the first search builds
        index.search(query, 10, mode="graph", graph="global", graph_options={"level": level})

    def bare() -> None:
        model.encode(summaries, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)

    seconds: dict[str, list[float]] = {"first_global": [], "encode": []}
    cpu: dict[str, list[float]] = {"first_global": [], "encode": []}  # the process's CPU seconds, all threads
    for r in range(rounds):
        order = [("first_global", first), ("encode", bare)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t, c = time.perf_counter(), time.process_time()
            fn()
            seconds[name].append(round(time.perf_counter() - t, 3))
            cpu[name].append(round(time.process_time() - c, 3))
    ours, theirs = statistics.median(seconds["first_global"]), statistics.median(seconds["encode"])
    cpu_ratio = statistics.median(cpu["first_global"]) / statistics.median(cpu["encode"])
    return {"level": level, "reports": len(summaries), "chars": sum(map(len, summaries)), "seconds": seconds,
            "cpu_seconds": cpu, "first_global_s": ours, "encode_s": theirs, "ratio": round(ours / theirs, 3),
            "cpu_ratio": round(cpu_ratio, 3), "load_average": {"start": start, "end": os.getloadavg()}}


def verdict(entry: dict) -> tuple[bool, str]:
    """Whether a graph mode reaches dense's R@10 + 0.05 on MuSiQue, and the line that says so."""
    result = entry["sets"].get(GOAL_SET)
    if result is None:
        return False, f"goal not measured: no {NAMES[GOAL_SET]} run"
    rows = {row["mode"]: row for row in result["rows"]}
    best = max(GRAPH_MODES, key=lambda m: rows[m]["R@10"])
    met = rows[best]["dR@10"] >= GOAL_R10_GAIN
    return met, (f"goal, a graph mode at least +{GOAL_R10_GAIN} R@10 over dense on {NAMES[GOAL_SET]}: "
                 f"{'met' if met else 'MISSED'}; best {best} {rows[best]['R@10']:.3f} against dense "
                 f"{rows['dense']['R@10']:.3f} ({rows[best]['dR@10']:+.3f}; {result['queries']} queries)")


# --------------------------------------------------------------------------- build

# Each corpus in a fresh process: the graph of every passage (one chunk each, text "title\ntext",
# its document the passage, as in load_beir(path).index()), read by KnowledgeGraph.add, which is
# what index.build_graph() and Index.add (through its graph update) run on the index's chunks.
BUILD = r"""
import copy, gc, json, os, re, resource, sys, time
from nbrag.eval import load_beir
from nbrag.graphrag import KnowledgeGraph

def peak_mb():  # the process's peak resident set so far (ru_maxrss is in KiB on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def reset_peak():  # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM, and so ru_maxrss)
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False

def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def record(update):
    return {"seconds": update.seconds, "timings": dict(update.timings), "added": update.added,
            "entities": update.entities, "relations": update.relations, "communities": update.communities}

PATH, TRACE, REPEAT = sys.argv[1], sys.argv[2] == "trace", int(sys.argv[3])
data = load_beir(PATH)
chunks = {f"{doc}#0": (text, doc) for doc, text in data.corpus.items()}
han = sum(bool(re.search(r"[\u3400-\u9fff]", text)) for text, _ in chunks.values())
# imports (yake, networkx, igraph, leidenalg) and first calls, out of the measurement
KnowledgeGraph().add({"warm#0": ("Ada Lovelace\nAda Lovelace met Charles Babbage in London.", "warm")},
                     progress=False)
gc.collect()
before = rss_mb()
# a chunk with a Chinese character loads jieba's dictionary, once per process: measured apart
KnowledgeGraph().add({"warm#1": ("Sun Tzu (孫子)\nSun Tzu was a Chinese general.", "warm")}, progress=False)
gc.collect()
out = {"chunks": len(chunks), "han_chunks": han, "jieba_load_mb": rss_mb() - before}
if TRACE:
    import tracemalloc
    tracemalloc.start()
    graph = KnowledgeGraph()
    update = graph.add(chunks, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    gc.collect()  # what the graph holds, without garbage waiting for the collector
    current = tracemalloc.get_traced_memory()[0]
    out.update(traced_peak_mb=peak / 2**20, traced_kept_mb=current / 2**20, traced_seconds=update.seconds)
    print(json.dumps(out))
    sys.exit()
gc.collect()
reset = reset_peak()
out.update(peak_reset=reset, rss_before_mb=rss_mb(), peak_before_mb=peak_mb())
graph = KnowledgeGraph()
builds = [record(graph.add(chunks, progress=False))]
out.update(peak_after_mb=peak_mb(), rss_after_mb=rss_mb())
for _ in range(REPEAT - 1):
    del graph
    gc.collect()
    graph = KnowledgeGraph()
    builds.append(record(graph.add(chunks, progress=False)))
out["builds"] = builds
# incremental: the graph of 99% of the documents, then the last 1% added, each time to a copy
# of that graph; it must end as the full build's graph
documents = list(data.corpus)
new = set(documents[-max(1, round(len(documents) / 100)):])
smaller = KnowledgeGraph()
base = smaller.add({c: v for c, v in chunks.items() if v[1] not in new}, progress=False)
added = {c: v for c, v in chunks.items() if v[1] in new}
updates = []
for _ in range(REPEAT):
    grown = copy.deepcopy(smaller)
    updates.append(record(grown.add(added, progress=False)))
out.update(base=record(base), new_documents=len(new), new_chunks=len(added), updates=updates,
           same_entities=set(grown.graph.nodes) == set(graph.graph.nodes),
           same_relations={frozenset(e) for e in grown.graph.edges} == {frozenset(e) for e in graph.graph.edges},
           communities_full=len(graph.communities), communities_grown=len(grown.communities))
print(json.dumps(out))
"""


def _fresh_json(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def build(shared: Path, repeat: int = 3) -> dict:
    """Build cost of the offline graph of each corpus, each measured in fresh processes."""
    entry: dict = {"engine": engine_state(), "repeat": repeat, "sets": {}}
    for name in SETS:
        path = str(shared / name)
        run = _fresh_json(BUILD, path, "time", str(repeat))
        traced = _fresh_json(BUILD, path, "trace", "1")
        per_k = 1000 / run["chunks"]
        seconds = [b["seconds"] for b in run["builds"]]
        updates = [u["seconds"] for u in run["updates"]]
        full = statistics.median(seconds)
        run.update(
            full_s=round(full, 2), full_s_per_1k=round(full * per_k, 2),
            extract_s_per_1k=round(statistics.median(b["timings"]["extract"] for b in run["builds"]) * per_k, 2),
            communities_s_per_1k=round(statistics.median(b["timings"]["communities"] for b in run["builds"]) * per_k,
                                       2),
            jieba_load_mb=round(run["jieba_load_mb"], 1),
            # with the peak reset before the build, its peak less the RSS before it; else ru_maxrss after less before
            peak_rss_increase_mb=round(run["peak_after_mb"] - run["rss_before_mb" if run["peak_reset"] else
                                                                  "peak_before_mb"], 1),
            kept_rss_increase_mb=round(run["rss_after_mb"] - run["rss_before_mb"], 1),
            traced_peak_mb=round(traced["traced_peak_mb"], 1), traced_kept_mb=round(traced["traced_kept_mb"], 1),
            update_s=round(statistics.median(updates), 3), update_ratio=round(statistics.median(updates) / full, 3))
        run["peak_rss_mb_per_1k"] = round(run["peak_rss_increase_mb"] * per_k, 1)
        run["traced_peak_mb_per_1k"] = round(run["traced_peak_mb"] * per_k, 1)
        entry["sets"][name] = run
    return entry


# --------------------------------------------------------------------------- extractors


class TimedExtractor:
    """An extractor that times each chunk it reads (one at a time, as both extractors read them)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, []

    def options(self) -> dict:
        return self.inner.options()

    def extract(self, texts: list[str]) -> list:
        out = []
        for text in texts:
            t = time.perf_counter()
            out += self.inner.extract([text])
            self.seconds.append(time.perf_counter() - t)
        return out


def first_questions(shared: Path, questions: int):
    """The BEIR set restricted to the first ``questions`` MuSiQue questions and their passages."""
    from nbrag.eval import load_beir
    from nbrag.eval.retrieval import BeirSet

    data = load_beir(shared / "musique")
    ids = {}
    with (shared / "musique" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids[(str(row.get("title") or "").strip(), row["text"])] = row["_id"]
    passages, asked = [], []
    with (shared / "musique" / "musique_200.jsonl").open(encoding="utf-8") as handle:
        for _, line in zip(range(questions), handle):
            row = json.loads(line)
            asked.append(row["id"])
            passages += [ids[(p["title"].strip(), p["paragraph_text"])] for p in row["paragraphs"]]
    passages = list(dict.fromkeys(passages))
    return BeirSet(name=f"musique-first-{questions}", corpus={p: data.corpus[p] for p in passages},
                   queries={q: data.queries[q] for q in asked}, qrels={q: data.qrels[q] for q in asked})


def extractors(shared: Path, questions: int = 5) -> dict:
    """The offline and the LLM extractor on the passages of the first ``questions`` MuSiQue questions."""
    from nbrag import models
    from nbrag.config import settings
    from nbrag.eval import beir
    from nbrag.graphrag import get_extractor

    subset = first_questions(shared, questions)
    index = subset.index()
    t = time.perf_counter()
    models.load_generator()
    entry: dict = {"engine": engine_state(), "questions": len(subset.queries), "chunks": len(index),
                   "generator": settings.generator, "generator_load_s": round(time.perf_counter() - t, 1),
                   "extractors": {}}
    modes = {m: MODES[m] for m in ("dense", ENTITY_SEEDS, "graph-ppr")}
    for name in ("offline", "llm"):
        timed = TimedExtractor(get_extractor(name))
        graph = index.build_graph(timed, progress=False)
        update = graph.last_update
        per_chunk, timed.seconds = timed.seconds, []
        records = list(graph.chunks.values())
        failed_ids = {f["chunk"] for f in graph.failures}
        read = [r for c, r in graph.chunks.items() if c not in failed_ids]
        result = beir(subset, modes, index=index, progress=False)
        entry["extractors"][name] = {
            "chunks": update.added, "failed": update.failed, "seconds": round(update.seconds, 1),
            "s_per_chunk": [round(s, 3) for s in per_chunk],
            "s_per_chunk_median": round(statistics.median(per_chunk), 4),
            "s_per_chunk_mean": round(statistics.fmean(per_chunk), 4),
            "entities_per_chunk": round(statistics.fmean(len(r["entities"]) for r in records), 2),
            "entities_per_read_chunk": round(statistics.fmean(len(r["entities"]) for r in read), 2) if read else 0.0,
            "relations_per_chunk": round(statistics.fmean(len(r["edges"]) for r in records), 2),
            "entities": graph.graph.number_of_nodes(), "relations": graph.graph.number_of_edges(),
            "chunks_without_entities": sum(not r["entities"] for r in records),
            "failures": dict(Counter(f["error"] for f in graph.failures)),
            "failure_replies": [f["reply"][:400] for f in graph.failures[:3] if f.get("reply")],
            "query_extract_s": [round(s, 3) for s in timed.seconds],  # link_query runs the extractor on each query
            "rows": result.table(),
        }
    return entry


# --------------------------------------------------------------------------- report


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    rows = []
    q = results.get("graph_quality")
    if q:
        for name, result in q["sets"].items():
            by = {row["mode"]: row for row in result["rows"]}
            best = max(GRAPH_MODES, key=lambda m: by[m]["R@10"])
            note = f"best graph mode: {best}, {result['queries']} queries"
            if name == GOAL_SET:
                note += f"; goal +{GOAL_R10_GAIN} over dense: {'met' if verdict(q)[0] else 'MISSED'}"
            rows.append((f"{NAMES[name]} R@10", by[best]["R@10"], by["dense"]["R@10"], "dense", note))
        for name, result in q["sets"].items():
            by = {row["mode"]: row for row in result["rows"]}
            for mode in ("graph-ppr", "hybrid+graph"):
                rows.append((f"{mode} p50 (s)", by[mode]["p50_s"], by["dense"]["p50_s"], "dense",
                             f"{NAMES[name]}, {result['passages']:,} passages; k=10, query embedding incl."))
            rv = result.get("report_vectors")
            if rv:
                rows.append(("first global search (s)", rv["first_global_s"], rv["encode_s"], "ST encode",
                             f"{NAMES[name]}: {rv['reports']:,} level-{rv['level']} reports embedded; ratio "
                             f"{rv['ratio']:.3f}, goal <= 1: {'met' if rv['ratio'] <= 1 else 'MISSED'}; load "
                             f"{rv['load_average']['start'][0]:.1f} to {rv['load_average']['end'][0]:.1f}"))
    b = results.get("graph_build")
    if b:
        for name, result in b["sets"].items():
            same = result["same_entities"] and result["same_relations"]
            rows.append((f"graph +1%, {NAMES[name]} (s)", result["update_s"], result["full_s"], "full build",
                         (f"{result['new_documents']} documents added to {result['base']['added']:,}; "
                          f"same graph as the full build: {same}")))
    e = results.get("graph_extractors")
    if e and "llm" in e["extractors"]:
        llm, offline = e["extractors"]["llm"], e["extractors"]["offline"]
        rows.append(("LLM extractor (s/chunk)", llm["s_per_chunk_median"], offline["s_per_chunk_median"], "offline",
                     f"median; {e['chunks']} MuSiQue chunks; failed {llm['failed']} (offline {offline['failed']})"))
    return rows


def _mode_table(rows: list[dict], indent: str = "  ") -> None:
    print(f"{indent}{'mode':<24}{'nDCG@10':>8}{'R@10':>8}{'dR@10':>8}{'R@100':>8}{'RR':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for row in rows:
        delta = f"{row['dR@10']:+.3f}" if "dR@10" in row else ""
        timing = (f"{row['p50_s'] * 1000:>9.1f}{row['p95_s'] * 1000:>9.1f}" if "p50_s" in row
                  else f"{row['seconds_per_query'] * 1000:>9.1f}{'(mean)':>9}")
        print(f"{indent}{row['mode']:<24}{row['nDCG@10']:>8.3f}{row['R@10']:>8.3f}{delta:>8}{row['R@100']:>8.3f}"
              f"{row['RR']:>8.3f}{timing}")


def report(results: dict) -> None:
    """What the GraphRAG entries add below the table."""
    q = results.get("graph_quality")
    if q:
        print("\nGraphRAG retrieval quality (nbrag.eval.beir: one chunk per passage, the offline graph built through "
              "the index; R@10 is the recall of the supporting passages; dR@10 against dense); search time per "
              "query, k=10, the query embedding included, the modes in turns on the first queries:")
        for name, result in q["sets"].items():
            g = result["graph"]
            print(f"  {NAMES[name]}: {result['passages']:,} passages, {result['queries']} queries "
                  f"({result.get('timed_queries', result['queries'])} timed); graph "
                  f"{g['entities']:,} entities, {g['relations']:,} relations, {g['communities']:,} communities, "
                  f"built in {g['seconds']} s through index.build_graph() (extract {g['timings'].get('extract')} s, "
                  f"communities {g['timings'].get('communities')} s); first query (caches built): "
                  + ", ".join(f"{m} {s:.2f} s" for m, s in result["first_query_s"].items()))
            _mode_table(result["rows"], "    ")
            rv = result.get("report_vectors")
            if rv:
                print(f"    first global search, the {rv['reports']:,} level-{rv['level']} community reports "
                      f"({rv['chars']:,} characters) embedded: {rv['seconds']['first_global']} s, against one bare "
                      f"sentence-transformers encode of the same summaries {rv['seconds']['encode']} s, in turns "
                      f"(ratio of medians {rv['ratio']:.3f}; of CPU seconds {rv['cpu_ratio']:.3f}: "
                      f"{rv['cpu_seconds']['first_global']} against {rv['cpu_seconds']['encode']})")
            slow = [row["mode"] for row in result["rows"] if row["p50_s"] > SLOW_QUERY_S]
            if slow:
                print(f"    slower than {SLOW_QUERY_S * 1000:.0f} ms a query (median): {', '.join(slow)}")
            r10 = result["r10"]
            for mode in ("hybrid+graph", "graph-ppr"):
                better = sum(r10[mode][qid] > r10["dense"][qid] for qid in r10["dense"])
                worse = sum(r10[mode][qid] < r10["dense"][qid] for qid in r10["dense"])
                print(f"    {mode} against dense, R@10 per query: better on {better}, worse on {worse}, "
                      f"of {len(r10['dense'])}")
        print(f"  {verdict(q)[1]}")
        if q["engine"]["uncommitted"]:
            print(f"  engine at {q['engine']['commit']} with uncommitted changes to "
                  f"{', '.join(q['engine']['uncommitted'])}")
    b = results.get("graph_build")
    if b:
        print(f"\nGraphRAG build, offline extractor, each corpus in a fresh process (medians of {b['repeat']} builds; "
              "memory of the first: its peak RSS increase, ru_maxrss after it less the RSS before it with the peak "
              "reset just before (/proc/self/clear_refs), the RSS it kept, and in another fresh process "
              "tracemalloc's peak and kept Python allocations; MB):")
        print(f"  {'set':<10}{'chunks':>7}{'s':>7}{'s/1k':>7}{'extract':>9}{'commun.':>9}{'peak RSS':>10}"
              f"{'kept RSS':>10}{'traced pk':>10}{'traced kept':>12}{'MB/1k pk':>10}")
        for name, r in b["sets"].items():
            print(f"  {NAMES[name]:<10}{r['chunks']:>7}{r['full_s']:>7.1f}{r['full_s_per_1k']:>7.2f}"
                  f"{r['extract_s_per_1k']:>9.2f}{r['communities_s_per_1k']:>9.2f}{r['peak_rss_increase_mb']:>10.1f}"
                  f"{r['kept_rss_increase_mb']:>10.1f}{r['traced_peak_mb']:>10.1f}{r['traced_kept_mb']:>12.1f}"
                  f"{r['peak_rss_mb_per_1k']:>10.1f}")
        for name, r in b["sets"].items():
            ups = r["updates"]
            extract = statistics.median(u["timings"]["extract"] for u in ups)
            communities = statistics.median(u["timings"]["communities"] for u in ups)
            recomputed = statistics.median(u["communities"] for u in ups)
            print(f"  {NAMES[name]}: +{r['new_documents']} documents ({r['new_chunks']} chunks) to a graph of "
                  f"{r['base']['added']:,}: {r['update_s']:.3f} s (medians of {len(ups)}; extract "
                  f"{extract:.3f} s, communities {communities:.3f} s, "
                  f"{recomputed:.0f} communities recomputed of {r['communities_grown']}), "
                  f"{r['update_ratio']:.3f} of the full build's {r['full_s']:.1f} s "
                  f"({r['builds'][0]['communities']} communities); same entities and relations as the full build: "
                  f"{r['same_entities'] and r['same_relations']}")
        print("  measured apart, out of the figures above: the first chunk with a Chinese character loads jieba's "
              "dictionary once per process, " + ", ".join(f"{r['jieba_load_mb']:.0f} MB of RSS ({NAMES[name]}: "
                                                         f"{r['han_chunks']} such chunks)"
                                                         for name, r in b["sets"].items()))
    e = results.get("graph_extractors")
    if e:
        print(f"\nGraphRAG extractors on the passages of the first {e['questions']} MuSiQue questions "
              f"({e['chunks']} chunks); generator {e['generator']} on the CPU, loaded in {e['generator_load_s']} s:")
        print(f"  {'extractor':<10}{'s/chunk':>9}{'mean':>8}{'failed':>8}{'ent/chunk':>10}{'ent/read':>9}"
              f"{'rel/chunk':>10}{'entities':>9}{'R@10 ent.':>10}{'R@10 ppr':>9}{'R@10 dense':>11}")
        for name, x in e["extractors"].items():
            by = {row["mode"]: row for row in x["rows"]}
            print(f"  {name:<10}{x['s_per_chunk_median']:>9.3f}{x['s_per_chunk_mean']:>8.3f}"
                  f"{x['failed']:>5}/{x['chunks']:<3}{x['entities_per_chunk']:>9.2f}{x['entities_per_read_chunk']:>9.2f}"
                  f"{x['relations_per_chunk']:>10.2f}{x['entities']:>9}{by[ENTITY_SEEDS]['R@10']:>10.3f}"
                  f"{by['graph-ppr']['R@10']:>9.3f}{by['dense']['R@10']:>11.3f}")
        for name, x in e["extractors"].items():
            if x["failures"]:
                print(f"  {name} failures: " + "; ".join(f"{reason}: {n}" for reason, n in x["failures"].items()))
            if x["query_extract_s"]:
                print(f"  {name}: searching its graph runs the extractor on each query too: median "
                      f"{statistics.median(x['query_extract_s']):.3f} s over {len(x['query_extract_s'])} searches")
