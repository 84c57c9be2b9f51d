"""The views of the KV cache inspector: :class:`CacheView` (a :class:`~nbrag.inspectors.CacheReport`: the
per-layer table, the total against the formula with its numbers, the growth curve, what other caches would
hold) and :class:`SpeedView` (a :class:`~nbrag.inspectors.SpeedReport`: tokens per second with and without
the cache). Every string of the static drawings is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets

from nbrag.errors import NbragError
from nbrag.inspectors.base import is_tiny
from nbrag.views.shared import WithStaticHTML, count, e, show_figure, style
from nbrag.views.tokens import notes_html, selection

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.inspectors.kvcache import CacheReport, Geometry, SpeedReport

RANDOM_CACHE = "random weights: the mechanism of this architecture, not a trained model"


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
            'class="nbrag-svg">'
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
                   "".join(f"<td>{e(r[k])}</td>" for k in columns[:6]) +
                   f'<td>{r["bytes"]:,}</td><td>{r["formula"]:,}</td>'
                   f'<td>{"<span class=nbrag-ok>✓</span>" if r["equal"] else "<span class=nbrag-bad>✗</span>"}</td>'
                   "</tr>" for r in cache_rows(report))
    table = ('<div class="nbrag-scroll"><table class="nbrag-table"><tr>' + "".join(f"<th>{h}</th>" for h in columns) +
             f"</tr>{rows}</table></div>")
    savings = "".join(
        f'<tr><td class="nbrag-left">{e(s.name)}</td><td>{_bytes(s.bytes)}</td>'
        f'<td>{s.saved:+,} ({100 * s.saved / report.total_bytes if report.total_bytes else 0:+.0f}%)</td>'
        f'<td>{"✓" if s.available else "—"}</td><td class="nbrag-left nbrag-muted">{e(s.how)}</td></tr>'
        for s in report.savings)
    banner = RANDOM_CACHE if is_tiny(report.model, report.notes) else ""
    generated = " ".join(report.generated.split())
    picked = f"<div>{e(picked_cache(report, layer, head))}</div>" if layer is not None else ""
    return (f'{style("tokens.css")}<div class="nbrag-inspector"><h4>KV cache · {e(report.model)}</h4>'
            f'<div class="nbrag-muted">{report.prompt_tokens} prompt tokens + {report.new_tokens} generated = '
            f"{report.tokens} positions cached (the last token is never fed back) · {e(report.cache_class)} · "
            f"{g.dtype} · {report.tokens_per_second:.1f} tokens/s · generated: “{e(generated[:160])}"
            f'{"…" if len(generated) > 160 else ""}”</div>'
            f'<div><b>{e(attention_kind(g))}</b></div>'
            f'<div>measured <b>{_bytes(report.total_bytes)}</b> bytes, the formula <b>{_bytes(report.formula_bytes)}'
            f"</b> {check} · {report.bytes_per_token:,} bytes per token</div>"
            f'<div class="nbrag-formula">{e(report.formula)}</div>'
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
            raise NbragError(f"out of range: this cache has {len(report.layers)} layers.", option="layer", value=layer)
        if head is not None and not 0 <= head < report.geometry.kv_heads:
            raise NbragError(f"out of range: this cache has {report.geometry.kv_heads} KV heads.", option="head",
                             value=head)
        self.table = ipywidgets.HTML(cache_html(report, layer if layer is not None else
                                                (0 if head is not None else None), head))
        self.growth = ipywidgets.Output()
        show_figure(self.growth, growth_figure(report))
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
    banner = RANDOM_CACHE if is_tiny(report.model, report.notes) else ""
    return (f'{style("tokens.css")}<div class="nbrag-inspector"><h4>Speed with and without the KV cache · '
            f'{e(report.model)}</h4><div class="nbrag-muted">{report.prompt_tokens} prompt tokens · '
            f'{e(report.device)} · '
            f"{count(report.threads, 'thread')} · one greedy run per setting: on a shared machine the numbers "
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
        show_figure(self.bars, speed_figure(report))
        self.children = [self.table, self.bars]

    @classmethod
    def of(cls, report: SpeedReport) -> SpeedView:
        return cls(report)

    def to_html(self) -> str:
        return self.table.value

