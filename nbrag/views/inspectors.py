"""Views of the inspectors' results: attention, the KV cache and its speed, MoE routing.

* :class:`AttentionView` (``AttentionMap.view()``): layer and head pickers (or the mean over
  either), a token × token heatmap of the pick (a window of :data:`WINDOW` tokens with a start
  slider for longer texts), the text where hovering or clicking a token shades the tokens it
  attends to, and a layer × head map of entropy, distance or first-token share: clicking a cell
  picks that head;
* :class:`CacheView` (``CacheReport.view()``): the per-layer table, the total against the formula
  with its numbers, the growth curve, what other caches would hold; :class:`SpeedView`
  (``SpeedReport.view()``): tokens per second with and without the cache;
* :class:`RoutingView` (``RoutingTrace.view()``): the text coloured by each token's first-choice
  expert in the picked layer (as in the Mixtral paper's figure), the layer × expert load with
  CV, entropy and aux loss, the picked layer's co-activation; :func:`compare_routing` and
  :class:`RoutingComparisonView`: two texts' loads side by side, with the Jensen-Shannon
  divergence of their load distributions per layer.

Python computes what is drawn: which weights, the pieces of text between token offsets, the
colours and hover texts. The JavaScript of the token text (``widgets/tokens.js``) only draws,
and sets every piece of text as text. Plotly labels and hover texts are escaped (plotly reads a
little HTML in them), and so is every string of the static drawings (``to_html``), which
outputs without a kernel show.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import numpy as np
import traitlets

from nbrag.views.html import WithStaticHTML, static
from nbrag.views.chunks import figure_bundle

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.inspectors.attention_map import AttentionMap
    from nbrag.inspectors.kvcache import CacheReport, Geometry, SpeedReport
    from nbrag.inspectors.moe import RoutingTrace

MEAN = "mean"  # the pickers' value for "mean over heads" / "mean over layers"
WINDOW = 128  # tokens the attention heatmap shows at once
STATIC_TOKENS = 32  # tokens of the static attention heatmap
METRICS = {"entropy": "entropy (nats)", "distance": "distance (tokens)", "sink": "first-token share"}
RANDOM_ATTENTION = "random weights: the mechanism, not a trained model's attention"
RANDOM_ROUTING = "random weights: the mechanism, not a trained model's specialisation"
ATTENTION_HINT = "Hover a token to shade the tokens it attends to (darker: more); click it to pin it."
ROUTING_HINT = "Colour: each token's first-choice expert in this layer. Hover a token for all its experts and weights."
LIVE = {"style": {"description_width": "initial"}}
MODEBAR = {"orientation": "v"}  # down the right side: across the top it hides the title of a narrow figure
# Tableau 20 in pairs (strong, light), then generated hues: light enough for dark text on top.
PALETTE = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
           "#c7c7c7", "#6baed6", "#fd8d3c", "#74c476", "#f768a1", "#9e9ac8", "#e7ba52", "#7fcdbb", "#fdd0a2",
           "#bcbddc", "#d9d9d9")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _plain(value: Any) -> str:
    """Text for plotly's labels and hover boxes, which read a little HTML: markup shows as text."""
    return html.escape(str(value), quote=False)


def _style() -> str:
    return f"<style>{static('tokens.css').read_text()}</style>"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def selection(result: Any) -> dict[str, int]:
    """Where a result's view opens, as the magics keep it (``result.selection``: layer, head, expert)."""
    chosen = getattr(result, "selection", None)
    return {k: v for k, v in chosen.items() if isinstance(v, int)} if isinstance(chosen, dict) else {}


def is_tiny(name: str, notes: list[str] | None = None) -> bool:
    """Whether a result comes from a tiny random-weight model (``tiny:llama``, ``tiny-llama``, or its note)."""
    return str(name).startswith(("tiny:", "tiny-")) or any("random weights" in n for n in notes or [])


def notes_html(notes: list[str], banner: str = "") -> str:
    """The random-weights banner (when given) and the result's notes, escaped."""
    out = [f'<div class="nbrag-banner">⚠ {_e(banner)}</div>'] if banner else []
    if notes:
        out.append('<ul class="nbrag-notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "".join(out)


def _show(area: ipywidgets.Output, fig: go.Figure | None) -> None:
    area.outputs = () if fig is None else ({"output_type": "display_data", "data": figure_bundle(fig), "metadata": {}},)


# ---------------------------------------------------------------------- tokens as pieces of the text

def token_labels(text: str, tokens: list[str], offsets: list[tuple[int, int]]) -> list[str]:
    """What to call each token: its text (newlines and tabs made visible, a lone space as ␣), or for a
    special token without a span (``[CLS]``) its name."""
    out = []
    for token, (start, end) in zip(tokens, offsets):
        piece = text[start:end] if end > start else ""
        shown = piece.strip().replace("\n", "↵").replace("\t", "⇥")
        if not shown:
            shown = ("↵" * piece.count("\n") or "␣") if piece else token
        out.append(shown)
    return out


def token_pieces(text: str, tokens: list[str], offsets: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """The text cut at the tokens' offsets, in order: ``{"i": token, "s": its text}``, ``{"i": -1, "s": ...}``
    for text between tokens, and ``{"i": token, "s": "", "chip": name}`` for a token without a span of its own
    (special tokens; a second token inside the same character). Joined, the ``s`` give back the text."""
    pieces: list[dict[str, Any]] = []
    at = 0
    for i, (token, (start, end)) in enumerate(zip(tokens, offsets)):
        start, end = max(start, at), min(end, len(text))
        if end > start:
            if start > at:
                pieces.append({"i": -1, "s": text[at:start]})
            pieces.append({"i": i, "s": text[start:end]})
            at = end
        else:
            pieces.append({"i": i, "s": "", "chip": token})
    if at < len(text):
        pieces.append({"i": -1, "s": text[at:]})
    return pieces


def static_tokens(pieces: list[dict[str, Any]], colours: list[str], titles: list[str]) -> str:
    """The token text as static HTML: each token a span with its colour and title, every string escaped."""
    out = ['<div class="nbrag-tokens"><div class="nbrag-tokens-body">']
    for piece in pieces:
        i = piece["i"]
        if i < 0:
            out.append(_e(piece["s"]))
            continue
        special = " nbrag-special" if not piece["s"] else ""
        background = f' style="background:{colours[i]}"' if colours[i] else ""
        out.append(f'<span class="nbrag-tok{special}" data-i="{i}"{background} title="{_e(titles[i])}">'
                   f'{_e(piece["s"] or piece.get("chip", ""))}</span>')
    out.append("</div></div>")
    return "".join(out)


class TokenText(WithStaticHTML, anywidget.AnyWidget):
    """A text drawn token by token. ``mode="attention"``: hovering or clicking a token shades the tokens it
    attends to by ``weights`` (float32 bytes, ``n × n``, row-major). ``mode="routing"``: each token has the
    colour and hover text given in ``colours`` and ``titles``."""

    _esm = static("tokens.js")
    _css = static("tokens.css")

    mode = traitlets.Unicode("attention").tag(sync=True)
    pieces = traitlets.List(traitlets.Dict()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)  # the pinned token, -1 for none
    # attention
    n = traitlets.Int(0).tag(sync=True)
    weights = traitlets.Bytes(b"").tag(sync=True)
    skip_first = traitlets.Bool(True).tag(sync=True)
    window = traitlets.List(traitlets.Int(), [0, 0]).tag(sync=True)
    windowed = traitlets.Bool(False).tag(sync=True)
    # routing
    colours = traitlets.List(traitlets.Unicode()).tag(sync=True)
    titles = traitlets.List(traitlets.Unicode()).tag(sync=True)
    marked = traitlets.List(traitlets.Int()).tag(sync=True)
    legend = traitlets.List(traitlets.Dict()).tag(sync=True)

    def matrix(self) -> np.ndarray:
        """The weights the text shades by, as an ``n × n`` array."""
        return np.frombuffer(self.weights, dtype=np.float32).reshape(self.n, self.n) if self.n else \
            np.zeros((0, 0), np.float32)

    def to_html(self) -> str:
        if self.mode == "routing":
            colours, titles = list(self.colours), list(self.titles)
        else:  # shade by the pinned token's row, or the last token's
            colours, titles = shading(self.matrix(), self.selected if self.selected >= 0 else self.n - 1,
                                      self.labels, self.skip_first)
        legend = "".join(f'<span class="nbrag-tokens-key" style="background:{item["colour"]}">{_e(item["label"])}'
                         "</span>" for item in self.legend)
        body = static_tokens(self.pieces, colours, titles)
        return _style() + (f'<div class="nbrag-tokens"><div class="nbrag-tokens-legend">{legend}</div></div>'
                           if legend else "") + body


def shading(weights: np.ndarray, focus: int, labels: list[str], skip_first: bool = True) -> tuple[list[str], list[str]]:
    """Per token, the background and title that show what token ``focus`` attends to (as the widget draws it)."""
    n = len(labels)
    if not 0 <= focus < n or weights.shape != (n, n):
        return [""] * n, [f"token {j} «{labels[j]}»" for j in range(n)]
    row = weights[focus]
    scale = float(row[1:].max()) if skip_first and focus > 0 and n > 1 else 0.0
    scale = scale if scale > 0 else float(row.max()) or 1.0
    colours = [f"rgba(253, 126, 20, {0.06 + 0.84 * min(1.0, float(w) / scale):.3f})" if w > 0 else "" for w in row]
    titles = [f"«{labels[focus]}» → «{labels[j]}»: {float(row[j]):.4f}" for j in range(n)]
    return colours, titles


# ---------------------------------------------------------------------- attention

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
    from nbrag.inspectors.base import check_index

    return check_index(int(head), amap.num_heads, "Head")


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
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: use one of {', '.join(METRICS)}.")
    return np.asarray(getattr(amap, metric))


def uniform_entropy(amap: AttentionMap) -> float:
    """The entropy (nats, mean over queries) of a head that spreads its attention evenly over what each query
    sees: ln n for every query of a bidirectional model, ln(i + 1) for query i of a causal one."""
    n = amap.num_tokens
    return float(np.log(np.arange(1, n + 1)).mean()) if amap.causal else math.log(n)


def axis_labels(labels: list[str], start: int, end: int) -> list[str]:
    """Unique category labels for the heatmap's axes: position and token (``"3 cat"``), escaped for plotly."""
    return [_plain(f"{i} {labels[i]}") for i in range(start, end)]


def _layer_ticks(layers: list[int]) -> dict[str, Any]:
    """One tick per layer number while they fit (plotly would put ticks between the rows of a short map)."""
    if len(layers) > 40:
        return {}
    return {"tickmode": "array", "tickvals": list(layers), "ticktext": [str(n) for n in layers]}


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
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r}: use one of {', '.join(METRICS)}.")
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
            "width": 450, "height": 450, "template": "plotly_white", "modebar": MODEBAR, "margin": {"l": 90, "r": 10, "t": 36, "b": 90},
            "yaxis": {"autorange": "reversed", "title": "query (attends from)", "type": "category"},
            "xaxis": {"title": "key (attends to)", "type": "category", "tickangle": -60},
            "title": {"font": {"size": 13}}})
        self.heatmap.add_heatmap(**attention_trace(amap, np.zeros((n, n), np.float32), self.labels, 0,
                                                   min(n, self.size)))
        rows = len(amap.layers)
        self.grid = go.FigureWidget(layout={
            "width": max(260, 110 + 22 * amap.num_heads), "height": min(900, max(240, 110 + 18 * rows)),
            "template": "plotly_white", "margin": {"l": 70, "r": 10, "t": 36, "b": 40}, "modebar": MODEBAR,
            "yaxis": {"autorange": "reversed", "title": "layer", **_layer_ticks(amap.layers)},
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
        return (f'{_style()}<div class="nbrag-inspector"><h4>Attention · {_e(a.model)}</h4>'
                f'<div class="nbrag-muted">{_count(len(a.layers), "layer")}{kept} × {_count(a.num_heads, "head")} × '
                f'{_count(a.num_tokens, "token")} · {_e(a.implementation)} attention · '
                f'{"causal" if a.causal else "bidirectional"} · mean entropy {a.entropy.mean():.2f} nats · '
                f"first-token share {a.sink.mean():.2f}</div>{notes_html(a.notes, banner)}</div>")

    # ------------------------------------------------------------------ drawing

    def _draw(self) -> None:
        if self._holding:
            return
        a = self.amap
        weights = self.weights
        start, end = self.bounds
        trace = attention_trace(a, weights, self.labels, start, end, self.skip_first.value)
        self.note.value = (f'<div class="nbrag-inspector nbrag-muted">{_e(window_note(a.num_tokens, start, end))}'
                           "</div>") if end - start < a.num_tokens else ""
        with self.text.hold_sync():
            self.text.n = a.num_tokens
            self.text.weights = np.ascontiguousarray(weights, dtype=np.float32).tobytes()
            self.text.skip_first = self.skip_first.value
            self.text.window = [start, end]
            self.text.windowed = end - start < a.num_tokens
        with self.heatmap.batch_update():
            self.heatmap.data[0].update(trace)
            self.heatmap.layout.title.text = _plain(f"{pick_name(self.layer.value, self.head.value)}"
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
        return (f'<div class="nbrag-inspector nbrag-muted">{_e(pick_name(layer, head))}: entropy '
                f'{values["entropy"]:.2f} nats (a head attending evenly would have {uniform_entropy(a):.2f}) · '
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
            row = [f"<th>{_e(self.labels[i][:12])}</th>"]
            for j in range(start, stop):
                w = float(weights[i, j])
                row.append(f'<td style="background:rgba(8,81,156,{min(1.0, w / top):.2f})" '
                           f'title="{_e(self.labels[i])} → {_e(self.labels[j])}: {w:.3f}"></td>')
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
                f'<div class="nbrag-muted">{_e(pick_name(self.layer.value, self.head.value))}: the text shaded by '
                f"what token {focus} «{_e(self.labels[focus])}» attends to.</div></div>{self.text.to_html()}"
                '<div class="nbrag-inspector" style="display:flex;flex-wrap:wrap;gap:24px;margin-top:6px"><div>'
                f'<div class="nbrag-muted">weights, query rows × key columns{cut}</div>'
                f'<table class="nbrag-grid">{"".join(cells)}</table></div><div>'
                f'<div class="nbrag-muted">{_e(METRICS[metric])} per head ({low:.2f} light – {high:.2f} dark)</div>'
                f'<table class="nbrag-grid">{"".join(heads)}</table></div></div>')


# ---------------------------------------------------------------------- KV cache

def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape)


def _bytes(n: float) -> str:
    """Bytes with a binary unit beside them: ``1,536 (1.5 KiB)``."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= size:
            return f"{n:,.0f} ({n / size:.1f} {unit})"
    return f"{n:,.0f}"


def attention_kind(g: Geometry) -> str:
    """How query heads share the cached heads: grouped-query, multi-query, multi-head or latent attention."""
    if g.latent:
        return (f"multi-head latent attention: {g.query_heads} query heads rebuild their keys and values from one "
                f"cached latent of {g.key_dim} values and one rotary key of {g.value_dim} per token")
    if g.kv_heads == g.query_heads:
        return f"multi-head attention: each of the {g.query_heads} query heads has its own KV head"
    if g.kv_heads == 1:
        return (f"multi-query attention: all {g.query_heads} query heads share 1 KV head "
                f"({g.query_heads}× smaller than one KV head per query head)")
    return (f"grouped-query attention: {g.query_heads} query heads share {g.kv_heads} KV heads "
            f"({g.query_heads // g.kv_heads} query heads per KV head: {g.query_heads / g.kv_heads:g}× smaller than "
            "one KV head per query head)")


def cache_rows(report: CacheReport) -> list[dict[str, Any]]:
    """The per-layer table: shapes ``[batch, kv heads, tokens, dim]``, dtype, bytes, formula bytes, equal or not."""
    return [{"layer": c.layer, "kind": c.kind, "keys": _shape(c.key_shape), "values": _shape(c.value_shape),
             "dtype": c.dtype, "tokens": c.tokens, "bytes": c.bytes, "formula": c.formula_bytes,
             "equal": c.bytes == c.formula_bytes} for c in report.layers]


def growth_figure(report: CacheReport) -> go.Figure:
    """Bytes of the cache after each forward pass: measured, the formula, and without a window where one bounds it."""
    import plotly.graph_objects as go

    positions = [p for p, _, _ in report.growth]
    fig = go.Figure()
    fig.add_scatter(x=positions, y=[m for _, m, _ in report.growth], mode="lines+markers", name="measured",
                    line={"color": "#1f77b4", "width": 3}, marker={"size": 5},
                    hovertemplate="%{x} positions: %{y:,} bytes measured<extra></extra>")
    fig.add_scatter(x=positions, y=[f for _, _, f in report.growth], mode="lines", name="formula",
                    line={"color": "#d62728", "dash": "dash", "width": 2},
                    hovertemplate="%{x} positions: %{y:,} bytes by the formula<extra></extra>")
    g = report.geometry
    if g.sliding_layers:
        fig.add_scatter(x=positions, y=[g.unbounded_bytes(p) for p in positions], mode="lines",
                        name="every layer keeps every token", line={"color": "#8c959f", "dash": "dot"},
                        hovertemplate="%{x} positions: %{y:,} bytes without a window<extra></extra>")
    if positions:
        fig.add_vline(x=report.prompt_tokens, line_dash="dot", line_color="#57606a", annotation_text="prompt")
    fig.update_layout(title=f"Cache size after each forward pass ({report.new_tokens} new tokens)",
                      xaxis_title="positions in the cache", yaxis_title="bytes", template="plotly_white",
                      width=520, height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def growth_svg(report: CacheReport, width: int = 420, height: int = 200) -> str:
    """The growth curve as an SVG (measured: blue line; formula: red dashes), for outputs without plotly."""
    points = report.growth
    if not points:
        return ""
    xs, ys = [p for p, _, _ in points], [v for _, m, f in points for v in (m, f)]
    x0, x1, y1 = min(xs), max(xs), max(ys) or 1
    pad = 36

    def at(x: float, y: float) -> str:
        sx = pad + (x - x0) / ((x1 - x0) or 1) * (width - 2 * pad)
        return f"{sx:.1f},{height - pad - y / y1 * (height - 2 * pad):.1f}"

    measured = " ".join(at(p, m) for p, m, _ in points)
    formula = " ".join(at(p, f) for p, _, f in points)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'style="background:#fff;border:1px solid #d0d7de">'
            f'<polyline points="{measured}" fill="none" stroke="#1f77b4" stroke-width="3"/>'
            f'<polyline points="{formula}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,4"/>'
            f'<text x="{pad}" y="16" font-size="11" font-family="sans-serif">bytes: 0 – {y1:,}; positions '
            f'{x0} – {x1}; blue measured, red dashes formula</text></svg>')


def picked_cache(report: CacheReport, layer: int, head: int | None = None) -> str:
    """One layer's cache in words, and one KV head's part of it with the query heads that read it."""
    g = report.geometry
    c = report.layers[layer]
    text = (f"Layer {layer} ({c.kind}): keys {_shape(c.key_shape)} and values {_shape(c.value_shape)}, {c.dtype}: "
            f"{c.bytes:,} bytes, the formula {c.formula_bytes:,}.")
    if head is not None and not g.latent and c.key_shape[1] == g.kv_heads:
        size = c.bytes // g.kv_heads
        group = g.query_heads // g.kv_heads
        readers = f"query head {head}" if group == 1 else \
            f"query heads {head * group}–{(head + 1) * group - 1}"
        text += (f" KV head {head}: {c.tokens} tokens × ({c.key_shape[-1]} + {c.value_shape[-1]}) values = "
                 f"{size:,} bytes, read by {readers}.")
    return text


def cache_html(report: CacheReport, layer: int | None = None, head: int | None = None) -> str:
    """Everything of a cache report but the plot, as HTML (every string escaped); ``layer`` (and ``head``, a KV
    head) picked: its row marked and its cache described."""
    g = report.geometry
    ok = report.total_bytes == report.formula_bytes
    check = '<span class="nbrag-ok">✓ equal</span>' if ok else '<span class="nbrag-bad">✗ differ</span>'
    columns = ["layer", "kind", "keys", "values", "dtype", "tokens", "bytes", "formula", ""]
    rows = "".join(f'<tr{" class=nbrag-picked" if r["layer"] == layer else ""}>' +
                   "".join(f"<td>{_e(r[k])}</td>" for k in columns[:6]) +
                   f'<td>{r["bytes"]:,}</td><td>{r["formula"]:,}</td>'
                   f'<td>{"<span class=nbrag-ok>✓</span>" if r["equal"] else "<span class=nbrag-bad>✗</span>"}</td>'
                   "</tr>" for r in cache_rows(report))
    table = ('<div class="nbrag-scroll"><table class="nbrag-table"><tr>' + "".join(f"<th>{h}</th>" for h in columns) +
             f"</tr>{rows}</table></div>")
    savings = "".join(
        f'<tr><td class="nbrag-left">{_e(s.name)}</td><td>{_bytes(s.bytes)}</td>'
        f'<td>{s.saved:+,} ({100 * s.saved / report.total_bytes if report.total_bytes else 0:+.0f}%)</td>'
        f'<td>{"✓" if s.available else "—"}</td><td class="nbrag-left nbrag-muted">{_e(s.how)}</td></tr>'
        for s in report.savings)
    banner = "random weights: the mechanism of this architecture, not a trained model" \
        if is_tiny(report.model, report.notes) else ""
    generated = " ".join(report.generated.split())
    picked = f"<div>{_e(picked_cache(report, layer, head))}</div>" if layer is not None else ""
    return (f'{_style()}<div class="nbrag-inspector"><h4>KV cache · {_e(report.model)}</h4>'
            f'<div class="nbrag-muted">{report.prompt_tokens} prompt tokens + {report.new_tokens} generated = '
            f"{report.tokens} positions cached (the last token is never fed back) · {_e(report.cache_class)} · "
            f"{g.dtype} · {report.tokens_per_second:.1f} tokens/s · generated: “{_e(generated[:160])}"
            f'{"…" if len(generated) > 160 else ""}”</div>'
            f'<div><b>{_e(attention_kind(g))}</b></div>'
            f'<div>measured <b>{_bytes(report.total_bytes)}</b> bytes, the formula <b>{_bytes(report.formula_bytes)}'
            f"</b> {check} · {report.bytes_per_token:,} bytes per token</div>"
            f'<div class="nbrag-formula">{_e(report.formula)}</div>'
            f'<div class="nbrag-muted">per layer: shapes [batch, KV heads, tokens, head dim]</div>{table}'
            f"{picked}"
            f'<div><b>Other caches</b> <span class="nbrag-muted">(from the formula, at {report.tokens} positions; '
            "saved: fewer bytes than measured)</span></div>"
            '<table class="nbrag-table"><tr><th class="nbrag-left">cache</th><th>bytes</th><th>saved</th>'
            f'<th>here</th><th class="nbrag-left">how</th></tr>{savings}</table>'
            f"{notes_html(report.notes, banner)}</div>")


class CacheView(WithStaticHTML, ipywidgets.VBox):
    """What a ``CacheReport`` shows: the per-layer table, total against the formula, growth curve, savings."""

    def __init__(self, report: CacheReport, *, layer: int | None = None, head: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report
        chosen = selection(report)  # where %%kvcache --layer/--head asked the view to open
        layer = chosen.get("layer") if layer is None else layer
        head = chosen.get("head") if head is None else head
        if layer is not None and not 0 <= layer < len(report.layers):
            raise ValueError(f"layer={layer} is out of range: this cache has {len(report.layers)} layers.")
        if head is not None and not 0 <= head < report.geometry.kv_heads:
            raise ValueError(f"head={head} is out of range: this cache has {report.geometry.kv_heads} KV heads.")
        self.table = ipywidgets.HTML(cache_html(report, layer if layer is not None else
                                                (0 if head is not None else None), head))
        self.growth = ipywidgets.Output()
        _show(self.growth, growth_figure(report))
        self.children = [self.table, self.growth]

    @classmethod
    def of(cls, report: CacheReport, **options: Any) -> CacheView:
        return cls(report, **options)

    def to_html(self) -> str:
        return self.table.value + growth_svg(self.report)


def speed_figure(report: SpeedReport) -> go.Figure:
    """Tokens per second with and without the cache, per number of new tokens; the speedup over each pair."""
    import plotly.graph_objects as go

    x = [f"{r.new_tokens} tokens" for r in report.rows]
    fig = go.Figure()
    fig.add_bar(x=x, y=[r.cached_tokens_per_second for r in report.rows], name="with cache", marker_color="#1f77b4",
                text=[f"×{r.speedup:.1f}" for r in report.rows], textposition="outside",
                hovertemplate="%{x}: %{y:.1f} tokens/s with the cache<extra></extra>")
    fig.add_bar(x=x, y=[r.uncached_tokens_per_second for r in report.rows], name="without cache",
                marker_color="#ff7f0e", hovertemplate="%{x}: %{y:.1f} tokens/s without<extra></extra>")
    fig.update_layout(barmode="group", title="Generation speed (×: speedup of the cache)",
                      xaxis_title="new tokens generated", yaxis_title="tokens per second", template="plotly_white",
                      width=480, height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def speed_html(report: SpeedReport) -> str:
    rows = "".join(f"<tr><td>{r.new_tokens}</td><td>{r.cached_seconds:.3f}</td><td>{r.uncached_seconds:.3f}</td>"
                   f"<td>{r.cached_tokens_per_second:.1f}</td><td>{r.uncached_tokens_per_second:.1f}</td>"
                   f"<td><b>×{r.speedup:.2f}</b></td><td>{'✓' if r.same_tokens else '✗'}</td></tr>"
                   for r in report.rows)
    banner = "random weights: the mechanism of this architecture, not a trained model" \
        if is_tiny(report.model, report.notes) else ""
    return (f'{_style()}<div class="nbrag-inspector"><h4>Speed with and without the KV cache · {_e(report.model)}'
            f'</h4><div class="nbrag-muted">{report.prompt_tokens} prompt tokens · {_e(report.device)} · '
            f"{_count(report.threads, 'thread')} · one greedy run per setting: on a shared machine the numbers "
            "are noisy. Without the cache every step runs the model over the whole sequence again.</div>"
            '<table class="nbrag-table"><tr><th>new tokens</th><th>s with</th><th>s without</th>'
            "<th>tokens/s with</th><th>tokens/s without</th><th>speedup</th><th>same tokens</th></tr>"
            f"{rows}</table>{notes_html(report.notes, banner)}</div>")


class SpeedView(WithStaticHTML, ipywidgets.VBox):
    """What a ``SpeedReport`` shows: tokens per second with and without the cache, and the speedup."""

    def __init__(self, report: SpeedReport, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report
        self.table = ipywidgets.HTML(speed_html(report))
        self.bars = ipywidgets.Output()
        _show(self.bars, speed_figure(report))
        self.children = [self.table, self.bars]

    @classmethod
    def of(cls, report: SpeedReport) -> SpeedView:
        return cls(report)

    def to_html(self) -> str:
        return self.table.value


# ---------------------------------------------------------------------- MoE routing

def expert_colours(n: int) -> list[str]:
    """A light background colour per expert, readable under dark text: the palette, then evenly spread hues."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({(i * 137.508) % 360:.0f}, 70%, {72 + 8 * (i % 3 == 1) - 6 * (i % 3 == 2)}%)" for i in range(n)]


def _layer_index(trace: RoutingTrace, layer: int) -> int:
    if layer not in trace.layers:
        raise ValueError(f"Layer {layer} has no router: the MoE layers of this model are {trace.layers}.")
    return trace.layers.index(layer)


def route_titles(trace: RoutingTrace, layer: int, labels: list[str]) -> list[str]:
    """Per token, the hover text: its experts and weights in ``layer``, then its first choices in the other layers."""
    row = _layer_index(trace, layer)
    out = []
    for t in range(trace.num_tokens):
        chosen = " · ".join(f"expert {int(e)} ({float(w):.2f})"
                            for e, w in zip(trace.experts[row, t], trace.weights[row, t]))
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
    return (f'{_style()}<div class="nbrag-inspector"><h4>Routing · {_e(trace.model)} ({_e(trace.family)})</h4>'
            f'<div class="nbrag-muted">{_count(trace.num_tokens, "token")} × {_count(len(trace.layers), "MoE layer")}'
            f" · top-{trace.top_k} of {trace.num_experts} experts · aux loss {trace.aux_loss_total:.4f} over all "
            f"layers (an even router gives {trace.top_k})"
            f'{" = " + " = ".join(_e(c) for c in checks) if checks else ""} · {_e(trace.source)}</div>'
            f"{notes_html(trace.notes, banner)}</div>")


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
        _layer_index(trace, layer)
        if not -1 <= expert < trace.num_experts:
            raise ValueError(f"expert={expert} is out of range: this model has {trace.num_experts} experts "
                             f"(0 to {trace.num_experts - 1}; -1 marks none).")
        self.labels = token_labels(trace.text, trace.tokens, trace.offsets)
        self.colours = expert_colours(trace.num_experts)
        self.layer = ipywidgets.Dropdown(options=[(f"layer {n}", n) for n in trace.layers], value=layer,
                                         description="layer", layout={"width": "180px"}, **LIVE)
        self.expert = ipywidgets.Dropdown(options=[("all experts", -1)] +
                                          [(f"expert {e}", e) for e in range(trace.num_experts)], value=expert,
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
            "yaxis": {"title": "layer", "autorange": "reversed", **_layer_ticks(trace.layers)}})
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
        row = _layer_index(trace, layer)
        first = trace.experts[row, :, 0]
        expert = self.expert.value
        marked = [] if expert < 0 else trace.routed_to(layer, expert)
        load = trace.load[row]
        with self.text.hold_sync():
            self.text.colours = [self.colours[int(e)] for e in first]
            self.text.titles = route_titles(trace, layer, self.labels)
            self.text.marked = marked
            self.text.legend = [{"label": f"expert {e}: {int(load[e])}", "colour": self.colours[e],
                                 "title": f"expert {e} received {int(load[e])} of {int(load.sum())} choices in "
                                          f"layer {layer}; {int((first == e).sum())} tokens chose it first"}
                                for e in range(trace.num_experts)]
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
    head = "".join(f'<th style="background:{colours[e]}">{e}</th>' for e in range(trace.num_experts))
    rows = []
    for r, layer in enumerate(trace.layers):
        top = int(trace.load[r].max()) or 1
        cells = "".join(f'<td style="background:rgba(230,85,13,{v / top:.2f})">{int(v)}</td>' for v in trace.load[r])
        rows.append(f"<tr><th>{layer}</th>{cells}</tr>")
    return ('<div class="nbrag-inspector"><div class="nbrag-muted">Load: tokens per expert (rows: layers, '
            f'columns: experts)</div><table class="nbrag-table"><tr><th>layer</th>{head}</tr>{"".join(rows)}'
            "</table></div>")


# ---------------------------------------------------------------------- two routings compared

def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions (normalised here), in bits: 0 equal, 1 disjoint."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape:
        raise ValueError(f"The distributions differ in length: {p.shape} and {q.shape}.")
    if p.sum() <= 0 or q.sum() <= 0 or np.any(p < 0) or np.any(q < 0):
        raise ValueError("Both distributions need non-negative values with a positive sum.")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        keep = a > 0
        return float((a[keep] * np.log2(a[keep] / m[keep])).sum())

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


@dataclass
class RoutingComparison:
    """Two routings through the same MoE model (e.g. code and prose): load shares per layer and expert, and how
    far apart the two load distributions are in each layer (Jensen-Shannon divergence, bits)."""

    names: tuple[str, str]
    model: str
    layers: list[int]
    num_experts: int
    top_k: int
    shares: np.ndarray  # [2, layers, experts]: each text's load shares (a layer's row sums to 1)
    js: np.ndarray  # [layers], bits: 0 the same shares, 1 no expert in common
    tokens: tuple[int, int]
    tiny: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def specialisation(self) -> float:
        """The mean over layers of the Jensen-Shannon divergence."""
        return float(self.js.mean())

    def to_dict(self) -> dict[str, Any]:
        from nbrag.inspectors.base import jsonable

        return {**jsonable(self), "specialisation": self.specialisation}

    def __repr__(self) -> str:
        return (f"RoutingComparison({self.model}: {self.names[0]!r} vs {self.names[1]!r}, {len(self.layers)} MoE "
                f"layers, JS divergence of the loads {self.specialisation:.3f} bits on average)")

    def view(self, **options: Any) -> RoutingComparisonView:
        return RoutingComparisonView(self, **options)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.view()._repr_mimebundle_(include=include, exclude=exclude)


def compare_routing(first: RoutingTrace, second: RoutingTrace,
                    names: tuple[str, str] | None = None) -> RoutingComparison:
    """Compare two routings through the same model: per MoE layer, each text's load shares per expert and the
    Jensen-Shannon divergence of the two (a specialisation score: how differently the texts use the experts).

    Expert numbers only mean the same expert within one model, so both traces must come from the same model
    (same MoE layers, same number of experts)."""
    if first.layers != second.layers or first.num_experts != second.num_experts:
        raise ValueError(f"These routings come from different models ({first.model}: MoE layers {first.layers}, "
                         f"{first.num_experts} experts; {second.model}: {second.layers}, {second.num_experts}): "
                         "expert i of one is not expert i of the other. Route both texts through the same model.")
    notes = []
    if first.model != second.model:
        notes.append(f"The traces name different models ({first.model}, {second.model}) of the same shape: "
                     "the comparison assumes they are the same model.")
    names = names or (_short(first.text), _short(second.text))
    shares = np.stack([t.load / np.maximum(t.load.sum(axis=-1, keepdims=True), 1) for t in (first, second)])
    js = np.array([js_divergence(first.load[r], second.load[r]) for r in range(len(first.layers))], np.float32)
    return RoutingComparison(names=(str(names[0]), str(names[1])), model=first.model, layers=list(first.layers),
                             num_experts=first.num_experts, top_k=first.top_k, shares=shares, js=js,
                             tokens=(first.num_tokens, second.num_tokens),
                             tiny=is_tiny(first.model, first.notes) or is_tiny(second.model, second.notes),
                             notes=notes)


def _short(text: str, size: int = 24) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"


def comparison_bars(c: RoutingComparison, layer: int) -> go.Figure:
    """Each text's load share per expert in one layer, side by side."""
    import plotly.graph_objects as go

    row = c.layers.index(layer)
    experts = [str(e) for e in range(c.num_experts)]
    fig = go.Figure()
    for side, colour in ((0, "#1f77b4"), (1, "#ff7f0e")):
        fig.add_bar(x=experts, y=c.shares[side, row].tolist(), name=_plain(c.names[side]), marker_color=colour,
                    hovertemplate=f"{_plain(c.names[side])}: expert %{{x}} %{{y:.1%}} of choices<extra></extra>")
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
        self.header = ipywidgets.HTML(
            f'{_style()}<div class="nbrag-inspector"><h4>Routing compared · {_e(c.model)}</h4>'
            f'<div class="nbrag-muted">“{_e(c.names[0])}” ({_count(c.tokens[0], "token")}) vs “{_e(c.names[1])}” '
            f'({_count(c.tokens[1], "token")}) · top-{c.top_k} of {c.num_experts} experts · specialisation '
            f"(mean JS divergence of the two loads) {c.specialisation:.3f} bits</div>"
            f"{notes_html(c.notes, banner)}</div>")
        self.layer.observe(lambda _: self._draw(), names="value")
        self.children = [self.header, self.layer, ipywidgets.HBox([self.bars, self.divergence],
                                                                  layout={"flex_flow": "row wrap"})]
        self._draw()

    def _draw(self) -> None:
        _show(self.bars, comparison_bars(self.comparison, self.layer.value))
        _show(self.divergence, divergence_figure(self.comparison, self.layer.value))

    def to_html(self) -> str:
        c = self.comparison
        rows = []
        for r, layer in enumerate(c.layers):
            shares = [" · ".join(f"{e}: {100 * s:.0f}%" for e, s in enumerate(c.shares[side, r])) for side in (0, 1)]
            rows.append(f"<tr><td>{layer}</td><td>{float(c.js[r]):.3f}</td><td class=\"nbrag-left\">{shares[0]}</td>"
                        f'<td class="nbrag-left">{shares[1]}</td></tr>')
        return (f'{self.header.value}<div class="nbrag-inspector"><table class="nbrag-table"><tr><th>layer</th>'
                f'<th>JS (bits)</th><th class="nbrag-left">{_e(c.names[0])}: share per expert</th>'
                f'<th class="nbrag-left">{_e(c.names[1])}: share per expert</th></tr>{"".join(rows)}</table></div>')
