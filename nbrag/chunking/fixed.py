"""Fixed-size windows of N tokens (or characters) that slide with an overlap of M."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbrag.chunking.base import (
    Chunk,
    Chunker,
    ChunkResult,
    check_size_and_unit,
    chunker,
    size_field,
    tokenizer_field,
    unit_field,
    whole,
)
from nbrag.chunking.text import token_offsets
from nbrag.config import settings
from nbrag.errors import NbragError


@dataclass
class FixedConfig:
    size: int = size_field("Tokens (or characters) per chunk.")
    overlap: int | None = field(default=None, metadata={
        "help": "Tokens (or characters) that neighbouring chunks share; by default the chunk_overlap "
                "setting, or size // 8 where that setting is not below size."})
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()

    def __post_init__(self) -> None:
        check_size_and_unit("size", self.size, self.unit)
        if self.overlap is None:
            self.overlap = settings.chunk_overlap if settings.chunk_overlap < self.size else self.size // 8
        if not whole(self.overlap) or not 0 <= self.overlap < self.size:
            raise NbragError(f"must be a whole number from 0 to {self.size - 1} (smaller than size={self.size}); "
                             "lower the overlap or raise the size.", option="overlap", value=self.overlap)


def windows(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Half-open index windows over ``n`` units; the last one ends at ``n``."""
    step = size - overlap
    spans = []
    start = 0
    while start < n:
        end = min(start + size, n)
        spans.append((start, end))
        if end == n:
            break
        start += step
    return spans


@chunker("fixed", "token")
class FixedChunker(Chunker):
    Config = FixedConfig

    def split(self, text: str) -> ChunkResult:
        cfg: FixedConfig = self.config
        if cfg.unit == "char":
            spans = [(a, b, b - a) for a, b in windows(len(text), cfg.size, cfg.overlap)]
        else:
            from nbrag.models import load_tokenizer

            offsets = [o for o in token_offsets(load_tokenizer(cfg.tokenizer), text) if o[1] > o[0]]
            spans = [(offsets[a][0], offsets[b - 1][1], b - a)
                     for a, b in windows(len(offsets), cfg.size, cfg.overlap)]
        chunks = [Chunk(text=text[s:e], start=s, end=e, tokens=n, index=i, meta={})
                  for i, (s, e, n) in enumerate(spans)]
        params = {"size": cfg.size, "overlap": cfg.overlap, "unit": cfg.unit}
        if cfg.unit == "token":
            params["tokenizer"] = cfg.tokenizer
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params)
