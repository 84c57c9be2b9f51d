"""Chunkers, one strategy per file, behind a registry (``get_chunker``, ``available``)."""

from __future__ import annotations

from typing import Any

from nbrag.chunking import fixed, llm, recursive, semantic, structure  # noqa: F401  (register the strategies)
from nbrag.chunking.base import Chunk, Chunker, ChunkResult, available, check_offsets, chunker, get_chunker
from nbrag.chunking.comparison import Comparison, compare

__all__ = ["Chunk", "ChunkResult", "Chunker", "Comparison", "available", "chunk", "chunker", "compare", "get_chunker"]


def chunk(text: str, method: str = "fixed", **options: Any) -> ChunkResult:
    """Split ``text`` into chunks with a registered strategy.

    ``nbrag.chunk(text, method="fixed", size=64, overlap=8)`` gives token windows
    of the default tokenizer; every chunk carries exact character offsets.
    Options not given take the session settings (``nbrag.settings``).
    """
    if not isinstance(text, str):
        raise TypeError(f"chunk() needs a str, got {type(text).__name__}; read files first or pass their text.")
    cls = get_chunker(method)
    try:
        config = cls.Config(**options)
    except TypeError as error:
        import dataclasses

        known = ", ".join(f.name for f in dataclasses.fields(cls.Config))
        raise TypeError(f"{error}. The {cls.name} chunker takes: {known}.") from None
    result = cls(config).split(text)
    check_offsets(text, result.chunks)
    result.options = dict(options)
    return result
