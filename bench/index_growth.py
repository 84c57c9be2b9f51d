"""What adding to a persistent index costs as it grows: one document, and 1% more documents.

    .venv/bin/python bench/index_growth.py --sizes 10000 100000

Builds a persistent index of N one-chunk passages, then times ``add`` of one new document and of
N/100 new documents (medians of --repeat), and the hybrid search p50 at that size. Vectors come from
a cheap deterministic embedder (a seeded random unit vector per text), so what is timed is nbrag's
storage (Chroma, the documents' records, BM25 and its saved cache), not the model; the time spent in
the embedder is measured and reported apart. Run it from another checkout (PYTHONPATH) to compare
releases on the same machine.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import nbrag.models
    from nbrag.retrieval import Index

    embedded = [0.0]

    def timed_embed(texts, name=None, **kwargs):
        t = time.perf_counter()
        try:
            return cheap_embed(texts)
        finally:
            embedded[0] += time.perf_counter() - t

    nbrag.models.embed = timed_embed
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            index = Index(f"growth-{size}", path=Path(folder))
            t = time.perf_counter()
            index.add(passages(0, size), chunker="fixed", size=256, overlap=0, batch_size=4096, progress=False)
            build = time.perf_counter() - t
            index.search("moon tide", k=10)  # BM25's first build after the add, outside the timings
            one, one_embed, percent, percent_embed, search = [], [], [], [], []
            next_id = size
            for _ in range(args.repeat):
                embedded[0] = 0.0
                t = time.perf_counter()
                index.add(passages(next_id, 1), chunker="fixed", size=256, overlap=0, progress=False)
                one.append(time.perf_counter() - t)
                one_embed.append(embedded[0])
                next_id += 1
                t = time.perf_counter()
                index.search("moon tide", k=10)
                search.append(time.perf_counter() - t)
            for _ in range(max(1, args.repeat // 2)):
                embedded[0] = 0.0
                t = time.perf_counter()
                index.add(passages(next_id, size // 100), chunker="fixed", size=256, overlap=0, batch_size=4096,
                          progress=False)
                percent.append(time.perf_counter() - t)
                percent_embed.append(embedded[0])
                next_id += size // 100
            row = {"chunks": size, "build_s": build,
                   "add_one_ms": 1000 * statistics.median(one),
                   "add_one_beyond_embedding_ms": 1000 * statistics.median(a - e for a, e in zip(one, one_embed)),
                   "add_1pct_s": statistics.median(percent),
                   "add_1pct_beyond_embedding_s": statistics.median(a - e for a, e in zip(percent, percent_embed)),
                   "search_after_add_ms": 1000 * statistics.median(search)}
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
