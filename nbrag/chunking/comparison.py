"""Run several chunkers on the same text and set their results side by side."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import Any

from nbrag.chunking.base import ChunkResult, get_chunker


def options_for(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """The shared options a chunker takes; ``size`` becomes ``max_size`` where a chunker has no ``size``."""
    fields = {f.name for f in dataclasses.fields(get_chunker(method).Config)}
    chosen = {k: v for k, v in options.items() if k in fields}
    if "size" in options and "size" not in fields and "max_size" in fields and "max_size" not in options:
        chosen["max_size"] = options["size"]
    return chosen


@dataclass
class Comparison:
    """The results of several chunkers on one text, in the order they were asked for."""

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
        return f"Comparison({len(self.source)} chars; chunks {parts})"

    def view(self):
        from nbrag.views.chunk_comparison import CompareView

        return CompareView.of(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.view()._repr_mimebundle_(include=include, exclude=exclude)


def compare(text: str, methods: list[str], **options: Any) -> Comparison:
    """``nbrag.chunking.comparison(text, ["fixed", "recursive"], size=64)``: each chunker takes the options it has."""
    from nbrag.chunking import chunk

    if not methods:
        raise ValueError("compare() needs at least one chunker, e.g. methods=['fixed', 'recursive'].")
    for method in methods:
        get_chunker(method)  # unknown names fail before any work
    return Comparison(source=text, results={m: chunk(text, method=m, **options_for(m, options)) for m in methods})
