"""The view of an :class:`~nbrag.inspectors.AttentionMap` (``AttentionView(amap, **options)``).

Layer and head pickers (or the mean over either), a token × token heatmap of the pick (a window
of :data:`WINDOW` tokens with a start slider for longer texts), the text where hovering or
clicking a token shades the tokens it attends to (:class:`~nbrag.views.tokens.TokenText`), and a
layer × head map of entropy, distance or first-token share: clicking a cell picks that head.
Plotly labels and hover texts are escaped (plotly reads a little HTML in them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets
import numpy as np

from nbrag.errors import NbragError
from nbrag.inspectors.base import check_index, is_tiny
from nbrag.views.shared import WithStaticHTML, count, e, plain
from nbrag.views.tokens import LIVE, MODEBAR, TokenText, header, layer_ticks, selection, token_labels, token_pieces

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.inspectors.attention_map import AttentionMap

MEAN = "mean"  # the pickers' value for "mean over heads" / "mean over layers"
WINDOW = 128  # tokens the attention heatmap shows at once
STATIC_TOKENS = 32  # tokens of the static attention heatmap
METRICS = {"entropy": "entropy (nats)", "distance": "distance (tokens)", "sink": "first-token share"}
RANDOM_ATTENTION = "random weights: the mechanism, not a trained model's attention"
ATTENTION_HINT = "Hover a token to shade the tokens it attends to (darker: more); click it to pin it."


def pick_weights(amap: AttentionMap, layer: int | str, head: int | str) -> np.ndarray:
    """The ``[tokens, tokens]`` weights of a pick: one head of one layer, or the mean over heads (``head="mean"``),
    over layers (``layer="mean"``), or both. Layers are numbered as the model numbers them."""
    if layer == MEAN and head == MEAN:
        return amap.mean("all")
    if layer == MEAN:
        return amap.weights[:, _head(amap, head)].mean(axis=0)
    if head == MEAN:
        return amap.layer(int(layer)).mean(axis=0)
    return amap.head(int(layer), int(head))


def _head(amap: AttentionMap, head: int | str) -> int:
    return check_index(int(head), amap.num_heads, "heads per layer", option="head")


def pick_name(layer: int | str, head: int | str) -> str:
    where = "mean over layers" if layer == MEAN else f"layer {layer}"
    which = "mean over heads" if head == MEAN else f"head {head}"
    return f"{where}, {which}"


def window_bounds(n: int, start: int = 0, size: int = WINDOW) -> tuple[int, int]:
    """The tokens ``[start, end)`` the heatmap shows: all of them up to ``size``, else ``size`` from ``start``
    (moved back so the window stays inside the text)."""
    if n <= size:
        return 0, n
    start = min(max(0, int(start)), n - size)
    return start, start + size


def window_note(n: int, start: int, end: int) -> str:
    if end - start >= n:
        return ""
    return (f"The text has {n:,} tokens: the heatmap shows tokens {start}–{end - 1} (a window of {end - start}); "
            "move 'window start' to see the rest, or click a token in the text to centre the window on it. "
            "Underlined tokens are in the window.")


def head_metric(amap: AttentionMap, metric: str) -> np.ndarray:
    """``[kept layers, heads]`` of a head summary: entropy, distance or sink (first-token share)."""
    return np.asarray(getattr(amap, check_metric(metric)))


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise NbragError(f"use one of {', '.join(METRICS)}.", option="metric", value=metric)
    return metric


def axis_labels(labels: list[str], start: int, end: int) -> list[str]:
    """Unique category labels for the heatmap's axes: position and token (``"3 cat"``), escaped for plotly."""
    return [plain(f"{i} {labels[i]}") for i in range(start, end)]


def attention_trace(amap: AttentionMap, weights: np.ndarray, labels: list[str], start: int, end: int,
                    skip_first: bool = True) -> dict[str, Any]:
    """The heatmap trace of a pick's window: rows are queries, columns the keys they attend to."""
    z = weights[start:end, start:end]
    ticks = axis_labels(labels, start, end)
    cols = z[:, 1:] if skip_first and start == 0 and z.shape[1] > 1 else z
    zmax = float(cols.max()) if cols.size else 1.0
    return {"z": z, "x": ticks, "y": ticks, "zmin": 0.0, "zmax": zmax if zmax > 0 else 1.0,
            "colorscale": "Blues", "colorbar": {"thickness": 10, "len": 0.8},
            "hovertemplate": "query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"}


class AttentionView(WithStaticHTML, ipywidgets.VBox):
    """What an ``AttentionMap`` shows: pickers, the token × token heatmap, the token text, head summaries."""

    def __init__(self, amap: AttentionMap, *, layer: int | str | None = None, head: int | str | None = None,
                 metric: str = "entropy", window: int = WINDOW, **kwargs: Any) -> None:
        import plotly.graph_objects as go

        super().__init__(**kwargs)
        check_metric(metric)
        self.amap = amap
        self.size = max(2, int(window))
        n = amap.num_tokens
        self.labels = token_labels(amap.text, amap.tokens, amap.offsets)
        chosen = selection(amap)  # where %%attention --layer/--head asked the view to open
        if layer is None:
            layer = chosen["layer"] if chosen.get("layer") in amap.layers else amap.layers[len(amap.layers) // 2]
        if head is None:
            head = chosen["head"] if 0 <= chosen.get("head", -1) < amap.num_heads else 0
        if layer != MEAN:
            pick_weights(amap, layer, MEAN)  # a layer this map does not hold is refused here, with the reason
        if head != MEAN:
            head = _head(amap, head)
        self.layer = ipywidgets.Dropdown(options=[("mean over layers", MEAN)] +
                                         [(f"layer {n_}", n_) for n_ in amap.layers], value=layer,
                                         description="layer", layout={"width": "200px"}, **LIVE)
        self.head = ipywidgets.Dropdown(options=[("mean over heads", MEAN)] +
                                        [(f"head {h}", h) for h in range(amap.num_heads)], value=head,
                                        description="head", layout={"width": "190px"}, **LIVE)
        self.skip_first = ipywidgets.Checkbox(value=True, description="colour scale without the first token",
                                              indent=False, layout={"width": "270px"})
        self.start = ipywidgets.IntSlider(value=0, min=0, max=max(0, n - self.size), description="window start",
                                          continuous_update=False, layout={"width": "360px"}, **LIVE)
        if n <= self.size:
            self.start.layout.display = "none"
        self.metric = ipywidgets.Dropdown(options=[(label, m) for m, label in METRICS.items()], value=metric,
                                          description="head summary", layout={"width": "280px"}, **LIVE)
        self.header = ipywidgets.HTML(self._header())
        self.note = ipywidgets.HTML()
        self.picked = ipywidgets.HTML()
        self.text = TokenText(mode="attention", pieces=token_pieces(amap.text, amap.tokens, amap.offsets),
                              labels=self.labels, hint=ATTENTION_HINT, n=n)
        self.heatmap = go.FigureWidget(layout={
            "width": 450, "height": 450, "template": "plotly_white", "modebar": MODEBAR,
            "margin": {"l": 90, "r": 10, "t": 36, "b": 90},
            "yaxis": {"autorange": "reversed", "title": "query (attends from)", "type": "category"},
            "xaxis": {"title": "key (attends to)", "type": "category", "tickangle": -60},
            "title": {"font": {"size": 13}}})
        self.heatmap.add_heatmap(**attention_trace(amap, np.zeros((n, n), np.float32), self.labels, 0,
                                                   min(n, self.size)))
        rows = len(amap.layers)
        self.grid = go.FigureWidget(layout={
            "width": max(260, 110 + 22 * amap.num_heads), "height": min(900, max(240, 110 + 18 * rows)),
            "template": "plotly_white", "margin": {"l": 70, "r": 10, "t": 36, "b": 40}, "modebar": MODEBAR,
            "yaxis": {"autorange": "reversed", "title": "layer", **layer_ticks(amap.layers)},
            "xaxis": {"title": "head", "dtick": 1}, "title": {"font": {"size": 13}}})
        self.grid.add_heatmap(x=list(range(amap.num_heads)), y=list(amap.layers), colorscale="Viridis",
                              colorbar={"thickness": 10, "len": 0.8})
        self.grid.data[0].on_click(self._grid_clicked)
        for control in (self.layer, self.head, self.skip_first, self.start):
            control.observe(lambda _: self._draw(), names="value")
        self.metric.observe(lambda _: self._draw_grid(), names="value")
        self.text.observe(self._token_picked, names="selected")
        controls = ipywidgets.HBox([self.layer, self.head, self.start, self.skip_first],
                                   layout={"flex_flow": "row wrap", "align_items": "center"})
        heat = ipywidgets.Box([self.heatmap], layout={"width": f"{self.heatmap.layout.width + 10}px"})
        heat.add_class("nbrag-attention-heatmap")
        grid = ipywidgets.VBox([self.metric, self.grid, self.picked],
                               layout={"width": f"{max(300, self.grid.layout.width + 10)}px"})
        grid.add_class("nbrag-attention-heads")
        self.children = [self.header, controls, self.note, self.text,
                         ipywidgets.HBox([heat, grid], layout={"flex_flow": "row wrap"})]
        self._draw_grid()
        self._draw()

    @classmethod
    def of(cls, amap: AttentionMap, **options: Any) -> AttentionView:
        return cls(amap, **options)

    # ------------------------------------------------------------------ what is picked

    @property
    def weights(self) -> np.ndarray:
        """The ``[tokens, tokens]`` weights of the current pick."""
        return pick_weights(self.amap, self.layer.value, self.head.value)

    @property
    def bounds(self) -> tuple[int, int]:
        return window_bounds(self.amap.num_tokens, self.start.value, self.size)

    def pick(self, layer: int | str | None = None, head: int | str | None = None) -> None:
        """Pick a layer and/or head (``"mean"`` for the mean over them) and redraw once."""
        self._holding = True
        try:
            if layer is not None:
                self.layer.value = layer
            if head is not None:
                self.head.value = head
        finally:
            self._holding = False
        self._draw()

    _holding = False

    def _header(self) -> str:
        a = self.amap
        kept = "" if len(a.layers) == a.num_layers else f" (of {a.num_layers})"
        banner = RANDOM_ATTENTION if is_tiny(a.model, a.notes) else ""
        return header("Attention", a.model, f'{count(len(a.layers), "layer")}{kept} × {count(a.num_heads, "head")} × '
                      f'{count(a.num_tokens, "token")} · {e(a.implementation)} attention · '
                      f'{"causal" if a.causal else "bidirectional"} · mean entropy {a.entropy.mean():.2f} nats · '
                      f"first-token share {a.sink.mean():.2f}", a.notes, banner)

    # ------------------------------------------------------------------ drawing

    def _draw(self) -> None:
        if self._holding:
            return
        a = self.amap
        weights = self.weights
        start, end = self.bounds
        trace = attention_trace(a, weights, self.labels, start, end, self.skip_first.value)
        self.note.value = (f'<div class="nbrag-inspector nbrag-muted">{e(window_note(a.num_tokens, start, end))}'
                           "</div>") if end - start < a.num_tokens else ""
        with self.text.hold_sync():
            self.text.n = a.num_tokens
            self.text.weights = np.ascontiguousarray(weights, dtype=np.float32).tobytes()
            self.text.skip_first = self.skip_first.value
            self.text.window = [start, end]
            self.text.windowed = end - start < a.num_tokens
        with self.heatmap.batch_update():
            self.heatmap.data[0].update(trace)
            self.heatmap.layout.title.text = plain(f"{pick_name(self.layer.value, self.head.value)}"
                                                    + (f" · tokens {start}–{end - 1}" if end - start < a.num_tokens
                                                       else ""))
            self.heatmap.layout.shapes = self._row_mark(start, end)
        self.grid.layout.shapes = self._grid_mark()
        self.picked.value = self._picked_html()

    def _row_mark(self, start: int, end: int) -> tuple[dict[str, Any], ...]:
        i = self.text.selected
        if not start <= i < end:
            return ()
        return ({"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": i - start - 0.5,
                 "y1": i - start + 0.5, "line": {"color": "#fd7e14", "width": 2}},)

    def _grid_mark(self) -> tuple[dict[str, Any], ...]:
        layer, head = self.layer.value, self.head.value
        if layer == MEAN and head == MEAN:
            return ()
        layers = self.amap.layers
        gap = (layers[1] - layers[0]) / 2 if len(layers) > 1 else 0.5
        y0, y1 = (layers[0] - gap, layers[-1] + gap) if layer == MEAN else (layer - gap, layer + gap)
        x0, x1 = (-0.5, self.amap.num_heads - 0.5) if head == MEAN else (head - 0.5, head + 0.5)
        return ({"type": "rect", "x0": x0, "x1": x1, "y0": y0, "y1": y1, "line": {"color": "#cf222e", "width": 2.5}},)

    def _draw_grid(self) -> None:
        metric = self.metric.value
        z = head_metric(self.amap, metric)
        unit = {"entropy": "{z:.3f} nats", "distance": "{z:.2f} tokens", "sink": "{z:.3f}"}[metric]
        with self.grid.batch_update():
            self.grid.data[0].update(z=z, hovertemplate=f"layer %{{y}}, head %{{x}}<br>{METRICS[metric]}: "
                                                        f"%{unit}<extra></extra>")
            self.grid.layout.title.text = f"{METRICS[metric]} · click a cell to pick"
            self.grid.layout.shapes = self._grid_mark()

    def _picked_html(self) -> str:
        a, layer, head = self.amap, self.layer.value, self.head.value
        rows = [i for i, n in enumerate(a.layers) if layer == MEAN or n == layer]
        cols = list(range(a.num_heads)) if head == MEAN else [head]
        values = {m: float(getattr(a, m)[np.ix_(rows, cols)].mean()) for m in METRICS}
        return (f'<div class="nbrag-inspector nbrag-muted">{e(pick_name(layer, head))}: entropy '
                f'{values["entropy"]:.2f} nats (a head attending evenly would have {a.uniform_entropy():.2f}) · '
                f'distance {values["distance"]:.1f} tokens · first-token share {values["sink"]:.2f}</div>')

    # ------------------------------------------------------------------ events

    def _grid_clicked(self, trace: Any, points: Any, state: Any) -> None:
        if points.xs and points.ys:
            self.pick(layer=round(points.ys[0]), head=round(points.xs[0]))

    def _token_picked(self, change: dict[str, Any]) -> None:
        i = change["new"]
        start, end = self.bounds
        if i >= 0 and not start <= i < end:  # the window follows the pinned token
            self.start.value = window_bounds(self.amap.num_tokens, i - self.size // 2, self.size)[0]
            return  # the slider's change redraws
        with self.heatmap.batch_update():
            self.heatmap.layout.shapes = self._row_mark(start, end)

    # ------------------------------------------------------------------ static

    def to_html(self) -> str:
        a = self.amap
        start, end = self.bounds
        stop = min(end, start + STATIC_TOKENS)
        weights = self.weights
        top = attention_trace(a, weights[:stop, :stop], self.labels, start, stop, self.skip_first.value)["zmax"]
        cells = []
        for i in range(start, stop):
            row = [f"<th>{e(self.labels[i][:12])}</th>"]
            for j in range(start, stop):
                w = float(weights[i, j])
                row.append(f'<td style="background:rgba(8,81,156,{min(1.0, w / top):.2f})" '
                           f'title="{e(self.labels[i])} → {e(self.labels[j])}: {w:.3f}"></td>')
            cells.append("<tr>" + "".join(row) + "</tr>")
        cut = f" (the first {stop - start} tokens of the window)" if stop - start < end - start else ""
        metric = self.metric.value
        grid = head_metric(a, metric)
        low, high = float(grid.min()), float(grid.max())
        heads = ["<tr><th>layer \\ head</th>" + "".join(f"<th>{h}</th>" for h in range(a.num_heads)) + "</tr>"]
        for r, layer in enumerate(a.layers):
            tds = "".join(f'<td style="background:rgba(33,102,172,{(v - low) / ((high - low) or 1):.2f})" '
                          f'title="layer {layer} head {h}: {v:.3f}"></td>' for h, v in enumerate(grid[r]))
            heads.append(f"<tr><th>{layer}</th>{tds}</tr>")
        focus = self.text.selected if self.text.selected >= 0 else a.num_tokens - 1
        return (f"{self.header.value}<div class=\"nbrag-inspector\">"
                f'<div class="nbrag-muted">{e(pick_name(self.layer.value, self.head.value))}: the text shaded by '
                f"what token {focus} «{e(self.labels[focus])}» attends to.</div></div>{self.text.to_html()}"
                '<div class="nbrag-inspector nbrag-row"><div>'
                f'<div class="nbrag-muted">weights, query rows × key columns{cut}</div>'
                f'<table class="nbrag-grid">{"".join(cells)}</table></div><div>'
                f'<div class="nbrag-muted">{e(METRICS[metric])} per head ({low:.2f} light – {high:.2f} dark)</div>'
                f'<table class="nbrag-grid">{"".join(heads)}</table></div></div>')


# ---------------------------------------------------------------------- KV cache
