"""KV cache: what a generation keeps per layer, measured on the real cache and checked against the formula.

``kv_cache(prompt)`` generates greedily with the cache on and measures the cache object that
``generate`` returns (transformers 5 names that output field ``cache``; 4.x named it
``past_key_values``: both are read). Per layer: the key and value tensors' shapes, dtype and
bytes. The total must equal, to the byte, what the config predicts:

    2 × layers × kv_heads × head_dim × tokens × bytes per element

with ``kv_heads = num_key_value_heads`` (grouped-query attention: SmolLM2's 9 query heads share
3 KV heads), ``head_dim`` from the config or ``hidden_size / num_attention_heads``. Two
architectures refine it, and the report names which applies:

* sliding-window layers keep only the last ``sliding_window - 1`` tokens (transformers'
  ``DynamicSlidingWindowLayer``: the next query makes a full window);
* DeepSeek-V2/V3 (multi-head latent attention) cache one compressed latent of ``kv_lora_rank``
  values and one rotary key of ``qk_rope_head_dim`` values per token and layer, for all heads:
  ``layers × (kv_lora_rank + qk_rope_head_dim) × tokens × bytes``.

The growth curve is measured after every forward pass of the generation. ``savings`` computes,
from the same formula, what a quantized cache or a sliding window would hold instead.
``speed()`` times generation with and without the cache.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbrag.display import Shown
from nbrag.errors import NbragError, NbragTypeError
from nbrag.inspectors.base import Loaded, at_least, device_of, encode, evaluating, jsonable, load
from nbrag.models import model_name

RESIDUAL_LENGTH = 128  # transformers' QuantizedCache default: recent tokens kept at full precision


@dataclass
class Geometry:
    """The cache's shape as the config states it, and the bytes it predicts for a number of tokens."""

    num_layers: int
    query_heads: int
    kv_heads: int  # 1 for a latent (MLA) cache
    key_dim: int  # head_dim; kv_lora_rank for a latent cache
    value_dim: int  # head_dim; qk_rope_head_dim for a latent cache
    dtype: str
    bytes_per_element: int
    layer_types: list[str]  # full_attention or sliding_attention, per layer
    sliding_window: int | None
    latent: bool = False
    max_position_embeddings: int | None = None

    def stored_tokens(self, layer: int, tokens: int) -> int:
        if self.layer_types[layer] == "sliding_attention" and self.sliding_window:
            return min(tokens, self.sliding_window - 1)
        return tokens

    def layer_bytes(self, layer: int, tokens: int, bytes_per_element: float | None = None) -> int:
        per = self.bytes_per_element if bytes_per_element is None else bytes_per_element
        return int(self.kv_heads * (self.key_dim + self.value_dim) * self.stored_tokens(layer, tokens) * per)

    def bytes(self, tokens: int) -> int:
        """Bytes of the whole cache holding ``tokens`` positions (sliding layers bounded)."""
        return sum(self.layer_bytes(i, tokens) for i in range(self.num_layers))

    def unbounded_bytes(self, tokens: int) -> int:
        """``2 × layers × kv_heads × head_dim × tokens × bytes``: every layer keeps every token."""
        return self.num_layers * self.kv_heads * (self.key_dim + self.value_dim) * tokens * self.bytes_per_element

    @property
    def bytes_per_token(self) -> int:
        return self.unbounded_bytes(1)

    @property
    def sliding_layers(self) -> int:
        return sum(t == "sliding_attention" for t in self.layer_types) if self.sliding_window else 0

    def formula(self, tokens: int) -> str:
        """The formula with this model's numbers, e.g. ``2 × 30 layers × 3 KV heads × 64 head dim × ...``."""
        b = self.bytes_per_element
        if self.latent:
            text = (f"{self.num_layers} layers × ({self.key_dim} latent + {self.value_dim} rotary key) "
                    f"× {tokens} tokens × {b} bytes")
        elif self.key_dim == self.value_dim:
            text = (f"2 × {self.num_layers} layers × {self.kv_heads} KV heads × {self.key_dim} head dim "
                    f"× {tokens} tokens × {b} bytes")
        else:
            text = (f"{self.num_layers} layers × {self.kv_heads} KV heads × ({self.key_dim} key + {self.value_dim} "
                    f"value dims) × {tokens} tokens × {b} bytes")
        text += f" = {self.unbounded_bytes(tokens):,}"
        if self.sliding_layers and tokens > self.sliding_window - 1:
            layers = "1 sliding layer keeps" if self.sliding_layers == 1 else \
                f"{self.sliding_layers} sliding layers keep"
            text += f"; {layers} only {self.sliding_window - 1} tokens: {self.bytes(tokens):,}"
        return text

    @classmethod
    def of(cls, model: Any) -> Geometry:
        """Read the geometry from ``model.config`` (and the model's dtype)."""
        import torch

        config = model.config
        if hasattr(config, "get_text_config"):
            config = config.get_text_config(decoder=True)
        heads = int(config.num_attention_heads)
        layers = int(config.num_hidden_layers)
        window = getattr(config, "sliding_window", None) or None
        types = getattr(config, "layer_types", None)
        if types is None:
            types = ["sliding_attention" if window else "full_attention"] * layers
        dtype = getattr(model, "dtype", None) or torch.float32
        size = torch.empty((), dtype=dtype).element_size()
        common = {"num_layers": layers, "query_heads": heads, "dtype": str(dtype).removeprefix("torch."),
                  "bytes_per_element": size, "layer_types": list(types), "sliding_window": window,
                  "max_position_embeddings": getattr(config, "max_position_embeddings", None)}
        if getattr(config, "kv_lora_rank", None):
            return cls(kv_heads=1, key_dim=int(config.kv_lora_rank), value_dim=int(config.qk_rope_head_dim),
                       latent=True, **common)
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(kv_heads=int(kv_heads), key_dim=int(head_dim), value_dim=int(head_dim), **common)


@dataclass
class LayerCache:
    """One layer's cache as measured: tensor shapes ``[batch, kv_heads, tokens, dim]``, dtype, bytes."""

    layer: int
    kind: str  # full, sliding, latent
    key_shape: tuple[int, ...]
    value_shape: tuple[int, ...]
    dtype: str
    tokens: int  # positions held
    bytes: int
    formula_bytes: int


@dataclass
class Saving:
    """What the cache would take another way, from the formula; ``available`` says whether it can be used here."""

    name: str
    bytes: int
    saved: int  # bytes fewer than the measured cache (negative: more)
    available: bool
    how: str


@dataclass
class CacheReport(Shown):
    """The cache of one greedy generation, measured per layer and over the generated tokens; its view shows the
    per-layer table, the total against the formula, the growth curve, the savings and the notes."""

    prompt: str
    model: str
    prompt_tokens: int
    new_tokens: int
    tokens: int  # positions in the final cache: prompt + new - 1 (the last token is never fed back)
    layers: list[LayerCache]
    total_bytes: int  # measured
    formula_bytes: int  # predicted from the config
    formula: str
    geometry: Geometry
    growth: list[tuple[int, int, int]]  # (positions, measured bytes, formula bytes) after each forward pass
    savings: list[Saving]
    cache_class: str
    output_field: str  # the generate output's field that held the cache: cache (transformers 5) or past_key_values
    generated: str
    output_ids: list[int]
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        """Measured bytes equal the formula's, in total and after every step."""
        return self.total_bytes == self.formula_bytes and all(m == f for _, m, f in self.growth)

    @property
    def bytes_per_token(self) -> int:
        return self.geometry.bytes_per_token

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = jsonable(self)
        data.update(agrees=self.agrees, bytes_per_token=self.bytes_per_token, tokens_per_second=self.tokens_per_second)
        return data

    def __repr__(self) -> str:
        check = "= formula" if self.agrees else f"≠ formula {self.formula_bytes:,}"
        return (f"CacheReport({self.model}: {self.tokens} positions × {len(self.layers)} layers, "
                f"{self.total_bytes:,} bytes {check}, {self.bytes_per_token:,} bytes/token)")


@dataclass
class SpeedRow:
    new_tokens: int
    cached_seconds: float
    uncached_seconds: float
    same_tokens: bool  # greedy generation gave the same tokens with and without the cache

    @property
    def cached_tokens_per_second(self) -> float:
        return self.new_tokens / self.cached_seconds

    @property
    def uncached_tokens_per_second(self) -> float:
        return self.new_tokens / self.uncached_seconds

    @property
    def speedup(self) -> float:
        return self.uncached_seconds / self.cached_seconds


@dataclass
class SpeedReport(Shown):
    """Tokens per second of greedy generation with and without the KV cache, per number of new tokens; its view
    draws them side by side with the speedup."""

    prompt: str
    model: str
    prompt_tokens: int
    rows: list[SpeedRow]
    device: str
    threads: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = jsonable(self)
        for row, out in zip(self.rows, data["rows"]):
            out.update(cached_tokens_per_second=row.cached_tokens_per_second,
                       uncached_tokens_per_second=row.uncached_tokens_per_second, speedup=row.speedup)
        return data

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.new_tokens}: {r.cached_tokens_per_second:.1f} vs {r.uncached_tokens_per_second:.1f}"
                          for r in self.rows)
        return f"SpeedReport({self.model}, tokens/s with vs without cache: {parts})"


def kv_cache(prompt: str, model: Any = None, max_new_tokens: int = 32, *, tokenizer: Any = None,
             window: int | None = None, max_tokens: int = 4096) -> CacheReport:
    """Generate ``max_new_tokens`` greedily and measure the KV cache, per layer and per step.

    ``window`` computes what a sliding window of that many tokens would hold (the config's
    ``sliding_window`` is used when it has one). End-of-sequence is suppressed until
    ``max_new_tokens`` so that every run has the same length.
    """
    at_least(max_new_tokens, 1, "max_new_tokens", "generate at least one token.")
    if window is not None:
        at_least(window, 2, "window", "a sliding window holds at least 2 tokens.")
    loaded = load(model, tokenizer)
    net = loaded.model
    check_generates(loaded)
    enc = encode(loaded.tokenizer, prompt, max_tokens=max_tokens, what="prompt")
    geometry = Geometry.of(net)
    growth: list[tuple[int, int, int]] = []
    field_name: list[str] = []

    def measure(module, args, output) -> None:
        name = output_field(output)
        cache = output[name] if name else None
        if cache is not None:
            field_name[:] = [name]
            positions = cache.get_seq_length()
            growth.append((positions, cache_bytes(cache), geometry.bytes(positions)))

    handle = net.register_forward_hook(measure)
    try:
        start = time.perf_counter()
        out = _generate(net, loaded.tokenizer, enc.ids, max_new_tokens, use_cache=True)
        seconds = time.perf_counter() - start
    finally:
        handle.remove()
    name = output_field(out)
    if name is None or out[name] is None:
        raise NbragError(f"keeps no KV cache that transformers exposes: {type(net).__name__}.generate returned none "
                         f"(fields: {', '.join(out.keys())}).", option="model", value=loaded.name)
    cache = out[name]
    new_ids = out["sequences"][0, enc.ids.shape[1]:].tolist()
    positions = len(enc) + len(new_ids) - 1
    notes = list(loaded.notes)
    if cache.get_seq_length() != positions:
        notes.append(f"The cache reports {cache.get_seq_length()} positions; counting gives {positions}.")
    layers = layer_caches(cache, geometry, positions, loaded.name)
    total = sum(layer.bytes for layer in layers)
    formula_bytes = geometry.bytes(positions)
    if total != formula_bytes:
        notes.append(f"Measured {total:,} bytes, the formula says {formula_bytes:,}: this cache is laid out in a way "
                     "the formula does not describe (see the per-layer shapes).")
    if geometry.latent:
        notes.append("Multi-head latent attention: the cache holds one compressed latent and one rotary key per "
                     f"token, shared by all {geometry.query_heads} heads; keys and values are rebuilt from them.")
    return CacheReport(prompt=prompt, model=loaded.name, prompt_tokens=len(enc), new_tokens=len(new_ids),
                       tokens=positions, layers=layers, total_bytes=total, formula_bytes=formula_bytes,
                       formula=geometry.formula(positions), geometry=geometry, growth=growth,
                       savings=savings(geometry, positions, len(enc), total, window), cache_class=type(cache).__name__,
                       output_field=field_name[0] if field_name else name,
                       generated=loaded.tokenizer.decode(new_ids, skip_special_tokens=True), output_ids=new_ids,
                       seconds=seconds, notes=notes)


def speed(prompt: str, model: Any = None, lengths: Sequence[int] = (16, 32), *, tokenizer: Any = None,
          max_tokens: int = 4096) -> SpeedReport:
    """Time greedy generation of each number of ``lengths`` new tokens with the cache and without it.

    Without the cache every step runs the model over the whole sequence again. Each timing
    includes the prompt's forward pass; one short untimed run warms the model up first. One
    run per setting: on a shared machine the numbers are noisy.
    """
    import torch

    if isinstance(lengths, str) or not isinstance(lengths, Iterable):
        raise NbragTypeError("give a list of numbers of new tokens, e.g. [16, 32].", option="lengths", value=lengths)
    lengths = list(lengths)
    if not lengths or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in lengths):
        raise NbragError("give one or more numbers of new tokens, each at least 1.", option="lengths",
                         value=tuple(lengths))
    loaded = load(model, tokenizer)
    net, tok = loaded.model, loaded.tokenizer
    check_generates(loaded)
    enc = encode(tok, prompt, max_tokens=max_tokens, what="prompt")
    _generate(net, tok, enc.ids, 2, use_cache=True)  # warm-up: first calls pay for allocations
    rows = []
    for n in lengths:
        timed = {}
        for use_cache in (True, False):
            start = time.perf_counter()
            out = _generate(net, tok, enc.ids, int(n), use_cache=use_cache)
            timed[use_cache] = (time.perf_counter() - start, out["sequences"][0].tolist())
        rows.append(SpeedRow(new_tokens=int(n), cached_seconds=timed[True][0], uncached_seconds=timed[False][0],
                             same_tokens=timed[True][1] == timed[False][1]))
    return SpeedReport(prompt=prompt, model=loaded.name, prompt_tokens=len(enc), rows=rows,
                       device=str(device_of(net)), threads=torch.get_num_threads(), notes=list(loaded.notes))


def check_generates(model: Any) -> None:
    """An :class:`NbragError` unless ``model`` (a model, or what :func:`~nbrag.inspectors.base.load` gives) is a
    language model that generates text, and so builds a KV cache."""
    net, name = (model.model, model.name) if isinstance(model, Loaded) else (model, model_name(model))
    can = getattr(net, "can_generate", None)
    if not callable(can) or not can():
        raise NbragError(f"does not generate text, so it builds no KV cache ({type(net).__name__} reads the whole "
                         "text at once). Give a causal language model, such as tiny:llama, or none for the configured "
                         "generator.", option="model", value=name)


def _generate(model: Any, tokenizer: Any, ids: Any, new_tokens: int, use_cache: bool) -> Any:
    ids = ids.to(device_of(model))
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(tokenizer, "eos_token_id", None)
    with evaluating(model):
        return model.generate(input_ids=ids, attention_mask=ids.new_ones(ids.shape), max_new_tokens=new_tokens,
                              min_new_tokens=new_tokens, do_sample=False, use_cache=use_cache,
                              return_dict_in_generate=True, pad_token_id=pad)


def output_field(output: Any) -> str | None:
    """The name under which a model or generate output holds its cache: ``cache`` (5.x) or ``past_key_values``."""
    keys = output.keys() if hasattr(output, "keys") else ()
    for name in ("cache", "past_key_values"):  # membership, not getattr: 5.x warns on the old attribute
        if name in keys:
            return name
    return None


def cache_layers(cache: Any) -> list[Any]:
    if hasattr(cache, "self_attention_cache"):  # encoder-decoder: the decoder's own cache
        cache = cache.self_attention_cache
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise NbragError(f"{type(cache).__name__} has no per-layer tensors (.layers): upgrade transformers (its "
                         "caches have them from 4.56).")
    return list(layers)


def _nbytes(value: Any) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, tuple | list):
        return sum(_nbytes(v) for v in value)
    return 0


def _stored(layer: Any) -> list[Any]:
    """Every tensor a cache layer holds: keys, values, and the quantized states of a quantized layer."""
    return [getattr(layer, name, None) for name in ("keys", "values", "_quantized_keys", "_quantized_values")]


def cache_bytes(cache: Any) -> int:
    """Bytes of every tensor the cache holds (quantized states and their scales included)."""
    return sum(_nbytes(_stored(layer)) for layer in cache_layers(cache))


def layer_caches(cache: Any, geometry: Geometry, positions: int, name: str = "") -> list[LayerCache]:
    rows = []
    for i, layer in enumerate(cache_layers(cache)):
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if keys is None or values is None:
            raise NbragError(f"layer {i} of its cache ({type(layer).__name__}) holds no keys and values (a recurrent "
                             "or linear-attention state); this inspector measures attention caches only.",
                             option="model", value=name or type(cache).__name__)
        kind = "latent" if geometry.latent else ("sliding" if getattr(layer, "is_sliding", False) else "full")
        rows.append(LayerCache(layer=i, kind=kind, key_shape=tuple(keys.shape), value_shape=tuple(values.shape),
                               dtype=str(keys.dtype).removeprefix("torch."), tokens=int(keys.shape[-2]),
                               bytes=_nbytes(_stored(layer)), formula_bytes=geometry.layer_bytes(i, positions)))
    return rows


def savings(geometry: Geometry, tokens: int, prompt_tokens: int, measured: int,
            window: int | None = None) -> list[Saving]:
    """What other caches would hold at ``tokens`` positions, from the formula (payloads; see each ``how``)."""
    from transformers import cache_utils
    from transformers.utils import is_hqq_available, is_optimum_quanto_available

    full = geometry.unbounded_bytes(tokens)
    elements = measured // geometry.bytes_per_element  # what the cache holds now (a sliding window bounds it)
    rows = []
    only_full = not geometry.sliding_layers
    if geometry.bytes_per_element == 4:
        rows.append(Saving("16-bit (bfloat16 or float16) cache", measured // 2, measured - measured // 2, True,
                           "load the model in bfloat16 (nbrag.configure(dtype='bfloat16')): the cache takes the "
                           "model's dtype"))
    fp8 = elements + 2 * geometry.num_layers * 4  # one byte per value, one float32 scale per K and V per layer
    fp8_ready = hasattr(cache_utils, "Fp8QuantizedLayer") and only_full
    rows.append(Saving("fp8 quantized cache", fp8, measured - fp8, fp8_ready,
                       "generate(..., cache_implementation='quantized', cache_config={'backend': 'fp8'}): one byte "
                       "per value and a float32 scale per tensor" if fp8_ready else
                       ("transformers' QuantizedCache takes full-attention layers only" if not only_full else
                        f"the installed transformers {_version()} has no fp8 cache backend")))
    backend = "quanto" if is_optimum_quanto_available() else "hqq" if is_hqq_available() else None
    residual = (tokens - prompt_tokens) % RESIDUAL_LENGTH  # tokens since the last re-quantization
    per_token = geometry.unbounded_bytes(1)
    for bits in (4, 2):
        if only_full:
            size = (tokens - residual) * per_token * bits // (8 * geometry.bytes_per_element) + residual * per_token
            why = (f"cache_config={{'backend': '{backend}', 'nbits': {bits}}}" if backend else
                   "neither optimum-quanto nor hqq is installed (pip install optimum-quanto), so transformers "
                   "cannot build this cache here")
            how = (f"{why}; {residual} recent tokens stay at full precision (transformers re-quantizes every "
                   f"{RESIDUAL_LENGTH}); group scales and zero-points not counted")
        else:
            size = measured * bits // (8 * geometry.bytes_per_element)
            how = ("transformers' QuantizedCache takes full-attention layers only: this is what the window's "
                   f"tokens would take at {bits} bits, scales not counted")
        rows.append(Saving(f"int{bits} quantized cache", size, measured - size, backend is not None and only_full,
                           how))
    size = window or geometry.sliding_window
    if size:
        bounded = geometry.num_layers * geometry.kv_heads * (geometry.key_dim + geometry.value_dim) * \
            min(tokens, size - 1) * geometry.bytes_per_element
        in_use = geometry.sliding_layers == geometry.num_layers and size == geometry.sliding_window
        how = ("in use: every layer keeps the last " if in_use else "if every layer kept only the last ") + \
            f"{size - 1} tokens; without it: {full:,} bytes"
        if tokens < size:
            how += f" (the {tokens} positions fit in the window: nothing saved yet)"
        rows.append(Saving(f"sliding window of {size}", bounded, (full if in_use else measured) - bounded, True, how))
    return rows


def _version() -> str:
    import transformers

    return transformers.__version__
