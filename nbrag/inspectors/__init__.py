"""Inspectors: look inside a language model at what it computes for one text.

* :func:`attention`: weights per layer and head, with head summaries (entropy, distance, sink);
* :func:`kv_cache`: the key/value cache a generation builds, layer by layer, against the formula;
  :func:`speed`: tokens per second with and without the cache;
* :func:`routing`: which experts a mixture-of-experts model picks for each token, and how
  evenly it loads them;
* :func:`tiny_model`: tiny random-weight models of many families, to see each mechanism at once.

Each returns a small dataclass with ``to_dict()``; torch and transformers load on first use.
"""

from nbrag.inspectors.attention_map import AttentionMap, attention
from nbrag.inspectors.base import NoAttentionWeightsError, NoExpertsError
from nbrag.inspectors.kvcache import CacheReport, Geometry, SpeedReport, kv_cache, speed
from nbrag.inspectors.moe import RoutingTrace, routing
from nbrag.inspectors.tiny import FAMILIES, families, missing_families, tiny_model

__all__ = ["FAMILIES", "AttentionMap", "CacheReport", "Geometry", "NoAttentionWeightsError", "NoExpertsError",
           "RoutingTrace", "SpeedReport", "attention", "families", "kv_cache", "missing_families", "routing", "speed",
           "tiny_model"]
