"""BoundaryView: a text with each chunk in its own colour and overlaps marked.

Python cuts the text into segments (maximal runs covered by the same chunks and
reference spans) and into pages; the JavaScript in ``widgets/boundary.js`` only
draws one page at a time, so a megabyte of text stays responsive. Text reaches
the page as text, never as markup. Clicking a chunk shows its metadata; for
chunkers with a hierarchy (recursive, structure) a collapsible outline lists
the chunks under their sections. The first page also renders as static HTML for
exported notebooks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from nbrag.views.shared import WithStaticHTML, e, static, style

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.chunking.base import Chunk, ChunkResult

PALETTE_SIZE = 10  # colours defined in boundary.css as --nbrag-c0 … --nbrag-c9
PAGE_CHARS = 20_000  # characters drawn at once; pages end at a line break where one is near
LEGEND = "Each colour is one chunk; striped, underlined text belongs to two chunks. Hover for a chunk's size and " \
         "offsets; click it for its metadata."
REFERENCE_LEGEND = " Text boxed in red is a reference answer; ★ marks the chunks retrieved for it, by rank."

Span = tuple[int, int]


def page_starts(text: str, page_chars: int = PAGE_CHARS) -> list[int]:
    """Where each page begins: every ``page_chars`` characters, moved to just after a nearby line break."""
    starts = [0]
    while len(text) - starts[-1] > page_chars:
        target = starts[-1] + page_chars
        newline = text.find("\n", target, target + page_chars // 10)
        starts.append(newline + 1 if newline != -1 else target)
    return starts


def segments(text: str, spans: Sequence[Span], references: Sequence[Span] = (),
             page_chars: int = PAGE_CHARS) -> list[dict[str, Any]]:
    """Cut ``text`` at every span, reference and page boundary.

    Each piece lists the spans covering it, the spans starting at it, whether a
    reference covers it and its page. One sweep over the sorted boundaries.
    """
    pages = page_starts(text, page_chars)
    cuts = sorted({0, len(text), *pages, *(p for span in spans for p in span), *(p for r in references for p in r)})
    opening: dict[int, list[int]] = {}
    closing: dict[int, list[int]] = {}
    for i, (s, t) in enumerate(spans):
        if s < t:
            opening.setdefault(s, []).append(i)
            closing.setdefault(t, []).append(i)
    ref_delta: dict[int, int] = {}
    for s, t in references:
        if s < t:
            ref_delta[s] = ref_delta.get(s, 0) + 1
            ref_delta[t] = ref_delta.get(t, 0) - 1
    active: set[int] = set()
    in_refs, page, pieces = 0, -1, []
    page_set = set(pages)
    for a, b in itertools.pairwise(cuts):
        active.difference_update(closing.get(a, ()))
        active.update(opening.get(a, ()))
        in_refs += ref_delta.get(a, 0)
        page += a in page_set
        pieces.append({"text": text[a:b], "start": a, "end": b, "chunks": sorted(active),
                       "starts": opening.get(a, []), "ref": in_refs > 0, "page": page})
    return pieces


def title(piece: dict[str, Any], chunks: list[dict[str, Any]]) -> str:
    """The hover text of a piece: which chunks hold it, their sizes and offsets."""
    ids = piece["chunks"]
    if not ids:
        return f"between chunks · chars {piece['start']}–{piece['end']}"
    described = "; ".join(f"chunk {i} · {chunks[i]['tokens']} {chunks[i]['unit']} · "
                          f"chars {chunks[i]['start']}–{chunks[i]['end']}"
                          + (f" · {chunks[i]['level']}" if chunks[i].get("level") else "") for i in ids)
    return ("overlap: " if len(ids) > 1 else "") + described


def _preview(text: str, span: Span, width: int = 48) -> str:
    first = " ".join(text[span[0]:span[1]].split())
    return first[:width] + ("…" if len(first) > width else "")


def outline(result: ChunkResult) -> list[dict[str, Any]]:
    """The chunks under their sections: heading paths (structure) or parent spans (recursive); else []."""
    if any(c.meta.get("headings") for c in result.chunks):
        return _heading_tree(result.chunks)
    if any(c.meta.get("parent") for c in result.chunks):
        return _parent_tree(result.source, result.chunks)
    return []


def _node(label: str, start: int) -> dict[str, Any]:
    return {"label": label, "start": start, "chunks": [], "children": []}


def _heading_tree(chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    root = _node("", 0)
    for c in chunks:
        node = root
        for heading in c.meta.get("headings") or []:
            if not node["children"] or node["children"][-1]["label"] != heading:
                node["children"].append(_node(heading, c.start))
            node = node["children"][-1]
        node["chunks"].append(c.index)
    return ([{**_node("(before the first heading)", 0), "chunks": root["chunks"]}] if root["chunks"] else []) \
        + root["children"]


def _parent_tree(text: str, chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """Parent spans nested by containment; each chunk under the span it was split from."""
    parents = sorted({(p["start"], p["end"]) for c in chunks if (p := c.meta.get("parent"))},
                     key=lambda s: (s[0], -s[1]))
    nodes = {span: _node(f"{_preview(text, span)} · chars {span[0]}–{span[1]}", span[0]) for span in parents}
    roots: list[dict[str, Any]] = []
    stack: list[Span] = []
    for span in parents:
        while stack and not (stack[-1][0] <= span[0] and span[1] <= stack[-1][1]):
            stack.pop()
        (nodes[stack[-1]]["children"] if stack else roots).append(nodes[span])
        stack.append(span)
    loose = _node("(whole document)", 0)
    for c in chunks:
        parent = c.meta.get("parent")
        (nodes[(parent["start"], parent["end"])] if parent else loose)["chunks"].append(c.index)
    return roots + ([loose] if loose["chunks"] else [])


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class BoundaryView(WithStaticHTML, anywidget.AnyWidget):
    _esm = static("boundary.js")
    _css = static("boundary.css")

    title = traitlets.Unicode("").tag(sync=True)
    legend = traitlets.Unicode(LEGEND).tag(sync=True)
    chunks = traitlets.List(traitlets.Dict()).tag(sync=True)
    segments = traitlets.List(traitlets.Dict()).tag(sync=True)
    pages = traitlets.Int(1).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    outline = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)  # the chunk whose metadata is shown; -1 for none
    warnings = traitlets.List(traitlets.Unicode()).tag(sync=True)

    @classmethod
    def of(cls, result: ChunkResult, references: Sequence[Span] = (), hits: Mapping[int, int] | None = None
           ) -> BoundaryView:
        """The view of ``result``; ``references`` are answer spans to box, ``hits`` maps retrieved chunks to ranks."""
        view = cls()
        view.show(result, references, hits)
        return view

    def show(self, result: ChunkResult, references: Sequence[Span] = (), hits: Mapping[int, int] | None = None
             ) -> None:
        """Draw another result in this view (the sliders of ChunkView call this)."""
        unit = "tokens" if result.params.get("unit", "token") == "token" else "chars"
        rank = dict(hits or {})
        chunks = [{"index": c.index, "start": c.start, "end": c.end, "tokens": c.tokens, "unit": unit,
                   "level": c.meta.get("level", ""), "meta": _json_safe(c.meta), "hit": rank.get(c.index, 0)}
                  for c in result.chunks]
        pieces = segments(result.source, [(c.start, c.end) for c in result.chunks], references)
        shown = " · ".join(f"{k} {v}" for k, v in result.params.items())
        with self.hold_sync():
            self.title = f"{len(chunks)} chunks · {result.method} · {shown} · {len(result.source):,} chars"
            self.legend = LEGEND + (REFERENCE_LEGEND if references else "")
            self.chunks = chunks
            self.segments = pieces
            self.pages = pieces[-1]["page"] + 1 if pieces else 1
            self.page = 0
            self.outline = outline(result)
            self.selected = -1
            self.warnings = list(result.warnings)

    def select(self, index: int) -> None:
        """Show chunk ``index``'s metadata and open the page where it starts."""
        piece = next(p for p in self.segments if index in p["starts"])
        with self.hold_sync():
            self.page = piece["page"]
            self.selected = index

    def to_html(self) -> str:
        """The first page as static HTML (every piece of text escaped)."""
        out = [style("boundary.css"),
               f'<div class="nbrag-boundary" data-chunks="{len(self.chunks)}">',
               f'<div class="nbrag-title">{e(self.title)}</div>',
               f'<div class="nbrag-legend">{e(self.legend)}</div>']
        out += [f'<div class="nbrag-warning">{e(w)}</div>' for w in self.warnings]
        first_page = [p for p in self.segments if p["page"] == 0]
        if self.pages > 1:
            out.append(f'<div class="nbrag-pager">page 1 of {self.pages}: the first '
                       f'{first_page[-1]["end"]:,} characters (a running kernel pages through the rest)</div>')
        out.append('<div class="nbrag-text">')
        for piece in first_page:
            ids = piece["chunks"]
            for i in piece["starts"]:
                star = f" ★{self.chunks[i]['hit']}" if self.chunks[i]["hit"] else ""
                out.append(f'<span class="nbrag-label">{i}{star}</span>')
            classes = ["nbrag-seg"] + (["nbrag-ref"] if piece["ref"] else [])
            colours = ""  # the chunk's colour(s), which boundary.css paints
            if not ids:
                classes.append("nbrag-gap")
            elif len(ids) == 1:
                colours = f"--a: var(--nbrag-c{ids[0] % PALETTE_SIZE})"
            else:
                classes.append("nbrag-overlap")
                colours = (f"--a: var(--nbrag-c{ids[0] % PALETTE_SIZE}); "
                           f"--b: var(--nbrag-c{ids[-1] % PALETTE_SIZE})")
            out.append(f'<span class="{" ".join(classes)}" style="{colours}" '
                       f'title="{e(title(piece, self.chunks))}">{e(piece["text"])}</span>')
        out.append("</div></div>")
        return "".join(out)
