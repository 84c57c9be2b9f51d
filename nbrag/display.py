"""How a result shows itself in a notebook without knowing its view.

A result class mixes in :class:`Shown`; the last expression of a cell then draws the view
registered for its type (or for a base class of it). The views register themselves in
``nbrag/views/__init__.py``, by name, so the engine never imports a view and a view's module
(with plotly and anywidget) is imported only when something of its type is first shown::

    register("nbrag.chunking.base.ChunkResult", "nbrag.views.chunks:ChunkView")

A result may have more than one drawing: ``kind`` names the others (``"plot"``,
``"question"``); ``show(result, "plot")`` returns that drawing. Code of your own can register
views for its own result types the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

VIEWS_PACKAGE = "nbrag.views"  # imported on the first display: it fills the registry

# (the result class's "module.QualName", kind) -> "module:attribute" of the view, or the view itself
_registry: dict[tuple[str, str], str | Callable[..., Any]] = {}
_loaded = False


def register(result_type: str | type, view: str | Callable[..., Any], *, kind: str = "view") -> None:
    """Show results of ``result_type`` (a class, or its ``"module.QualName"``) with ``view``: a callable
    ``view(result, **options)``, or its ``"module:attribute"`` name, imported when first needed."""
    name = result_type if isinstance(result_type, str) else f"{result_type.__module__}.{result_type.__qualname__}"
    _registry[(name, kind)] = view


def registered() -> dict[tuple[str, str], str | Callable[..., Any]]:
    """Every registration, e.g. to check that each names something importable."""
    _load()
    return dict(_registry)


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module(VIEWS_PACKAGE)


def resolve(view: str | Callable[..., Any]) -> Callable[..., Any]:
    if not isinstance(view, str):
        return view
    module, _, attribute = view.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def view_for(result: Any, kind: str = "view") -> Callable[..., Any]:
    """The view registered for ``result``'s class or its nearest base class."""
    _load()
    for klass in type(result).__mro__:
        entry = _registry.get((f"{klass.__module__}.{klass.__qualname__}", kind))
        if entry is not None:
            return resolve(entry)
    kinds = sorted(k for (name, k) in _registry if name == f"{type(result).__module__}.{type(result).__qualname__}")
    have = f" It has: {', '.join(kinds)}." if kinds else ""
    raise LookupError(f"No {kind!r} view is registered for {type(result).__qualname__}.{have}")


def show(result: Any, kind: str = "view", **options: Any) -> Any:
    """``result`` drawn by its registered view of ``kind``."""
    return view_for(result, kind)(result, **options)


def mimebundle(drawing: Any, include: Any = None, exclude: Any = None) -> Any:
    """What Jupyter shows for a view: its own mime bundle, or its HTML."""
    method = getattr(drawing, "_repr_mimebundle_", None)
    if method is not None:
        return method(include=include, exclude=exclude)
    html = getattr(drawing, "_repr_html_", None)
    if html is not None:
        return {"text/html": html(), "text/plain": repr(drawing)}
    return {"text/plain": repr(drawing)}


class Shown:
    """Mixed into result classes: ``result.view(**options)`` and the notebook display."""

    def view(self, **options: Any) -> Any:
        """The live view of this result (a widget where JavaScript runs, with a static HTML copy beside it)."""
        return show(self, "view", **options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return mimebundle(show(self, "view"), include=include, exclude=exclude)
