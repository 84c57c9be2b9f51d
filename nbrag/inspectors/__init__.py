"""Inspectors: look inside a language model at what it computes for one text.

* :func:`attention`: weights per layer and head, with head summaries (entropy, distance, sink);
* :func:`kv_cache`: the key/value cache a generation builds, layer by layer, against the formula;
  :func:`speed`: tokens per second with and without the cache;
* :func:`routing`: which experts a mixture-of-experts model picks for each token, and how
  evenly it loads them; :func:`compare_routing`: two texts' routings through one model;
* :func:`tiny_model`: tiny random-weight models of many families, to see each mechanism at once.

Each returns a small dataclass with ``to_dict()`` that shows its view in a notebook; torch and
transformers load on first use. :func:`load` resolves the ``model=`` every inspector takes.
"""

from nbrag.inspectors.attention_map import AttentionMap, attention
from nbrag.inspectors.base import Loaded, NoAttentionWeightsError, NoExpertsError, check_index, load
from nbrag.inspectors.kvcache import CacheReport, Geometry, SpeedReport, check_generates, kv_cache, speed
from nbrag.inspectors.moe import RoutingComparison, RoutingTrace, compare_routing, find_routers, js_divergence, routing
from nbrag.inspectors.tiny import FAMILIES, families, missing_families, tiny_model

__all__ = ["FAMILIES", "AttentionMap", "CacheReport", "Geometry", "Loaded", "NoAttentionWeightsError",
           "NoExpertsError", "RoutingComparison", "RoutingTrace", "SpeedReport", "attention", "check_generates",
           "check_index", "compare_routing", "families", "find_routers", "js_divergence", "kv_cache", "load",
           "missing_families", "routing", "speed", "tiny_model"]
