"""Document-structure chunking: Markdown and HTML headings, with code, tables and lists kept whole.

Markdown is parsed with markdown-it-py (CommonMark plus tables), HTML with the
standard library's parser; both give block spans in the source. Blocks of one
section are merged while they fit ``size``; a code fence, table or list stays
whole where it fits, and a block that does not is split by the recursive
chunker's levels (down to characters, for a stretch longer than ``size`` times the
tokenizer's longest token). Block edges move to grapheme-cluster boundaries, so that
a combining mark after a tag stays with its letter. Each chunk carries its heading
path ("Guide > Install > Linux").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import ClassVar

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
from nbrag.chunking.recursive import split_span
from nbrag.chunking.text import TokenCounter, token_counter
from nbrag.errors import NbragError
from nbrag.text import grapheme_ceil

FORMATS = ("auto", "markdown", "html")
_HTML_HINT = re.compile(r"<(?:!doctype|html|body|h[1-6]|p|div|section|article)\b", re.IGNORECASE)


@dataclass
class Block:
    start: int
    end: int
    kind: str  # heading, paragraph, code, table, list, quote, html, text, ...
    level: int = 0  # heading level, 1-6
    title: str = ""  # heading text


@dataclass
class StructureConfig:
    size: int = size_field()
    format: str = field(default="auto", metadata={"help": f"One of {', '.join(FORMATS)} (auto looks at the text)."})
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()

    def __post_init__(self) -> None:
        check_size_and_unit("size", self.size, self.unit)
        if self.format not in FORMATS:
            raise NbragError(f"choose one of {', '.join(FORMATS)}.", option="format", value=self.format)


# --------------------------------------------------------------------------- parsing

_MD_KINDS = {"paragraph_open": "paragraph", "heading_open": "heading", "fence": "code", "code_block": "code",
             "table_open": "table", "bullet_list_open": "list", "ordered_list_open": "list",
             "blockquote_open": "quote", "html_block": "html", "hr": "rule"}


def markdown_blocks(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    # markdown-it counts lines as it normalises newlines: \r\n, \r and \n each end one.
    line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    at = lambda line: line_starts[line] if line < len(line_starts) else len(text)  # noqa: E731
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks = []
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting < 0:
            continue
        kind = _MD_KINDS.get(token.type, "text")
        block = Block(at(token.map[0]), at(token.map[1]), kind)
        if kind == "heading":
            block.level = int(token.tag[1])
            block.title = tokens[i + 1].content.strip()
        blocks.append(block)
    return blocks


class _HTMLBlocks(HTMLParser):
    """Spans of headings and of pre, table and list elements at the top of the tree of blocks."""

    ATOMIC: ClassVar[dict[str, str]] = {"pre": "code", "table": "table", "ul": "list", "ol": "list"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.open: list[tuple[str, int]] = []  # atomic or heading elements being read
        self.blocks: list[Block] = []
        self.title: list[str] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag, attrs):
        if (tag in self.ATOMIC or re.fullmatch(r"h[1-6]", tag)) and not self.open:
            self.open.append((tag, self._offset()))
            self.title = []
        elif self.open and tag == self.open[0][0]:
            self.open.append((tag, self._offset()))

    def handle_endtag(self, tag):
        if not self.open or tag != self.open[-1][0]:
            return
        tag, start = self.open.pop()
        if self.open:
            return
        end = self.rawdata.find(">", self._offset()) + 1
        if tag in self.ATOMIC:
            self.blocks.append(Block(start, end, self.ATOMIC[tag]))
        else:
            self.blocks.append(Block(start, end, "heading", int(tag[1]), " ".join("".join(self.title).split())))

    def handle_data(self, data):
        if self.open and self.open[0][0].startswith("h"):
            self.title.append(data)


def html_blocks(text: str) -> list[Block]:
    parser = _HTMLBlocks(text)
    parser.feed(text)
    parser.close()
    marked = sorted(parser.blocks, key=lambda b: b.start)
    blocks, cursor = [], 0
    for block in marked:  # the text between marked elements, cut at blank lines
        blocks += _text_blocks(text, cursor, block.start)
        blocks.append(block)
        cursor = block.end
    return blocks + _text_blocks(text, cursor, len(text))


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _text_blocks(text: str, start: int, end: int) -> list[Block]:
    """The text between marked HTML elements, cut at blank lines."""
    cuts = [start, *(m.end() for m in _BLANK_LINE.finditer(text, start, end)), end]
    return [Block(a, b, "text") for a, b in itertools.pairwise(cuts) if text[a:b].strip()]


def detect_format(text: str) -> str:
    return "html" if _HTML_HINT.search(text[:5000]) else "markdown"


# --------------------------------------------------------------------------- chunking


@chunker("structure", "markdown", "html")
class StructureChunker(Chunker):
    Config = StructureConfig

    def split(self, text: str) -> ChunkResult:
        cfg: StructureConfig = self.config
        fmt = detect_format(text) if cfg.format == "auto" else cfg.format
        count = token_counter(text, cfg.unit, cfg.tokenizer)
        blocks = whole_clusters(text, markdown_blocks(text) if fmt == "markdown" else html_blocks(text))
        pieces: list[tuple[tuple[int, int], list[str], list[str]]] = []  # (span, heading path, kinds)
        for path, section in _sections(blocks):
            for span, p, kinds in self._pack(text, section, path, count):
                previous = pieces[-1] if pieces else None
                # A section that is only its heading joins the section after it, when both fit.
                if previous and previous[2] == ["heading"] and count.fits(previous[0][0], span[1], cfg.size):
                    pieces[-1] = ((previous[0][0], span[1]), p, ["heading", *kinds])
                else:
                    pieces.append((span, p, kinds))
        chunks = []
        for (a, b), path, kinds in pieces:
            a, b = count.strip(a, b)
            tokens = count.touching(a, b)
            if tokens == 0:
                continue
            meta = {"heading_path": " > ".join(path), "headings": path, "blocks": kinds}
            chunks.append(Chunk(text=text[a:b], start=a, end=b, tokens=tokens, index=len(chunks), meta=meta))
        params = {"size": cfg.size, "format": fmt, "unit": cfg.unit}
        if cfg.unit == "token":
            params["tokenizer"] = cfg.tokenizer
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, notes=count.note(cfg.size))

    def _pack(self, text: str, blocks: list[Block], path: list[str], count: TokenCounter):
        """Merge a section's blocks while they fit; split a block that alone does not."""
        size = self.config.size
        out, current, kinds = [], None, []
        for block in blocks:
            span = (block.start, block.end)
            if current is not None and count.fits(current[0], span[1], size):
                current, kinds = (current[0], span[1]), [*kinds, block.kind]
                continue
            if current is not None:
                out.append((current, path, kinds))
                current, kinds = None, []
            if count.fits(*span, size):
                current, kinds = span, [block.kind]
                continue
            parts = split_span(text, span, count, size, ("paragraph", "line", "sentence", "clause", "word"))
            out += [(part, path, [block.kind]) for part, _, _ in parts]
        if current is not None:
            out.append((current, path, kinds))
        return out


def whole_clusters(text: str, blocks: list[Block]) -> list[Block]:
    """The blocks with both edges moved forward to grapheme-cluster boundaries (neighbours stay apart)."""
    for block in blocks:
        block.start, block.end = grapheme_ceil(text, block.start), grapheme_ceil(text, block.end)
    return [block for block in blocks if block.end > block.start]


def _sections(blocks: list[Block]):
    """Runs of blocks under the same heading path; a heading opens its own section."""
    stack: list[Block] = []
    section: list[Block] = []
    path: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            if section:
                yield path, section
            while stack and stack[-1].level >= block.level:
                stack.pop()
            stack.append(block)
            path, section = [b.title for b in stack], [block]
        else:
            section.append(block)
    if section:
        yield path, section
