"""The graph view: which entities are drawn (and the cap), the hits' paths, the panel a click fills (escaped),
community reports, the find box, the static drawing, and a graph search's result view."""

from __future__ import annotations

import json
import time

import networkx as nx
import pytest

from nbrag.errors import NbragError
from nbrag.graphrag import KnowledgeGraph
from nbrag.retrieval import Index
from nbrag.views.graph import (
    HIGHLIGHT,
    NO_COMMUNITY,
    GraphSearchView,
    GraphView,
    community_colours,
    community_html,
    drawing,
    entity_html,
    label_choice,
    layout,
    select_overview,
    select_result,
    svg,
    traces,
)
from nbrag.views.retrieval import ScoreView

EVIL = "<script>alert(1)</script>"
TEXTS = {
    "c1": (("Ada Lovelace worked with Charles Babbage in London. The <script>alert(1)</script> Society wrote to "
            "Ada Lovelace in London."), "letters <b>1843</b>"),
    "c2": ("Charles Babbage designed the Analytical Engine in London. Ada Lovelace wrote its first program.", "engine"),
    "c3": ("Mary Somerville introduced Ada Lovelace to Charles Babbage.", "somerville"),
    "c4": ("Green Tea keeps best in a Dry Tin.", "tea"),
}
NAMES = ["Ada Lovelace", "Charles Babbage", "London", EVIL, "Analytical Engine", "Mary Somerville", "Green Tea",
         "Dry Tin"]


def complete(messages):
    """A generator that names the entities of NAMES a chunk holds and relates those of each sentence."""
    text = messages[0]["content"].rsplit("Text: ", 1)[1].rsplit("\nJSON:", 1)[0]
    found = [n for n in NAMES if n in text]
    relations = [{"source": a, "target": b, "relation": "appears with"}
                 for sentence in text.split(". ") for a in found for b in found if a < b and a in sentence
                 and b in sentence]
    return json.dumps({"entities": [{"name": n, "type": "person" if " " in n else "name"} for n in found],
                       "relations": relations})


@pytest.fixture(scope="module")
def kg():
    graph = KnowledgeGraph("llm", generator=complete)
    graph.add(TEXTS, progress=False)
    return graph


def click(view: GraphView, node: str) -> None:
    """What plotly's front end sends when the entity's marker is clicked."""
    i = view.drawing.nodes.index(node)
    view.figure._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
        "xs": [0.0], "ys": [0.0], "point_indexes": [i], "trace_indexes": [2]}}


# ---------------------------------------------------------------------- which entities are drawn

def test_overview_keeps_the_most_connected_up_to_the_cap():
    g = nx.star_graph(5)  # 0 is the hub
    g.add_edges_from([(1, 2), (6, 7)])
    g = nx.relabel_nodes(g, str)
    assert select_overview(g, 3) == (["0", "1", "2"], 8)
    assert select_overview(g, 100, min_degree=2) == (["0", "1", "2"], 3)
    assert select_overview(g, 100, members=["7", "5", "nowhere"]) == (["5", "7"], 2)
    assert select_overview(g, 1, min_degree=9) == ([], 0)


def test_overview_of_ten_thousand_entities_is_the_top_of_the_degrees():
    g = nx.relabel_nodes(nx.barabasi_albert_graph(10_000, 3, seed=1), lambda n: f"e{n}")
    started = time.perf_counter()
    nodes, total = select_overview(g, 200, min_degree=4)
    seconds = time.perf_counter() - started
    degrees = sorted((d for _, d in g.degree()), reverse=True)
    assert total == sum(d >= 4 for d in degrees) and len(nodes) == 200
    assert [g.degree(n) for n in nodes] == degrees[:200]
    positions = layout(g, nodes)
    assert set(positions) == set(nodes)
    assert seconds < 1.0, f"selecting 200 of 10,000 entities took {seconds:.2f} s"


def test_layout_is_the_same_whatever_order_the_graph_was_built_in():
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("x", "y"), ("lone", "lone")]
    one, two = nx.Graph(edges), nx.Graph(list(reversed(edges)))
    one.remove_edge("lone", "lone")
    two.remove_edge("lone", "lone")
    nodes = ["a", "b", "c", "x", "y", "lone"]
    assert layout(one, nodes) == layout(two, list(reversed(nodes)))
    triangle = [layout(one, nodes)[n] for n in "abc"]
    pair = [layout(one, nodes)[n] for n in "xy"]
    assert max(x for x, _ in triangle) < min(x for x, _ in pair) or max(y for _, y in pair) < min(
        y for _, y in triangle)  # parts lie apart: the triangle first, then the pair beside or below it


def test_a_search_draws_query_then_paths_then_hits_then_neighbours(kg):
    trace = {"entities": [{"key": "mary somerville", "name": "Mary Somerville", "matched": "Mary Somerville"},
                          {"key": "gone", "name": "Gone", "matched": "gone"}],
             "paths": {"c2": ["mary somerville", "charles babbage", "analytical engine"], "c4": ["green tea"]}}
    focus = select_result(kg, trace, {"c2": 1, "c1": 2})
    assert focus.nodes[:3] == ["mary somerville", "charles babbage", "analytical engine"]  # "gone" left out
    assert focus.roles["mary somerville"] == "query" and focus.roles["analytical engine"] == "path"
    assert {n for n, r in focus.roles.items() if r == "hit"} == {"ada lovelace", "london", EVIL}
    assert focus.path_edges == [("charles babbage", "mary somerville"), ("analytical engine", "charles babbage")]
    assert "green tea" not in focus.roles  # c4 is no hit: its path is not drawn
    capped = select_result(kg, trace, {"c2": 1, "c1": 2}, max_nodes=2)
    assert capped.nodes == ["mary somerville", "charles babbage"] and capped.total == focus.total
    assert capped.path_edges == [("charles babbage", "mary somerville")]


def test_paths_are_thick_and_query_entities_are_outlined_stars(kg):
    focus = select_result(kg, {"entities": [{"key": "mary somerville", "name": "Mary Somerville", "matched": "x"}],
                               "paths": {"c2": ["mary somerville", "charles babbage"]}}, {"c2": 1})
    d = drawing(kg, focus.nodes, focus.roles, focus.path_edges)
    thin, thick, points = traces(d)
    assert thick["line"]["color"] == HIGHLIGHT and thick["line"]["width"] > thin["line"]["width"]
    assert len([x for x in thick["x"] if x is None]) == 1  # one path relation
    assert len([x for x in thin["x"] if x is None]) == len(d.edges) - 1  # the others, not drawn twice
    star = d.nodes.index("mary somerville")
    assert points["marker"]["symbol"][star] == "star" and points["marker"]["symbol"].count("star") == 1
    assert points["marker"]["line"]["width"][star] >= 2
    assert points["marker"]["line"]["color"][d.nodes.index("charles babbage")] == HIGHLIGHT
    assert points["customdata"] == d.nodes


def test_colours_follow_level_zero_communities(kg):
    colours = community_colours(kg, list(kg.graph))
    for community in (c for c in kg.communities.values() if c.level == 0 and len(c.members) > 1):
        assert len({colours[m] for m in community.members}) == 1
    lonely = [c.members[0] for c in kg.communities.values() if c.level == 0 and len(c.members) == 1]
    assert all(colours[n] == NO_COMMUNITY for n in lonely)
    assert colours["green tea"] != colours["ada lovelace"]


def test_names_are_written_where_they_do_not_overlap():
    positions = {"a": (0.0, 0.0), "b": (0.01, 0.0), "c": (1.0, 1.0), "d": (0.5, 0.5)}
    chosen = label_choice(list(positions), positions, ["b"], {"a": 9, "c": 5, "d": 1})
    assert chosen == {"b", "c", "d"}  # a would lie on b's name


# ---------------------------------------------------------------------- the panel, escaped

def test_clicking_an_entity_fills_the_panel_with_escaped_text(kg):
    view = GraphView.of(kg)
    assert EVIL in view.drawing.nodes and "showing all 8 entities" in view.note.value
    points = view.figure.data[2]
    assert all("<script>" not in t for t in list(points.hovertext) + list(points.text))
    assert any("&lt;script&gt;" in t for t in points.hovertext)
    click(view, EVIL)
    panel = view.panel.value
    assert "<script>" not in panel and "<b>1843</b>" not in panel
    assert "<h4>&lt;script&gt;alert(1)&lt;/script&gt;</h4>" in panel
    assert 'data-chunk="c1"' in panel and "letters &lt;b&gt;1843&lt;/b&gt;" in panel  # its chunk and document
    assert "Ada Lovelace" in panel and "appears with" in panel  # a neighbour, with the relation's evidence
    assert view.drawing.selected == EVIL and view.figure.data[2].marker.line.width[view.drawing.nodes.index(EVIL)] > 3
    html_out = view.to_html()
    assert "<svg" in html_out and "<script>" not in html_out and "&lt;script&gt;" in html_out
    assert html_out.startswith("<style>") and ".nbrag-graph-svg {" in html_out  # widgets/graph.css, inlined
    assert "style=" not in svg(view.drawing)  # the drawing's look is the stylesheet's


def test_the_panel_lists_hits_first_with_their_ranks_and_previews(kg):
    panel = entity_html(kg, "Charles Babbage", texts={"c3": "Mary Somerville introduced <i>Ada</i>."},
                        hits={"c3": 1, "c2": 2})
    chunks = [part.split('"')[0] for part in panel.split('data-chunk="')[1:]]
    assert chunks == ["c3", "c2", "c1"]
    assert "hit #1" in panel and "hit #2" in panel and "(2 of them hits)" in panel
    assert "Mary Somerville introduced &lt;i&gt;Ada&lt;/i&gt;." in panel and "<i>" not in panel
    assert 'nbrag-graph-preview' in panel and panel.count("nbrag-graph-preview") == 1  # only c3's text is known


def test_finding_an_entity_does_what_a_click_does_and_unknown_names_are_said_not_raised(kg):
    view = GraphView.of(kg)
    view.find.value = "ada lovelace"
    assert "<h4>Ada Lovelace</h4>" in view.panel.value and view.drawing.selected == "ada lovelace"
    view.find.value = "<img src=x onerror=alert(2)>"
    assert "nbrag-graph-error" in view.panel.value and "No entity" in view.panel.value
    assert "<img" not in view.panel.value
    view.show_entity("Zanzibar")
    assert "No entity &#x27;Zanzibar&#x27;" in view.panel.value


def test_a_community_from_the_menu_shows_its_report_and_filters_the_graph(kg):
    view = GraphView.of(kg)
    label, community = view.community.options[1]
    members = kg.communities[community].members
    view.community.value = community
    assert set(view.drawing.nodes) == set(members)
    panel = view.panel.value
    assert f'data-community="{community}"' in panel and "Relations" in panel and "Entities" in panel
    assert "<script>" not in panel
    assert label.startswith(kg.communities[community].report["title"])
    view.community.value = ""
    assert len(view.drawing.nodes) == len(kg.graph) and "nbrag-graph-report" not in view.panel.value
    with pytest.raises(NbragError, match=r"^community='c999': no community of that id in the graph\."):
        community_html(kg, "c999")


def test_the_cap_and_the_min_degree_slider(kg):
    view = GraphView.of(kg, max_nodes=3)
    assert len(view.drawing.nodes) == 3 and "showing 3 of 8 entities" in view.note.value
    assert "max_nodes=6" in view.note.value  # how to see the rest
    view.degree.value = top = view.degree.max
    assert view.drawing.nodes == [n for n in kg.graph if kg.graph.degree(n) == top]
    assert f"showing all {len(view.drawing.nodes)} entities with at least {top} relations, of 8" in view.note.value
    with pytest.raises(NbragError, match=r"^max_nodes=0: give a whole number of at least 1\."):
        GraphView.of(kg, max_nodes=0)
    with pytest.raises(NbragError, match=r"^min_degree=-1: give a whole number of at least 0\."):
        GraphView.of(kg, min_degree=-1)
    with pytest.raises(NbragError, match=r"^community='c999': no community of that id in the graph\."):
        GraphView.of(kg, community="c999")


def test_an_empty_graph_says_so():
    view = KnowledgeGraph().view()
    assert view.drawing.nodes == [] and "no entities yet" in view.note.value
    assert svg(view.drawing) == "" and "Knowledge graph" in view.to_html()


# ---------------------------------------------------------------------- a graph search's result

DOCS = {
    "lovelace": "Ada Lovelace worked with Charles Babbage in London. Ada Lovelace wrote the first program for "
                "the Analytical Engine.",
    "babbage": "Charles Babbage designed the Analytical Engine. Charles Babbage taught at Cambridge.",
    "cambridge": "Cambridge is a university town. Isaac Newton studied at Cambridge.",
    "tea": "Green tea keeps best in a dry tin, away from spices and coffee.",
}
QUESTION = "Where did Ada Lovelace's collaborator teach?"


@pytest.fixture(scope="module")
def index():
    idx = Index(f"graph-view-test-{time.monotonic_ns()}", memory=True)
    idx.add(DOCS, chunker="fixed", size=64, overlap=0, progress=False)
    idx.build_graph(progress=False)
    return idx


def test_a_graph_result_shows_its_subgraph_above_its_scored_hits(index):
    result = index.search(QUESTION, k=3, mode="graph", graph="ppr")
    view = result.view()
    assert isinstance(view, GraphSearchView) and isinstance(view.scores, ScoreView)
    assert view.children == (view.graph, view.scores)
    graph = view.graph
    assert graph.drawing.roles["ada lovelace"] == "query"
    header = graph.header.value
    assert "Where did Ada Lovelace&#x27;s collaborator teach?" in header and "ppr" in header
    assert "<b>Ada Lovelace</b>" in header
    via = [h["via"] for h in view.scores.hits.columns[0]["hits"]]
    assert via[0].startswith("via Ada Lovelace") and all(v.startswith("via ") for v in via if v)
    assert graph.drawing.path_edges or all(len(h.meta.get("graph_path", [])) < 2 for h in result)
    top = result[0]
    entity = next(iter(index.graph.chunks[top.id]["entities"]))
    click(graph, entity)
    assert '<span class="nbrag-graph-hit">hit #1</span>' in graph.panel.value
    assert "nbrag-graph-preview" in graph.panel.value  # the view knows the index: the chunk's text
    html_out = view.to_html()
    assert "<svg" in html_out and "nbrag-retrieval" in html_out and "via Ada Lovelace" in html_out
    data, _ = view._repr_mimebundle_()  # a live widget, and the drawing for outputs without a kernel
    assert "application/vnd.jupyter.widget-view+json" in data and data["text/html"] == html_out
    data, _ = index.graph._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data and "Knowledge graph" in data["text/html"]


def test_global_search_shows_its_communities_and_summary(index):
    result = index.search(QUESTION, k=3, mode="graph", graph="global")
    header = GraphView.of(index.graph, result).header.value
    if result.graph["communities"]:
        assert result.graph["communities"][0]["title"].split(",")[0] in header and "Communities" in header
    else:
        assert "nbrag-graph-warn" in header  # the message that no community has a report


def test_a_query_naming_no_entity_says_so(index):
    result = index.search("zzz qqq", k=3, mode="graph", graph="local")
    view = GraphView.of(index.graph, result)
    assert "nbrag-graph-warn" in view.header.value and "No entity of the graph" in view.header.value
    assert "none found in the query" in view.header.value


def test_score_view_of_graph_results(index):
    local = ScoreView.of(index.search(QUESTION, k=3, mode="graph", graph="local"))
    col = local.hits.columns[0]
    assert local.weight is None and local.fusion is None
    assert "local graph score" in col["legend"] and "graph search local" in col["title"]
    assert col["hits"][0]["title"].startswith("graph: local score ")
    assert {s["name"] for h in col["hits"] for s in h["bar"]} == {"graph"}

    fused = index.search(QUESTION, k=3, mode="hybrid+graph")
    view = fused.view()
    scores = view.scores
    assert scores.weight is None and scores.fusion is not None  # no bm25/dense slider where a graph is fused too
    col = scores.hits.columns[0]
    assert "rrf (rrf_k 5) · bm25 0.20 / dense 0.30 / graph 0.50" in col["title"]
    assert "graph: PageRank" in col["hits"][0]["title"]
    scores.fusion.value = "minmax"  # fused again: the graph follows the new hits
    assert view.graph.result is scores.result and scores.result.params["fusion"] == "minmax"
    assert view.graph.hits == {h.id: h.rank for h in scores.result}


def test_a_plain_hybrid_result_keeps_its_slider(index):
    view = index.search(QUESTION, k=3, mode="hybrid").view()
    assert isinstance(view, ScoreView) and view.weight is not None
    assert "minmax · bm25 0.30 / dense 0.70" in view.hits.columns[0]["title"]


def test_a_result_without_its_index_shows_its_hits(index):
    result = index.search(QUESTION, k=3, mode="graph", graph="ppr")
    result.index = None
    view = GraphSearchView.of(result)
    assert view.graph is None and "only its hits" in view.message.value
    with pytest.raises(NbragError, match=r"^mode='bm25': not a graph search: search with mode='graph'"):
        GraphView.of(index.graph, index.search(QUESTION, k=3, mode="bm25"))
