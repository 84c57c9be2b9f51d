"""Run several chunkers on the same text and set their results side by side."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import Any

from nbrag.chunking.base import ChunkResult, get_chunker
from nbrag.display import Shown
from nbrag.errors import NbragError


def options_for(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The shared options a chunker takes (``context=`` and its options go to every chunker); ``size`` becomes
    ``max_size`` where a chunker has no ``size``."""
    from nbrag.chunking.context import OPTIONS

    fields = {f.name for f in dataclasses.fields(get_chunker(method).Config)} | set(OPTIONS)
    chosen = {k: v for k, v in options.items() if k in fields}
    if "size" in options and "size" not in fields and "max_size" in fields and "max_size" not in options:
        chosen["max_size"] = options["size"]
    return chosen


@dataclass
class ChunkComparison(Shown):
    """The results of several chunkers on one text, in the order they were asked for; ``view()`` (and the
    notebook) draws one bar per chunker, boundaries aligned by character."""

    source: str
    results: dict[str, ChunkResult]

    def stats(self) -> list[dict[str, Any]]:
        rows = []
        for method, result in self.results.items():
            tokens = [c.tokens for c in result] or [0]
            rows.append({"method": method, "chunks": len(result), "mean_tokens": round(statistics.mean(tokens), 1),
                         "min_tokens": min(tokens), "max_tokens": max(tokens),
                         "covered_chars": len({i for c in result for i in range(c.start, c.end)}),
                         "warnings": len(result.warnings)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats(), "results": {m: r.to_dict() for m, r in self.results.items()}}

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}: {len(r)}" for m, r in self.results.items())
        return f"ChunkComparison({len(self.source)} chars; chunks {parts})"


def compare(text: str, methods: list[str], **options: Any) -> ChunkComparison:
    """``nbrag.chunking.compare(text, ["fixed", "recursive"], size=64)``: each chunker takes the options it has."""
    from nbrag.chunking import chunk

    if isinstance(methods, str) or not methods:
        raise NbragError("give a list of one or more chunkers, e.g. methods=['fixed', 'recursive'].",
                         option="methods", value=methods)
    for method in methods:
        get_chunker(method, option="methods")  # unknown names fail before any work
    return ChunkComparison(source=text,
                           results={m: chunk(text, method=m, **options_for(m, options)) for m in methods})
