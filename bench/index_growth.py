"""What adding to a persistent index costs as it grows: one document, and 1% more documents.

    .venv/bin/python bench/index_growth.py --sizes 10000 100000 [--minilm 2000]
    .venv/bin/python bench/run.py --only index-growth --growth-sizes 10000 100000 --growth-minilm 2000
    .venv/bin/python bench/index_growth.py --qps 20000 100000   # BM25 queries/s, before and after segments

Builds a persistent index of N one-chunk passages, then, in turns on that same index, with
nbrag's BM25 and with the peer "full rebuild" (nbrag's BM25 as it was before its segments: any
change, and the next search rebuilds bm25s's whole index over every document, the same
analyzer and ranking), times:

* ``add`` of one new document, then the first BM25 search after it (where the BM25 update is
  paid), in total, beyond the time spent in the embedder, and BM25's own part (its upsert, its
  saved file, its search: the rest is Chroma's);
* that first search alone, and a search in steady state (no change since the last one), p50;
* ``add`` of N/100 new documents, then the first search.

Vectors come from a cheap deterministic embedder (a seeded random unit vector per text), so
what is timed is nbrag's storage (Chroma, the documents' records, BM25 and its saved file), not
the model; the time spent in the embedder is measured and reported apart. ``--minilm N`` adds a
run at N passages with the packaged MiniLM embedder, for the add's cost with a real model.
Both BM25s hold the same documents: the one not timed gets each added document too (untimed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIMENSIONS = 384
WORDS = ("tide moon bread yeast bee hive glass sand iron rust owl mouse river delta lamp lens storm gauge wind "
         "snow frost seed root leaf bark stone clay kiln loom wool dye salt brine ship sail chart star").split()
QUERIES = ("moon tide", "owl river lamp", "salt brine ship", "frost seed", "kiln clay stone wool", "passage")
SIZES = (10_000, 100_000)
MINILM = 2000


def cheap_embed(texts, name=None, **_):
    """A seeded random unit vector per text: deterministic, and about 20 µs a text."""
    out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
        vector = np.random.default_rng(seed).standard_normal(DIMENSIONS)
        out[i] = vector / np.linalg.norm(vector)
    return out


def passages(start: int, n: int) -> dict[str, str]:
    rng = np.random.default_rng(start)
    return {f"p{start + i}": " ".join(rng.choice(WORDS, size=24)) + f" passage {start + i}." for i in range(n)}


def full_rebuild_bm25():
    """The peer's class, made on first use (nbrag's BM25 imported late, after the embedder is patched)."""
    from nbrag.ranking.bm25 import BM25, DELTAS, METHODS

    class Bm25sIndex:
        """bm25s's index over every document, built in one go: each (term, document) score precomputed."""

        def __init__(self, ids: list[str], docs: list[list[str]], k1: float, b: float, method: str) -> None:
            import bm25s

            self.ids, self.positions = ids, {id: i for i, id in enumerate(ids)}
            self.model = None
            if any(docs):  # bm25s cannot index documents without a single term
                self.model = bm25s.BM25(k1=k1, b=b, delta=DELTAS.get(method, 0.5), method=method, dtype="float64")
                self.model.index(docs, create_empty_token=False, show_progress=False)

        def scores(self, query: list[str]) -> np.ndarray:
            vocab = self.model.vocab_dict if self.model is not None else {}
            tokens = [vocab[t] for t in query if t in vocab]
            if not tokens:
                return np.zeros(len(self.ids))
            scores = self.model.get_scores_from_ids(tokens)
            if self.model.method in self.model.methods_requiring_nonoccurrence:  # documents holding a query term
                indices, indptr = self.model.scores["indices"], self.model.scores["indptr"]
                held = np.zeros(len(self.ids), dtype=bool)
                for token in set(tokens):
                    held[indices[indptr[token]:indptr[token + 1]]] = True
                scores = np.where(held, scores, 0.0)
            return scores

        def search(self, query: list[str], k: int) -> list[tuple[str, float]]:
            scores = self.scores(query)
            found = np.flatnonzero(scores > 0)
            if len(found) > k:
                kth = np.partition(scores[found], len(found) - k)[len(found) - k]
                found = found[scores[found] >= kth]
            best = found[np.lexsort((found, -scores[found]))][:k]
            return [(self.ids[i], float(scores[i])) for i in best]

        def score(self, query: list[str], id: str) -> float:
            return float(self.scores(query)[self.positions[id]])

    class FullRebuild(BM25):
        """nbrag's BM25 before its segments: the first search after any change rebuilds bm25s's whole index."""

        def _build(self):
            if self._built is None or self._changed:
                self._built = Bm25sIndex(list(self._terms), list(self._terms.values()), self.k1, self.b,
                                         METHODS[self.backend])
                self._changed = {}
            return self._built

    return FullRebuild


def bm25_timed(bm25, spent: list[float]):
    """``bm25`` with the time its own parts of an add take (taking the text, writing its file) added to
    ``spent[0]``: BM25's share of the add, apart from Chroma's."""
    for name in ("upsert", "delete", "append", "save"):
        method = getattr(bm25, name)

        def timed(*args, _method=method, **kwargs):
            t = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t
        setattr(bm25, name, timed)
    return bm25


def attach(index, bm25) -> None:
    """Search and add with ``bm25`` from now on; it takes over the saved file's bookkeeping."""
    old = index.bm25
    bm25.stamp, bm25._saved, bm25._logged = old.stamp, old._saved, old._logged
    index.bm25 = bm25


def catch_up(behind, ahead) -> None:
    """Give ``behind`` the documents ``ahead`` has gained since they held the same (only additions here)."""
    new = ahead.ids[len(behind):]
    behind.upsert(new, [ahead._texts[i] for i in new])


def grow(size: int, repeat: int, embedded: list[float]) -> dict:
    """One size: build, then the timings of nbrag's BM25 and of the full rebuild, in turns."""
    from nbrag.retrieval import Index

    FullRebuild = full_rebuild_bm25()
    with tempfile.TemporaryDirectory() as folder:
        index = Index(f"growth-{size}", path=Path(folder))
        t = time.perf_counter()
        index.add(passages(0, size), chunker="fixed", size=256, overlap=0, batch_size=4096, progress=False)
        build = time.perf_counter() - t
        t = time.perf_counter()
        index.search("moon tide", k=10, mode="bm25")  # BM25's first build, after the bulk add
        first_build = time.perf_counter() - t
        spent = [0.0]  # BM25's own part of an add
        ours = bm25_timed(index.bm25, spent)
        peer = bm25_timed(FullRebuild(ours.backend, k1=ours.k1, b=ours.b, language=ours.language), spent)
        catch_up(peer, ours)
        sides = {"nbrag": ours, "full_rebuild": peer}
        rows: dict[str, dict[str, list[float]]] = {
            side: {"add_one_ms": [], "add_one_beyond_embedding_ms": [], "add_one_search_ms": [],
                   "add_one_search_beyond_embedding_ms": [], "search_after_add_ms": [], "search_steady_ms": [],
                   "add_one_search_bm25_ms": [],
                   "add_1pct_search_s": [], "add_1pct_search_beyond_embedding_s": []} for side in sides}
        next_id = size

        def add(n: int, bm25) -> tuple[float, float, float, float]:
            """Add n passages with ``bm25``, then search: (add s, add + search s, embedder s, BM25's part s: its
            upsert, its file, its search)."""
            nonlocal next_id
            other = peer if bm25 is ours else ours
            catch_up(bm25, other)
            attach(index, bm25)
            if bm25 is ours:
                index.search("moon", k=10, mode="bm25")  # untimed: what the other side added is applied
            embedded[0] = spent[0] = 0.0
            t = time.perf_counter()
            index.add(passages(next_id, n), chunker="fixed", size=256, overlap=0, batch_size=4096, progress=False)
            added = time.perf_counter() - t
            s = time.perf_counter()
            result = index.search(QUERIES[next_id % len(QUERIES)], k=10, mode="bm25")
            searched = time.perf_counter() - s
            next_id += n
            return added, added + searched, embedded[0], spent[0] + result.timings["bm25"]

        def turns(turn: int) -> list:
            """Both sides, nbrag first in even rounds and second in odd ones (A B B A ...)."""
            pairs = list(sides.items())
            return pairs if turn % 2 == 0 else pairs[::-1]

        for turn in range(repeat):
            for side, bm25 in turns(turn):
                added, total, embed, own = add(1, bm25)
                row = rows[side]
                row["add_one_ms"].append(1000 * added)
                row["add_one_beyond_embedding_ms"].append(1000 * (added - embed))
                row["add_one_search_ms"].append(1000 * total)
                row["add_one_search_bm25_ms"].append(1000 * own)
                row["add_one_search_beyond_embedding_ms"].append(1000 * (total - embed))
                row["search_after_add_ms"].append(1000 * (total - added))
        for turn in range(max(1, repeat // 2)):
            for side, bm25 in turns(turn):
                _, total, embed, _ = add(size // 100, bm25)
                rows[side]["add_1pct_search_s"].append(total)
                rows[side]["add_1pct_search_beyond_embedding_s"].append(total - embed)
        for bm25 in sides.values():  # both up to date, then searches with no change in between
            catch_up(bm25, peer if bm25 is ours else ours)
            attach(index, bm25)
            index.search("moon", k=10, mode="bm25")
        for turn in range(repeat):
            for side, bm25 in turns(turn):
                attach(index, bm25)
                for query in QUERIES:
                    t = time.perf_counter()
                    index.search(query, k=10, mode="bm25")
                    rows[side]["search_steady_ms"].append(1000 * (time.perf_counter() - t))
        same = all([h.id for h in index.search(q, k=10, mode="bm25").hits] == [i for i, _ in peer.search(q, 10)]
                   for q in QUERIES)
        attach(index, ours)
    return {"chunks": size, "build_s": round(build, 2), "bm25_first_build_s": round(first_build, 3),
            "same_top10": same, "load": open("/proc/loadavg").read().split()[:3],
            **{side: {key: round(statistics.median(values), 4) for key, values in row.items()}
               for side, row in rows.items()},
            "runs": rows}


def growth(sizes: list[int], repeat: int = 5, minilm: int = MINILM) -> dict:
    """Every size with the cheap embedder, then (``minilm`` > 0) one with MiniLM; JSON-able results."""
    import nbrag.models

    real_embed = nbrag.models.embed
    embedded = [0.0]

    def timed(embedder):
        def embed(texts, name=None, **kwargs):
            t = time.perf_counter()
            try:
                return embedder(texts, name=name, **kwargs)
            finally:
                embedded[0] += time.perf_counter() - t
        return embed

    results: dict = {"sizes": [], "minilm": None}
    try:
        nbrag.models.embed = timed(cheap_embed)
        for size in sizes:
            row = grow(size, repeat, embedded)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
            results["sizes"].append(row)
        if minilm:
            nbrag.models.embed = timed(real_embed)
            row = grow(minilm, repeat, embedded)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
            results["minilm"] = row
    finally:
        nbrag.models.embed = real_embed
    return results


LABELS = (("add 1 + search (ms)", "add_one_search_ms", "ms"), ("  beyond embedding (ms)",
          "add_one_search_beyond_embedding_ms", "ms"), ("  BM25's part (ms)", "add_one_search_bm25_ms", "ms"),
          ("search after add (ms)", "search_after_add_ms", "ms"),
          ("search steady p50 (ms)", "search_steady_ms", "ms"), ("add 1% + search (s)", "add_1pct_search_s", "s"))


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    g = results.get("index_growth")
    if not g:
        return []
    rows = []
    runs = [(row, "cheap embedder") for row in g["sizes"]] + ([(g["minilm"], "MiniLM")] if g["minilm"] else [])
    for row, embedder in runs:
        size = f"{row['chunks'] // 1000}k" if row["chunks"] >= 1000 else str(row["chunks"])
        for label, key, _ in LABELS:
            rows.append((f"{size} {label.strip()}", row["nbrag"][key], row["full_rebuild"][key], "rebuild",
                         f"{embedder}; load {' '.join(row['load'])}"))
    return rows


def report(results: dict) -> None:
    """What the table leaves out: build times, add alone, and whether both sides found the same."""
    g = results.get("index_growth")
    if not g:
        return
    print("\nindex growth (persistent index, one-chunk passages; 'rebuild' is BM25 rebuilt from scratch by bm25s "
          "on the first search after a change, as before segments):")
    for row in g["sizes"] + ([g["minilm"]] if g["minilm"] else []):
        print(f"  {row['chunks']:>9,} chunks: built in {row['build_s']} s (BM25's first build "
              f"{row['bm25_first_build_s']} s); add one alone {row['nbrag']['add_one_ms']:.1f} ms "
              f"({row['nbrag']['add_one_beyond_embedding_ms']:.1f} beyond embedding); same top 10 as the "
              f"rebuild: {row['same_top10']}; load {' '.join(row['load'])}")


def query_speed(shared: Path, sizes: list[int], repeat: int = 5) -> list[dict]:
    """BM25 queries per second on real passages (bench/retrieval.py's retrieval-speed passages and queries, the
    same ``varied`` copies), nbrag's BM25 against the full rebuild's precomputed bm25s index, in turns: with the
    terms' scores kept from the round before ("warm", as a steady index has them) and right after a change
    ("cold": nothing kept). Whole words (``language="none"``), top 10."""
    import retrieval as retrieval_bench  # bench/retrieval.py

    from nbrag.ranking.bm25 import BM25

    FullRebuild = full_rebuild_bm25()
    texts, asked = retrieval_bench.passages(shared), retrieval_bench.queries(shared, 100)
    out = []
    for size in sizes:
        docs, ids = retrieval_bench.varied(texts, size), [f"p{i}" for i in range(size)]
        engines = {"nbrag": BM25("bm25s", language="none"), "full_rebuild": FullRebuild("bm25s", language="none")}
        built = {}
        for side, bm25 in engines.items():
            t = time.perf_counter()
            bm25.upsert(ids, docs)
            bm25.search("warm up", 10)
            built[side] = round(time.perf_counter() - t, 2)
        seconds: dict[str, list[float]] = {"nbrag": [], "nbrag_cold": [], "full_rebuild": []}
        tops = {}
        for turn in range(repeat):
            pairs = list(engines.items())
            for side, bm25 in pairs if turn % 2 == 0 else pairs[::-1]:
                t = time.perf_counter()
                tops[side] = [bm25.search(q, 10) for q in asked]
                seconds[side].append(time.perf_counter() - t)
            engines["nbrag"].upsert(["p0"], [docs[0] + " changed"])  # a change: nothing kept
            engines["nbrag"].upsert(["p0"], [docs[0]])
            t = time.perf_counter()
            cold = [engines["nbrag"].search(q, 10) for q in asked]
            seconds["nbrag_cold"].append(time.perf_counter() - t)
        row = {"passages": size, "queries": len(asked), "build_s": built,
               "qps": {side: round(len(asked) / statistics.median(s), 1) for side, s in seconds.items()},
               "same_rankings_and_scores": tops["nbrag"] == tops["full_rebuild"] == cold,
               "load": Path("/proc/loadavg").read_text().split()[:3]}
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--minilm", type=int, default=0, help="also a run at this size with MiniLM (0: none)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--qps", nargs="+", type=int, default=None, metavar="PASSAGES",
                        help="instead: BM25 queries/s at these sizes on the retrieval-speed passages, nbrag against "
                             "the full rebuild's precomputed bm25s index, in turns")
    args = parser.parse_args(argv)
    if args.qps:
        query_speed(Path(__file__).resolve().parents[2] / "shared" / "data", args.qps, args.repeat)
        return 0
    results = {"index_growth": growth(args.sizes, args.repeat, args.minilm)}
    print("\nnbrag/peer below 1 means nbrag is faster\n")
    for label, ours, theirs, peer, note in table_rows(results):
        print(f"{label:<34}{ours:>11.4f}{theirs:>11.4f}  {peer:<8}{ours / theirs:>8.3f}  {note}")
    report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
