"""Chunkers, one strategy per file, behind a registry (``get_chunker``, ``available``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from nbrag.chunking import fixed, llm, recursive, semantic, structure  # noqa: F401  (register the strategies)
from nbrag.chunking.base import Chunk, Chunker, ChunkResult, available, check_offsets, chunker, get_chunker
from nbrag.chunking.comparison import ChunkComparison, compare
from nbrag.errors import NbragTypeError, renamed

__all__ = ["Chunk", "ChunkComparison", "ChunkResult", "Chunker", "available", "chunk", "chunker", "compare",
           "get_chunker"]


def chunk(text: str, method: str = "fixed", **options: Any) -> ChunkResult:
    """Split ``text`` into chunks with a registered strategy.

    ``nbrag.chunk(text, method="fixed", size=64, overlap=8)`` gives token windows
    of the default tokenizer; every chunk carries exact character offsets.
    Options not given take the session settings (``nbrag.settings``).
    """
    if not isinstance(text, str):
        raise NbragTypeError(f"needs a str, got {type(text).__name__}; read files first or pass their text.",
                             option="text")
    cls = get_chunker(method)
    known = [f.name for f in dataclasses.fields(cls.Config)]
    for name, value in options.items():
        if name not in known:
            raise NbragTypeError(f"not an option of the {cls.name} chunker, which takes {', '.join(known)}.",
                                 option=name, value=value)
    result = cls(cls.Config(**options)).split(text)
    check_offsets(text, result.chunks)
    result.options = dict(options)
    return result


def __getattr__(name: str) -> Any:
    if name == "Comparison":  # the old name, for one more release
        renamed("nbrag.chunking.Comparison", "nbrag.chunking.ChunkComparison")
        return ChunkComparison
    raise AttributeError(f"module 'nbrag.chunking' has no attribute {name!r}")
