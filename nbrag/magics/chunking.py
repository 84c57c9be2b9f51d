"""``%%chunk``: chunk the cell's text (or a file's, or a variable's) and show the boundaries."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics

# The help of nbrag.chunking.context.ContextConfig's fields (that module is not imported here: %load_ext stays fast).
CONTEXT_HELP = ("What each chunk is embedded with besides its text: none (default), or title, neighbours, "
                "sentences:N, generated, joined by + (e.g. title+neighbours). Spans never change.")


@magics_class
class ChunkMagics(AreaMagics):
    """``%%chunk`` / ``%chunk``."""

    @magic_arguments()
    @argument("-m", "--method", default="fixed", help="Chunker to use (`%%nbrag` lists them).")
    @argument("--compare", dest="methods", default=None, metavar="A,B,...",
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
    @argument("--context", default=None, metavar="PARTS", help=CONTEXT_HELP)
    @argument("--title", default=None, help="--context title: the document's title, put before its headings.")
    @argument("--tokenizer", default=None, help="Tokenizer: a shipped name, a Hugging Face id or a folder.")
    @argument("--generator", default=None, metavar="NAME",
              help="llm, and --context generated: a Hugging Face chat model's id, or a variable holding (model, "
                   "tokenizer) or a complete(messages) -> str function (default: the configured generator).")
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
        args = self.parse(self.chunk, line)
        text = self.text(cell, what="text to chunk", file=args.file, var=args.var,
                         where="write it in the cell under %%chunk, or use %chunk --file PATH or --var NAME")
        given = {"size": args.size, "overlap": args.overlap, "max_size": args.max_size, "min_size": args.min_size,
                 "threshold": args.threshold, "threshold_type": args.threshold_type, "format": args.format,
                 "unit": args.unit, "tokenizer": args.tokenizer, "generator": self.generator_value(args.generator),
                 "endpoint": args.endpoint, "model": args.model, "context": args.context, "title": args.title}
        options = {k: v for k, v in given.items() if v is not None}
        asked = [m.strip() for m in (args.methods or args.method).split(",")]
        if "generated" in (args.context or "") and "generator" in options:  # the model that writes each context
            options["context_generator"] = options["generator"] if "llm" in asked else options.pop("generator")
        if {"endpoint", "model", "generator"} & set(options) and "llm" not in asked:
            raise UsageError("--generator, --endpoint and --model are options of the llm chunker: add -m llm (or llm "
                             "to --compare).")
        from nbrag.chunking import chunk, compare

        with self.engine(self.chunk):
            if args.methods is not None:
                result = compare(text, [m for m in asked if m], **options)
            else:
                result = chunk(text, method=args.method, **options)
        return self.store(args.output, result)
