"""Attention: the weights of every layer and head over one text, and what each head does with them.

``attention(text)`` runs the model once with ``output_attentions=True`` and keeps the weights
as a float32 array ``[layers, heads, tokens, tokens]`` (row i: how query token i spreads its
attention over the tokens; each row sums to 1, except in models with learned attention sinks
such as GPT-OSS, where a per-head sink logit takes the rest). SDPA and flash attention never form the
weight matrix, so a model that uses them is switched to the eager implementation for the
call and switched back after; the result's ``notes`` say so.

Per head, averaged over query positions:

* ``entropy``: ``-Σ_j a_ij ln a_ij`` in nats (0: the query looks at one token; ln n: evenly at
  n tokens). In a causal model query i sees i + 1 tokens, so early rows are low by construction;
* ``distance``: ``Σ_j a_ij |i - j|``, how many tokens back (or away) the head looks on average;
* ``sink``: the share of attention on the first token, over queries 1..n-1 (query 0 can only
  see itself in a causal model). Trained models park much of their attention there
  (Xiao et al., 2023, "attention sinks").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbrag.display import Shown
from nbrag.errors import NbragError, NbragTypeError
from nbrag.inspectors.base import (
    NoAttentionWeightsError,
    check_index,
    device_of,
    encode,
    evaluating,
    jsonable,
    load,
    text_config,
)

METRICS = ("entropy", "distance", "sink")


@dataclass
class AttentionMap(Shown):
    """Attention weights of one text: ``weights[l, h, i, j]`` for the kept layers ``layers[l]``.

    In a notebook it shows its view: layer and head pickers, the token × token heatmap, the text
    shaded on hover, and head summaries (``view(layer=, head=, metric=, window=)`` sets where it opens)."""

    text: str
    model: str
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span of each token in ``text``; (0, 0) for special tokens
    weights: np.ndarray  # float32 [layers, heads, tokens, tokens]
    layers: list[int]  # the model's layer number of each row of ``weights``
    num_layers: int  # how many layers the model has
    entropy: np.ndarray  # [layers, heads], nats, mean over query positions
    distance: np.ndarray  # [layers, heads], tokens, mean over query positions
    sink: np.ndarray  # [layers, heads], share of attention on the first token, mean over queries 1..n-1
    causal: bool  # no query attends to a later token (measured on the weights)
    implementation: str  # the attention implementation that produced the weights (eager)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def num_heads(self) -> int:
        return int(self.weights.shape[1])

    @property
    def num_tokens(self) -> int:
        return int(self.weights.shape[2])

    def layer(self, layer: int) -> np.ndarray:
        """The weights of one model layer, ``[heads, tokens, tokens]``."""
        return self.weights[self._row(layer)]

    def head(self, layer: int, head: int) -> np.ndarray:
        """The weights of one head, ``[tokens, tokens]``; layer and head numbers as the model counts them."""
        row = self._row(layer)
        return self.weights[row, check_index(head, self.num_heads, "heads per layer", option="head")]

    def mean(self, over: str = "heads") -> np.ndarray:
        """Weights averaged over ``heads`` ([layers, t, t]), ``layers`` ([heads, t, t]) or ``all`` ([t, t])."""
        axes = {"heads": 1, "layers": 0, "all": (0, 1)}
        return self.weights.mean(axis=axes[_over(over, axes)])

    def summary(self, over: str = "heads") -> dict[str, Any]:
        """Each head metric averaged over ``heads`` (one value per kept layer), ``layers`` (per head) or ``all``."""
        axes = {"heads": 1, "layers": 0, "all": None}
        if _over(over, axes) == "all":
            return {m: float(getattr(self, m).mean()) for m in METRICS}
        return {m: getattr(self, m).mean(axis=axes[over]) for m in METRICS}

    def to_dict(self, weights: bool = True) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ("text", "model", "tokens", "offsets", "layers", "num_layers",
                                                       "entropy", "distance", "sink", "causal", "implementation",
                                                       "notes", "params")}
        if weights:
            data["weights"] = self.weights
        return jsonable(data)

    def __repr__(self) -> str:
        kept = "" if len(self.layers) == self.num_layers else f" (of {self.num_layers})"
        return (f"AttentionMap({self.model}: {len(self.layers)} layers{kept} × {self.num_heads} heads × "
                f"{self.num_tokens} tokens, mean entropy {self.entropy.mean():.2f} nats, "
                f"sink {self.sink.mean():.2f})")

    def uniform_entropy(self) -> float:
        """The entropy (nats, mean over queries) of a head that spreads its attention evenly over what each query
        sees: ln n for every query of a bidirectional model, ln(i + 1) for query i of a causal one."""
        n = self.num_tokens
        return float(np.log(np.arange(1, n + 1)).mean()) if self.causal else math.log(n)

    def _row(self, layer: int) -> int:
        number = check_index(layer, self.num_layers, "layers", option="layer")
        if number not in self.layers:
            raise NbragError(f"not kept: this map holds layers {self.layers}; run attention(..., layers=None) to "
                             "keep them all.", option="layer", value=layer)
        return self.layers.index(number)


def _over(over: str, axes: dict[str, Any]) -> str:
    if over not in axes:
        raise NbragError(f"use one of {', '.join(axes)}.", option="over", value=over)
    return over


def attention(text: str, model: Any = None, *, tokenizer: Any = None, layers: Sequence[int] | None = None,
              max_tokens: int = 512) -> AttentionMap:
    """The attention weights of ``model`` over ``text``, per layer and head, with head summaries.

    ``layers`` keeps only those layers (model numbering, negative from the end); ``max_tokens``
    bounds the text, as the weights take ``layers × heads × tokens² × 4`` bytes.
    """
    loaded = load(model, tokenizer)
    net = loaded.model
    enc = encode(loaded.tokenizer, text, max_tokens=max_tokens)
    num_layers = _num_layers(net)
    if layers is not None and (isinstance(layers, str) or not isinstance(layers, Iterable)):
        raise NbragTypeError("give a list of layer numbers (e.g. [0, -1]), or None for all.", option="layers",
                             value=layers)
    kept = list(range(num_layers)) if layers is None else \
        [check_index(i, num_layers, "layers", option="layers") for i in layers]
    if not kept:
        raise NbragError("keeps nothing: give layer numbers, or None for all.", option="layers", value=layers)
    notes = list(loaded.notes)
    with eager_attention(net) as switched, evaluating(net):
        if switched:
            notes.append(switched)
        implementation = str(getattr(net.config, "_attn_implementation", "eager"))
        ids = enc.ids.to(device_of(net))
        out = net(input_ids=ids, attention_mask=ids.new_ones(ids.shape), output_attentions=True)
    found = getattr(out, "attentions", None)
    if not found or any(a is None for a in found):
        raise NoAttentionWeightsError(
            f"{type(net).__name__} returned no attention weights (implementation {implementation!r}). Load it with "
            "attn_implementation='eager' (from_pretrained(..., attn_implementation='eager')) or call "
            "model.set_attn_implementation('eager'); models without an eager path cannot show their weights.",
            option="model", value=loaded.name)
    if len(found) != num_layers:
        notes.append(f"The model returned weights for {len(found)} attention layers; its config says {num_layers}.")
        num_layers = len(found)
        kept = [i for i in kept if i < num_layers]
    weights = np.stack([found[i][0].float().cpu().numpy() for i in kept]).astype(np.float32, copy=False)
    entropy, distance, sink = head_metrics(weights)
    causal = bool(np.all(np.triu(weights, k=1) == 0))
    return AttentionMap(text=text, model=loaded.name, tokens=enc.tokens, offsets=enc.offsets, weights=weights,
                        layers=kept, num_layers=num_layers, entropy=entropy, distance=distance, sink=sink,
                        causal=causal, implementation=implementation, notes=notes,
                        params={"max_tokens": max_tokens, "layers": None if layers is None else list(layers)})


def head_metrics(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entropy (nats), mean distance (tokens) and first-token share per head of ``[layers, heads, t, t]`` weights."""
    n = weights.shape[-1]
    safe = np.where(weights > 0, weights, 1.0)
    entropy = -(weights * np.log(safe)).sum(axis=-1).mean(axis=-1)
    positions = np.arange(n)
    gap = np.abs(positions[:, None] - positions[None, :]).astype(np.float32)
    distance = (weights * gap).sum(axis=-1).mean(axis=-1)
    sink = weights[..., 1:, 0].mean(axis=-1) if n > 1 else weights[..., 0, 0]
    return entropy.astype(np.float32), distance.astype(np.float32), sink.astype(np.float32)


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[str | None]:
    """Switch ``model`` to eager attention for the block, back after; yields a note when it switched."""
    current = getattr(model.config, "_attn_implementation", None)
    if current in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        yield None
        return
    model.set_attn_implementation("eager")
    if getattr(model.config, "_attn_implementation", None) != "eager":
        yield (f"The model uses {current!r} attention and could not be switched to eager; "
               "its weights may be missing.")
        return
    try:
        yield (f"Switched attention from {current!r} to 'eager' for this call ({current} computes no weight "
               "matrix to return), and back after.")
    finally:
        model.set_attn_implementation(current)


def _num_layers(model: Any) -> int:
    return int(text_config(model).num_hidden_layers)
