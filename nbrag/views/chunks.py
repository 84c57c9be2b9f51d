"""ChunkView: the boundary view with sliders that re-chunk, a histogram of chunk sizes and,
for the semantic chunker, the neighbour-similarity curve with its threshold and cuts.

A thin face: each slider calls ``nbrag.chunk`` again with the result's options and
the sliders' values, then redraws. A value the chunker refuses leaves the last
drawing in place and says why. The plots are plotly figures in output areas.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import TYPE_CHECKING, Any

import ipywidgets

from nbrag.chunking import chunk, get_chunker
from nbrag.errors import NbragError
from nbrag.views.boundary import BoundaryView
from nbrag.views.shared import WithStaticHTML, e, show_figure

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.chunking.base import ChunkResult

THRESHOLDS = {"percentile": (0.0, 100.0, 1.0), "absolute": (-1.0, 1.0, 0.01), "std": (0.0, 3.0, 0.05)}
PLOT_SIZE = {"width": 430, "height": 270}
LIVE = {"continuous_update": False, "style": {"description_width": "initial"}, "layout": {"width": "300px"}}


def sliders(result: ChunkResult) -> dict[str, ipywidgets.ValueWidget]:
    """One slider per option the chunker takes among size, overlap, max_size, min_size and threshold."""
    if result.method == "llm":  # every change would ask the model again: re-run the cell instead
        return {}
    fields = {f.name for f in dataclasses.fields(get_chunker(result.method).Config)}
    params = result.params
    unit = "tokens" if params.get("unit", "token") == "token" else "chars"
    out: dict[str, ipywidgets.ValueWidget] = {}
    for name in ("size", "max_size"):
        if name in fields and name in params:
            value = params[name]
            out[name] = ipywidgets.IntSlider(value=value, min=1, max=max(128, 2 * value),
                                             description=f"{name.replace('_', ' ')} ({unit})", **LIVE)
    if "overlap" in fields and "overlap" in params:
        out["overlap"] = ipywidgets.IntSlider(value=params["overlap"], min=0, max=max(0, params["size"] - 1),
                                              description=f"overlap ({unit})", **LIVE)
    if "min_size" in fields and "min_size" in params:
        out["min_size"] = ipywidgets.IntSlider(value=params["min_size"], min=0, max=params["max_size"],
                                               description=f"min size ({unit})", **LIVE)
    if "threshold" in fields and "threshold" in params:
        low, high, step = THRESHOLDS[params["threshold_type"]]
        value = params["threshold"]  # a std threshold may lie past the usual range: widen it, never clamp
        out["threshold"] = ipywidgets.FloatSlider(value=value, min=min(low, value), max=max(high, value), step=step,
                                                  description=f"threshold ({params['threshold_type']})", **LIVE)
    return out


def size_histogram(result: ChunkResult) -> go.Figure:
    """Chunk sizes, with the size limit (and the semantic minimum) as dashed lines."""
    import plotly.graph_objects as go

    unit = "tokens" if result.params.get("unit", "token") == "token" else "characters"
    sizes = [c.tokens for c in result.chunks]
    fig = go.Figure(go.Histogram(x=sizes, nbinsx=min(40, max(5, len(sizes) // 2)), marker_color="#6e9bd1",
                                 hovertemplate=f"%{{x}} {unit}: %{{y}} chunks<extra></extra>"))
    limit = result.params.get("size", result.params.get("max_size"))
    if limit:
        fig.add_vline(x=limit, line_dash="dash", line_color="#cf222e", annotation_text=f"limit {limit}")
    if result.params.get("min_size"):
        fig.add_vline(x=result.params["min_size"], line_dash="dot", line_color="#57606a",
                      annotation_text=f"min {result.params['min_size']}", annotation_position="top left")
    median = statistics.median(sizes) if sizes else 0
    fig.update_layout(title=f"Chunk sizes: {len(sizes)} chunks, median {median:g} {unit}",
                      xaxis_title=f"{unit} per chunk", yaxis_title="chunks", bargap=0.05,
                      margin={"l": 50, "r": 20, "t": 40, "b": 40}, template="plotly_white", **PLOT_SIZE)
    return fig


def similarity_curve(result: ChunkResult) -> go.Figure | None:
    """Similarity across each sentence gap, the threshold, and where the chunker cut (and why)."""
    import plotly.graph_objects as go

    sims, units = result.details.get("similarities"), result.details.get("units")
    if not sims or not units:
        return None
    starts = [" ".join(result.source[a:b].split())[:60] for a, b in units[1:]]
    gaps = list(range(1, len(sims) + 1))
    fig = go.Figure(go.Scatter(x=gaps, y=sims, mode="lines+markers", name="similarity", line_color="#6e9bd1",
                               marker_size=4, customdata=starts,
                               hovertemplate="gap before sentence %{x}: %{y:.3f}<br>%{customdata}<extra></extra>"))
    for reason, colour in (("similarity", "#cf222e"), ("max_size", "#e0a800")):
        cuts = [c for c in result.details.get("cuts", []) if c["reason"] == reason]
        if cuts:
            fig.add_scatter(x=[c["unit"] for c in cuts], y=[c["similarity"] for c in cuts], mode="markers",
                            name=f"cut ({reason.replace('_', ' ')})", marker={"color": colour, "size": 9,
                                                                             "symbol": "x"})
    if result.details.get("threshold_value") is not None:
        fig.add_hline(y=result.details["threshold_value"], line_dash="dash", line_color="#cf222e",
                      annotation_text=f"threshold {result.details['threshold_value']:.3f}")
    fig.update_layout(title="Neighbour similarity between sentences", xaxis_title="sentence gap",
                      yaxis_title="cosine similarity", margin={"l": 50, "r": 20, "t": 40, "b": 40},
                      template="plotly_white", legend={"orientation": "h", "y": -0.25}, **PLOT_SIZE)
    return fig


class ChunkView(WithStaticHTML, ipywidgets.VBox):
    """What ``%%chunk`` and ``ChunkResult`` show: sliders, boundaries, size histogram, similarity curve."""

    def __init__(self, result: ChunkResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.boundary = BoundaryView.of(result)
        self.sliders = sliders(result)
        self.status = ipywidgets.HTML()
        self.sizes = ipywidgets.Output()
        self.similarity = ipywidgets.Output()
        self._adjusting = False
        for slider in self.sliders.values():
            slider.observe(self._changed, names="value")
        if result.method == "llm":
            self.status.value = ("<i>The llm chunker asks the model on every change: change its options in the "
                                 "cell and run it again.</i>")
        controls = ipywidgets.HBox(list(self.sliders.values()), layout=ipywidgets.Layout(flex_flow="row wrap"))
        plots = ipywidgets.HBox([self.sizes, self.similarity], layout=ipywidgets.Layout(flex_flow="row wrap"))
        self.children = [controls, self.status, self.boundary, plots]
        self._plot()

    def _plot(self) -> None:
        show_figure(self.sizes, size_histogram(self.result) if self.result.chunks else None)
        show_figure(self.similarity, similarity_curve(self.result))

    def _changed(self, change: dict[str, Any]) -> None:
        if self._adjusting:
            return
        self._adjusting = True
        try:  # keep dependent ranges valid: overlap below size, min_size up to max_size
            if "overlap" in self.sliders and "size" in self.sliders:
                self.sliders["overlap"].max = max(0, self.sliders["size"].value - 1)
            if "min_size" in self.sliders and "max_size" in self.sliders:
                self.sliders["min_size"].max = self.sliders["max_size"].value
        finally:
            self._adjusting = False
        self.rechunk(**{name: slider.value for name, slider in self.sliders.items()})

    def rechunk(self, **changes: Any) -> None:
        """Chunk the same text again with these options changed, and redraw; a value the chunker refuses
        leaves the last drawing and says why."""
        options = {**self.result.options, **changes}
        try:
            result = chunk(self.result.source, method=self.result.method, **options)
        except NbragError as error:
            self.status.value = f'<span class="nbrag-refused">{e(error)}</span>'
            return
        self.status.value = ""
        self.result = result
        self.boundary.show(result)
        self._plot()

    def to_html(self) -> str:
        return self.boundary.to_html()
