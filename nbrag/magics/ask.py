"""``%%ask``: a question answered from an index with citations (``nbrag.ask``), or by the agent
(``nbrag.agent``), the reply shown as the model writes it.

The question is the cell, the rest of the line after ``--query``, or the words of the line
after its options (``%ask --index docs -k 3 Who built the first lens``: IPython reads a line that
ends in ``?`` as a request for help, so the line form ends without one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics, split_query, unquote


@magics_class
class AskMagics(AreaMagics):
    """``%%ask`` / ``%ask``."""

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
    @argument("--budget", dest="token_budget", type=int, default=None, metavar="TOKENS",
              help="--agent: the most tokens it may spend (default 6000).")
    @argument("--graph", default=None, choices=["ppr", "local", "global"],
              help="The knowledge-graph search: of --mode graph or hybrid+graph; --agent: its graph_search tool "
                   "(default: ppr where the index has a graph). The index needs a graph (%%graphrag --build).")
    @argument("--endpoint", default=None, metavar="URL",
              help="Ask an OpenAI-compatible server at this base URL (e.g. http://localhost:8000/v1); needs --model.")
    @argument("--model", default=None, metavar="NAME", help="--endpoint: the model's name at the server.")
    @argument("--generator", default=None, metavar="NAME",
              help="A Hugging Face chat model's id, or a variable holding (model, tokenizer) or a "
                   "complete(messages) -> str function (default: the configured generator).")
    @argument("--template", default=None, metavar="VAR",
              help="A variable holding the PromptTemplate to use (with --agent: for its final draft).")
    @argument("--max-new-tokens", type=int, default=None,
              help="The longest answer, in tokens (default 200; the agent: 128 per reply).")
    @argument("--context-tokens", type=int, default=None,
              help="Token budget of the sources in the prompt (default 1024); sources beyond it are cut, and "
                   "the view says so.")
    @argument("--threshold", dest="support_threshold", type=float, default=None, metavar="COSINE",
              help="Support check: the least similarity of a sentence to its cited sources (default 0.60).")
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
        options_line, from_line = split_line(self.ask.parser, line)
        args = self.parse(self.ask, options_line)
        body = (cell or "").strip()
        if body and from_line:
            raise UsageError("Question given twice (the cell and the line): keep one of them.")
        question = body or from_line
        if not question:
            raise UsageError("No question: write it in the cell under %%ask, or after the options of %ask "
                             "(e.g. %ask --index docs Who built the first lens).")
        if not args.agent:
            used = [flag for flag, value in (("--max-steps", args.max_steps), ("--budget", args.token_budget))
                    if value is not None]
            if used:
                raise UsageError(f"{', '.join(used)}: option(s) of the agent; add --agent.")
        index = self.index(args.index)
        from nbrag import rag
        from nbrag.config import settings

        options: dict[str, Any] = {
            "mode": args.mode, "k": settings.top_k if args.k is None else args.k,
            "generator": self.generator_value(args.generator),
            "endpoint": args.endpoint, "model": args.model, "template": self._template(args.template),
            "graph": args.graph, "context_tokens": args.context_tokens,
            "support_threshold": args.support_threshold, "max_new_tokens": args.max_new_tokens}
        if args.agent:
            options.update({"max_steps": args.max_steps, "token_budget": args.token_budget})
        options = {k: v for k, v in options.items() if v is not None}
        run = rag.agent if args.agent else rag.ask
        result = self._streamed(lambda stream: run(question, index, stream=stream, **options))
        return self.store(args.output, result)

    def _template(self, name: str | None) -> Any:
        if name is None:
            return None
        from nbrag.rag import PromptTemplate

        value = self.variable(name, "--template")
        if not isinstance(value, PromptTemplate):
            raise UsageError(f"--template {name} holds a {type(value).__name__}, not an nbrag PromptTemplate: make "
                             "one with PromptTemplate(system=..., user='... {sources} ... {question}').")
        return value

    def _streamed(self, call: Callable[[Any], Any]) -> Any:
        """Run ``call(stream)`` with the reply shown as it arrives; the streamed text is removed when it returns."""
        from IPython.display import display

        from nbrag.views.rag import StreamView

        view = StreamView()
        shown = display(view.widget, display_id=True)
        try:
            with self.engine(self.ask):
                return call(view)
        finally:
            view.close()
            if shown is not None:  # a saved notebook keeps an empty output, not a closed widget
                shown.update({"text/html": ""}, raw=True)


def split_line(parser: Any, line: str) -> tuple[str, str]:
    """The options of a line and the question after them: the question starts at the first word that is
    neither an option nor an option's value."""
    options_line, query = split_query(line)
    if query is not None:
        return options_line, query
    takes_value = {flag: action.nargs != 0 for action in parser._actions for flag in action.option_strings}
    words = line.split()
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        flag = words[i].split("=", 1)[0]
        i += 2 if takes_value.get(flag, False) and "=" not in words[i] else 1
    if i >= len(words):
        return line, ""
    # the question is the rest of the line as written, from its first word on
    at = 0
    for word in words[:i]:
        at = line.index(word, at) + len(word)
    return line[:at], unquote(line[at:].strip())
