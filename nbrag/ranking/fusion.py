"""Fusion: one ranking from several retrievers' ranked candidates.

* ``rrf``: reciprocal rank fusion, ``score = Σ w_r / (rrf_k + rank_r)`` over the retrievers
  that returned the item (Cormack et al., 2009; ``rrf_k`` 60 by default);
* ``minmax``: each retriever's scores scaled to [0, 1] over its candidates, then a weighted sum;
* ``zscore``: each retriever's scores standardised (mean 0, standard deviation 1), then a weighted sum.

An item a retriever did not return counts as that retriever's lowest candidate (0 after
min-max, the lowest z-score), so one strong retriever can still carry it. Weights are
normalised to sum to 1. :func:`contributions` splits a fused score into each retriever's part.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping

from nbrag.errors import NbragError, NbragTypeError, number, whole_number

Ranked = list[tuple[str, float]]  # (id, score), best first
FUSIONS: dict[str, Callable[..., dict[str, float]]] = {}


def fusion(name: str) -> Callable[[Callable[..., dict[str, float]]], Callable[..., dict[str, float]]]:
    def register(fn: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        FUSIONS[name] = fn
        return fn

    return register


def check_weights(weights: Mapping[str, float], retrievers: list[str]) -> dict[str, float]:
    """Weights for ``retrievers`` that are non-negative and sum to 1 (missing ones count 0)."""
    example = "{'bm25': 0.3, 'dense': 0.7}"
    if not isinstance(weights, Mapping):
        raise NbragTypeError(f"give a dict of a weight per retriever, e.g. {example}.", option="weights",
                             value=weights)
    unknown = sorted(set(weights) - set(retrievers))
    if unknown:
        raise NbragError(f"{', '.join(unknown)} {'is not a retriever' if len(unknown) == 1 else 'are not retrievers'} "
                         f"here: weigh {', '.join(retrievers)}.", option="weights", value=dict(weights))
    try:  # each a finite number of at least 0 (nbrag.errors.number); the message names the whole dict
        chosen = {r: number(weights.get(r, 0.0), "weights", least=0) for r in retrievers}
    except NbragError:
        chosen = {}
    if not chosen or sum(chosen.values()) <= 0:
        raise NbragError(f"give numbers of at least 0 with a positive sum, e.g. {example}.", option="weights",
                         value=dict(weights))
    total = sum(chosen.values())
    return {r: w / total for r, w in chosen.items()}


def check_rrf_k(rrf_k: int) -> int:
    return whole_number(rrf_k, "rrf_k", 0, " (60 is usual)")


@fusion("rrf")
def rrf(candidates: Mapping[str, Ranked], weights: Mapping[str, float], rrf_k: int = 60) -> dict[str, float]:
    check_rrf_k(rrf_k)
    fused: dict[str, float] = {}
    for name, ranked in candidates.items():
        for rank, (item, _) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weights[name] / (rrf_k + rank)
    return fused


def _weighted(candidates: Mapping[str, Ranked], weights: Mapping[str, float],
              scale: Callable[[list[float]], Callable[[float], float]]) -> dict[str, float]:
    items = {item for ranked in candidates.values() for item, _ in ranked}
    fused = dict.fromkeys(items, 0.0)
    for name, ranked in candidates.items():
        if not ranked:
            continue
        values = [score for _, score in ranked]
        f = scale(values)
        scores = dict(ranked)
        floor = f(min(values))
        for item in items:
            fused[item] += weights[name] * (f(scores[item]) if item in scores else floor)
    return fused


@fusion("minmax")
def minmax(candidates: Mapping[str, Ranked], weights: Mapping[str, float], **_: object) -> dict[str, float]:
    def scale(values: list[float]) -> Callable[[float], float]:
        low, high = min(values), max(values)
        return (lambda v: (v - low) / (high - low)) if high > low else (lambda v: 1.0)

    return _weighted(candidates, weights, scale)


@fusion("zscore")
def zscore(candidates: Mapping[str, Ranked], weights: Mapping[str, float], **_: object) -> dict[str, float]:
    def scale(values: list[float]) -> Callable[[float], float]:
        mean = statistics.fmean(values)
        sd = statistics.pstdev(values)
        return (lambda v: (v - mean) / sd) if sd > 0 else (lambda v: 0.0)

    return _weighted(candidates, weights, scale)


def check_fusion(how: str) -> str:
    if how not in FUSIONS:
        raise NbragError(f"choose one of {', '.join(FUSIONS)}.", option="fusion", value=how)
    return how


def fuse(candidates: Mapping[str, Ranked], how: str, weights: Mapping[str, float], rrf_k: int = 60) -> Ranked:
    """The fused ranking, best first (ties broken by id, so results repeat)."""
    scores = FUSIONS[check_fusion(how)](candidates, check_weights(weights, list(candidates)), rrf_k=rrf_k)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def contributions(candidates: Mapping[str, Ranked], how: str, weights: Mapping[str, float],
                  rrf_k: int = 60) -> dict[str, dict[str, float]]:
    """Per item, each retriever's part of its fused score: the parts sum to what :func:`fuse` gives it.

    RRF: ``w / (rrf_k + rank)``, 0 where the retriever did not return the item; min-max and
    z-score: the weight times the scaled score, the retriever's lowest part where it did not.
    """
    fusion = FUSIONS[check_fusion(how)]
    weights = check_weights(weights, list(candidates))
    items = {item for ranked in candidates.values() for item, _ in ranked}
    parts: dict[str, dict[str, float]] = {item: {} for item in items}
    for name, ranked in candidates.items():
        mine = fusion({name: ranked}, {name: weights[name]}, rrf_k=rrf_k) if ranked else {}
        absent = 0.0 if how == "rrf" or not mine else min(mine.values())
        for item in items:
            parts[item][name] = mine.get(item, absent)
    return parts
