"""Run one query in several modes and set the rankings side by side.

``compare(index, query, ["bm25", "dense", "hybrid"], k=5)`` searches once per mode with the
same options; ``moves()`` says, for each hit of a later mode, how far it moved against the
first mode's ranking (up, down, or new to the list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nbrag.display import Shown
from nbrag.errors import NbragError
from nbrag.retrieval.base import MODES, RetrievalResult


@dataclass
class RetrievalComparison(Shown):
    """The results of one query in several modes, in the order they were asked for (shown side by side)."""

    query: str
    results: dict[str, RetrievalResult]

    @property
    def modes(self) -> list[str]:
        return list(self.results)

    def moves(self) -> dict[str, list[int | None]]:
        """Per mode, per hit: ranks gained against the first mode (positive: moved up), ``None`` if it was not
        among the first mode's hits. The first mode's own list is all zeros."""
        first = {hit.id: hit.rank for hit in next(iter(self.results.values()))}
        return {mode: [first[hit.id] - hit.rank if hit.id in first else None for hit in result]
                for mode, result in self.results.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "moves": self.moves(),
                "results": {mode: result.to_dict() for mode, result in self.results.items()}}

    def __repr__(self) -> str:
        tops = ", ".join(f"{mode}: {result[0].id if len(result) else '-'}" for mode, result in self.results.items())
        return f"RetrievalComparison({self.query[:40]!r}; top hits {tops})"


def compare(index: Any, query: str, modes: Sequence[str] = ("bm25", "dense", "hybrid"), k: int | None = None, *,
            generator: Any = None, **options: Any) -> RetrievalComparison:
    """Search ``index`` for ``query`` in each of ``modes`` with the same ``k`` and options (``fusion``,
    ``weights``, ``rrf_k``, ``hyde``, ``rerank``, ``graph``: see ``Index.search``). ``generator`` (anything
    :func:`nbrag.llm.resolve` takes) writes HyDE's answer and reranks with ``rerank=True``; it is loaded once
    for every mode."""
    modes = list(modes)
    if not modes:
        raise NbragError(f"no mode to compare: name at least one, e.g. {list(MODES[:3])}.", option="modes",
                         value=modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise NbragError(f"{unknown[0]!r} is not a mode: choose from {', '.join(MODES)}.", option="modes",
                         value=modes)
    twice = sorted({m for m in modes if modes.count(m) > 1})
    if twice:
        raise NbragError(f"{twice[0]!r} is named twice: name each mode once.", option="modes", value=modes)
    if options.get("hyde") or options.get("rerank") is True:
        from nbrag.llm import resolve

        generator = resolve(generator)
    return RetrievalComparison(query=query, results={m: index.search(query, k, mode=m, generator=generator, **options)
                                                     for m in modes})
