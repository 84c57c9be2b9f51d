"""A view of a retrieval-quality evaluation (``nbrag.eval.retrieval``): each mode's metrics side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.eval.retrieval import BeirEval

COLOURS = ("#6e9bd1", "#2da44e", "#e0a800", "#d1495b", "#8e6cc9")


def beir_figure(result: BeirEval) -> go.Figure:
    """nDCG, recall and reciprocal rank of each mode as grouped bars, seconds per query on hover."""
    import plotly.graph_objects as go

    labels = [row["mode"] for row in result.rows]
    hover = [f"{row['queries']} queries, {row['seconds_per_query'] * 1000:.0f} ms per query" for row in result.rows]
    fig = go.Figure([go.Bar(name=metric, x=labels, y=[row[metric] for row in result.rows],
                            marker_color=COLOURS[i % len(COLOURS)], text=[f"{row[metric]:.2f}" for row in result.rows],
                            textposition="outside", customdata=hover,
                            hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>" + metric + "</extra>")
                     for i, metric in enumerate(result.metrics)])
    queries = result.rows[0]["queries"] if result.rows else 0
    fig.update_layout(barmode="group", template="plotly_white", height=340, yaxis_range=[0, 1.08],
                      title=f"Retrieval quality on {result.name} ({queries} queries)",
                      yaxis_title="score", margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig
