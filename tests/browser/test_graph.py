"""The graph view of a graph search, run in JupyterLab: click an entity, pick a community, find by name."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import open_and_run_all, save_screenshot
from tests.browser.test_lab import write_notebook

pytestmark = pytest.mark.browser
QUESTION = "What team was Anna Benson's husband on?"
ENTITY = "kris benson"  # on a hit's path: Anna Benson → Kris Benson
GRAPH = [
    ("from nbrag.eval import load_beir\nfrom nbrag.data import sample_multihop\n"
     "index = load_beir(sample_multihop()).index()\nkg = index.build_graph(progress=False)"),
    f"result = index.search({QUESTION!r}, k=5, mode='graph', graph='ppr')\nresult",
    # What the views should say, from the same kernel: the entity's chunks, the hits' ranks, the graph's size.
    (f"import json\nprint(json.dumps({{'chunks': sorted(kg.entity({ENTITY!r})['chunks']), "
     "'hits': {h.id: h.rank for h in result}, 'entities': len(kg)}))"),
    "kg.view(max_nodes=150)",
]
# The entity trace is the figure's third; its markers are drawn in data order.
POINT = """([key]) => {
    const plot = document.querySelector('.jp-OutputArea-output .js-plotly-plot');
    const i = plot.data[2].customdata.indexOf(key);
    const point = plot.querySelectorAll('.scatterlayer .trace')[2].querySelectorAll('path.point')[i];
    point.scrollIntoView({block: 'center'});
    const box = point.getBoundingClientRect();
    return {i, x: box.x + box.width / 2, y: box.y + box.height / 2, stars: plot.data[2].marker.symbol
            .filter(s => s === 'star').length};
}"""


def test_clicking_an_entity_lists_its_chunks(page, lab, lab_root):
    write_notebook(lab_root / "graph.ipynb", GRAPH)
    open_and_run_all(page, lab, "graph.ipynb", timeout_s=300)
    expected = json.loads(page.locator(".jp-OutputArea-output pre").filter(has_text='"chunks"').inner_text())
    view = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".js-plotly-plot")).first
    page.wait_for_function("() => { const p = document.querySelector('.jp-OutputArea-output .js-plotly-plot');"
                           "return !!p && p.querySelectorAll('.scatterlayer .trace path.point').length > 10; }",
                           timeout=60_000)
    header = view.locator(".nbrag-graph-head").inner_text()
    assert QUESTION in header and "ppr" in header and "Anna Benson" in header
    assert view.locator(".nbrag-retrieval .nbrag-hit").count() == 5  # the score view sits below the graph
    assert view.locator(".nbrag-retrieval .nbrag-via").first.inner_text().startswith("via Anna Benson")
    save_screenshot(view, "graph-search.png")

    # Hover, then click the entity's marker: plotly tells the kernel, which fills the side panel.
    point = page.evaluate(POINT, [ENTITY])
    assert point["i"] >= 0 and point["stars"] >= 1, point
    page.mouse.move(point["x"], point["y"])
    page.wait_for_timeout(300)
    page.mouse.click(point["x"], point["y"])
    panel = view.locator(".nbrag-graph-panel")
    panel.locator(".nbrag-graph-entity").wait_for(timeout=30_000)
    assert panel.locator("h4").inner_text() == "Kris Benson"
    listed = panel.locator("li[data-chunk]").evaluate_all("els => els.map(e => e.dataset.chunk)")
    assert sorted(listed) == expected["chunks"]
    badges = panel.locator(".nbrag-graph-hit").all_inner_texts()
    assert badges and all(b == f"hit #{expected['hits'][c]}" for b, c in
                          zip(badges, [c for c in listed if c in expected["hits"]]))
    assert panel.locator(".nbrag-graph-preview").count() == len(listed)  # the chunks' text, from the index
    save_screenshot(view.locator(".widget-hbox").filter(has=page.locator(".js-plotly-plot")).first,
                    "graph-clicked.png")
    # The mouse away, plotly's hover label goes: the hits' paths and the clicked entity's chunks, unobstructed.
    page.mouse.move(5, 5)
    page.wait_for_function("() => !document.querySelector('.jp-OutputArea-output .hoverlayer .hovertext')",
                           timeout=10_000)
    save_screenshot(view, "graph-path.png",
                    until=view.locator(".widget-hbox").filter(has=page.locator(".js-plotly-plot")).first)

    # A community from the menu shows its report.
    menu = view.locator(".widget-dropdown select").first
    label = menu.locator("option").nth(1).inner_text().replace("\xa0", " ")  # ipywidgets spaces options with nbsp
    menu.select_option(index=1)
    report = panel.locator(".nbrag-graph-report")
    report.wait_for(timeout=30_000)
    assert label.startswith(report.locator("h4").inner_text())
    assert report.locator("li").count() >= 3 and "Relations" in report.inner_text()
    save_screenshot(panel, "graph-report.png")

    # Finding an unknown name says so in the panel.
    box = view.locator(".widget-text input").first
    box.fill("Zanzibar Quantum Society")
    box.press("Enter")
    panel.locator(".nbrag-graph-error").wait_for(timeout=30_000)
    assert "No entity 'Zanzibar Quantum Society'" in panel.inner_text()

    # The whole graph: the 150 most connected entities, and a line that says how to see the rest.
    overview = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".js-plotly-plot")).last
    overview.scroll_into_view_if_needed()
    assert f"showing 150 of {expected['entities']:,} entities" in overview.inner_text()
    page.wait_for_function("() => { const p = [...document.querySelectorAll('.jp-OutputArea-output .js-plotly-plot')]"
                           ".pop(); return !!p && p.querySelectorAll('path.point').length === 150; }", timeout=30_000)
    save_screenshot(overview, "graph-overview.png")
    assert not [e for e in page.errors if "nbrag" in e.lower() or "plotly" in e.lower()], page.errors
