"""One type for mistakes a person can fix: :class:`NbragError`.

Every error nbrag raises about its input (a bad option, a missing file, model or extra, a
server that cannot be reached) is an ``NbragError``. It subclasses ``ValueError``, so
``except ValueError`` keeps working, and it carries the option it concerns::

    raise NbragError("must be at least 1.", option="top_k", value=0)
    # str(): "top_k=0: must be at least 1."
    # a magic: "-k 0: must be at least 1."  (error.render("-k"))

Counts go through :func:`whole_number` and real numbers (rates, thresholds, weights) through
:func:`number`, so that the Python call and the magic give the same message for the same value.

Anything else that escapes nbrag is a bug, and keeps its traceback in a notebook.
"""

from __future__ import annotations

from typing import Any

_UNSET: Any = object()


class NbragError(ValueError):
    """A user's mistake: ``message`` says what is wrong and how to fix it.

    ``option`` names the keyword argument it concerns (``"max_tokens"``) and ``value`` the value
    given, when there is one; ``str(error)`` puts them in front of the message, and a magic
    names its own flag instead (:meth:`render`).
    """

    def __init__(self, message: str, *, option: str | None = None, value: Any = _UNSET) -> None:
        self.message = message
        self.option = option
        self.value = value
        super().__init__(self.render())

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET

    def render(self, name: str | None = None) -> str:
        """The message headed by ``name`` (a magic's flag, e.g. ``--max-tokens``) or by the option."""
        name = name or self.option
        if not name:
            return self.message
        if not self.has_value:
            return f"{name}: {self.message}"
        if name.startswith("-"):
            return f"{name} {self.value}: {self.message}"
        return f"{name}={self.value!r}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (multiprocessing, joblib)
        return (_rebuild, (type(self), self.message, self.option, self.value))


def _rebuild(cls: type[NbragError], message: str, option: str | None, value: Any) -> NbragError:
    error = cls.__new__(cls)
    NbragError.__init__(error, message, option=option, value=value)
    return error


class NbragTypeError(NbragError, TypeError):
    """A value of the wrong type (still an ``NbragError``; ``except TypeError`` catches it too)."""


def whole_number(value: Any, option: str, least: int = 1, hint: str = "") -> int:
    """``value`` when it is a whole number (a bool is not) of at least ``least``; else an error naming ``option``:
    ``give a whole number of at least {least}{hint}.`` (:class:`NbragTypeError` for another type)."""
    import numbers

    message = f"give a whole number of at least {least}{hint}."
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NbragTypeError(message, option=option, value=value)
    if value < least:
        raise NbragError(message, option=option, value=value)
    return int(value)


def number(value: Any, option: str, least: float | None = None, most: float | None = None, *,
           above: float | None = None, below: float | None = None, hint: str = "") -> float:
    """``value`` as a float when it is a finite real number (a bool is not; NaN and infinities are not) within
    its bounds: at least ``least``, at most ``most``, greater than ``above``, less than ``below``. Else an error
    naming ``option``: ``give a number greater than 0{hint}.`` (:class:`NbragTypeError` for another type)."""
    import math
    import numbers

    lower = f"at least {least:g}" if least is not None else f"greater than {above:g}" if above is not None else ""
    upper = f"at most {most:g}" if most is not None else f"less than {below:g}" if below is not None else ""
    if least is not None and most is not None:
        bounds = f" from {least:g} to {most:g}"
    else:
        bounds = " and ".join(b for b in (lower, upper) if b)
        bounds = f" of {bounds}" if bounds.startswith("at ") else f" {bounds}" if bounds else ""

    def error(kind: type[NbragError], finite: bool) -> NbragError:
        return kind(f"give a {'finite number' if finite or not bounds else 'number'}{bounds}{hint}.", option=option,
                    value=value)

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(NbragTypeError, False)
    try:
        real = float(value)
    except OverflowError:  # an int too large for a float
        raise error(NbragError, True) from None
    if not math.isfinite(real):
        raise error(NbragError, True)
    if (least is not None and real < least) or (above is not None and real <= above) \
            or (most is not None and real > most) or (below is not None and real >= below):
        raise error(NbragError, False)
    return real


def readable(text: str, option: str | None = None, *, what: str = "") -> str:
    """``text`` when it holds no lone surrogate (half of a UTF-16 pair, as bytes decoded with
    ``errors="surrogateescape"`` leave): no tokenizer reads one. Else an error naming ``option`` (or starting with
    ``what``, e.g. ``"Example 2 of the cell"``) and where the surrogate is."""
    if text.isascii():
        return text
    import re

    lone = re.search("[\ud800-\udfff]", text)
    if lone is not None:
        raise NbragError(f"{what + ' ' if what else ''}holds a lone surrogate {lone.group()!r} at character "
                         f"{lone.start()}, which is not text; decode the source with errors='replace'.", option=option)
    return text


class ModelUnavailableError(NbragError):
    """A model could not be found locally or fetched; the message says how to get it."""


class EndpointError(NbragError):
    """An endpoint could not be reached, refused the request or sent a reply that is not one; the message
    names the URL and the likely fix."""


class MissingExtraError(NbragError):
    """A feature needs an optional dependency: the message names the ``pip install "nbrag[...]"`` to run."""


def require(module: str, extra: str, feature: str) -> Any:
    """Import ``module`` for ``feature``, or raise :class:`MissingExtraError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but something it imports is broken: show the real error
        raise MissingExtraError(f"{feature} needs the package {module.split('.')[0]!r}, which is not installed: "
                                f'run pip install "nbrag[{extra}]".') from None


_warned: set[str] = set()


def renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Say once per session that ``old`` is now ``new`` (a ``FutureWarning``, which notebooks show); the old
    name keeps working for one more release. ``stacklevel`` points the warning at the caller's caller (the user's
    line, where the old name is used directly inside the alias)."""
    if old not in _warned:
        _warned.add(old)
        import warnings

        warnings.warn(f"{old} is now {new}; the old name will be removed in the next release.", FutureWarning,
                      stacklevel=stacklevel)
