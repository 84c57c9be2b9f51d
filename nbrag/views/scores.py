"""Views of a chunk-quality evaluation: the scores side by side, and one question's answer and hits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbrag.views.boundary import BoundaryView

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.chunking.base import ChunkResult
    from nbrag.eval.chunk_quality import ChunkingEval

METRICS = {"recall": "#6e9bd1", "precision": "#e0a800", "iou": "#2da44e"}


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


def question_view(scores: ChunkingEval, question: int, chunker: str, result: ChunkResult, document: str
                  ) -> BoundaryView:
    """The document of a question chunked by ``chunker``: reference spans boxed, retrieved chunks starred by rank."""
    q = scores.questions[question]
    references = [(a, b) for doc, a, b in q.references if doc == document]
    index = {(c.start, c.end): c.index for c in result.chunks}
    hits = {}
    for rank, (doc, a, b) in enumerate(scores.per_question[chunker][question]["retrieved"], start=1):
        if doc == document and (a, b) in index:
            hits.setdefault(index[(a, b)], rank)
    view = BoundaryView.of(result, references=references, hits=hits)
    if hits:  # open on the best hit
        view.select(min(hits, key=hits.get))
    s = scores.per_question[chunker][question]
    elsewhere = len(scores.per_question[chunker][question]["retrieved"]) - len(hits)
    view.title = (f"{q.text} · {chunker} · recall {s['recall']:.2f} · precision {s['precision']:.2f} · "
                  f"IoU {s['iou']:.2f} · {len(hits)} of the top {scores.k} chunks in {document}"
                  + (f", {elsewhere} elsewhere" if elsewhere else ""))
    return view
