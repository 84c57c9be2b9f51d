"""Deprecated: the inspector views are now :mod:`nbrag.views.attention`, :mod:`nbrag.views.kvcache`,
:mod:`nbrag.views.moe` and :mod:`nbrag.views.tokens`; ``compare_routing``, ``js_divergence`` and
``RoutingComparison`` are computations and live in :mod:`nbrag.inspectors`. The old names keep
working for one release, with a ``FutureWarning``.
"""

from __future__ import annotations

import importlib
from typing import Any

from nbrag.errors import renamed

MOVED = {
    "nbrag.inspectors": ("compare_routing", "js_divergence", "RoutingComparison"),
    "nbrag.views.attention": ("AttentionView", "MEAN", "WINDOW", "METRICS", "pick_weights", "window_bounds"),
    "nbrag.views.kvcache": ("CacheView", "SpeedView", "attention_kind", "cache_rows", "growth_figure",
                            "speed_figure"),
    "nbrag.views.moe": ("RoutingView", "RoutingComparisonView", "RANDOM_ROUTING", "expert_colours"),
    "nbrag.views.tokens": ("TokenText", "token_labels", "token_pieces"),
}
_HOME = {name: module for module, names in MOVED.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'nbrag.views.inspectors' has no attribute {name!r}")
    renamed(f"nbrag.views.inspectors.{name}", f"{module}.{name}")
    return getattr(importlib.import_module(module), name)
