"""``%%attention``, ``%%kvcache``, ``%%moe``: the inspectors (:mod:`nbrag.inspectors`) from a cell.

Their arguments are declared on :class:`nbrag.magics.NbragMagics` (so that ``%%attention?`` and
``%nbrag help`` show them); the work is done here: the text, the model, the checks of the
options, one call to the inspector, the result returned.

The text is the cell, the rest of the line after ``--query``, or the str a ``--var`` names.
``--model`` is a name (``tiny:<family>``, a packaged or Hugging Face model) or a variable that
holds a ``(model, tokenizer)`` pair; none means the configured generator. ``--layer`` and
``--head`` (``--expert`` for ``%%moe``) are checked against the model and kept on the result as
``result.selection`` (``{"layer": 3, "head": 1}``, numbers counted from 0): where the view opens.
``%%kvcache --speed`` returns the pair ``(CacheReport, SpeedReport)``; ``%%moe --vs VAR`` the pair of
traces, shown as their comparison (``pair.comparison``, loads side by side) and then each trace.

Like the rest of the magics, this module imports neither torch nor transformers: the
inspectors load them on first use.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import parse_argstring

from nbrag.magics import _check_name, _split_query


class Results(tuple):
    """Several results of one magic (a cache report and its timings, two routings): a tuple, so
    ``report, timing = _`` unpacks it; it shows ``shown`` (by default its items), each with its own view."""

    def __new__(cls, items: tuple, shown: list[Any] | None = None) -> Results:  # noqa: PYI034 - 3.10 has no Self
        results = super().__new__(cls, items)
        results.shown = list(items) if shown is None else shown
        return results

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(*self.shown)


# --------------------------------------------------------------------------- the magics


def attention(magics: Any, line: str, cell: str | None) -> Any:
    args, text = _parse(magics, magics.attention, "attention", line, cell)
    loaded = _model(magics, args.model)
    selection = {}
    counts = _counts(loaded)
    if counts is not None:  # checked before the forward pass where the config tells; after it in any case
        _select(selection, args.layer, counts[0], "--layer", "layers", loaded.name)
        _select(selection, args.head, counts[1], "--head", "attention heads per layer", loaded.name)
    from nbrag.inspectors import attention as inspect_attention

    options = {"max_tokens": args.max_tokens} if args.max_tokens is not None else {}
    result = _engine(lambda: inspect_attention(text, loaded, **options))
    _select(selection, args.layer, result.num_layers, "--layer", "layers", loaded.name)
    _select(selection, args.head, result.num_heads, "--head", "attention heads per layer", loaded.name)
    return magics._store(args.output, _with_selection(result, selection))


def kvcache(magics: Any, line: str, cell: str | None) -> Any:
    args, text = _parse(magics, magics.kvcache, "kvcache", line, cell)
    if args.max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens {args.max_new_tokens}: generate at least one token (e.g. "
                         "--max-new-tokens 32).")
    if args.window is not None and args.window < 2:
        raise UsageError(f"--window {args.window}: a sliding window holds at least 2 tokens (e.g. --window 256).")
    lengths = _lengths(args.speed)
    loaded = _model(magics, args.model)
    from nbrag.inspectors import kv_cache, speed
    from nbrag.inspectors.kvcache import Geometry, _check_generates

    _engine(lambda: _check_generates(loaded.model, loaded.name))
    geometry = _engine(lambda: Geometry.of(loaded.model))
    selection: dict[str, int] = {}
    _select(selection, args.layer, geometry.num_layers, "--layer", "layers", loaded.name)
    _select(selection, args.head, geometry.kv_heads, "--head", "KV heads per layer", loaded.name,
            f" ({geometry.query_heads} query heads share them)" if geometry.kv_heads != geometry.query_heads else "")
    options = {"max_tokens": args.max_tokens} if args.max_tokens is not None else {}
    report = _engine(lambda: kv_cache(text, loaded, args.max_new_tokens, window=args.window, **options))
    _select(selection, args.layer, len(report.layers), "--layer", "cache layers", loaded.name)
    _with_selection(report, selection)
    if lengths is None:
        return magics._store(args.output, report)
    timing = _engine(lambda: speed(text, loaded, lengths, **options))
    return magics._store(args.output, Results((report, timing)))


def moe(magics: Any, line: str, cell: str | None) -> Any:
    args, text = _parse(magics, magics.moe, "moe", line, cell)
    other = _variable_text(magics, args.vs, "--vs") if args.vs else None
    loaded = _model(magics, args.model)
    from nbrag.inspectors import routing
    from nbrag.inspectors.moe import find_routers

    routers = _engine(lambda: find_routers(loaded.model))  # a dense model: NoExpertsError, before any forward pass
    moe_layers = [r.layer for r in routers]
    selection: dict[str, int] = {}
    if args.layer is not None:
        layer = args.layer
        total = _counts(loaded)
        if total is not None and -total[0] <= layer < 0:
            layer %= total[0]
        if layer not in moe_layers:
            dense = f" (layer {layer} is dense: every token goes through the same feed-forward)" \
                if total is not None and 0 <= layer < total[0] else ""
            raise UsageError(f"--layer {args.layer}: {loaded.name} routes through experts in layers "
                             f"{_spans(moe_layers)} only{dense}; give one of those.")
        selection["layer"] = layer
    options = {"max_tokens": args.max_tokens} if args.max_tokens is not None else {}
    trace = _engine(lambda: routing(text, loaded, **options))
    _select(selection, args.expert, trace.num_experts, "--expert", "experts per layer", loaded.name)
    _with_selection(trace, selection)
    if other is None:
        return magics._store(args.output, trace)
    versus = _with_selection(_engine(lambda: routing(other, loaded, **options), what=f"--vs {args.vs}: "),
                             dict(selection))
    from nbrag.views.inspectors import compare_routing

    comparison = compare_routing(trace, versus)  # both through the same loaded model: the same experts
    pair = Results((trace, versus), shown=[comparison, trace, versus])
    pair.comparison = comparison
    return magics._store(args.output, pair)


# --------------------------------------------------------------------------- helpers


def _parse(magics: Any, method: Any, name: str, line: str, cell: str | None) -> tuple[Any, str]:
    """The parsed options and the text: the cell, ``--query`` (the rest of the line) or ``--var``."""
    options_line, query = _split_query(line)
    args = parse_argstring(method, options_line)
    _check_name(args.output)
    given = [what for what, value in (("the cell", (cell or "").strip()), ("--query", query), ("--var", args.var))
             if value]
    if len(given) > 1:
        raise UsageError(f"Text given twice ({' and '.join(given)}): keep one of them.")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(f"--max-tokens {args.max_tokens}: the text needs room for at least one token.")
    if args.var:
        return args, _variable_text(magics, args.var, "--var")
    text = cell if (cell or "").strip() else query
    if not (text or "").strip():
        raise UsageError(f"No text to inspect: write it in the cell under %%{name}, or end the line with "
                         f"--query TEXT, or give --var NAME (a variable that holds a str).")
    return args, text.strip()


def _variable_text(magics: Any, name: str, flag: str) -> str:
    if name not in magics.shell.user_ns:
        raise UsageError(f"{flag} {name}: no variable of that name in this notebook.")
    value = magics.shell.user_ns[name]
    if not isinstance(value, str):
        raise UsageError(f"{flag} {name} holds a {type(value).__name__}, not a str: pass its text.")
    if not value.strip():
        raise UsageError(f"{flag} {name} holds an empty text: give at least one word for the model to read.")
    return value


def _model(magics: Any, name: str | None) -> Any:
    """``--model``: a variable holding ``(model, tokenizer)`` (or a model name), else a name; loaded once."""
    from nbrag.inspectors.base import Loaded, load
    from nbrag.models import ModelUnavailableError

    value: Any = name
    if name is not None and name.isidentifier() and name in magics.shell.user_ns:
        value = magics.shell.user_ns[name]
        if isinstance(value, tuple) and len(value) != 2:
            raise UsageError(f"--model {name} holds a tuple of {len(value)} items: store (model, tokenizer) in it.")
        if not isinstance(value, str | tuple | Loaded):
            if hasattr(value, "config") and callable(value):
                raise UsageError(f"--model {name} holds a model without its tokenizer: store both, e.g. "
                                 f"{name}_pair = ({name}, tokenizer), and give --model {name}_pair.")
            raise UsageError(f"--model {name} holds a {type(value).__name__}: give a variable that holds "
                             "(model, tokenizer), or a model's name (tiny:llama, SmolLM2-135M-Instruct, a Hugging "
                             "Face id or a folder).")
    label = f"--model {name}: " if name is not None else "The configured generator: "
    try:
        return load(value)
    except ModelUnavailableError as error:
        raise UsageError(f"{label}{str(error).strip()} For a model that needs nothing installed, try "
                         "--model tiny:llama (tiny:<family>, random weights).") from None
    except (ValueError, TypeError) as error:
        raise UsageError(f"{label}{str(error).strip()}") from None


def _engine(call: Any, what: str = "") -> Any:
    """Run an inspector; what it refuses becomes a one-line UsageError in the magics' words."""
    from nbrag.inspectors import NoAttentionWeightsError
    from nbrag.models import ModelUnavailableError

    try:
        return call()
    except (ValueError, TypeError, ModelUnavailableError, NoAttentionWeightsError) as error:
        message = str(error).strip().replace("max_tokens=", "--max-tokens ")
        message = message.replace("(model=None for the configured generator, or model='tiny:llama')",
                                  "(leave --model out for the configured generator, or --model tiny:llama)")
        message = message.replace("routing(text, model='tiny:mixtral')", "%%moe --model tiny:mixtral")
        raise UsageError(what + message if message else what + type(error).__name__) from None


def _counts(loaded: Any) -> tuple[int, int] | None:
    """``(layers, query heads)`` from the model's config, or None where the config does not say."""
    try:
        from nbrag.inspectors.kvcache import Geometry

        geometry = Geometry.of(loaded.model)
    except Exception:  # noqa: BLE001 - a config that names its sizes its own way: checked on the result instead
        return None
    return geometry.num_layers, geometry.query_heads


def _select(selection: dict[str, int], value: int | None, count: int, flag: str, what: str, model: str,
            extra: str = "") -> None:
    """Check ``value`` against ``count`` (negative counts from the end) and keep it, from 0, in ``selection``."""
    if value is None:
        return
    if not -count <= value < count:
        raise UsageError(f"{flag} {value} is out of range: {model} has {count} {what}{extra}; give 0 to "
                         f"{count - 1}, or -{count} to -1 from the end.")
    selection[flag.removeprefix("--")] = value % count


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
