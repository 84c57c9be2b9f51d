"""The views of MoE routing: :class:`RoutingView` (a :class:`~nbrag.inspectors.RoutingTrace`: the text
coloured by each token's first-choice expert in the picked layer, as in the Mixtral paper's figure, the
layer × expert load with CV, entropy and aux loss, the picked layer's co-activation) and
:class:`RoutingComparisonView` (a :class:`~nbrag.inspectors.RoutingComparison`: two texts' loads side by
side, with the Jensen-Shannon divergence of their load distributions per layer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets
import numpy as np

from nbrag.errors import NbragError
from nbrag.inspectors.base import is_tiny
from nbrag.views.shared import WithStaticHTML, count, e, plain, show_figure
from nbrag.views.tokens import LIVE, MODEBAR, TokenText, header, layer_ticks, selection, token_labels, token_pieces

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.inspectors.moe import RoutingComparison, RoutingTrace

RANDOM_ROUTING = "random weights: the mechanism, not a trained model's specialisation"
ROUTING_HINT = "Colour: each token's first-choice expert in this layer. Hover a token for all its experts and weights."
# Tableau 20 in pairs (strong, light), then generated hues: light enough for dark text on top.
PALETTE = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
           "#c7c7c7", "#6baed6", "#fd8d3c", "#74c476", "#f768a1", "#9e9ac8", "#e7ba52", "#7fcdbb", "#fdd0a2",
           "#bcbddc", "#d9d9d9")


def expert_colours(n: int) -> list[str]:
    """A light background colour per expert, readable under dark text: the palette, then evenly spread hues."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({(i * 137.508) % 360:.0f}, 70%, {72 + 8 * (i % 3 == 1) - 6 * (i % 3 == 2)}%)" for i in range(n)]


def route_titles(trace: RoutingTrace, layer: int, labels: list[str]) -> list[str]:
    """Per token, the hover text: its experts and weights in ``layer``, then its first choices in the other layers."""
    row = trace.row(layer)
    out = []
    for t in range(trace.num_tokens):
        chosen = " · ".join(f"expert {int(x)} ({float(w):.2f})"
                            for x, w in zip(trace.experts[row, t], trace.weights[row, t]))
        text = f"token {t} «{labels[t]}», layer {layer}: {chosen}"
        if 1 < len(trace.layers) <= 16:
            text += "; first choice per layer: " + ", ".join(
                f"{n}→{int(trace.experts[r, t, 0])}" for r, n in enumerate(trace.layers))
        out.append(text)
    return out


def routing_stats(trace: RoutingTrace) -> list[dict[str, Any]]:
    """Per MoE layer: CV and normalised entropy of the load, aux loss, the busiest expert and its share."""
    rows = []
    for r, layer in enumerate(trace.layers):
        load = trace.load[r]
        top = int(load.argmax())
        rows.append({"layer": layer, "cv": float(trace.cv[r]), "entropy": float(trace.entropy[r]),
                     "aux_loss": float(trace.aux_loss[r]), "busiest": top,
                     "share": float(load[top] / load.sum()) if load.sum() else 0.0})
    return rows


def routing_header(trace: RoutingTrace) -> str:
    checks = []
    if trace.reference_aux_loss is not None:
        checks.append(f"transformers' load_balancing_loss_func {trace.reference_aux_loss:.4f}")
    if trace.model_aux_loss is not None:
        checks.append(f"the model's own aux_loss {trace.model_aux_loss:.4f}")
    banner = RANDOM_ROUTING if is_tiny(trace.model, trace.notes) else ""
    return header("Routing", f"{trace.model} ({trace.family})",
                  f'{count(trace.num_tokens, "token")} × {count(len(trace.layers), "MoE layer")}'
                  f" · top-{trace.top_k} of {trace.num_experts} experts · aux loss {trace.aux_loss_total:.4f} over all "
                  f"layers (an even router gives {trace.top_k})"
                  f'{" = " + " = ".join(e(c) for c in checks) if checks else ""} · {e(trace.source)}',
                  trace.notes, banner)


def stats_html(trace: RoutingTrace, picked: int | None = None) -> str:
    rows = "".join(f'<tr{" class=nbrag-picked" if r["layer"] == picked else ""}><td>{r["layer"]}</td>'
                   f'<td>{r["cv"]:.3f}</td><td>{r["entropy"]:.3f}</td><td>{r["aux_loss"]:.3f}</td>'
                   f'<td>{r["busiest"]} ({100 * r["share"]:.0f}%)</td></tr>' for r in routing_stats(trace))
    return ('<div class="nbrag-inspector"><div class="nbrag-muted">Balance per layer: CV of the load (0: even), '
            f"entropy of the load shares (1: even), Switch aux loss (even: {trace.top_k})</div>"
            '<div class="nbrag-scroll"><table class="nbrag-table"><tr><th>layer</th><th>load CV</th><th>entropy</th>'
            f"<th>aux loss</th><th>busiest expert</th></tr>{rows}</table></div></div>")


class RoutingView(WithStaticHTML, ipywidgets.VBox):
    """What a ``RoutingTrace`` shows: the text coloured by first-choice expert per layer, load, co-activation."""

    def __init__(self, trace: RoutingTrace, *, layer: int | None = None, expert: int | None = None,
                 **kwargs: Any) -> None:
        import plotly.graph_objects as go

        super().__init__(**kwargs)
        self.trace = trace
        chosen = selection(trace)  # where %%moe --layer/--expert asked the view to open
        if layer is None:
            layer = chosen["layer"] if chosen.get("layer") in trace.layers else trace.layers[0]
        if expert is None:
            expert = chosen["expert"] if 0 <= chosen.get("expert", -1) < trace.num_experts else -1
        trace.row(layer)
        if not -1 <= expert < trace.num_experts:
            raise NbragError(f"out of range: this model has {trace.num_experts} experts (0 to "
                             f"{trace.num_experts - 1}; -1 marks none).", option="expert", value=expert)
        self.labels = token_labels(trace.text, trace.tokens, trace.offsets)
        self.colours = expert_colours(trace.num_experts)
        self.layer = ipywidgets.Dropdown(options=[(f"layer {n}", n) for n in trace.layers], value=layer,
                                         description="layer", layout={"width": "180px"}, **LIVE)
        self.expert = ipywidgets.Dropdown(options=[("all experts", -1)] +
                                          [(f"expert {x}", x) for x in range(trace.num_experts)], value=expert,
                                          description="mark tokens of", layout={"width": "240px"}, **LIVE)
        self.header = ipywidgets.HTML(routing_header(trace))
        self.stats = ipywidgets.HTML()
        self.text = TokenText(mode="routing", pieces=token_pieces(trace.text, trace.tokens, trace.offsets),
                              labels=self.labels, hint=ROUTING_HINT)
        experts = list(range(trace.num_experts))
        self.load = go.FigureWidget(layout={
            "width": max(360, 140 + 22 * trace.num_experts), "height": min(700, 140 + 22 * len(trace.layers)),
            "template": "plotly_white", "margin": {"l": 60, "r": 10, "t": 40, "b": 40}, "modebar": MODEBAR,
            "title": {"text": "Load: tokens per expert · click a cell to pick", "font": {"size": 13}},
            "xaxis": {"title": "expert", "dtick": 1 if trace.num_experts <= 32 else None},
            "yaxis": {"title": "layer", "autorange": "reversed", **layer_ticks(trace.layers)}})
        customdata = np.stack([np.repeat(routing_stat_array(trace)[:, None, i], trace.num_experts, axis=1)
                               for i in range(3)], axis=-1)
        self.load.add_heatmap(z=trace.load, x=experts, y=list(trace.layers), colorscale="Oranges",
                              customdata=customdata, colorbar={"thickness": 10, "len": 0.8},
                              hovertemplate="layer %{y}, expert %{x}: %{z} tokens<br>layer load CV "
                                            "%{customdata[0]:.3f}, entropy %{customdata[1]:.3f}, aux loss "
                                            "%{customdata[2]:.3f}<extra></extra>")
        self.load.data[0].on_click(self._load_clicked)
        self.coactivation = go.FigureWidget(layout={
            "width": max(340, 140 + 22 * trace.num_experts), "height": max(320, 120 + 22 * trace.num_experts),
            "template": "plotly_white", "margin": {"l": 60, "r": 10, "t": 40, "b": 40}, "modebar": MODEBAR,
            "title": {"font": {"size": 13}}, "xaxis": {"title": "expert", "dtick": 1 if trace.num_experts <= 32
                                                       else None},
            "yaxis": {"title": "expert", "autorange": "reversed", "dtick": 1 if trace.num_experts <= 32 else None}})
        self.coactivation.add_heatmap(x=experts, y=experts, colorscale="Purples",
                                      colorbar={"thickness": 10, "len": 0.8},
                                      hovertemplate="experts %{y} and %{x}: %{z} tokens chose both<extra></extra>")
        self.layer.observe(lambda _: self._draw(), names="value")
        self.expert.observe(lambda _: self._draw(), names="value")
        controls = ipywidgets.HBox([self.layer, self.expert], layout={"flex_flow": "row wrap",
                                                                      "align_items": "center"})
        self.children = [self.header, controls, self.text,
                         ipywidgets.HBox([self.load, self.coactivation], layout={"flex_flow": "row wrap"}),
                         self.stats]
        self._draw()

    @classmethod
    def of(cls, trace: RoutingTrace, **options: Any) -> RoutingView:
        return cls(trace, **options)

    def _draw(self) -> None:
        trace, layer = self.trace, self.layer.value
        row = trace.row(layer)
        first = trace.experts[row, :, 0]
        expert = self.expert.value
        marked = [] if expert < 0 else trace.routed_to(layer, expert)
        load = trace.load[row]
        with self.text.hold_sync():
            self.text.colours = [self.colours[int(x)] for x in first]
            self.text.titles = route_titles(trace, layer, self.labels)
            self.text.marked = marked
            self.text.legend = [{"label": f"expert {x}: {int(load[x])}", "colour": self.colours[x],
                                 "title": f"expert {x} received {int(load[x])} of {int(load.sum())} choices in "
                                          f"layer {layer}; {int((first == x).sum())} tokens chose it first"}
                                for x in range(trace.num_experts)]
            self.text.hint = ROUTING_HINT + (f" Marked: the {len(marked)} tokens that chose expert {expert} "
                                             "(first or not); the rest fade." if expert >= 0 else "")
        with self.coactivation.batch_update():
            self.coactivation.data[0].z = trace.coactivation[row]
            self.coactivation.layout.title.text = f"Co-activation, layer {layer}: tokens that chose both"
        gap = 0.5
        self.load.layout.shapes = ({"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "y0": layer - gap,
                                    "y1": layer + gap, "line": {"color": "#1f2328", "width": 2}},)
        self.stats.value = stats_html(trace, layer)

    def _load_clicked(self, trace: Any, points: Any, state: Any) -> None:
        if points.xs and points.ys:
            layer, expert = round(points.ys[0]), round(points.xs[0])
            if layer in self.trace.layers:
                self.layer.value = layer
                self.expert.value = expert

    def to_html(self) -> str:
        return (f"{self.header.value}<div class=\"nbrag-inspector nbrag-muted\">layer {self.layer.value}: "
                f"each token coloured by its first-choice expert (hover for all its experts)</div>"
                f"{self.text.to_html()}{load_table(self.trace, self.colours)}{self.stats.value}")


def routing_stat_array(trace: RoutingTrace) -> np.ndarray:
    """``[layers, 3]``: CV, entropy and aux loss per layer."""
    return np.stack([trace.cv, trace.entropy, trace.aux_loss], axis=-1).astype(float)


def load_table(trace: RoutingTrace, colours: list[str]) -> str:
    """The layer × expert load as an HTML table, shaded by each layer's largest load."""
    head = "".join(f'<th style="background:{colours[x]}">{x}</th>' for x in range(trace.num_experts))
    rows = []
    for r, layer in enumerate(trace.layers):
        top = int(trace.load[r].max()) or 1
        cells = "".join(f'<td style="background:rgba(230,85,13,{v / top:.2f})">{int(v)}</td>' for v in trace.load[r])
        rows.append(f"<tr><th>{layer}</th>{cells}</tr>")
    return ('<div class="nbrag-inspector"><div class="nbrag-muted">Load: tokens per expert (rows: layers, '
            f'columns: experts)</div><table class="nbrag-table"><tr><th>layer</th>{head}</tr>{"".join(rows)}'
            "</table></div>")




# ---------------------------------------------------------------------- two routings compared

def comparison_bars(c: RoutingComparison, layer: int) -> go.Figure:
    """Each text's load share per expert in one layer, side by side."""
    import plotly.graph_objects as go

    row = c.layers.index(layer)
    experts = [str(x) for x in range(c.num_experts)]
    fig = go.Figure()
    for side, colour in ((0, "#1f77b4"), (1, "#ff7f0e")):
        fig.add_bar(x=experts, y=c.shares[side, row].tolist(), name=plain(c.names[side]), marker_color=colour,
                    hovertemplate=f"{plain(c.names[side])}: expert %{{x}} %{{y:.1%}} of choices<extra></extra>")
    fig.update_layout(barmode="group", title=f"Layer {layer}: load share per expert · JS divergence "
                                             f"{float(c.js[row]):.3f} bits",
                      xaxis_title="expert", yaxis_title="share of the layer's choices", yaxis_tickformat=".0%",
                      template="plotly_white", width=470, height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def divergence_figure(c: RoutingComparison, layer: int | None = None) -> go.Figure:
    """The Jensen-Shannon divergence of the two loads per layer (the picked layer darker)."""
    import plotly.graph_objects as go

    colours = ["#6f42c1" if n == layer else "#c5b0d5" for n in c.layers]
    fig = go.Figure(go.Bar(x=[str(n) for n in c.layers], y=c.js.tolist(), marker_color=colours,
                           hovertemplate="layer %{x}: %{y:.3f} bits<extra></extra>"))
    fig.update_layout(title=f"JS divergence per layer (mean {c.specialisation:.3f})",
                      xaxis_title="MoE layer", yaxis_title="bits (0 same, 1 disjoint)", yaxis_range=[0, 1],
                      template="plotly_white", width=340, height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


class RoutingComparisonView(WithStaticHTML, ipywidgets.VBox):
    """Two texts' routings through one model: load per expert side by side for the picked layer, and the JS
    divergence of the two load distributions per layer."""

    def __init__(self, comparison: RoutingComparison, *, layer: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.comparison = c = comparison
        self.layer = ipywidgets.Dropdown(options=[(f"layer {n}", n) for n in c.layers],
                                         value=c.layers[0] if layer is None else layer, description="layer",
                                         layout={"width": "180px"}, **LIVE)
        self.bars = ipywidgets.Output()
        self.divergence = ipywidgets.Output()
        banner = RANDOM_ROUTING if c.tiny else ""
        self.header = ipywidgets.HTML(header(
            "Routing compared", c.model,
            f'“{e(c.names[0])}” ({count(c.tokens[0], "token")}) vs “{e(c.names[1])}” '
            f'({count(c.tokens[1], "token")}) · top-{c.top_k} of {c.num_experts} experts · specialisation '
            f"(mean JS divergence of the two loads) {c.specialisation:.3f} bits", c.notes, banner))
        self.layer.observe(lambda _: self._draw(), names="value")
        self.children = [self.header, self.layer, ipywidgets.HBox([self.bars, self.divergence],
                                                                  layout={"flex_flow": "row wrap"})]
        self._draw()

    def _draw(self) -> None:
        show_figure(self.bars, comparison_bars(self.comparison, self.layer.value))
        show_figure(self.divergence, divergence_figure(self.comparison, self.layer.value))

    def to_html(self) -> str:
        c = self.comparison
        rows = []
        for r, layer in enumerate(c.layers):
            shares = [" · ".join(f"{x}: {100 * s:.0f}%" for x, s in enumerate(c.shares[side, r])) for side in (0, 1)]
            rows.append(f"<tr><td>{layer}</td><td>{float(c.js[r]):.3f}</td><td class=\"nbrag-left\">{shares[0]}</td>"
                        f'<td class="nbrag-left">{shares[1]}</td></tr>')
        return (f'{self.header.value}<div class="nbrag-inspector"><table class="nbrag-table"><tr><th>layer</th>'
                f'<th>JS (bits)</th><th class="nbrag-left">{e(c.names[0])}: share per expert</th>'
                f'<th class="nbrag-left">{e(c.names[1])}: share per expert</th></tr>{"".join(rows)}</table></div>')
