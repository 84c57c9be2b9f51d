"""The inspector views: pickers redraw the right weights, long texts are windowed, text is escaped, the cache and
speed reports are drawn from their numbers, routing colours follow the experts, two routings compare."""

from __future__ import annotations

import functools
import html
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from nbrag.errors import NbragError
from nbrag.inspectors import attention, compare_routing, js_divergence, kv_cache, routing, speed
from nbrag.views.attention import MEAN, WINDOW, AttentionView, pick_weights, window_bounds
from nbrag.views.kvcache import CacheView, SpeedView, attention_kind, cache_rows, growth_figure, speed_figure
from nbrag.views.moe import RANDOM_ROUTING, RoutingComparisonView, RoutingView, expert_colours
from nbrag.views.tokens import token_labels, token_pieces
from tests.tiny import tiny

TEXT = "The cat sat on the mat because it was tired, and then it slept."
EVIL = "Tags <script>alert(1)</script> and <b>bold</b> & more."
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@functools.cache
def llama_map(text: str = TEXT):
    return attention(text, model=tiny("llama"))


def z(figure) -> np.ndarray:
    return np.asarray(figure.data[0].z, dtype=np.float32)


def click(figure, x: float, y: float) -> None:
    """What plotly's front end sends when a heatmap cell is clicked."""
    figure._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
        "xs": [x], "ys": [y], "point_indexes": [[int(y), int(x)]], "trace_indexes": [0]}}


class TextOf(HTMLParser):
    """The text inside the static drawing's token body, as a reader sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth or ("class", "nbrag-tokens-body") in attrs:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def body_text(static: str) -> str:
    parser = TextOf()
    parser.feed(static)
    return "".join(parser.parts)


# ---------------------------------------------------------------------- pure functions

def test_pieces_give_back_the_text_with_special_tokens_as_chips():
    text = "ab  cd\nef"
    tokens = ["[CLS]", "ab", "cd", "e", "##f", "x"]
    offsets = [(0, 0), (0, 2), (4, 6), (7, 8), (8, 9), (8, 9)]  # the last one shares a character: a chip
    pieces = token_pieces(text, tokens, offsets)
    assert "".join(p["s"] for p in pieces) == text
    assert [p["i"] for p in pieces] == [0, 1, -1, 2, -1, 3, 4, 5]
    assert pieces[0]["chip"] == "[CLS]" and pieces[-1] == {"i": 5, "s": "", "chip": "x"}
    assert token_labels(" a\n", ["Ġa", "Ċ", "[SEP]"], [(0, 2), (2, 3), (0, 0)]) == ["a", "↵", "[SEP]"]


def test_window_bounds_stay_inside_the_text():
    assert window_bounds(50, 10) == (0, 50)
    assert window_bounds(300, 0) == (0, WINDOW)
    assert window_bounds(300, 250) == (300 - WINDOW, 300)
    assert window_bounds(300, -5, size=10) == (0, 10)


def test_pick_weights_of_heads_layers_and_means():
    a = llama_map()
    np.testing.assert_array_equal(pick_weights(a, 1, 2), a.weights[1, 2])
    np.testing.assert_allclose(pick_weights(a, 0, MEAN), a.weights[0].mean(axis=0))
    np.testing.assert_allclose(pick_weights(a, MEAN, 3), a.weights[:, 3].mean(axis=0))
    np.testing.assert_allclose(pick_weights(a, MEAN, MEAN), a.weights.mean(axis=(0, 1)))
    with pytest.raises(NbragError, match=r"^head=9: out of range: this model has 4 heads per layer"):
        pick_weights(a, 0, 9)


def test_js_divergence():
    assert js_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    m = (p + q) / 2
    expected = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    assert js_divergence(p, q) == pytest.approx(expected) == pytest.approx(js_divergence(q, p))
    with pytest.raises(NbragError, match="p and q differ in length"):
        js_divergence([1, 2], [1, 2, 3])


def test_expert_colours_are_distinct():
    for n in (4, 20, 64):
        colours = expert_colours(n)
        assert len(colours) == len(set(colours)) == n


# ---------------------------------------------------------------------- attention

def test_pickers_redraw_the_picked_weights():
    a = llama_map()
    view = a.view()
    assert isinstance(view, AttentionView)
    view.layer.value, view.head.value = 1, 2
    np.testing.assert_array_equal(z(view.heatmap), a.weights[1, 2])
    np.testing.assert_array_equal(view.text.matrix(), a.weights[1, 2])  # the text shades by the same head
    assert view.heatmap.layout.title.text == "layer 1, head 2"
    view.pick(layer=MEAN, head=0)
    np.testing.assert_allclose(z(view.heatmap), a.weights[:, 0].mean(axis=0), rtol=1e-6)
    view.head.value = MEAN
    np.testing.assert_allclose(z(view.heatmap), a.weights.mean(axis=(0, 1)), rtol=1e-6)
    assert view.grid.layout.shapes == ()  # the mean of everything marks no cell
    labels = view.heatmap.data[0].x
    assert len(labels) == len(set(labels)) == a.num_tokens  # "3 the" and "6 the": repeated words stay apart


def test_head_summary_metric_and_click():
    a = llama_map()
    view = a.view(layer=0, head=0, metric="sink")
    np.testing.assert_array_equal(z(view.grid), a.sink)
    view.metric.value = "distance"
    np.testing.assert_array_equal(z(view.grid), a.distance)
    click(view.grid, 3, 1)  # x: head, y: layer
    assert (view.layer.value, view.head.value) == (1, 3)
    np.testing.assert_array_equal(z(view.heatmap), a.weights[1, 3])
    (mark,) = view.grid.layout.shapes
    assert (mark.x0, mark.x1, mark.y0, mark.y1) == (2.5, 3.5, 0.5, 1.5)
    assert "layer 1, head 3: entropy" in view.picked.value
    from nbrag.inspectors.attention_map import head_metrics

    n = a.num_tokens
    even = np.tril(np.ones((n, n), np.float32)) / np.arange(1, n + 1, dtype=np.float32)[:, None]
    assert f"evenly would have {head_metrics(even[None, None])[0][0, 0]:.2f})" in view.picked.value


def test_a_subset_of_layers_is_what_the_pickers_offer():
    a = attention(TEXT, model=tiny("llama"), layers=[-1])
    view = a.view()
    assert [v for _, v in view.layer.options] == [MEAN, 1]
    np.testing.assert_array_equal(z(view.heatmap), a.weights[0, 0])
    with pytest.raises(NbragError, match=r"^layer=0: not kept"):
        a.view(layer=0)
    with pytest.raises(NbragError, match=r"^metric='heat': use one of entropy, distance, sink\.$"):
        a.view(metric="heat")


def test_long_texts_show_a_window():
    text = " ".join(f"word{i % 50}" for i in range(200))
    a = attention(text, model=tiny("llama"), layers=[0])
    n = a.num_tokens
    assert n > WINDOW
    view = a.view(layer=0, head=1)
    assert view.start.layout.display != "none" and view.start.max == n - WINDOW
    assert z(view.heatmap).shape == (WINDOW, WINDOW)
    assert f"has {n:,} tokens: the heatmap shows tokens 0–{WINDOW - 1}" in view.note.value
    view.start.value = 40
    np.testing.assert_array_equal(z(view.heatmap), a.weights[0, 1, 40:40 + WINDOW, 40:40 + WINDOW])
    assert view.heatmap.data[0].x[0] == "40 " + view.labels[40]
    assert view.text.window == [40, 40 + WINDOW] and view.text.windowed
    assert view.text.matrix().shape == (n, n)  # the text shades from the whole row
    view.text.selected = n - 1  # pinning a token outside the window moves the window to it
    assert view.bounds == (n - WINDOW, n)
    (mark,) = view.heatmap.layout.shapes
    assert mark.y0 == WINDOW - 1.5
    short = llama_map().view()
    assert short.start.layout.display == "none" and short.note.value == ""


def test_text_with_markup_is_escaped():
    a = attention(EVIL, model=tiny("llama"), layers=[0])
    view = a.view()
    data, _ = a._repr_mimebundle_()
    static = data["text/html"]
    assert WIDGET in data
    assert "<script" not in static and "<b>bold" not in static
    assert body_text(static) == "[CLS]" + EVIL  # the reader sees the text as it was, markup as text
    assert "&lt;" in static and "&lt;" in "".join(view.heatmap.data[0].x)  # plotly labels escaped too
    assert all("<" not in label for label in view.heatmap.data[0].x)
    assert "random weights" in static  # a tiny model says what it is
    assert "".join(p["s"] for p in view.text.pieces) == EVIL  # the widget gets the text as text pieces


@pytest.mark.slow
def test_smollm2_attention_view(smollm):
    a = attention("The cat sat on the mat.", model=smollm, layers=[0, 29])
    view = a.view(layer=29, head=8)
    np.testing.assert_array_equal(z(view.heatmap), a.weights[1, 8])
    assert [v for _, v in view.layer.options] == [MEAN, 0, 29]
    assert len(view.head.options) == 1 + 9
    drawn = view.to_html()
    assert "SmolLM2" in drawn and "random weights" not in drawn
    assert "Switched attention from" in view.header.value  # the notes are shown
    assert body_text(drawn) == a.text


@pytest.fixture(scope="module")
def smollm():
    from nbrag.models import load_generator

    return load_generator()


# ---------------------------------------------------------------------- KV cache and speed

def test_cache_view_table_formula_and_growth():
    report = kv_cache("Hello there, general Kenobi", model=tiny("llama"), max_new_tokens=6)
    view = report.view()
    assert isinstance(view, CacheView)
    rows = cache_rows(report)
    assert [r["bytes"] for r in rows] == [c.bytes for c in report.layers] and all(r["equal"] for r in rows)
    assert rows[0]["keys"] == f"1 × 2 × {report.tokens} × 16"
    assert "4 query heads share 2 KV heads" in attention_kind(report.geometry)
    drawn = view.to_html()
    assert "4 query heads share 2 KV heads" in drawn and "✓ equal" in drawn
    assert f"2 × 2 layers × 2 KV heads × 16 head dim × {report.tokens} tokens × 4 bytes" in drawn
    fig = growth_figure(report)
    assert list(fig.data[0].y) == [m for _, m, _ in report.growth]
    assert list(fig.data[1].y) == [f for _, _, f in report.growth]
    assert len(fig.data) == 2  # no sliding layers: no third line
    assert "fp8 quantized cache" in drawn and "sliding" not in drawn.split("Other caches")[1].split("</table>")[0]
    data, _ = report._repr_mimebundle_()
    assert WIDGET in data and "text/html" in data


def test_sliding_window_cache_shows_the_unbounded_line():
    report = kv_cache("a b c d e f g h i j k l m n o p q r s t", model=tiny("mistral"), max_new_tokens=4)
    fig = growth_figure(report)
    assert len(fig.data) == 3 and fig.data[2].name == "every layer keeps every token"
    assert fig.data[2].y[-1] > fig.data[0].y[-1]  # the window bounds the cache
    assert "sliding window of 16" in report.view().to_html()


def test_speed_view_bars_and_speedup():
    report = speed("Hello there", model=tiny("llama"), lengths=(2, 4))
    view = report.view()
    assert isinstance(view, SpeedView)
    fig = speed_figure(report)
    assert list(fig.data[0].y) == [r.cached_tokens_per_second for r in report.rows]
    assert list(fig.data[1].y) == [r.uncached_tokens_per_second for r in report.rows]
    assert list(fig.data[0].text) == [f"×{r.speedup:.1f}" for r in report.rows]
    assert f"×{report.rows[0].speedup:.2f}" in view.to_html()
    assert "random weights" in view.to_html()


# ---------------------------------------------------------------------- routing

CODE = "def add(x, y):\n    return x + y  # <script>"
PROSE = "The cat sat on the mat because it was tired, and then it slept."


@functools.cache
def trace(text: str = CODE, family: str = "mixtral"):
    return routing(text, model=tiny(family))


def test_tokens_are_coloured_by_their_first_expert_per_layer():
    t = trace()
    view = t.view()
    assert isinstance(view, RoutingView)
    colours = expert_colours(t.num_experts)
    assert view.text.colours == [colours[e] for e in t.experts[0, :, 0]]
    view.layer.value = t.layers[1]
    assert view.text.colours == [colours[e] for e in t.experts[1, :, 0]]
    np.testing.assert_array_equal(z(view.coactivation), t.coactivation[1])
    e, w = t.experts[1, 3], t.weights[1, 3]
    assert f"layer {t.layers[1]}: expert {e[0]} ({w[0]:.2f}) · expert {e[1]} ({w[1]:.2f})" in view.text.titles[3]
    assert [item["label"] for item in view.text.legend] == [f"expert {i}: {n}" for i, n in enumerate(t.load[1])]
    view.expert.value = 2
    assert view.text.marked == t.routed_to(t.layers[1], 2)
    click(view.load, 1, t.layers[0])  # a load cell picks its layer and expert
    assert (view.layer.value, view.expert.value) == (t.layers[0], 1)
    np.testing.assert_array_equal(z(view.load), t.load)


def test_routing_static_html_shows_the_random_weights_note_and_escapes():
    t = trace()
    data, _ = t._repr_mimebundle_()
    static = data["text/html"]
    assert WIDGET in data and RANDOM_ROUTING in html.unescape(static)
    assert "<script" not in static and body_text(static) == "[CLS]" + CODE
    assert re.search(r"aux loss [\d.]+ over all layers", static)


def test_routing_of_a_model_with_a_dense_first_layer():
    t = trace(PROSE, "deepseek_v3")
    view = t.view()
    assert [v for _, v in view.layer.options] == t.layers == [1]
    assert view.load.layout.yaxis.tickvals == (1,)


def test_two_routings_compared():
    a, b = trace(CODE), trace(PROSE)
    c = compare_routing(a, b, names=("code", "prose"))
    assert c.shares.shape == (2, len(a.layers), a.num_experts)
    np.testing.assert_allclose(c.shares.sum(axis=-1), 1.0)
    for r in range(len(a.layers)):
        assert c.js[r] == pytest.approx(js_divergence(a.load[r], b.load[r]), abs=1e-6)
    assert compare_routing(a, a).specialisation == pytest.approx(0.0, abs=1e-6)
    view = c.view()
    assert isinstance(view, RoutingComparisonView)
    (out,) = view.bars.outputs
    bars = out["data"]["application/vnd.plotly.v1+json"]["data"]
    assert [bar["name"] for bar in bars] == ["code", "prose"]
    view.layer.value = a.layers[1]
    (out,) = view.bars.outputs
    np.testing.assert_allclose(out["data"]["application/vnd.plotly.v1+json"]["data"][1]["y"], c.shares[1, 1])
    static = view.to_html()
    assert RANDOM_ROUTING in html.unescape(static) and "code: share per expert" in static
    other = trace(PROSE, "qwen3_moe")  # 8 experts: not the same model
    with pytest.raises(NbragError, match=r"^second: comes from a different model than first \(tiny-mixtral: MoE "
                                         r"layers \[0, 1\], 4 experts; tiny-qwen3_moe: \[0, 1\], 8 experts\)"):
        compare_routing(a, other)


def test_views_open_where_the_magics_selection_says():
    a = attention(TEXT, model=tiny("llama"))
    a.selection = {"layer": 0, "head": 3}  # as %%attention --layer 0 --head 3 keeps it
    view = a.view()
    assert (view.layer.value, view.head.value) == (0, 3)
    np.testing.assert_array_equal(z(view.heatmap), a.weights[0, 3])
    assert (a.view(head=1).layer.value, a.view(head=1).head.value) == (0, 1)  # an argument wins
    t = routing(CODE, model=tiny("mixtral"))
    t.selection = {"layer": 1, "expert": 2}
    view = t.view()
    assert (view.layer.value, view.expert.value) == (1, 2) and view.text.marked == t.routed_to(1, 2)
    report = kv_cache("Hello there", model=tiny("llama"), max_new_tokens=3)
    report.selection = {"layer": 1, "head": 1}
    drawn = report.view().to_html()
    assert '<tr class=nbrag-picked><td>1</td>' in drawn
    assert (f"KV head 1: {report.tokens} tokens × (16 + 16) values = {report.layers[1].bytes // 2:,} bytes, read by "
            "query heads 2–3.") in drawn


def test_options_a_view_cannot_open_on_are_named():
    report = kv_cache("Hello there", model=tiny("llama"), max_new_tokens=2)
    with pytest.raises(NbragError, match=r"^layer=5: out of range: this cache has 2 layers\.$"):
        report.view(layer=5)
    with pytest.raises(NbragError, match=r"^head=2: out of range: this cache has 2 KV heads\.$"):
        report.view(head=2)
    with pytest.raises(NbragError, match=r"^expert=4: out of range: this model has 4 experts"):
        trace().view(expert=4)
    with pytest.raises(NbragError, match=r"^layer=7: no router in this layer"):
        trace().view(layer=7)


def test_the_old_module_still_gives_the_moved_names(monkeypatch):
    import nbrag.inspectors
    import nbrag.views.moe
    from nbrag.views import inspectors as old

    monkeypatch.setattr("nbrag.errors._warned", set())
    with pytest.warns(FutureWarning, match=r"nbrag.views.inspectors.compare_routing is now "
                                           r"nbrag.inspectors.compare_routing"):
        assert old.compare_routing is nbrag.inspectors.compare_routing
    with pytest.warns(FutureWarning, match="is now nbrag.views.moe.RoutingView"):
        assert old.RoutingView is nbrag.views.moe.RoutingView
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
