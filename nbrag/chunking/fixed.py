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
from nbrag.chunking.text import token_counter
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


@chunker("fixed", "token")
class FixedChunker(Chunker):
    """Windows of ``size`` tokens (or characters); a window ends after its last token and the next
    one starts ``size - overlap`` tokens on. No window cuts a grapheme cluster: a window end that
    would moves back to the cluster's start, or past its end where the cluster alone is longer
    than ``size``. A token longer than the tokenizer's longest (a megabyte of ``"a"`` read as one
    unknown token) counts one unit for each such length, so that no chunk holds more than
    ``size`` times that many characters (see :class:`~nbrag.chunking.text.TokenCounter`)."""

    Config = FixedConfig

    def split(self, text: str) -> ChunkResult:
        cfg: FixedConfig = self.config
        count = token_counter(text, cfg.unit, cfg.tokenizer)
        spans = count.cut_long(count.sliding_windows(cfg.size, cfg.overlap), cfg.size)
        chunks = [Chunk(text=text[s:e], start=s, end=e, tokens=count.touching(s, e), index=i, meta={})
                  for i, (s, e) in enumerate(spans)]
        params = {"size": cfg.size, "overlap": cfg.overlap, "unit": cfg.unit}
        if cfg.unit == "token":
            params["tokenizer"] = cfg.tokenizer
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, notes=count.note(cfg.size))
