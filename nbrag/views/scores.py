"""Views of a chunk-quality evaluation (:class:`~nbrag.eval.chunk_quality.ChunkingEval`): the table of scores,
the scores side by side, and one question's answer and hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbrag.views.boundary import BoundaryView
from nbrag.views.shared import e

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.chunking.base import ChunkResult
    from nbrag.eval.chunk_quality import ChunkingEval

METRICS = {"recall": "#6e9bd1", "precision": "#e0a800", "iou": "#2da44e"}


@dataclass
class ScoresTable:
    """Rows of scores under a caption: an HTML table in a notebook, aligned text elsewhere."""

    caption: str
    rows: list[dict[str, Any]]

    def _repr_html_(self) -> str:
        keys = list(self.rows[0]) if self.rows else []
        head = "".join(f"<th>{e(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{e(row[k])}</td>" for k in keys) + "</tr>" for row in self.rows)
        return f"<table><caption>{e(self.caption)}</caption><tr>{head}</tr>{body}</table>"

    def __repr__(self) -> str:
        keys = list(self.rows[0]) if self.rows else []
        cells = [keys, *([str(row[k]) for k in keys] for row in self.rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
        return "\n".join([self.caption, *lines])


def scores_table(scores: ChunkingEval) -> ScoresTable:
    """The mean scores of each chunker (what a ChunkingEval shows in a notebook)."""
    return ScoresTable(scores.caption, scores.table())


def scores_figure(scores: ChunkingEval) -> go.Figure:
    """Recall, precision and IoU of each chunker as grouped bars, with chunk counts and sizes on hover."""
    import plotly.graph_objects as go

    labels = [row["chunker"] for row in scores.rows]
    hover = [f"{row['chunks']} chunks, {row['mean_tokens']} tokens on average" for row in scores.rows]
    fig = go.Figure([go.Bar(name=metric, x=labels, y=[row[metric] for row in scores.rows], marker_color=colour,
                            text=[f"{row[metric]:.2f}" for row in scores.rows], textposition="outside",
                            customdata=hover, hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>" + metric
                            + "</extra>") for metric, colour in METRICS.items()])
    fig.update_layout(barmode="group", template="plotly_white", height=340, yaxis_range=[0, 1.08],
                      title=f"Chunk quality on {scores.name} (top {scores.k} chunks per question)",
                      yaxis_title="score", margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def question_view(scores: ChunkingEval, *, question: int, chunker: str, chunks: ChunkResult, document: str
                  ) -> BoundaryView:
    """The document of a question chunked by ``chunker``: reference spans boxed, retrieved chunks starred by rank."""
    q = scores.questions[question]
    references = [(a, b) for doc, a, b in q.references if doc == document]
    hits = scores.hits(question, chunker, chunks, document)
    view = BoundaryView.of(chunks, references=references, hits=hits)
    if hits:  # open on the best hit
        view.select(min(hits, key=hits.__getitem__))
    s = scores.per_question[chunker][question]
    elsewhere = len(s["retrieved"]) - len(hits)
    view.title = (f"{q.text} · {chunker} · recall {s['recall']:.2f} · precision {s['precision']:.2f} · "
                  f"IoU {s['iou']:.2f} · {len(hits)} of the top {scores.k} chunks in {document}"
                  + (f", {elsewhere} elsewhere" if elsewhere else ""))
    return view
