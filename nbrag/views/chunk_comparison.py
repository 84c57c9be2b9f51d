"""ChunkComparisonView: one track per chunker over the same text, boundaries aligned by character."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from nbrag.views.shared import WithStaticHTML, e, static, style

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.chunking.comparison import ChunkComparison


class ChunkComparisonView(WithStaticHTML, anywidget.AnyWidget):
    """What a :class:`~nbrag.chunking.ChunkComparison` (``%chunk --compare``) shows: a bar per chunker, a table
    of their sizes."""

    _esm = static("compare.js")
    _css = static("compare.css")

    length = traitlets.Int(0).tag(sync=True)
    tracks = traitlets.List(traitlets.Dict()).tag(sync=True)
    stats = traitlets.List(traitlets.Dict()).tag(sync=True)

    @classmethod
    def of(cls, comparison: ChunkComparison) -> ChunkComparisonView:
        tracks = []
        for method, result in comparison.results.items():
            unit = "tokens" if result.params.get("unit", "token") == "token" else "chars"
            params = " · ".join(f"{k} {v}" for k, v in result.params.items() if k not in {"tokenizer", "embedder"})
            tracks.append({"method": method, "params": params, "chunks": [
                {"start": c.start, "end": c.end, "title": f"{method} chunk {c.index} · {c.tokens} {unit} · "
                                                          f"chars {c.start}–{c.end}"} for c in result]})
        return cls(length=len(comparison.source), tracks=tracks, stats=comparison.stats())

    def _segments(self, track: dict[str, Any]) -> list[tuple[float, float, str, int]]:
        n = max(self.length, 1)
        return [(100 * c["start"] / n, 100 * (c["end"] - c["start"]) / n, c["title"], i)
                for i, c in enumerate(track["chunks"])]

    def to_html(self) -> str:
        """The same tracks and table as static HTML."""
        out = [style("compare.css"), '<div class="nbrag-compare">']
        for track in self.tracks:
            out.append(f'<div class="nbrag-track" data-chunks="{len(track["chunks"])}">'
                       f'<div class="nbrag-track-label">{e(track["method"])}'
                       f'<span>{e(track["params"])}</span></div><div class="nbrag-track-bar">')
            # each chunk's place on the bar, as the live widget sets it
            out += [f'<span class="nbrag-track-seg nbrag-c{i % 2}" style="left:{left:.4f}%;width:{width:.4f}%" '
                    f'title="{e(title)}"></span>' for left, width, title, i in self._segments(track)]
            out.append("</div></div>")
        if self.stats:
            keys = list(self.stats[0])
            out.append('<table class="nbrag-stats"><tr>' + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(row[k])}</td>" for k in keys) + "</tr>" for row in self.stats]
            out.append("</table>")
        out.append("</div>")
        return "".join(out)
