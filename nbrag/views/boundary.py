"""BoundaryView: a text with each chunk in its own colour and overlaps marked.

Python cuts the text into segments (maximal runs covered by the same chunks)
and sends them with the chunks' numbers; the JavaScript in
``widgets/boundary.js`` only draws them. Text reaches the page as text, never
as markup. The same segments render as static HTML for exported notebooks.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from nbrag.views.base import WithStaticHTML, static

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.chunking.base import ChunkResult

PALETTE_SIZE = 10  # colours defined in boundary.css as --nbrag-c0 … --nbrag-c9


def segments(text: str, spans: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Cut ``text`` at every span boundary; each piece lists the spans covering it."""
    cuts = sorted({0, len(text), *(p for span in spans for p in span)})
    starts: dict[int, list[int]] = {}
    for i, (s, _) in enumerate(spans):
        starts.setdefault(s, []).append(i)
    pieces = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [i for i, (s, e) in enumerate(spans) if s <= a and b <= e]
        pieces.append({"text": text[a:b], "start": a, "end": b, "chunks": covering, "starts": starts.get(a, [])})
    return pieces


def _title(piece: dict[str, Any], chunks: list[dict[str, Any]]) -> str:
    ids = piece["chunks"]
    if not ids:
        return f"between chunks · chars {piece['start']}–{piece['end']}"
    described = "; ".join(f"chunk {i} · {chunks[i]['tokens']} {chunks[i]['unit']} · "
                          f"chars {chunks[i]['start']}–{chunks[i]['end']}"
                          + (f" · {chunks[i]['level']}" if chunks[i].get("level") else "") for i in ids)
    return ("overlap: " if len(ids) > 1 else "") + described


class BoundaryView(WithStaticHTML, anywidget.AnyWidget):
    _esm = static("boundary.js")
    _css = static("boundary.css")

    title = traitlets.Unicode("").tag(sync=True)
    legend = traitlets.Unicode(
        "Each colour is one chunk; striped, underlined text belongs to two chunks. Hover for a chunk's size and offsets."
    ).tag(sync=True)
    chunks = traitlets.List(traitlets.Dict()).tag(sync=True)
    segments = traitlets.List(traitlets.Dict()).tag(sync=True)
    warnings = traitlets.List(traitlets.Unicode()).tag(sync=True)

    @classmethod
    def of(cls, result: ChunkResult) -> BoundaryView:
        unit = "tokens" if result.params.get("unit", "token") == "token" else "chars"
        chunks = [{"index": c.index, "start": c.start, "end": c.end, "tokens": c.tokens, "unit": unit,
                   "level": c.meta.get("level", "")} for c in result.chunks]
        pieces = segments(result.source, [(c.start, c.end) for c in result.chunks])
        for piece in pieces:
            piece["title"] = _title(piece, chunks)
        params = " · ".join(f"{k} {v}" for k, v in result.params.items())
        title = f"{len(chunks)} chunks · {result.method} · {params} · {len(result.source)} chars"
        return cls(title=title, chunks=chunks, segments=pieces, warnings=list(result.warnings))

    def to_html(self) -> str:
        """The same drawing as static HTML (every piece of text escaped)."""
        out = [f"<style>{static('boundary.css').read_text()}</style>",
               f'<div class="nbrag-boundary" data-chunks="{len(self.chunks)}">',
               f'<div class="nbrag-title">{html.escape(self.title)}</div>',
               f'<div class="nbrag-legend">{html.escape(self.legend)}</div>']
        out += [f'<div class="nbrag-warning">{html.escape(w)}</div>' for w in self.warnings]
        out.append('<div class="nbrag-text">')
        for piece in self.segments:
            ids = piece["chunks"]
            out += [f'<span class="nbrag-label">{i}</span>' for i in piece["starts"]]
            if not ids:
                cls, style = "nbrag-seg nbrag-gap", ""
            elif len(ids) == 1:
                cls, style = "nbrag-seg", f"--a: var(--nbrag-c{ids[0] % PALETTE_SIZE})"
            else:
                cls = "nbrag-seg nbrag-overlap"
                style = (f"--a: var(--nbrag-c{ids[0] % PALETTE_SIZE}); "
                         f"--b: var(--nbrag-c{ids[-1] % PALETTE_SIZE})")
            out.append(f'<span class="{cls}" style="{style}" title="{html.escape(piece["title"])}">'
                       f'{html.escape(piece["text"])}</span>')
        out.append("</div></div>")
        return "".join(out)
