"""IPython magics: parse arguments, call the engine, return its result.

``%load_ext nbrag`` registers :class:`NbragMagics`. Every field of
``nbrag.settings`` is a traitlet here, so ``%config NbragMagics.chunk_size = 128``
changes the session default (a bad value is refused and changes nothing).

This module imports only IPython and traitlets; the engine's heavy libraries
load when a magic first needs them.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from pathlib import Path
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from nbrag.config import Settings, settings

_TRAITS = {int: traitlets.Int, str: traitlets.Unicode, bool: traitlets.Bool, float: traitlets.Float}


def _settings_traits() -> dict[str, traitlets.TraitType]:
    """One configurable traitlet per settings field, with the field's help."""
    defaults = Settings()
    traits = {}
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        traits[f.name] = _TRAITS[type(value)](value, help=f.metadata.get("help", "")).tag(config=True)
    return traits


def _as_usage_error(error: Exception) -> UsageError:
    return UsageError(str(error).strip() or type(error).__name__)


@magics_class
class NbragMagics(Magics):
    """nbrag's magics; session defaults are the traitlets below (see ``%nbrag config``)."""

    # A class body runs in a plain dict (also under PEP 667), so this defines one
    # traitlet per settings field, named and documented like the field.
    locals().update(_settings_traits())

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)  # applies %config / ipython_config values to settings
        for f in dataclasses.fields(Settings):  # show what the session really uses
            setattr(self, f.name, getattr(settings, f.name))
        self.indexes: dict[str, Any] = {}  # built with %nbrag index this session, by name
        self.current_index: Any = None  # the last of them: what %%retrieve searches by default

    @traitlets.validate(*(f.name for f in dataclasses.fields(Settings)))
    def _check_setting(self, proposal: dict[str, Any]) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        try:
            settings.update(**{name: value})
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None
        return value

    # ------------------------------------------------------------------ helpers

    def _store(self, name: str | None, result: Any) -> Any:
        if name:
            self.shell.user_ns[name] = result
        return result

    def _source_text(self, cell: str, file: str | None, var: str | None) -> str:
        given = [what for what, value in (("the cell", cell.strip()), ("--file", file), ("--var", var)) if value]
        if len(given) > 1:
            raise UsageError(f"Text given twice ({' and '.join(given)}): keep one of them.")
        if file:
            try:
                return Path(file).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise UsageError(f"Cannot read --file {file}: {error}") from None
        if var:
            if var not in self.shell.user_ns:
                raise UsageError(f"--var {var}: no variable of that name in this notebook.")
            value = self.shell.user_ns[var]
            if not isinstance(value, str):
                raise UsageError(f"--var {var} holds a {type(value).__name__}, not a str: pass its text.")
            return value
        if not cell.strip():
            raise UsageError("No text to chunk: write it in the cell under %%chunk, or use %chunk --file PATH or --var NAME.")
        return cell

    # ------------------------------------------------------------------ %%chunk

    @magic_arguments()
    @argument("-m", "--method", default="fixed", help="Chunker to use (`%%nbrag` lists them).")
    @argument("--compare", default=None, metavar="A,B,...",
              help="Run these chunkers side by side on the same text (e.g. fixed,recursive,semantic).")
    @argument("-s", "--size", type=int, default=None, help="Chunk size (default: NbragMagics.chunk_size).")
    @argument("--overlap", type=int, default=None, help="Overlap between chunks (default: NbragMagics.chunk_overlap).")
    @argument("--max-size", type=int, default=None, help="semantic: the largest chunk.")
    @argument("--min-size", type=int, default=None, help="semantic: the smallest chunk a similarity cut may leave.")
    @argument("--threshold", type=float, default=None, help="semantic: the cut threshold (see --threshold-type).")
    @argument("--threshold-type", choices=["percentile", "absolute", "std"], default=None,
              help="semantic: percentile of neighbour similarities, absolute similarity, or standard deviations.")
    @argument("--format", choices=["auto", "markdown", "html"], default=None, help="structure: the document's format.")
    @argument("--unit", choices=["token", "char"], default=None, help="Count tokens or characters.")
    @argument("--tokenizer", default=None, help="Tokenizer: a shipped name, a Hugging Face id or a folder.")
    @argument("--endpoint", default=None, metavar="URL",
              help="llm: ask this OpenAI-compatible server (e.g. http://localhost:8000/v1) instead of the generator.")
    @argument("--model", default=None, metavar="NAME", help="llm: the model's name at --endpoint.")
    @argument("--file", default=None, help="Chunk this file's text instead of the cell.")
    @argument("--var", default=None, help="Chunk the str held by this variable instead of the cell.")
    @argument("-o", "--output", default=None, help="Store the ChunkResult in this variable.")
    @line_cell_magic
    def chunk(self, line: str, cell: str | None = None) -> Any:
        """Chunk text and show the chunk boundaries.

        %%chunk --size 64 --overlap 8     (the text in the cell below)
        %chunk --var doc --size 64         (the text of a variable, or --file PATH)
        """
        args = parse_argstring(self.chunk, line)
        _check_name(args.output)
        text = self._source_text(cell or "", args.file, args.var)
        given = {"size": args.size, "overlap": args.overlap, "max_size": args.max_size, "min_size": args.min_size,
                 "threshold": args.threshold, "threshold_type": args.threshold_type, "format": args.format,
                 "unit": args.unit,
                 "tokenizer": args.tokenizer, "endpoint": args.endpoint, "model": args.model}
        options = {k: v for k, v in given.items() if v is not None}
        asked = [m.strip() for m in (args.compare or args.method).split(",")]
        if ("endpoint" in options or "model" in options) and "llm" not in asked:
            raise UsageError("--endpoint and --model are options of the llm chunker: add -m llm (or llm to --compare).")
        from nbrag.chunking import chunk, compare
        from nbrag.endpoints import EndpointError
        from nbrag.models import ModelUnavailableError

        try:
            if args.compare is not None:
                methods = [m.strip() for m in args.compare.split(",") if m.strip()]
                result = compare(text, methods, **options)
            else:
                result = chunk(text, method=args.method, **options)
        except (ValueError, TypeError, ModelUnavailableError, EndpointError) as error:
            raise _as_usage_error(error) from None
        return self._store(args.output, result)

    # ------------------------------------------------------------------ %%retrieve

    @magic_arguments()
    @argument("--index", default=None, metavar="NAME",
              help="The index to search: a variable holding an nbrag.Index, or an index's name (default: the last "
                   "one built with %%nbrag index).")
    @argument("-k", "--top-k", dest="k", type=int, default=None, help="Hits to return (default: NbragMagics.top_k).")
    @argument("--mode", default="hybrid", help="bm25, dense, hybrid (default), graph or hybrid+graph.")
    @argument("--graph", default=None, choices=["ppr", "local", "global"],
              help="graph modes: the graph search (default ppr). The index needs a graph: %%graphrag --build.")
    @argument("--weights", default=None, metavar="BM25,DENSE", help="hybrid: the retrievers' weights, e.g. 0.3,0.7.")
    @argument("--fusion", default=None, help="hybrid: rrf (default), minmax or zscore.")
    @argument("--rrf-k", type=int, default=None, help="rrf: the constant k in 1 / (k + rank) (default 60).")
    @argument("--hyde", nargs="?", const="average", default=None, choices=["average", "replace"],
              help="Embed an answer the generator imagines: averaged with the query (default) or in its place.")
    @argument("--rerank", nargs="?", const=True, default=None, metavar="MODEL",
              help="Reorder the best candidates with the generator, or with this cross-encoder.")
    @argument("--compare", default=None, metavar="A,B,...",
              help="Run these modes side by side (e.g. bm25,dense,hybrid), with rank changes against the first.")
    @argument("-o", "--output", default=None, help="Store the RetrievalResult (or comparison) in this variable.")
    @argument("--query", default=None, metavar="TEXT",
              help="Line form: the query, which is the rest of the line after --query.")
    @line_cell_magic
    def retrieve(self, line: str, cell: str | None = None) -> Any:
        """Search an index and show why each passage ranked where it did.

        %%retrieve --mode hybrid -k 5      (the query in the cell below)
        %retrieve -k 3 --query how is the rain gauge emptied
        (a line ending in ? asks IPython for help: leave the ? out, or use the cell form)
        """
        options_line, query = _split_query(line)
        args = parse_argstring(self.retrieve, options_line)
        _check_name(args.output)
        given = [what for what, value in (("the cell", (cell or "").strip()), ("--query", query)) if value]
        if len(given) > 1:
            raise UsageError(f"Query given twice ({' and '.join(given)}): keep one of them.")
        query = (cell or "").strip() or query
        if not query:
            raise UsageError("No query: write it in the cell under %%retrieve, or end the line with --query TEXT.")
        options = {"fusion": args.fusion, "rrf_k": args.rrf_k, "hyde": args.hyde, "rerank": args.rerank,
                   "weights": _weights(args.weights), "graph": args.graph}
        options = {k: v for k, v in options.items() if v is not None}
        index = self._index(args.index)
        from nbrag.models import ModelUnavailableError

        try:
            if args.compare is not None:
                from nbrag.retrieval.compare import compare

                modes = [m.strip() for m in args.compare.split(",") if m.strip()]
                result = compare(index, query, modes, k=args.k, **options)
            else:
                result = index.search(query, args.k, mode=args.mode, **options)
        except (ValueError, TypeError, ModelUnavailableError) as error:
            raise _as_usage_error(error) from None
        return self._store(args.output, result)

    # ------------------------------------------------------------------ %%graphrag

    @magic_arguments()
    @argument("--index", default=None, metavar="NAME",
              help="The index: a variable holding an nbrag.Index, or an index's name (default: the current one).")
    @argument("--build", action="store_true",
              help="Build the index's knowledge graph, or update it with the chunks it has not read.")
    @argument("--rebuild", action="store_true", help="Build the graph anew, from every chunk.")
    @argument("--extractor", default="offline", choices=["offline", "llm"],
              help="--build: names and co-occurrence without a model (default), or the generator's JSON.")
    @argument("--endpoint", default=None, metavar="URL",
              help="--extractor llm: ask this OpenAI-compatible server instead of the generator.")
    @argument("--model", default=None, metavar="NAME", help="--extractor llm: the model's name at --endpoint.")
    @argument("--reports", default=None, choices=["extractive", "llm"],
              help="--build: community reports made of the graph's own sentences (default), or written by the LLM.")
    @argument("--mode", default="ppr", choices=["ppr", "local", "global", "hybrid"],
              help="Search: personalized PageRank (default), local neighbourhood, global community reports, or "
                   "hybrid (BM25 + dense + ppr, fused).")
    @argument("-k", "--top-k", dest="k", type=int, default=None, help="Hits to return (default: NbragMagics.top_k).")
    @argument("--level", type=int, default=None, help="global: the community level whose reports are ranked (0: top).")
    @argument("-o", "--output", default=None, help="Store the result (or the graph) in this variable.")
    @argument("--query", default=None, metavar="TEXT", help="Line form: the query, the rest of the line.")
    @line_cell_magic
    def graphrag(self, line: str, cell: str | None = None) -> Any:
        """Build an index's knowledge graph, show it, and search through it.

        %graphrag --build                    (build or update the current index's graph, and show it)
        %%graphrag --mode ppr -k 5           (the query in the cell: chunks found through the graph)
        %graphrag --mode global --query what are the main themes
        """
        options_line, query = _split_query(line)
        args = parse_argstring(self.graphrag, options_line)
        _check_name(args.output)
        given = [what for what, value in (("the cell", (cell or "").strip()), ("--query", query)) if value]
        if len(given) > 1:
            raise UsageError(f"Query given twice ({' and '.join(given)}): keep one of them.")
        query = (cell or "").strip() or query
        if (args.endpoint or args.model) and args.extractor != "llm":
            raise UsageError("--endpoint and --model are options of the llm extractor: add --extractor llm.")
        index = self._index(args.index)
        from nbrag.endpoints import EndpointError
        from nbrag.models import ModelUnavailableError

        try:
            if args.build or args.rebuild:
                build = {"endpoint": args.endpoint, "model": args.model, "reports": args.reports}
                graph = index.build_graph(args.extractor, rebuild=args.rebuild,
                                          **{k: v for k, v in build.items() if v is not None})
                print(f"{graph.last_update}\n{graph!r}")
            elif index.graph is None:
                raise UsageError(f"Index {index.name!r} has no knowledge graph yet: run %graphrag --build first.")
            if not query:
                return self._store(args.output, index.graph)
            options = {"graph_options": {"level": args.level}} if args.level is not None else {}
            if args.mode == "hybrid":
                result = index.search(query, args.k, mode="hybrid+graph", **options)
            else:
                result = index.search(query, args.k, mode="graph", graph=args.mode, **options)
        except (ValueError, TypeError, ModelUnavailableError, EndpointError) as error:
            raise _as_usage_error(error) from None
        return self._store(args.output, result)

    def _index(self, name: str | None) -> Any:
        """The index ``--index`` names: a variable holding one, one built this session, or one on disk."""
        if name is None:
            if self.current_index is None:
                raise UsageError("No index to search: build one with %nbrag index PATH, or give --index NAME "
                                 "(a variable holding an nbrag.Index, or an index's name).")
            return self.current_index
        from nbrag.retrieval import Index

        value = self.shell.user_ns.get(name)
        if isinstance(value, Index):
            return value
        if name in self.indexes:
            return self.indexes[name]
        if (Path(settings.data_dir) / "indexes" / name).is_dir():
            try:
                return Index(name)
            except ValueError as error:
                raise _as_usage_error(error) from None
        held = f" (the variable {name} holds a {type(value).__name__}, not an nbrag.Index)" if value is not None else ""
        raise UsageError(f"--index {name}: no such index{held}. Build it with %nbrag index PATH --name {name}, "
                         "or pass a variable that holds an nbrag.Index.")

    def build_index(self, line: str) -> None:
        """``%nbrag index PATH ...``: build or update an index from files; it becomes the current index."""
        args = parse_argstring(_index_arguments, line)
        path = Path(_unquote(args.path)).expanduser()
        if not path.exists():
            raise UsageError(f"%nbrag index {args.path}: no such file or folder.")
        name = args.name or _index_name(path)
        options = {"size": args.size} if args.size is not None else {}
        from nbrag.models import ModelUnavailableError
        from nbrag.retrieval import Index

        try:
            index = self.indexes.get(name)
            if index is None or (index.where == "memory") != args.memory:
                index = Index(name, memory=args.memory)
            report = index.add_files(path, chunker=args.chunker, **options)
        except (ValueError, TypeError, ModelUnavailableError) as error:
            raise _as_usage_error(error) from None
        self.indexes[name] = self.current_index = index
        print(f"{report}\n{index!r}\n%%retrieve searches {name!r} now (or give --index {name}).")

    # ------------------------------------------------------------------ %%ask
    # Its arguments are declared here, the work is done in nbrag/magics/ask.py.

    @magic_arguments()
    @argument("--index", default=None, metavar="NAME",
              help="The index: a variable holding an nbrag.Index, or an index's name (default: the current one).")
    @argument("--mode", default="hybrid", choices=["bm25", "dense", "hybrid", "graph", "hybrid+graph"],
              help="How sources are retrieved (default hybrid).")
    @argument("-k", "--top-k", dest="k", type=int, default=None,
              help="Sources to retrieve (default: NbragMagics.top_k).")
    @argument("--agent", action="store_true",
              help="Let the agent answer: plan sub-questions, retrieve per sub-question, rewrite, verify; shows its "
                   "trace.")
    @argument("--max-steps", type=int, default=None, help="--agent: the most steps before it stops (default 10).")
    @argument("--budget", type=int, default=None, help="--agent: the most tokens it may spend (default 6000).")
    @argument("--graph", default=None, choices=["ppr", "local", "global"],
              help="The knowledge-graph search: of --mode graph or hybrid+graph; --agent: its graph_search tool "
                   "(default: ppr where the index has a graph). The index needs a graph (%%graphrag --build).")
    @argument("--endpoint", default=None, metavar="URL",
              help="Ask an OpenAI-compatible server at this base URL (e.g. http://localhost:8000/v1); needs --model.")
    @argument("--model", default=None, metavar="NAME", help="--endpoint: the model's name at the server.")
    @argument("--generator", default=None, metavar="NAME",
              help="A Hugging Face chat model's id, or a variable holding (model, tokenizer) or a "
                   "complete(messages) -> str function (default: the configured generator).")
    @argument("--template", default=None, metavar="VAR", help="A variable holding the PromptTemplate to use (with --agent: for its final draft).")
    @argument("--max-new-tokens", type=int, default=None,
              help="The longest answer, in tokens (default 200; the agent: 128 per reply).")
    @argument("--context-tokens", type=int, default=None,
              help="Token budget of the sources in the prompt (default 1024); sources beyond it are cut, and "
                   "the view says so.")
    @argument("--threshold", type=float, default=None,
              help="Support check: the least similarity of a sentence to its cited sources (default 0.55).")
    @argument("-o", "--output", default=None, help="Store the Answer (or AgentResult) in this variable.")
    @argument("--query", default=None, metavar="TEXT", help="Line form: the question, the rest of the line.")
    @line_cell_magic
    def ask(self, line: str, cell: str | None = None) -> Any:
        """Answer a question from an index, citing its sources; --agent lets the agent plan, retrieve and verify.

        %%ask --index docs -k 4              (the question in the cell below)
        %%ask --agent --max-steps 8          (the agent, with its trace)
        %ask --index docs How is the rain gauge emptied
        (a line that ends in ? asks IPython for help: end the line form without one, or use the cell form)
        """
        from nbrag.magics import ask

        return ask.ask(self, line, cell)

    # ------------------------------------------------------------------ %%attention, %%kvcache, %%moe
    # The inspectors: their arguments are declared here, the work is done in nbrag/magics/inspect.py.

    @magic_arguments()
    @argument("--model", default=None, metavar="NAME",
              help="The model: tiny:<family> (random weights, e.g. tiny:llama), a packaged or Hugging Face model's "
                   "name, or a variable holding (model, tokenizer) (default: the configured generator).")
    @argument("--layer", type=int, default=None, help="The layer the view opens on (from 0; -1: the last).")
    @argument("--head", type=int, default=None, help="The head the view opens on (from 0).")
    @argument("--max-tokens", type=int, default=None,
              help="The longest text (default 512): the weights take layers × heads × tokens² × 4 bytes.")
    @argument("--var", default=None, help="Read the str held by this variable instead of the cell.")
    @argument("-o", "--output", default=None, help="Store the AttentionMap in this variable.")
    @argument("--query", default=None, metavar="TEXT", help="Line form: the text, the rest of the line.")
    @line_cell_magic
    def attention(self, line: str, cell: str | None = None) -> Any:
        """Attention weights of every layer and head over a text, with what each head does (entropy, distance, sink).

        %%attention --model tiny:llama --layer 1 --head 2     (the text in the cell below)
        %attention --var doc -o att                          (the text of a variable, or --query TEXT)
        """
        from nbrag.magics import inspect

        return inspect.attention(self, line, cell)

    @magic_arguments()
    @argument("--model", default=None, metavar="NAME",
              help="The model: tiny:<family>, a packaged or Hugging Face model's name, or a variable holding "
                   "(model, tokenizer) (default: the configured generator).")
    @argument("--max-new-tokens", type=int, default=32, help="Tokens to generate greedily (default 32).")
    @argument("--speed", default=None, metavar="N,N,...",
              help="Also time generation with and without the cache at these numbers of new tokens (e.g. 16,32,64).")
    @argument("--window", type=int, default=None,
              help="Also compute what a sliding window of this many tokens would hold.")
    @argument("--layer", type=int, default=None, help="The cache layer the view opens on (from 0; -1: the last).")
    @argument("--head", type=int, default=None, help="The KV head the view opens on (from 0).")
    @argument("--max-tokens", type=int, default=None, help="The longest prompt (default 4096).")
    @argument("--var", default=None, help="Read the prompt from the str held by this variable.")
    @argument("-o", "--output", default=None,
              help="Store the CacheReport (with --speed: the pair (CacheReport, SpeedReport)) in this variable.")
    @argument("--query", default=None, metavar="TEXT", help="Line form: the prompt, the rest of the line.")
    @line_cell_magic
    def kvcache(self, line: str, cell: str | None = None) -> Any:
        """The KV cache of a greedy generation, per layer and step, against the formula; --speed times it.

        %%kvcache --max-new-tokens 64 --speed 16,32,64     (the prompt in the cell below)
        %kvcache --model tiny:mistral --query The cat sat on the mat
        """
        from nbrag.magics import inspect

        return inspect.kvcache(self, line, cell)

    @magic_arguments()
    @argument("--model", default=None, metavar="NAME",
              help="A mixture-of-experts model: tiny:<family> (tiny:mixtral, tiny:deepseek_v3, ...), a Hugging Face "
                   "model's name, or a variable holding (model, tokenizer).")
    @argument("--vs", "--compare-var", dest="vs", default=None, metavar="VAR",
              help="Also route the str held by this variable through the same model, to compare the two.")
    @argument("--layer", type=int, default=None, help="The MoE layer the view opens on (the model's numbering).")
    @argument("--expert", type=int, default=None, help="The expert the view opens on (from 0).")
    @argument("--max-tokens", type=int, default=None, help="The longest text (default 512).")
    @argument("--var", default=None, help="Read the str held by this variable instead of the cell.")
    @argument("-o", "--output", default=None,
              help="Store the RoutingTrace (with --vs: the pair of traces) in this variable.")
    @argument("--query", default=None, metavar="TEXT", help="Line form: the text, the rest of the line.")
    @line_cell_magic
    def moe(self, line: str, cell: str | None = None) -> Any:
        """Which experts a mixture-of-experts model picks for each token, and how evenly it loads them.

        %%moe --model tiny:mixtral --layer 1             (the text in the cell below)
        %moe --model tiny:qwen3_moe --var doc --vs other  (two texts through the same model)
        """
        from nbrag.magics import inspect

        return inspect.moe(self, line, cell)

    # ------------------------------------------------------------------ %%lora
    # Its arguments are declared here, the work is done in nbrag/magics/lora.py.

    @magic_arguments()
    @argument("--variant", default="lora", metavar="NAME",
              help="lora (default), dora, vera, lora-plus, lora-fa or delta-lora.")
    @argument("--compare", default=None, metavar="A,B,...",
              help="Train these variants on the same data and model, side by side (e.g. lora,lora-fa,vera,"
                   "delta-lora,lora-plus).")
    @argument("--r", type=int, default=None, help="The adapters' rank (default 8).")
    @argument("--alpha", type=float, default=None, help="The scaling numerator: updates are scaled by alpha / r "
                                                         "(default 16).")
    @argument("--lr", type=float, default=None, help="The learning rate (default: the variant's own).")
    @argument("--steps", type=int, default=None,
              help="Optimizer steps (default 30); with --resume, the steps to add (default: those left).")
    @argument("--batch-size", type=int, default=None, help="Examples per forward pass (default 4).")
    @argument("--grad-accum", type=int, default=None, help="Forward passes per optimizer step (default 1).")
    @argument("--max-length", type=int, default=None, help="The longest example in tokens (default 256).")
    @argument("--target-modules", default=None, metavar="A,B,...",
              help="The modules to adapt (default: found for the architecture, e.g. q_proj,v_proj).")
    @argument("--eval-fraction", type=float, default=None,
              help="The share of examples held out for the eval loss (default 0.1; 0: none).")
    @argument("--eval-every", type=int, default=None,
              help="Evaluate every N optimizer steps, and at the end (default 10).")
    @argument("--model", default=None, metavar="NAME",
              help="The model: tiny:<family> (random weights, e.g. tiny:llama), a packaged or Hugging Face model's "
                   "name, or a variable holding (model, tokenizer) (default: the configured generator).")
    @argument("--data", default=None, metavar="PATH",
              help="Train on this file (JSON/JSONL of {instruction, input, output}, CSV, or one example per line).")
    @argument("--var", default=None, help="Train on the DataFrame, list or str held by this variable.")
    @argument("--save", default=None, metavar="DIR", help="Save the adapter (safetensors) to this folder.")
    @argument("--resume", default=None, metavar="NAME",
              help="Continue the LoraRun held by this variable (interrupted, or to train longer), or the "
                   "interrupted run of a comparison.")
    @argument("-o", "--output", default=None,
              help="Store the LoraRun (with --compare: the LoraComparison) in this variable (default: lora_run, "
                   "or lora_comparison).")
    @line_cell_magic
    def lora(self, line: str, cell: str | None = None) -> Any:
        """Fine-tune with a LoRA variant, or compare several, with live loss curves.

        %%lora --model tiny:llama --steps 20 -o run      (training examples in the cell, one per line or JSONL)
        %lora --data train.jsonl --compare lora,vera,lora-fa
        %lora --resume run --steps 20                     (continue a stored run)
        """
        from nbrag.magics import lora

        return lora.lora(self, line, cell)

    # ------------------------------------------------------------------ %nbrag

    @line_magic
    def nbrag(self, line: str) -> None:
        """%nbrag [info|config|help]: models and devices in use, settings, the magics.
        %nbrag index PATH [--name NAME] [--chunker recursive] [--size N] [--memory]: build or update an index
        from a file or folder; %%retrieve searches it."""
        from nbrag.magics import info

        command, _, rest = line.strip().partition(" ")
        command = command or "info"
        if command == "index":
            return self.build_index(rest)
        commands = {"info": info.info, "config": info.config, "help": lambda: info.usage(self)}
        if command not in commands:
            raise UsageError(f"Unknown %nbrag command {command!r}. Available: {', '.join([*commands, 'index'])}.")
        if rest.strip():
            raise UsageError(f"%nbrag {command} takes no arguments, got {rest.strip()!r}.")
        print(commands[command]())


@magic_arguments()
@argument("path", help="A file, or a folder of .txt, .md and .html files (.pdf with pypdf).")
@argument("--name", default=None, help="The index's name (default: the file's or folder's name).")
@argument("--chunker", default="recursive", help="How documents are chunked (default: recursive).")
@argument("--size", type=int, default=None, help="Chunk size (default: NbragMagics.chunk_size).")
@argument("--memory", action="store_true", help="Keep the index in memory: nothing is written to disk.")
def _index_arguments(line: str) -> None:
    """%nbrag index PATH [--name NAME] [--chunker recursive] [--size N] [--memory]"""


_QUERY = re.compile(r"(?:^|\s)--query(?:\s+|=)(.*)$", re.DOTALL)


def _split_query(line: str) -> tuple[str, str | None]:
    """The options and the query of a line: everything after ``--query`` is the query, taken as written."""
    match = _QUERY.search(line)
    if match is None:
        return line, None
    return line[:match.start()], _unquote(match.group(1).strip())


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _weights(value: str | None) -> dict[str, float] | None:
    """``0.3,0.7`` (bm25, dense) or ``bm25=0.3,dense=0.7`` as the engine's weights."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    try:
        if all("=" in p for p in parts):
            return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in parts)}
        if len(parts) == 2:
            return {"bm25": float(parts[0]), "dense": float(parts[1])}
    except ValueError:
        pass
    raise UsageError(f"--weights {value}: give the BM25 and dense weights as two numbers, e.g. --weights 0.3,0.7.")


def _index_name(path: Path) -> str:
    """An index name from a file or folder name that Chroma accepts."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", path.resolve().stem).strip("._-")[:60] or "index"
    return slug if len(slug) >= 3 else f"{slug}-index"


def _check_name(name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"-o {name!r} is not a valid Python variable name.")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(NbragMagics(shell=ipython))
