"""Views of a retrieval-quality evaluation (``nbrag.eval.retrieval``): the metrics as a table, and each
mode's metrics side by side as bars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbrag.views.shared import e, plain

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.eval.retrieval import BeirEval

COLOURS = ("#6e9bd1", "#2da44e", "#e0a800", "#d1495b", "#8e6cc9")


class BeirTable:
    """One row per mode, one column per metric (with queries and seconds per query)."""

    def __init__(self, result: BeirEval) -> None:
        self.result = result

    def to_html(self) -> str:
        rows = self.result.rows
        keys = list(rows[0]) if rows else []
        head = "".join(f"<th>{e(k)}</th>" for k in keys)

        def cell(value: Any) -> str:
            return f"{value:.4f}" if isinstance(value, float) else str(value)

        body = "".join("<tr>" + "".join(f"<td>{e(cell(row[k]))}</td>" for k in keys) + "</tr>" for row in rows)
        passages = f", {len(self.result.data.corpus)} passages" if self.result.data else ""
        caption = e(f"retrieval quality on {self.result.name}{passages}")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.to_html(), "text/plain": repr(self.result)}


def beir_table(result: BeirEval) -> BeirTable:
    """What a ``BeirEval`` shows: its table."""
    return BeirTable(result)


def beir_figure(result: BeirEval) -> go.Figure:
    """nDCG, recall and reciprocal rank of each mode as grouped bars, seconds per query on hover."""
    import plotly.graph_objects as go

    labels = [plain(row["mode"]) for row in result.rows]
    hover = [f"{row['queries']} queries, {row['seconds_per_query'] * 1000:.0f} ms per query" for row in result.rows]
    fig = go.Figure([go.Bar(name=metric, x=labels, y=[row[metric] for row in result.rows],
                            marker_color=COLOURS[i % len(COLOURS)], text=[f"{row[metric]:.2f}" for row in result.rows],
                            textposition="outside", customdata=hover,
                            hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>" + metric + "</extra>")
                     for i, metric in enumerate(result.metrics)])
    queries = result.rows[0]["queries"] if result.rows else 0
    fig.update_layout(barmode="group", template="plotly_white", height=340, yaxis_range=[0, 1.08],
                      title=f"Retrieval quality on {plain(result.name)} ({queries} queries)",
                      yaxis_title="score", margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig
