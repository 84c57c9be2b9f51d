"""Fusion benchmark for bench/run.py: every fusion option scored on the same cached candidates.

- ``fusion``: on the HotpotQA and MuSiQue BEIR sets (every judged query; one chunk per passage,
  MiniLM, as ``nbrag.eval.beir`` indexes them), each retriever's candidates are taken once per
  query and kept on disk under ``bench/.cache/fusion/``: dense and the graph's PageRank ranking
  (``Index.search(mode="hybrid+graph")``'s candidates, the offline graph built through the
  index) keyed by the set, the embedder and the graph code; BM25 keyed by the set, the BM25
  backend and the analyzer's code (``nbrag/text.py``, ``nbrag/analyzers.py``,
  ``nbrag/ranking/bm25.py``), rebuilt in seconds when they change. Every option is then
  scored through ``nbrag.ranking.fusion.fuse``, the function ``Index.search`` fuses with:
  hybrid with RRF (``rrf_k`` in RRF_KS, equal weights), min-max and z-score (BM25 weight in
  BM25_WEIGHTS, dense the rest); hybrid+graph with RRF, min-max and z-score over every
  (bm25, dense, graph) weight in tenths. nDCG@10 and R@10 from ir-measures, as ``nbrag.eval.beir`` computes them.
  The option best on average over the sets that is never a set's worst (nDCG@10 first for hybrid,
  R@10 first for hybrid+graph) is printed beside nbrag's default (``nbrag.ranking.fusion.DEFAULTS``),
  with paired bootstrap intervals against RRF at rrf_k 60 with equal weights and PageRank alone.

  Candidates per retriever: ``search(k)`` takes ``max(50, 4k)``, so 50 at the default k (5)
  and at k=10; the main tables fuse the top 50 of each retriever, the check at ``DEPTH`` fuses
  the top 400, what ``nbrag.eval.beir`` (k=100) fuses.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
import time
from pathlib import Path

SETS = ("hotpotqa", "musique")
NAMES = {"hotpotqa": "HotpotQA", "musique": "MuSiQue"}
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "fusion"
DEPTH = 400  # candidates kept per retriever: what search(k=100) takes
N = 50  # candidates per retriever at the default k: max(50, 4k)
K = 10
RRF_KS = (1, 5, 10, 20, 40, 60, 100)
BM25_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(1, 10))
GRAPH_RRF_KS = (1, 5, 10, 20, 60)
TENTHS = [(b, d, 10 - b - d) for b in range(11) for d in range(11 - b)]  # (bm25, dense, graph) weights in tenths


def _sources_digest(*paths: str) -> str:
    digest = hashlib.sha1()
    for pattern in paths:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _corpus_digest(data, *extra: str) -> str:
    digest = hashlib.sha1("\x1f".join(extra).encode())
    for doc_id, text in data.corpus.items():
        digest.update(f"{doc_id}\x1f{text}\x1e".encode())
    for qid, text in data.queries.items():
        digest.update(f"{qid}\x1f{text}\x1e".encode())
    return digest.hexdigest()[:12]


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)


def _index(data, key: str):
    """The set's passages in an Index kept on disk under the cache (embedded once), one chunk per passage."""
    from nbrag.config import settings
    from nbrag.retrieval import Index

    # in the language a new index gets, so that the index's own BM25 is the one bm25_rankings scores
    index = Index(f"fusion-{data.name}-{key}", path=CACHE / f"index-{data.name}-{key}", language=settings.language)
    have = set(index.documents)
    missing = {doc_id: text for doc_id, text in data.corpus.items() if doc_id not in have}
    if missing:  # one fixed window as long as the longest passage: a passage is one chunk (as BeirSet.index)
        size = max(len(text) for text in missing.values())
        index.add(missing, chunker="fixed", unit="char", size=size, overlap=0, progress=False)
    return index


def dense_and_graph(data) -> dict:
    """Per query, dense's and the graph's (PPR) top DEPTH candidates, and the chunks' texts; cached."""
    from nbrag.config import settings

    index_key = _corpus_digest(data, settings.embedder)
    key = _corpus_digest(data, settings.embedder, settings.language, "v2",
                         _sources_digest("nbrag/graphrag/*.py", "nbrag/text.py"))
    path = CACHE / f"{data.name}-dense-graph-{key}.json"
    cached = _read(path)
    if cached is not None:
        return cached
    t = time.perf_counter()
    index = _index(data, index_key)
    indexed = time.perf_counter() - t
    t = time.perf_counter()
    index.build_graph(rebuild=True, progress=False)  # offline extractor, through the index
    built = time.perf_counter() - t
    t = time.perf_counter()
    dense, graph, bm25 = {}, {}, {}
    for qid, text in data.queries.items():
        found = index.search(text, K, mode="hybrid+graph", candidates=DEPTH).candidates
        dense[qid], graph[qid], bm25[qid] = found["dense"], found["graph"], found["bm25"]
    chunks = index.store.committed_chunks()
    value = {"embedder": settings.embedder, "chunks": chunks, "dense": dense, "graph": graph,
             "index_bm25": bm25, "index_language": index.language,
             "seconds": {"index": round(indexed, 1), "graph": round(built, 1),
                         "search": round(time.perf_counter() - t, 1)}}
    _write(path, value)
    return value


def _new_bm25():
    """A BM25 as Index builds one for a new index."""
    import inspect

    from nbrag.config import settings
    from nbrag.ranking.bm25 import BM25

    options = {}
    if "language" in inspect.signature(BM25).parameters and hasattr(settings, "language"):
        options["language"] = settings.language
    return BM25(settings.bm25, **options)


def bm25_rankings(data, chunks: dict[str, str]) -> dict:
    """Per query, BM25's top DEPTH candidates over the chunks, as a new index's BM25 ranks them; cached."""
    from nbrag.config import settings

    key = _corpus_digest(data, settings.bm25, repr(sorted(settings.to_dict().items())),
                         _sources_digest("nbrag/text.py", "nbrag/analyzers.py", "nbrag/ranking/bm25.py"))
    path = CACHE / f"{data.name}-bm25-{key}.json"
    cached = _read(path)
    if cached is not None:
        return cached
    t = time.perf_counter()
    bm25 = _new_bm25()
    bm25.upsert(list(chunks), list(chunks.values()))
    ranked = {qid: bm25.search(text, DEPTH) for qid, text in data.queries.items()}
    value = {"backend": bm25.backend, "language": str(getattr(bm25, "language", "")), "bm25": ranked,
             "seconds": round(time.perf_counter() - t, 2)}
    _write(path, value)
    return value


# --------------------------------------------------------------------------- scoring


def _document(chunk_id: str) -> str:
    return chunk_id.rsplit("#", 1)[0]


class Scorer:
    """nDCG@10 and R@10 of top-10 rankings, per query, by ir-measures (ranks given as scores, as beir does)."""

    def __init__(self, data) -> None:
        import ir_measures

        self.qids = list(data.queries)
        self.qrels = [ir_measures.Qrel(q, d, s) for q in self.qids for d, s in data.qrels[q].items()]
        self.measures = [ir_measures.nDCG @ K, ir_measures.R @ K]

    def __call__(self, tops: dict[str, list[str]]) -> dict[str, dict[str, float]]:
        """Per query (``qid -> top chunk ids``): {"nDCG@10": ..., "R@10": ...}; a query finding nothing scores 0."""
        import ir_measures

        run = []
        for qid, ids in tops.items():
            docs = list(dict.fromkeys(_document(i) for i in ids))[:K]
            run += [ir_measures.ScoredDoc(qid, doc, float(K - rank)) for rank, doc in enumerate(docs)]
        out = {q: {"nDCG@10": 0.0, "R@10": 0.0} for q in self.qids}
        for metric in ir_measures.iter_calc(self.measures, self.qrels, run):
            out[metric.query_id][str(metric.measure)] = float(metric.value)
        return out


def _mean(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: round(statistics.fmean(r[m] for r in per_query.values()), 4) for m in ("nDCG@10", "R@10")}


def _fused(candidates: dict[str, dict[str, list]], how: str, weights: dict[str, float], rrf_k: int,
           n: int) -> dict[str, list[str]]:
    from nbrag.ranking.fusion import fuse

    names = list(candidates)
    return {qid: [i for i, _ in fuse({r: [tuple(p) for p in candidates[r][qid][:n]] for r in names}, how, weights,
                                     rrf_k)[:K]]
            for qid in candidates[names[0]]}


def hybrid_options() -> dict[str, tuple[str, dict[str, float], int]]:
    """label -> (fusion, weights, rrf_k) of every hybrid option."""
    out = {f"rrf k={k}": ("rrf", {"bm25": 1.0, "dense": 1.0}, k) for k in RRF_KS}
    for how in ("minmax", "zscore"):
        for w in BM25_WEIGHTS:
            out[f"{how} {w:.1f}/{1 - w:.1f}"] = (how, {"bm25": w, "dense": round(1 - w, 1)}, 60)
    return out


def graph_options() -> dict[str, tuple[str, dict[str, float], int]]:
    """label -> (fusion, weights, rrf_k) of every hybrid+graph option: weights (bm25, dense, graph) in tenths."""
    equal = {"bm25": 1.0, "dense": 1.0, "graph": 1.0}
    out = {"rrf k=60 equal": ("rrf", equal, 60), "minmax equal": ("minmax", equal, 60),
           "zscore equal": ("zscore", equal, 60)}
    for b, d, g in TENTHS:
        weights = {"bm25": b / 10, "dense": d / 10, "graph": g / 10}
        for k in GRAPH_RRF_KS:
            out[f"rrf k={k} {b}/{d}/{g}"] = ("rrf", weights, k)
        for how in ("minmax", "zscore"):
            out[f"{how} {b}/{d}/{g}"] = (how, weights, 60)
    return out


def choose(table: dict[str, dict[str, dict[str, float]]], metric: str = "nDCG@10",
           then: str = "R@10") -> tuple[str, dict]:
    """The option best on average over the sets by ``metric`` (``then`` breaking ties) that is never the table's
    worst on a set; with the worst per set, for the report."""
    sets = list(next(iter(table.values())))
    worst = {s: min(table, key=lambda o: table[o][s][metric]) for s in sets}

    def mean(option: str, m: str) -> float:
        return statistics.fmean(table[option][s][m] for s in sets)

    ranked = sorted(table, key=lambda o: (-round(mean(o, metric), 4), -round(mean(o, then), 4), o))
    best = next(o for o in ranked if all(worst[s] != o for s in sets))
    return best, {"worst": worst, "mean": {o: {m: round(mean(o, m), 4) for m in (metric, then)} for o in table},
                  "order": ranked}


def fusion(shared: Path) -> dict:
    """Every fusion option on both sets, from cached candidates (see the module's docstring)."""
    from nbrag.eval import load_beir

    entry: dict = {"n": N, "depth": DEPTH, "sets": {}, "hybrid": {}, "hybrid_depth": {}, "graph": {}, "single": {}}
    per_query: dict[str, dict[str, dict]] = {}
    hybrid, graph = hybrid_options(), graph_options()
    for name in SETS:
        data = load_beir(shared / name)
        t = time.perf_counter()
        cached = dense_and_graph(data)
        got = time.perf_counter() - t
        t = time.perf_counter()
        bm = bm25_rankings(data, cached["chunks"])
        bm_s = time.perf_counter() - t
        agree = (statistics.fmean([i for i, _ in cached["index_bm25"][q][:N]] == [i for i, _ in bm["bm25"][q][:N]]
                                  for q in data.queries)
                 if cached.get("index_language") == bm["language"] else None)  # else the index's BM25 is another
        candidates = {"bm25": bm["bm25"], "dense": cached["dense"], "graph": cached["graph"]}
        score = Scorer(data)
        t = time.perf_counter()
        single = {r: score({q: [i for i, _ in ranked[q][:K]] for q in data.queries})
                  for r, ranked in candidates.items()}
        two = {r: candidates[r] for r in ("bm25", "dense")}
        per_hybrid = {label: score(_fused(two, how, w, k, N)) for label, (how, w, k) in hybrid.items()}
        per_depth = {label: score(_fused(two, how, w, k, DEPTH)) for label, (how, w, k) in hybrid.items()}
        per_graph = {label: score(_fused(candidates, how, w, k, N)) for label, (how, w, k) in graph.items()}
        entry["sets"][name] = {"passages": len(data.corpus), "queries": len(data.queries),
                               "bm25": {"backend": bm["backend"], "language": bm["language"]},
                               "cache_s": {"dense_graph": round(got, 1), "bm25": round(bm_s, 2)},
                               "built_s": cached["seconds"],
                               "bm25_same_as_index_top50": None if agree is None else round(agree, 3),
                               "scoring_s": round(time.perf_counter() - t, 1)}
        entry["single"][name] = {r: _mean(p) for r, p in single.items()}
        for key, per in (("hybrid", per_hybrid), ("hybrid_depth", per_depth), ("graph", per_graph)):
            for label, p in per.items():
                entry[key].setdefault(label, {})[name] = _mean(p)
        per_query[name] = {**{f"hybrid {o}": p for o, p in per_hybrid.items()},
                           **{f"graph {o}": p for o, p in per_graph.items()},
                           "graph-ppr": single["graph"]}
        entry["sets"][name]["r10_graph_ppr"] = {q: v["R@10"] for q, v in single["graph"].items()}
    entry["hybrid_best"], entry["hybrid_summary"] = choose(entry["hybrid"])
    entry["hybrid_depth_best"], _ = choose(entry["hybrid_depth"])
    entry["graph_best_r10"], graph_r10 = choose(entry["graph"], "R@10", "nDCG@10")
    entry["graph_best_ndcg"], _ = choose(entry["graph"], "nDCG@10", "R@10")
    entry["graph_order_r10"] = graph_r10["order"][:15]
    entry["defaults"] = default_labels()
    families = {label.rsplit(" ", 1)[0] for label in entry["graph"] if not label.endswith("equal")}
    entry["graph_family_best"] = {family: choose({o: v for o, v in entry["graph"].items()
                                                  if o.rsplit(" ", 1)[0] == family}, "R@10", "nDCG@10")[0]
                                  for family in sorted(families)}
    # R@10 (mean of the sets) by the graph's weight, the best BM25/dense split at each, at the chosen option's rrf_k
    family = entry["defaults"]["graph"].rsplit(" ", 1)[0]
    entry["graph_by_weight"] = {
        g: max((graph_r10["mean"][f"{family} {b}/{10 - g - b}/{g}"]["R@10"], f"{b}/{10 - g - b}/{g}")
               for b in range(11 - g)) for g in range(11)} if family.startswith("rrf") else {}
    # each set's own best, scored on the other set: how far a choice made on one set carries
    cross = {}
    for own, other in itertools.permutations(SETS):
        for key, metric in (("hybrid", "nDCG@10"), ("graph", "R@10")):
            best = max(entry[key], key=lambda o: (entry[key][o][own][metric], o))
            cross[f"{key} {own}->{other}"] = {"option": best, metric: entry[key][best][other][metric],
                                              "best_there": max(v[other][metric] for v in entry[key].values())}
    entry["cross"] = cross
    # the chosen options against the old defaults (RRF k=60, equal weights) and graph-ppr, query by query
    pairs = {"hybrid": (f"hybrid {entry['hybrid_best']}", "hybrid rrf k=60", "nDCG@10"),
             "hybrid vs zscore": (f"hybrid {entry['hybrid_best']}", "hybrid zscore 0.3/0.7", "nDCG@10"),
             "graph": (f"graph {entry['graph_best_r10']}", "graph rrf k=60 equal", "R@10"),
             "graph vs ppr": (f"graph {entry['graph_best_r10']}", "graph-ppr", "R@10")}
    entry["paired"] = {label: {name: paired(per_query[name][a], per_query[name][b], metric) for name in SETS}
                       for label, (a, b, metric) in pairs.items()}
    return entry


def paired(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], metric: str, rounds: int = 2000) -> dict:
    """Mean difference a - b over queries, its 95% bootstrap interval (queries resampled; seeded), and how many
    queries each side wins."""
    import random

    diffs = [a[q][metric] - b[q][metric] for q in a]
    rng = random.Random(0)
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(rounds))
    return {"metric": metric, "diff": round(statistics.fmean(diffs), 4),
            "ci95": [round(means[int(0.025 * rounds)], 4), round(means[int(0.975 * rounds) - 1], 4)],
            "better": sum(d > 0 for d in diffs), "worse": sum(d < 0 for d in diffs)}


# --------------------------------------------------------------------------- report


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    f = results.get("fusion")
    if not f:
        return []
    rows = []
    ours = f.get("defaults") or default_labels()
    for name in f["single"]:
        rows.append((f"hybrid nDCG@10, {NAMES[name]}", f["hybrid"][ours["hybrid"]][name]["nDCG@10"],
                     f["hybrid"]["rrf k=60"][name]["nDCG@10"], "RRF k=60",
                     f"default {ours['hybrid']}; {N} candidates each"))
    for name in f["single"]:
        rows.append((f"hybrid+graph R@10, {NAMES[name]}", f["graph"][ours["graph"]][name]["R@10"],
                     f["graph"]["rrf k=60 equal"][name]["R@10"], "RRF k=60 equal", f"default {ours['graph']}"))
    return rows


def _share(value: float | None) -> str:
    return "(not compared: another language)" if value is None else f"{value:.3f}"


def default_labels() -> dict[str, str]:
    """nbrag's defaults (nbrag.ranking.fusion.DEFAULTS) as this benchmark's option labels."""
    from nbrag.ranking.fusion import DEFAULTS

    out = {}
    for names, d in DEFAULTS.items():
        if "graph" in names:
            tenths = "/".join(str(round(10 * d.weights[r])) for r in ("bm25", "dense", "graph"))
            out["graph"] = f"{d.fusion} k={d.rrf_k} {tenths}" if d.fusion == "rrf" else f"{d.fusion} {tenths}"
        elif d.fusion == "rrf":
            out["hybrid"] = f"rrf k={d.rrf_k}"
        else:
            out["hybrid"] = f"{d.fusion} {d.weights['bm25']:.1f}/{d.weights['dense']:.1f}"
    return out


def report(results: dict) -> None:
    """The fusion tables below run.py's table."""
    f = results.get("fusion")
    if not f:
        return
    sets = list(f["single"])
    print(f"\nfusion, nDCG@10 / R@10 (every query; top {f['n']} candidates of each retriever, as search(k<=12) takes; "
          "scored through nbrag.ranking.fusion.fuse on cached candidates):")
    for name in sets:
        s = f["sets"][name]
        print(f"  {NAMES[name]}: {s['passages']:,} passages, {s['queries']} queries; BM25 {s['bm25']['backend']}"
              f"{' language ' + s['bm25']['language'] if s['bm25']['language'] else ''}; the index's own BM25 gave "
              f"the same top {f['n']} for {_share(s['bm25_same_as_index_top50'])} of queries; candidates from the "
              f"cache in {s['cache_s']['dense_graph']} s (built: {s['built_s']}), BM25 {s['cache_s']['bm25']} s")
    print(f"  {'option':<18}" + "".join(f"{NAMES[n]:>16}" for n in sets) + f"{'mean':>16}"
          + "".join(f"{NAMES[n] + ' @' + str(f['depth']):>20}" for n in sets))
    for label in ("bm25", "dense"):
        print(f"  {label:<18}" + "".join(f"{f['single'][n][label]['nDCG@10']:>8.3f}/"
                                         f"{f['single'][n][label]['R@10']:<7.3f}" for n in sets))
    summary = f["hybrid_summary"]
    for label, by in f["hybrid"].items():
        mean = summary["mean"][label]
        marks = "".join([" best" if label == f["hybrid_best"] else "",
                         "".join(f" worst-{n}" for n in sets if summary["worst"][n] == label)])
        print(f"  {label:<18}" + "".join(f"{by[n]['nDCG@10']:>8.3f}/{by[n]['R@10']:<7.3f}" for n in sets)
              + f"{mean['nDCG@10']:>8.3f}/{mean['R@10']:<7.3f}"
              + "".join(f"{f['hybrid_depth'][label][n]['nDCG@10']:>12.3f}/{f['hybrid_depth'][label][n]['R@10']:<7.3f}"
                        for n in sets) + marks)
    print(f"  best on average (nDCG@10, R@10 breaking ties), never the worst on a set: {f['hybrid_best']} "
          f"(with {f['depth']} candidates: {f['hybrid_depth_best']}); nbrag's default: {f['defaults']['hybrid']}"
          f"{' (the best)' if f['defaults']['hybrid'] == f['hybrid_best'] else ' (NOT the best)'}")
    print(f"\nhybrid+graph, nDCG@10 / R@10, top {f['n']} candidates of bm25, dense and the graph (PPR); weights "
          "bm25/dense/graph in tenths:")
    for label in ("graph",):
        print(f"  {'graph-ppr alone':<24}" + "".join(
            f"{f['single'][n][label]['nDCG@10']:>8.3f}/{f['single'][n][label]['R@10']:<7.3f}" for n in sets))
    shown = ["rrf k=60 equal", "minmax equal", "zscore equal", *f["graph_family_best"].values(),
             *f["graph_order_r10"][:12], f["graph_best_ndcg"]]
    for label in dict.fromkeys(shown):
        by = f["graph"][label]
        print(f"  {label:<24}" + "".join(f"{by[n]['nDCG@10']:>8.3f}/{by[n]['R@10']:<7.3f}" for n in sets))
    print(f"  best mean R@10 (nDCG@10 breaking ties), never the worst on a set: {f['graph_best_r10']}; best mean "
          f"nDCG@10: {f['graph_best_ndcg']}; nbrag's default: {f['defaults']['graph']}"
          f"{' (the best)' if f['defaults']['graph'] == f['graph_best_r10'] else ' (NOT the best)'}")
    if f["graph_by_weight"]:
        print(f"  mean R@10 by the graph's weight ({f['defaults']['graph'].rsplit(' ', 1)[0]}, the best bm25/dense "
              "split at each): " + ", ".join(f"{int(g) / 10:.1f}: {r:.3f} ({w})"
                                             for g, (r, w) in f["graph_by_weight"].items()))
    for label, by in f["paired"].items():
        print(f"  paired, {label} ({by[sets[0]]['metric']}), chosen less the other, mean [95% bootstrap interval]"
              " better/worse queries: " + "; ".join(
                  f"{NAMES[n]} {p['diff']:+.4f} [{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}] {p['better']}/{p['worse']}"
                  for n, p in by.items()))
    for label, c in f["cross"].items():
        metric = "nDCG@10" if label.startswith("hybrid") else "R@10"
        print(f"  chosen on one set, scored on the other ({label}): {c['option']} {metric} {c[metric]:.3f} "
              f"(best there {c['best_there']:.3f})")
