"""``%nbrag index PATH`` builds an index from files; ``%%retrieve`` searches it and shows why each
passage ranked where it did."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics, unquote
from nbrag.magics.chunking import CONTEXT_HELP
from nbrag.ranking.fusion import DEFAULTS, HYBRID

# The defaults of Index.search (nbrag.ranking.fusion.DEFAULTS), as --help says them: the magic passes nothing.
MODE_OF = {frozenset({"bm25", "dense"}): "hybrid", frozenset({"bm25", "dense", "graph"}): "hybrid+graph"}
FUSION_HELP = "; ".join(f"{MODE_OF[names]} {d.fusion}" for names, d in DEFAULTS.items())
WEIGHTS_HELP = "; ".join(f"{MODE_OF[names]} " + ",".join(f"{name}={w:g}" for name, w in d.weights.items())
                         for names, d in DEFAULTS.items())


@magic_arguments()
@argument("path", help="A file, or a folder of .txt, .md and .html files (.pdf with pypdf).")
@argument("--name", default=None, help="The index's name (default: the file's or folder's name).")
@argument("--chunker", default="recursive", help="How documents are chunked (default: recursive).")
@argument("--size", type=int, default=None, help="Chunk size (default: NbragMagics.chunk_size).")
@argument("--memory", action="store_true", help="Keep the index in memory: nothing is written to disk.")
@argument("--context", default=None, metavar="PARTS", help=CONTEXT_HELP)
@argument("--language", default=None,
          help="BM25's analyzer: auto, none (whole words) or a Snowball language such as english or de (default: "
               "what the index records; a new one NbragMagics.language). Another one rebuilds its BM25.")
def index_arguments(line: str) -> None:
    """%nbrag index PATH [--name NAME] [--chunker recursive] [--size N] [--memory] [--context PARTS]
    [--language auto]"""


@magics_class
class RetrieveMagics(AreaMagics):
    """``%%retrieve`` / ``%retrieve``, and ``%nbrag index`` (:meth:`build_index`)."""

    def build_index(self, line: str) -> None:
        """``%nbrag index PATH ...``: build or update an index from files; it becomes the current index."""
        args = self.parse(index_arguments, line)
        path = Path(unquote(args.path)).expanduser()
        if not path.exists():
            raise UsageError(f"%nbrag index {args.path}: no such file or folder.")
        name = args.name or index_name(path)
        options = {k: v for k, v in (("size", args.size), ("context", args.context)) if v is not None}
        from nbrag.config import language_name
        from nbrag.retrieval import Index

        with self.engine(index_arguments):
            index = self.session.indexes.get(name)
            if (index is None or (index.where == "memory") != args.memory
                    or (args.language is not None and language_name(args.language) != index.language)):
                index = Index(name, memory=args.memory, language=args.language)
            report = index.add_files(path, chunker=args.chunker, **options)
        self.session.indexes[name] = self.session.current_index = index
        print(f"{report}\n{index!r}\n%%retrieve searches {name!r} now (or give --index {name}).")

    @magic_arguments()
    @argument("--index", default=None, metavar="NAME",
              help="The index to search: a variable holding an nbrag.Index, or an index's name (default: the last "
                   "one built with %%nbrag index).")
    @argument("-k", "--top-k", dest="k", type=int, default=None, help="Hits to return (default: NbragMagics.top_k).")
    @argument("--mode", default="hybrid", help="bm25, dense, hybrid (default), graph or hybrid+graph.")
    @argument("--graph", default=None, choices=["ppr", "local", "global"],
              help="graph modes: the graph search (default ppr). The index needs a graph: %%graphrag --build.")
    @argument("--weights", default=None, metavar="BM25,DENSE",
              help="hybrid modes: the retrievers' weights, e.g. 0.3,0.7 (bm25, dense) or bm25=0.2,dense=0.3,graph=0.5 "
                   f"(default: {WEIGHTS_HELP}).")
    @argument("--fusion", default=None,
              help=f"hybrid modes: rrf, minmax or zscore (default: {FUSION_HELP}).")
    @argument("--rrf-k", type=int, default=None,
              help=f"rrf: the constant k in 1 / (k + rank) (default {HYBRID.rrf_k}).")
    @argument("--hyde", nargs="?", const="average", default=None, choices=["average", "replace"],
              help="Embed an answer the generator imagines: averaged with the query (default) or in its place.")
    @argument("--rerank", nargs="?", const=True, default=None, metavar="MODEL",
              help="Reorder the best candidates with the generator, or with this cross-encoder.")
    @argument("--generator", default=None, metavar="NAME",
              help="--hyde, --rerank: a Hugging Face chat model's id, or a variable holding (model, tokenizer) or a "
                   "complete(messages) -> str function (default: the configured generator).")
    @argument("--compare", dest="modes", default=None, metavar="A,B,...",
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
        options_line, query = self.query(line, cell)
        args = self.parse(self.retrieve, options_line)
        if not query:
            raise UsageError("No query: write it in the cell under %%retrieve, or end the line with --query TEXT.")
        options = {"fusion": args.fusion, "rrf_k": args.rrf_k, "hyde": args.hyde, "rerank": args.rerank,
                   "weights": weights(args.weights), "graph": args.graph,
                   "generator": self.generator_value(args.generator)}
        options = {k: v for k, v in options.items() if v is not None}
        index = self.index(args.index)
        with self.engine(self.retrieve):
            if args.modes is not None:
                from nbrag.retrieval import compare

                modes = [m.strip() for m in args.modes.split(",") if m.strip()]
                result = compare(index, query, modes, k=args.k, **options)
            else:
                result = index.search(query, args.k, mode=args.mode, **options)
        return self.store(args.output, result)


def weights(value: str | None) -> dict[str, float] | None:
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


def index_name(path: Path) -> str:
    """An index name from a file or folder name that Chroma accepts."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", path.resolve().stem).strip("._-")[:60] or "index"
    return slug if len(slug) >= 3 else f"{slug}-index"
