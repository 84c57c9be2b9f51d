"""Chunkers, one strategy per file, behind a registry (``get_chunker``, ``available``)."""

from __future__ import annotations

from typing import Any

from nbrag.chunking import fixed  # noqa: F401  (registers the strategy)
from nbrag.chunking.base import Chunk, Chunker, ChunkResult, available, check_offsets, chunker, get_chunker
from nbrag.config import settings

__all__ = ["Chunk", "ChunkResult", "Chunker", "available", "chunk", "chunker", "get_chunker"]


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
    result.warnings.extend(_length_warnings(result))
    return result


def _length_warnings(result: ChunkResult) -> list[str]:
    """Say which chunks the embedder would truncate."""
    from nbrag import models

    limit = models.embedder_max_tokens()
    if limit is None or not result.chunks:
        return []
    try:
        tok = models.load_tokenizer(settings.embedder)
    except models.ModelUnavailableError as error:
        return [f"Could not check chunk lengths against the embedder: {error}"]
    long = [c.index for c, enc in zip(result.chunks, tok.encode_batch(result.texts, add_special_tokens=True))
            if len(enc.ids) > limit]
    if not long:
        return []
    shown = ", ".join(str(i) for i in long[:10]) + (" …" if len(long) > 10 else "")
    return [f"{len(long)} chunk(s) exceed the {limit} tokens that {settings.embedder} embeds and would be "
            f"truncated when embedded: {shown}."]
