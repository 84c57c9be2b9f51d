"""``%%graphrag``: build an index's knowledge graph, show it, and search through it."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics


@magics_class
class GraphragMagics(AreaMagics):
    """``%%graphrag`` / ``%graphrag``."""

    @magic_arguments()
    @argument("--index", default=None, metavar="NAME",
              help="The index: a variable holding an nbrag.Index, or an index's name (default: the current one).")
    @argument("--build", action="store_true",
              help="Build the index's knowledge graph, or update it with the chunks it has not read.")
    @argument("--rebuild", action="store_true", help="Build the graph anew, from every chunk.")
    @argument("--extractor", default=None, choices=["offline", "llm"],
              help="--build: names and co-occurrence without a model (default: offline), or the generator's JSON.")
    @argument("--generator", default=None, metavar="NAME",
              help="--extractor llm, --reports llm: a Hugging Face chat model's id, or a variable holding (model, "
                   "tokenizer) or a complete(messages) -> str function (default: the configured generator).")
    @argument("--endpoint", default=None, metavar="URL",
              help="--extractor llm, --reports llm: ask this OpenAI-compatible server instead of the generator.")
    @argument("--model", default=None, metavar="NAME", help="--endpoint: the model's name at that server.")
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
        options_line, query = self.query(line, cell)
        args = self.parse(self.graphrag, options_line)
        model_flags = [flag for flag, value in (("--generator", args.generator), ("--endpoint", args.endpoint),
                                                ("--model", args.model)) if value]
        build_flags = [flag for flag, value in (("--extractor", args.extractor), ("--reports", args.reports))
                       if value] + model_flags
        if build_flags and not (args.build or args.rebuild):
            raise UsageError(f"{' and '.join(build_flags)}: options of building the graph; add --build or --rebuild.")
        if model_flags and "llm" not in (args.extractor, args.reports):
            raise UsageError(f"{' and '.join(model_flags)}: the model of --extractor llm or --reports llm; add one of "
                             "them.")
        index = self.index(args.index)
        with self.engine(self.graphrag):
            if args.build or args.rebuild:
                build = {"generator": self.generator_value(args.generator), "endpoint": args.endpoint,
                         "model": args.model, "reports": args.reports}
                graph = index.build_graph(args.extractor or "offline", rebuild=args.rebuild,
                                          **{k: v for k, v in build.items() if v is not None})
                print(f"{graph.last_update}\n{graph!r}")
            elif index.graph is None:
                raise UsageError(f"Index {index.name!r} has no knowledge graph yet: run %graphrag --build first.")
            if not query:
                return self.store(args.output, index.graph)
            options: dict[str, Any] = {"graph_options": {"level": args.level}} if args.level is not None else {}
            if args.mode == "hybrid":
                result = index.search(query, args.k, mode="hybrid+graph", **options)
            else:
                result = index.search(query, args.k, mode="graph", graph=args.mode, **options)
        return self.store(args.output, result)
