"""The inspector views in JupyterLab: SmolLM2's attention (pick a head, the heatmap redraws; hover a token, the
tokens it attends to are shaded) and a tiny Mixtral's routing (tokens coloured by expert)."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import open_and_run_all, save_screenshot
from tests.browser.test_lab import write_notebook

pytestmark = pytest.mark.browser
TEXT = "The cat sat on the mat because it was tired."
CODE = "def add(x, y):\n    return x + y  # <b>sum</b>"
HEAD = 3
CELLS = [
    ("import json, torch\ntorch.set_num_threads(1)\nfrom nbrag.inspectors import attention, routing\n"
     f"amap = attention({TEXT!r})\namap"),
    # What the heatmap should show once head HEAD of the middle layer is picked, from the same kernel.
    (f"layer = amap.layers[len(amap.layers) // 2]\nprint(json.dumps({{'layer': layer, 'n': len(amap.tokens), "
     f"'z': amap.head(layer, {HEAD}).round(5).tolist()}}))"),
    f"trace = routing({CODE!r}, model='tiny:mixtral')\ntrace",
    "print(json.dumps({'first': trace.experts[0, :, 0].tolist()}))",
]
HEATMAP = ".nbrag-attention-heatmap .js-plotly-plot"
Z = """(selector) => {
    const plot = document.querySelector(selector);
    if (!plot || !plot.data || !plot.data[0] || !plot.data[0].z) return null;
    return Array.from(plot.data[0].z, (row) => Array.from(row, Number));
}"""

# The pixel position of the heatmap cell at data (x, y).
CELL = """([selector, x, y]) => {
    const plot = document.querySelector(selector);
    const box = plot.getBoundingClientRect();
    const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
    return {x: box.x + xa._offset + xa.l2p(x), y: box.y + ya._offset + ya.l2p(y)};
}"""


def printed(page, key: str) -> dict:
    return json.loads(page.locator(".jp-OutputArea-output pre").filter(has_text=f'"{key}"').first.inner_text())


def test_attention_and_routing_views(page, lab, lab_root):
    write_notebook(lab_root / "inspectors.ipynb", CELLS)
    open_and_run_all(page, lab, "inspectors.ipynb", timeout_s=300)
    expected = printed(page, "z")
    view = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".nbrag-attention-heatmap")).first
    page.wait_for_function(f"() => ({Z})({HEATMAP!r}) !== null"  # plotly has drawn the heatmap's data
                           f" && document.querySelectorAll('.nbrag-tokens[data-mode=attention] .nbrag-tok').length"
                           f" === {expected['n']}", timeout=60_000)
    header = view.locator(".nbrag-inspector h4").first.inner_text()
    assert "SmolLM2" in header
    assert "Switched attention from 'sdpa'" in view.inner_text()  # the notes are shown
    before = page.evaluate(Z, HEATMAP)
    assert before is not None and len(before) == expected["n"]
    save_screenshot(view, "inspectors-attention.png")

    # Pick a head: the kernel sends the new weights, the heatmap redraws with that head's.
    head = view.locator(".widget-dropdown select").nth(1)
    page.evaluate(f"() => {{ window.__nbragBefore = JSON.stringify(({Z})({HEATMAP!r})); }}")
    head.select_option(index=HEAD + 1)  # option 0 is "mean over heads"
    page.wait_for_function(f"() => JSON.stringify(({Z})({HEATMAP!r})) !== window.__nbragBefore", timeout=30_000)
    after = page.evaluate(Z, HEATMAP)
    assert after != before
    assert all(abs(a - b) < 1e-4 for ra, rb in zip(after, expected["z"]) for a, b in zip(ra, rb))
    title = page.evaluate(f"() => document.querySelector({HEATMAP!r}).layout.title.text")
    assert title == f"layer {expected['layer']}, head {HEAD}"

    # Hover a token: the tokens it attends to are shaded, and the status line names the strongest.
    text = view.locator(".nbrag-tokens[data-mode=attention]")
    token = text.locator(".nbrag-tok").nth(5)
    token.hover()
    shaded = text.locator(".nbrag-tok[style*='background']")
    assert shaded.count() >= 2  # a causal model: token 5 attends to tokens 0..5
    assert text.locator(".nbrag-tok.nbrag-query").inner_text() == token.inner_text()
    status = text.locator(".nbrag-tokens-status").inner_text()
    assert status.startswith("token 5 «mat»") and "attends most to" in status
    assert text.locator(".nbrag-tok").nth(7).evaluate("e => e.style.background") == ""  # later tokens: unseen
    save_screenshot(view, "inspectors-attention-hover.png")

    # Click pins it (touch screens): moving the mouse away keeps the shading.
    token.click()
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    assert text.get_attribute("data-focus") == "5" and shaded.count() >= 2
    # The pinned query row is outlined in the heatmap.
    page.wait_for_function(f"() => (document.querySelector({HEATMAP!r}).layout.shapes || []).length === 1",
                           timeout=30_000)
    save_screenshot(view, "inspectors-attention-pinned.png")

    # Clicking a cell of the head summary picks that layer and head.
    grid = ".nbrag-attention-heads .js-plotly-plot"
    view.locator(".nbrag-attention-heads").scroll_into_view_if_needed()
    cell = page.evaluate(CELL, [grid, 4, 2])
    page.mouse.move(cell["x"], cell["y"])
    page.wait_for_timeout(300)
    page.mouse.click(cell["x"], cell["y"])
    page.wait_for_function(f"() => document.querySelector({HEATMAP!r}).layout.title.text === 'layer 2, head 4'",
                           timeout=30_000)
    pickers = view.locator(".widget-dropdown select")
    assert pickers.nth(0).evaluate("e => e.selectedOptions[0].textContent") == "layer\xa02"
    assert pickers.nth(1).evaluate("e => e.selectedOptions[0].textContent") == "head\xa04"
    save_screenshot(view.locator(".widget-hbox").filter(has=page.locator(".nbrag-attention-heads")).first,
                    "inspectors-attention-heads.png")

    # The routing of the tiny Mixtral: every token coloured by its first-choice expert, the random-weights note.
    first = printed(page, "first")["first"]
    routing = page.locator(".jp-OutputArea-output .widget-vbox").filter(
        has=page.locator(".nbrag-tokens[data-mode=routing]")).first
    routing.scroll_into_view_if_needed()
    coloured = routing.locator(".nbrag-tokens[data-mode=routing] .nbrag-tok")
    page.wait_for_function("() => [...document.querySelectorAll('.nbrag-tokens[data-mode=routing] .nbrag-tok')]"
                           ".every(t => t.style.background)", timeout=30_000)
    assert coloured.count() == len(first)
    colours = coloured.evaluate_all("els => els.map(e => e.style.backgroundColor)")
    by_expert = {}
    for expert, colour in zip(first, colours):
        by_expert.setdefault(expert, set()).add(colour)
    assert all(len(c) == 1 for c in by_expert.values())  # one colour per expert
    assert len({next(iter(c)) for c in by_expert.values()}) == len(by_expert)  # and different experts differ
    assert "random weights: the mechanism, not a trained model's specialisation" in routing.inner_text()
    assert "<b>sum</b>" in routing.locator(".nbrag-tokens-body").inner_text()  # markup in the text shows as text
    coloured.nth(2).hover()
    assert "layer 0: expert" in routing.locator(".nbrag-tokens-status").inner_text()
    save_screenshot(routing, "inspectors-routing.png")
    assert not [e for e in page.errors if "nbrag" in e.lower() or "plotly" in e.lower()], page.errors


OTHERS = [
    ("import torch\ntorch.set_num_threads(1)\nfrom nbrag.inspectors import attention, kv_cache, routing, speed\n"
     "from nbrag.inspectors import compare_routing\n"
     "kv_cache('The cat sat on the mat', model='tiny:mistral', max_new_tokens=24)"),
    "speed('The cat sat on the mat', model='tiny:llama', lengths=(4, 8))",
    ("code = routing('def add(x, y):\\n    return x + y', model='tiny:qwen3_moe')\n"
     "prose = routing('The cat sat on the mat because it was tired.', model='tiny:qwen3_moe')\n"
     "compare_routing(code, prose, names=('code', 'prose'))"),
    "attention(' '.join(f'word{i % 40}' for i in range(180)), model='tiny:llama')",
]
PLOTS = "document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot').length"


def test_cache_speed_comparison_and_long_attention_views(page, lab, lab_root):
    write_notebook(lab_root / "inspectors-more.ipynb", OTHERS)
    open_and_run_all(page, lab, "inspectors-more.ipynb", timeout_s=300)
    page.wait_for_function(f"() => {PLOTS} >= 6", timeout=60_000)  # growth, speed, 2 comparison, 2 attention
    outputs = page.locator(".jp-Notebook .jp-CodeCell .jp-Cell-outputWrapper")
    cache = outputs.nth(0)
    assert "✓ equal" in cache.inner_text() and "2 sliding layers keep only 15 tokens" in cache.inner_text()
    assert cache.locator(".js-plotly-plot").evaluate("p => p.data.map(t => t.name)") == [
        "measured", "formula", "every layer keeps every token"]
    save_screenshot(cache, "inspectors-cache.png")
    timing = outputs.nth(1)
    assert "speedup" in timing.inner_text()
    assert timing.locator(".js-plotly-plot").evaluate("p => p.data.length") == 2
    save_screenshot(timing, "inspectors-speed.png")
    compared = outputs.nth(2)
    assert "Routing compared" in compared.inner_text() and "specialisation" in compared.inner_text()
    assert "random weights: the mechanism, not a trained model's specialisation" in compared.inner_text()
    save_screenshot(compared, "inspectors-compare.png")
    long = outputs.nth(3)
    long.scroll_into_view_if_needed()
    save_screenshot(long, "inspectors-attention-long.png")
    assert "the heatmap shows tokens 0–127 (a window of 128)" in long.inner_text()
    rows = long.locator(".nbrag-attention-heatmap .js-plotly-plot").evaluate("p => p.data[0].z.length")
    assert rows == 128
    assert long.locator(".nbrag-in-window").count() == 128  # the window's tokens are underlined in the text
    save_screenshot(long.locator(".nbrag-attention-heatmap"), "inspectors-attention-window.png")
    assert not [e for e in page.errors if "nbrag" in e.lower() or "plotly" in e.lower()], page.errors
