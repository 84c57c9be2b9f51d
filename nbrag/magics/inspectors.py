"""``%%attention``, ``%%kvcache``, ``%%moe``: the inspectors (:mod:`nbrag.inspectors`) from a cell.

The text is the cell, the rest of the line after ``--query``, or the str a ``--var`` names.
``--model`` is a name (``tiny:<family>``, a packaged or Hugging Face model) or a variable that
holds a ``(model, tokenizer)`` pair; none means the configured generator. ``--layer`` and
``--head`` (``--expert`` for ``%%moe``) are checked against the model and kept on the result as
``result.selection`` (``{"layer": 3, "head": 1}``, numbers counted from 0): where the view opens.
``%%kvcache --speed`` returns the pair ``(CacheReport, SpeedReport)``; ``%%moe --vs VAR`` the pair of
traces, shown as their comparison (``pair.comparison``, loads side by side) and then each trace.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics, split_query


class Results(tuple):
    """Several results of one magic (a cache report and its timings, two routings): a tuple, so
    ``report, timing = _`` unpacks it; it shows ``shown`` (by default its items), each with its own view."""

    def __new__(cls, items: tuple, shown: list[Any] | None = None) -> Results:
        results = super().__new__(cls, items)
        results.shown = list(items) if shown is None else shown
        return results

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(*self.shown)


@magics_class
class InspectorMagics(AreaMagics):
    """``%%attention``, ``%%kvcache`` and ``%%moe``."""

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
        args, text = self._parse(self.attention, "attention", line, cell)
        loaded = self._model(self.attention, args.model)
        from nbrag.inspectors import attention
        from nbrag.inspectors.base import counts

        selection: dict[str, int] = {}
        known = counts(loaded.model)
        if known is not None:  # checked before the forward pass where the config tells; after it in any case
            self._select(self.attention, selection, "layer", args.layer, known[0], "layers", loaded.name)
            self._select(self.attention, selection, "head", args.head, known[1], "attention heads per layer",
                         loaded.name)
        result = self.call(self.attention, attention, text, loaded, **_given(max_tokens=args.max_tokens))
        self._select(self.attention, selection, "layer", args.layer, result.num_layers, "layers", loaded.name)
        self._select(self.attention, selection, "head", args.head, result.num_heads, "attention heads per layer",
                     loaded.name)
        return self.store(args.output, _with_selection(result, selection))

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
        args, text = self._parse(self.kvcache, "kvcache", line, cell)
        lengths = _lengths(args.speed)
        loaded = self._model(self.kvcache, args.model)
        from nbrag.inspectors import Geometry, check_generates, kv_cache, speed

        with self.engine(self.kvcache):
            check_generates(loaded)
            geometry = Geometry.of(loaded.model)
        selection: dict[str, int] = {}
        self._select(self.kvcache, selection, "layer", args.layer, geometry.num_layers, "layers", loaded.name)
        grouped = geometry.kv_heads != geometry.query_heads
        shared = f" ({geometry.query_heads} query heads share them)" if grouped else ""
        self._select(self.kvcache, selection, "head", args.head, geometry.kv_heads, f"KV heads per layer{shared}",
                     loaded.name)
        options = _given(max_tokens=args.max_tokens)
        report = self.call(self.kvcache, kv_cache, text, loaded, args.max_new_tokens, window=args.window, **options)
        self._select(self.kvcache, selection, "layer", args.layer, len(report.layers), "cache layers", loaded.name)
        _with_selection(report, selection)
        if lengths is None:
            return self.store(args.output, report)
        timing = self.call(self.kvcache, speed, text, loaded, lengths, **options)
        return self.store(args.output, Results((report, timing)))

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
        args, text = self._parse(self.moe, "moe", line, cell)
        other = self._text_of(args.vs, "--vs") if args.vs else None
        loaded = self._model(self.moe, args.model)
        from nbrag.inspectors import compare_routing, find_routers, routing
        from nbrag.inspectors.base import counts

        routers = self.call(self.moe, find_routers, loaded.model, loaded.name)  # a dense model: refused before running
        selection: dict[str, int] = {}
        if args.layer is not None:
            moe_layers, known = [r.layer for r in routers], counts(loaded.model)
            total = known[0] if known else None
            layer = args.layer % total if total is not None and -total <= args.layer < 0 else args.layer
            if layer not in moe_layers:
                dense = f" (layer {layer} is dense: every token goes through the same feed-forward)" \
                    if total is not None and 0 <= layer < total else ""
                raise UsageError(f"--layer {args.layer}: {loaded.name} routes through experts in layers "
                                 f"{_spans(moe_layers)} only{dense}; give one of those.")
            selection["layer"] = layer
        options = _given(max_tokens=args.max_tokens)
        trace = self.call(self.moe, routing, text, loaded, **options)
        self._select(self.moe, selection, "expert", args.expert, trace.num_experts, "experts per layer", loaded.name)
        _with_selection(trace, selection)
        if other is None:
            return self.store(args.output, trace)
        with self.engine(self.moe, prefix=f"--vs {args.vs}: "):
            versus = _with_selection(routing(other, loaded, **options), dict(selection))
        comparison = self.call(self.moe, compare_routing, trace, versus)  # one loaded model: the same experts
        pair = Results((trace, versus), shown=[comparison, trace, versus])
        pair.comparison = comparison
        return self.store(args.output, pair)

    # ------------------------------------------------------------------ input

    def _parse(self, method: Any, name: str, line: str, cell: str | None) -> tuple[Any, str]:
        """The parsed options and the text: the cell, ``--query`` (the rest of the line) or ``--var``."""
        options_line, query = split_query(line)
        args = self.parse(method, options_line)
        text = self.text(cell, what="text to inspect", query=query, var=args.var,
                         where=f"write it in the cell under %%{name}, or end the line with --query TEXT, or give "
                               "--var NAME (a variable that holds a str)")
        if args.var and not text.strip():
            raise UsageError(f"--var {args.var} holds an empty text: give at least one word for the model to read.")
        return args, text.strip()

    def _text_of(self, name: str, option: str) -> str:
        value = self.text_variable(name, option)
        if not value.strip():
            raise UsageError(f"{option} {name} holds an empty text: give at least one word for the model to read.")
        return value

    def _model(self, method: Any, name: str | None) -> Any:
        """``--model`` loaded once: a variable holding ``(model, tokenizer)``, or a model's name."""
        from nbrag.inspectors import load

        value = self.model_value(name)
        return self.call(method, load, value)

    def _select(self, method: Any, selection: dict[str, int], option: str, value: int | None, count: int, what: str,
                model: str) -> None:
        """Check ``value`` of ``--option`` against ``count`` (negative counts from the end) and keep it, from 0, in
        ``selection``: where the view opens."""
        if value is not None:
            from nbrag.inspectors import check_index

            selection[option] = self.call(method, check_index, value, count, what, option=option, owner=model)


# --------------------------------------------------------------------------- helpers


def _given(**options: Any) -> dict[str, Any]:
    """The options the line gave (not None): the engine's defaults stand for the others."""
    return {k: v for k, v in options.items() if v is not None}


def _with_selection(result: Any, selection: dict[str, int]) -> Any:
    result.selection = selection  # where the view opens: {"layer": ..., "head": ...} (or "expert")
    return result


def _lengths(value: str | None) -> list[int] | None:
    """``--speed 16,32,64`` as numbers of new tokens."""
    if value is None:
        return None
    try:
        lengths = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        lengths = []
    if not lengths or any(n < 1 for n in lengths):
        raise UsageError(f"--speed {value}: give numbers of new tokens separated by commas, each at least 1 "
                         "(e.g. --speed 16,32,64).")
    return lengths


def _spans(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` as ``1-3, 5``."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts)
