"""Recursive chunking: split by sections, paragraphs, lines, sentences, clauses and words until chunks fit.

Pieces of one level are merged greedily while they fit ``size``; a piece that is
still too large is split at the next level, and a single word longer than
``size`` is cut into even token windows (level ``window``). A piece fits when it has
at most ``size`` tokens and at most ``size`` times the tokenizer's longest token in
characters; a stretch still longer (a megabyte of ``"a"`` that the tokenizer reads as
one unknown token) is cut by characters (level ``characters``). No cut splits a
grapheme cluster. A Markdown heading that stands alone (a
section title right before a subsection) joins what follows it, never what
precedes it. Every chunk records the level it was made at
and the span it was split from (``meta["parent"]``), so a small retrieved chunk
can be expanded to its paragraph or section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
)
from nbrag.chunking.text import TokenCounter, regex_spans, token_counter
from nbrag.errors import NbragError
from nbrag.text import sentence_spans

Span = tuple[int, int]
Splitter = Callable[[str, int, int], list[Span]]

_SECTION = re.compile(r"\n[ \t]*\n(?=[ \t]*(?:#{1,6}[ \t]|\S[^\n]*\n[ \t]*(?:=+|-+)[ \t]*\n))|\n[ \t]*\n[ \t]*\n+")
_HEADING = re.compile(r"\s*(?:#{1,6}[ \t][^\n]*|[^\n]+\n[ \t]*(?:=+|-+))\s*")  # ATX or Setext, alone
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n")
_CLAUSE = re.compile(r"[，、：,;:](?=\s)\s*|[，、：]")
_WORD = re.compile(r"\s+")

LEVELS: dict[str, Splitter] = {
    # A blank line before a Markdown heading (ATX or Setext), or two blank lines.
    "section": lambda text, a, b: regex_spans(_SECTION, text, a, b),
    "paragraph": lambda text, a, b: regex_spans(_PARAGRAPH, text, a, b),
    "line": lambda text, a, b: regex_spans(_LINE, text, a, b),
    "sentence": sentence_spans,
    # Commas, colons and semicolons: Chinese sentences often run long without a space.
    "clause": lambda text, a, b: regex_spans(_CLAUSE, text, a, b),
    "word": lambda text, a, b: regex_spans(_WORD, text, a, b),
}


@dataclass
class RecursiveConfig:
    size: int = size_field()
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()
    levels: tuple[str, ...] = field(default=tuple(LEVELS),
                                    metadata={"help": f"Split levels, coarse to fine, from: {', '.join(LEVELS)}."})

    def __post_init__(self) -> None:
        check_size_and_unit("size", self.size, self.unit)
        given = self.levels
        self.levels = (given,) if isinstance(given, str) else tuple(given)
        if not self.levels or any(level not in LEVELS for level in self.levels):
            raise NbragError(f"choose one or more of {', '.join(LEVELS)}, coarse to fine.", option="levels",
                             value=list(self.levels))


def split_span(text: str, span: Span, count: TokenCounter, size: int, levels: tuple[str, ...],
               depth: int = 0, parent: Span | None = None) -> list[tuple[Span, str, Span | None]]:
    """Pieces of ``span`` that fit ``size``, as ``(span, level made at, span split from)``.

    Pieces of ``levels[depth]`` are merged while they fit; a piece that does not
    fit is split at the next level; past the last level, into even token windows,
    and a window still too long in characters, by characters.
    """
    if count.fits(*span, size):
        return [(span, levels[depth - 1] if depth else "document", parent)]
    if depth == len(levels):
        windows = []
        for window in count.even_windows(*span, size):
            pieces = count.cut_long([window], size)  # none where it holds only what the tokenizer drops
            by_characters = pieces != [window] or count.inside_token(window[0]) or count.inside_token(window[1])
            windows += [(piece, "characters" if by_characters else "window", span) for piece in pieces]
        return windows
    level = levels[depth]
    out: list[tuple[Span, str, Span | None]] = []
    merged: Span | None = None
    for piece in count.snap(LEVELS[level](text, *span)):
        # A heading alone never closes what came before: it opens what follows.
        if merged is not None and count.fits(merged[0], piece[1], size) and not _HEADING.fullmatch(text, *piece):
            merged = (merged[0], piece[1])
            continue
        if count.fits(*piece, size):
            if merged is not None:
                out.append((merged, level, span))
            merged = piece
            continue
        pieces = split_span(text, piece, count, size, levels, depth + 1, span)
        if not pieces:  # a long run of what the tokenizer drops (zero-width spaces, say)
            continue
        if merged is not None:  # a heading just before opens the first part of its section when both fit
            (_, b), _, _ = pieces[0]
            if _HEADING.fullmatch(text, *merged) and count.fits(merged[0], b, size):
                pieces[0] = ((merged[0], b), level, span)
            else:
                out.append((merged, level, span))
            merged = None
        out += pieces
    if merged is not None:
        out.append((merged, level, span))
    return out


@chunker("recursive", "hierarchical")
class RecursiveChunker(Chunker):
    Config = RecursiveConfig

    def split(self, text: str) -> ChunkResult:
        cfg: RecursiveConfig = self.config
        count = token_counter(text, cfg.unit, cfg.tokenizer, pieces=cfg.size)
        chunks = []
        for (a, b), level, parent in split_span(text, (0, len(text)), count, cfg.size, cfg.levels):
            a, b = count.strip(a, b)
            tokens = count.touching(a, b)
            if tokens == 0:  # only whitespace, or marks the tokenizer drops (as the fixed chunker does)
                continue
            meta = {"level": level, "parent": None if parent is None else {"start": parent[0], "end": parent[1]}}
            chunks.append(Chunk(text=text[a:b], start=a, end=b, tokens=tokens, index=len(chunks), meta=meta))
        params = {"size": cfg.size, "unit": cfg.unit, "levels": ",".join(cfg.levels)}
        if cfg.unit == "token":
            params["tokenizer"] = cfg.tokenizer
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, notes=count.note(cfg.size))
