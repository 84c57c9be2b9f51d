"""Fusion: one ranking from several retrievers' ranked candidates.

* ``rrf``: reciprocal rank fusion, ``score = Σ w_r / (rrf_k + rank_r)`` over the retrievers
  that returned the item (Cormack et al., 2009; :func:`fuse` takes ``rrf_k`` 60, the paper's, when given none);
* ``minmax``: each retriever's scores scaled to [0, 1] over its candidates, then a weighted sum;
* ``zscore``: each retriever's scores standardised (mean 0, standard deviation 1), then a weighted sum.

An item a retriever did not return counts as that retriever's lowest candidate (0 after
min-max, the lowest z-score), so one strong retriever can still carry it; where a retriever's
candidates all score alike (one candidate, say), they count 1 after min-max and 0 as z-scores, and
an item it did not return 0 and -1. Weights are
normalised to sum to 1. :func:`contributions` splits a fused score into each retriever's part.

:data:`DEFAULTS` is what ``Index.search`` fuses with when it is given no ``fusion``, ``weights``
or ``rrf_k``, per set of retrievers, as measured by ``bench/run.py --only fusion`` on the HotpotQA
and MuSiQue sets (the benchmarks page, "Fusion"): hybrid (BM25 and dense) by min-max with BM25
weighted 0.3 and dense 0.7; hybrid+graph by RRF with ``rrf_k`` 5 and the graph weighted 0.5,
dense 0.3, BM25 0.2 (there, no weighting of min-max or z-score beat the graph's PageRank alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from nbrag.errors import NbragError, NbragTypeError, number, whole_number

Ranked = list[tuple[str, float]]  # (id, score), best first
FUSIONS: dict[str, Callable[..., dict[str, float]]] = {}
RRF_K = 60  # rrf's constant when fuse() is given none (the RRF paper's)


@dataclass(frozen=True)
class Default:
    """How ``Index.search`` fuses a set of retrievers when it is given no fusion, weights or rrf_k."""

    fusion: str
    weights: dict[str, float]
    rrf_k: int


# Chosen by bench/fusion.py on the HotpotQA and MuSiQue sets: the option best on average over both, never the
# worst on either (nDCG@10 for hybrid, R@10 for hybrid+graph). The magics and the views read them too.
DEFAULTS: dict[frozenset[str], Default] = {
    frozenset({"bm25", "dense"}): Default("minmax", {"bm25": 0.3, "dense": 0.7}, 5),
    frozenset({"bm25", "dense", "graph"}): Default("rrf", {"bm25": 0.2, "dense": 0.3, "graph": 0.5}, 5),
}
HYBRID = DEFAULTS[frozenset({"bm25", "dense"})]


def default(retrievers: Iterable[str]) -> Default:
    """How these retrievers are fused when nothing is given: :data:`DEFAULTS`' entry for them; for another set,
    RRF with equal weights and the hybrid's ``rrf_k``."""
    names = list(retrievers)
    known = DEFAULTS.get(frozenset(names))
    if known is not None:
        return known
    return Default("rrf", dict.fromkeys(names, 1 / max(1, len(names))), HYBRID.rrf_k)


def settle(retrievers: Iterable[str], fusion: str | None = None, weights: Mapping[str, float] | None = None,
           rrf_k: int | None = None) -> Default:
    """What these retrievers are fused with, given what was asked (None: not asked): the default's fusion and
    ``rrf_k``; its weights where the fusion is the default's, else equal weights (the weights were measured for
    the default's fusion alone)."""
    names = list(retrievers)
    chosen = default(names)
    how = fusion or chosen.fusion
    if not weights:
        weights = chosen.weights if how == chosen.fusion else dict.fromkeys(names, 1 / max(1, len(names)))
    return Default(how, dict(weights), chosen.rrf_k if rrf_k is None else rrf_k)


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
    return whole_number(rrf_k, "rrf_k", 0, f" ({HYBRID.rrf_k} by default; the RRF paper used 60)")


@fusion("rrf")
def rrf(candidates: Mapping[str, Ranked], weights: Mapping[str, float], rrf_k: int = RRF_K) -> dict[str, float]:
    check_rrf_k(rrf_k)
    fused: dict[str, float] = {}
    for name, ranked in candidates.items():
        for rank, (item, _) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weights[name] / (rrf_k + rank)
    return fused


def _weighted(candidates: Mapping[str, Ranked], weights: Mapping[str, float],
              scale: Callable[[list[float]], tuple[Callable[[float], float], float]]) -> dict[str, float]:
    """The weighted sum of each retriever's scaled scores; ``scale(values)`` gives the scaling of one retriever's
    scores and what an item it did not return counts."""
    items = {item for ranked in candidates.values() for item, _ in ranked}
    fused = dict.fromkeys(items, 0.0)
    for name, ranked in candidates.items():
        if not ranked:
            continue
        f, floor = scale([score for _, score in ranked])
        scores = dict(ranked)
        for item in items:
            fused[item] += weights[name] * (f(scores[item]) if item in scores else floor)
    return fused


@fusion("minmax")
def minmax(candidates: Mapping[str, Ranked], weights: Mapping[str, float], **_: object) -> dict[str, float]:
    def scale(values: list[float]) -> tuple[Callable[[float], float], float]:
        low, high = min(values), max(values)
        if high > low:
            return (lambda v: (v - low) / (high - low)), 0.0
        return (lambda v: 1.0), 0.0  # one candidate, or all tied: each counts fully, an item not returned 0

    return _weighted(candidates, weights, scale)


@fusion("zscore")
def zscore(candidates: Mapping[str, Ranked], weights: Mapping[str, float], **_: object) -> dict[str, float]:
    def scale(values: list[float]) -> tuple[Callable[[float], float], float]:
        mean = math.fsum(values) / len(values)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))  # pstdev, in floats
        if sd > 0:
            return (lambda v: (v - mean) / sd), (min(values) - mean) / sd
        return (lambda v: 0.0), -1.0  # one candidate, or all tied: an item not returned counts one unit below

    return _weighted(candidates, weights, scale)


def check_fusion(how: str) -> str:
    if how not in FUSIONS:
        raise NbragError(f"choose one of {', '.join(FUSIONS)}.", option="fusion", value=how)
    return how


def fuse(candidates: Mapping[str, Ranked], how: str, weights: Mapping[str, float], rrf_k: int = RRF_K) -> Ranked:
    """The fused ranking, best first (ties broken by id, so results repeat)."""
    scores = FUSIONS[check_fusion(how)](candidates, check_weights(weights, list(candidates)), rrf_k=rrf_k)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def contributions(candidates: Mapping[str, Ranked], how: str, weights: Mapping[str, float],
                  rrf_k: int = RRF_K) -> dict[str, dict[str, float]]:
    """Per item, each retriever's part of its fused score: the parts sum to what :func:`fuse` gives it.

    RRF: ``w / (rrf_k + rank)``, 0 where the retriever did not return the item; min-max and
    z-score: the weight times the scaled score, the retriever's lowest part where it did not.
    """
    fusion = FUSIONS[check_fusion(how)]
    weights = check_weights(weights, list(candidates))
    items = {item for ranked in candidates.values() for item, _ in ranked}
    parts: dict[str, dict[str, float]] = {item: {} for item in items}
    for name in candidates:  # every fusion is a weighted sum over the retrievers: one weight at a time is one part
        mine = fusion(candidates, {n: weights[name] if n == name else 0.0 for n in candidates}, rrf_k=rrf_k)
        for item in items:
            parts[item][name] = mine.get(item, 0.0)
    return parts
