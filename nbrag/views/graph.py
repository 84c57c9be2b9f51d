"""GraphView: a knowledge graph as an interactive network. GraphSearchView: a graph search's subgraph and its hits.

What is drawn, and where, comes from :mod:`nbrag.views.graph_drawing`; this module writes the
side panel (``entity_html``, ``community_html``) and the header, and holds the widgets. The
figure is a plotly ``FigureWidget``: clicking an entity, or finding it by name, fills the panel.
Every name and piece of document text is escaped, in the panel, in the figure's labels and hover
text, and in the static drawing; the styles are ``widgets/graph.css``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets

from nbrag.errors import NbragError, whole_number
from nbrag.views.graph_drawing import (
    FIGURE_LAYOUT,
    HIGHLIGHT,
    MAX_NODES,
    NO_COMMUNITY,
    SEED,
    SIZE,
    Drawing,
    Focus,
    community_colours,
    drawing,
    figure,
    label_choice,
    layout,
    node_sizes,
    select_overview,
    select_result,
    svg,
    traces,
)
from nbrag.views.shared import WithStaticHTML, count, e, style

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.graphrag.graph import KnowledgeGraph
    from nbrag.retrieval.base import RetrievalResult

__all__ = ["FIGURE_LAYOUT", "HIGHLIGHT", "MAX_NODES", "NO_COMMUNITY", "Drawing", "Focus", "GraphSearchView",
           "GraphView", "community_colours", "community_html", "drawing", "entity_html", "figure", "label_choice",
           "layout", "node_sizes", "select_overview", "select_result", "svg", "traces"]

PANEL_CHUNKS = 12
PANEL_NEIGHBOURS = 8
PREVIEW = 240  # characters of a chunk shown in the panel
SEARCHES = {"ppr": "personalized PageRank from the query's entities", "local": "the query's entities and their "
            "neighbours", "global": "community reports ranked against the query"}
HINT = "Click an entity, or find one by name, to see its chunks and relations."


# ---------------------------------------------------------------------- the panel and the header

def chunk_order(chunks: Mapping[str, int], hits: Mapping[str, int]) -> list[str]:
    """An entity's chunks (id -> mentions) as the panel lists them: hits by rank, then most mentions first."""
    return sorted(chunks, key=lambda c: (c not in hits, hits.get(c, 0), -chunks[c], c))


def entity_html(kg: KnowledgeGraph, name: str, *, texts: Mapping[str, str] | None = None,
                hits: Mapping[str, int] | None = None, drawn: bool = True) -> str:
    """An entity's name, type, surface names, communities, chunks (hits first, by rank; a preview of each
    where ``texts`` holds it) and strongest neighbours with the sentences that relate them.
    Raises :class:`~nbrag.errors.NbragError` for a name the graph does not hold."""
    info = kg.entity(name)
    hits = hits or {}
    texts = texts or {}
    chunks = chunk_order(info["chunks"], hits)
    names = ", ".join(f"{e(n)} ×{count}" for n, count in sorted(info["names"].items(), key=lambda p: -p[1]))
    out = [f'<div class="nbrag-graph nbrag-graph-entity" data-key="{e(info["key"])}">',
           f"<h4>{e(info['name'])}</h4>",
           (f'<div class="nbrag-graph-muted">{e(info["type"])} · {count(len(info["neighbours"]), "relation")} · '
            f"{count(len(chunks), 'chunk')} · named as {names}</div>")]
    if not drawn:
        out.append('<div class="nbrag-graph-muted">Not drawn in the figure (it is not among the entities '
                   "shown): its details are below.</div>")
    level0 = [kg.communities[c] for c in info["communities"] if kg.communities[c].level == 0]
    for community in level0:
        if community.report:
            out.append(f'<div class="nbrag-graph-muted">community {e(community.id)}: '
                       f'{e(community.report["title"])}</div>')
    among = f" ({sum(c in hits for c in chunks)} of them hits)" if hits else ""
    out.append(f'<b>Chunks</b>{among}<ul class="nbrag-graph-chunks">')
    for chunk in chunks[:PANEL_CHUNKS]:
        document = kg.chunks.get(chunk, {}).get("document", "")
        hit = f' <span class="nbrag-graph-hit">hit #{hits[chunk]}</span>' if chunk in hits else ""
        text = " ".join(texts.get(chunk, "").split())
        preview = (f'<div class="nbrag-graph-preview">{e(text[:PREVIEW])}{"…" if len(text) > PREVIEW else ""}'
                   "</div>") if text else ""
        out.append(f'<li data-chunk="{e(chunk)}"><b>{e(document)}</b> '
                   f'<span class="nbrag-graph-muted">{e(chunk)}</span>{hit}{preview}</li>')
    out.append("</ul>")
    if len(chunks) > PANEL_CHUNKS:
        out.append(f'<div class="nbrag-graph-muted">and {len(chunks) - PANEL_CHUNKS} more chunks</div>')
    if info["neighbours"]:
        out.append("<b>Strongest relations</b><ul>")
        for neighbour in info["neighbours"][:PANEL_NEIGHBOURS]:
            evidence = "".join(f'<div class="nbrag-graph-evidence">{e(s)}</div>' for s in neighbour["evidence"][:2])
            out.append(f"<li>{e(neighbour['name'])} <span class=\"nbrag-graph-muted\">weight "
                       f"{neighbour['weight']:g}</span>{evidence}</li>")
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


def community_html(kg: KnowledgeGraph, community: str) -> str:
    """A community's report: title, main entities, strongest relations with their evidence, key sentences."""
    c = kg.communities.get(community)
    if c is None:
        raise NbragError("no community of that id in the graph.", option="community", value=community)
    report = c.report
    out = [f'<div class="nbrag-graph nbrag-graph-report" data-community="{e(c.id)}">',
           f"<h4>{e(report.get('title') or c.id)}</h4>",
           (f'<div class="nbrag-graph-muted">community {e(c.id)} · level {c.level} · {len(c.members)} entities'
            f'{" · summary written by the model" if report.get("written_by") == "llm" else ""}</div>')]
    if not report:
        out.append("<div>A single entity: no report.</div></div>")
        return "".join(out)
    if report.get("written_by") == "llm":
        out.append(f'<div class="nbrag-graph-summary">{e(report["summary"])}</div>')
    out.append("<b>Entities</b><ul>")
    out += [f"<li>{e(entity['name'])} <span class=\"nbrag-graph-muted\">{e(entity['type'])} · "
            f"{count(entity['chunks'], 'chunk')}</span></li>" for entity in report.get("entities", [])]
    out.append("</ul><b>Relations</b><ul>")
    for r in report.get("relations", []):
        evidence = f'<div class="nbrag-graph-evidence">{e(r["evidence"])}</div>' if r["evidence"] else ""
        out.append(f"<li>{e(r['source'])} — {e(r['target'])} <span class=\"nbrag-graph-muted\">weight "
                   f"{r['weight']:g}</span>{evidence}</li>")
    out.append("</ul>")
    if report.get("sentences"):
        out.append("<b>Sentences</b><ul>" + "".join(f"<li class=\"nbrag-graph-preview\">{e(s)}</li>"
                                                     for s in report["sentences"]) + "</ul>")
    out.append(f'<div class="nbrag-graph-muted">{len(report.get("chunks", []))} chunks mention it most: '
               f'{e(", ".join(report.get("chunks", [])[:5]))}</div></div>')
    return "".join(out)


def error_html(message: str) -> str:
    return f'<div class="nbrag-graph nbrag-graph-error">{e(message)}</div>'


def overview_header(kg: KnowledgeGraph) -> str:
    level0 = sum(1 for c in kg.communities.values() if c.level == 0 and c.report)
    return (f'{style("graph.css")}<div class="nbrag-graph nbrag-graph-head"><b>Knowledge graph</b> · '
            f"{kg.graph.number_of_nodes():,} entities · {kg.graph.number_of_edges():,} relations · "
            f"{len(kg.chunks):,} chunks · {level0} communities · extractor {e(kg.extractor.name)}"
            '<div class="nbrag-graph-muted">Colour: community (level 0) · size: relations · '
            "hover an entity for its name.</div></div>")


def result_header(result: RetrievalResult) -> str:
    """The query, the graph search and its entities, its message or staleness, and for global search the
    ranked communities and the summary."""
    trace = result.graph or {}
    search = trace.get("search", result.params.get("graph", ""))
    out = [style("graph.css"), '<div class="nbrag-graph nbrag-graph-head">',
           f'<div><span class="nbrag-graph-key">Query</span> {e(result.query)}</div>',
           (f'<div><span class="nbrag-graph-key">Search</span> {e(result.mode)} · {e(search)}: '
            f"{e(SEARCHES.get(search, ''))}</div>")]
    entities = trace.get("entities") or []
    named = ", ".join(f"<b>{e(entity['name'])}</b>" + (f" (“{e(entity['matched'])}”)"
                                                        if entity["matched"] != entity["name"] else "")
                      for entity in entities)
    out.append(f'<div><span class="nbrag-graph-key">Entities</span> {named or "none found in the query"}</div>')
    for key in ("message", "stale"):
        if trace.get(key):
            out.append(f'<div class="nbrag-graph-warn">{e(trace[key])}</div>')
    if trace.get("communities"):
        out.append('<div><span class="nbrag-graph-key">Communities</span></div><ol>')
        out += [f"<li>{e(c['title'])} <span class=\"nbrag-graph-muted\">{e(c['id'])} · score {c['score']:.4f}"
                "</span></li>" for c in trace["communities"]]
        out.append("</ol>")
    if trace.get("summary"):
        out.append(f'<div><span class="nbrag-graph-key">Summary</span></div>'
                   f'<div class="nbrag-graph-summary">{e(trace["summary"])}</div>')
    out.append('<div class="nbrag-graph-muted">★ query entity · red: each hit\'s path from a query entity '
               "(entities outlined, relations thick) · colour: community (level 0) · size: relations.</div></div>")
    return "".join(out)


def community_options(kg: KnowledgeGraph, first: Iterable[str] = (), limit: int = 500) -> list[tuple[str, str]]:
    """Level-0 communities with a report as (label, id): the ids in ``first`` first, then by size."""
    ranked = list(dict.fromkeys(c for c in first if c in kg.communities and kg.communities[c].report))
    rest = sorted((c for c in kg.communities.values() if c.level == 0 and c.report and c.id not in ranked),
                  key=lambda c: (-len(c.members), c.id))
    chosen = [kg.communities[c] for c in ranked] + rest[:max(0, limit - len(ranked))]
    return [(f"{c.report['title']} ({len(c.members)})", c.id) for c in chosen]


def overview_note(shown: int, total: int, everything: int, max_nodes: int, min_degree: int = 0) -> str:
    """The line under the controls: how many entities are drawn, of how many, and how to see the others."""
    if total == 0:
        return "No entity has that many relations here." if everything else "The graph has no entities yet."
    if shown == total:
        filtered = f" with at least {count(min_degree, 'relation')}, of {everything:,}" if total < everything else ""
        return f"showing all {total:,} entities{filtered}"
    return (f"showing {shown:,} of {total:,} entities, the most connected first. To see the rest: raise the "
            f"minimum relations, pick a community, find an entity by name, or draw more with "
            f"GraphView.of(kg, max_nodes={min(total, 2 * max_nodes)}).")


# ---------------------------------------------------------------------- widgets

class GraphView(WithStaticHTML, ipywidgets.VBox):
    """A knowledge graph (``result=None``), or the subgraph around a graph search's result, as a network:
    click an entity or find it by name for its chunks and relations; pick a community for its report."""

    def __init__(self, kg: KnowledgeGraph, result: RetrievalResult | None = None, *, index: Any = None,
                 max_nodes: int = MAX_NODES, min_degree: int = 0, community: str | None = None,
                 seed: int = SEED) -> None:
        import plotly.graph_objects as go

        whole_number(max_nodes, "max_nodes")
        whole_number(min_degree, "min_degree", 0)
        if community is not None and community not in kg.communities:
            raise NbragError("no community of that id in the graph.", option="community", value=community)
        if result is not None and result.graph is None:
            raise NbragError("not a graph search: search with mode='graph' or 'hybrid+graph' to see it in the graph.",
                             option="mode", value=result.mode)
        super().__init__()
        self.kg, self.result, self.seed, self.max_nodes = kg, result, seed, max_nodes
        self._ranked: list[str] = []
        self.index = index if index is not None else getattr(result, "index", None)
        self.hits: dict[str, int] = {h.id: h.rank for h in result.hits} if result is not None else {}
        self.header = ipywidgets.HTML()
        self.note = ipywidgets.HTML()
        self.panel = ipywidgets.HTML(f'<div class="nbrag-graph nbrag-graph-muted">{HINT}</div>',
                                     layout={"flex": "1 1 300px", "min_width": "280px", "max_width": "560px",
                                             "max_height": f"{SIZE['height']}px", "overflow": "auto",
                                             "padding": "0 0 0 10px"})
        self.panel.add_class("nbrag-graph-panel")
        self.find = ipywidgets.Text(placeholder="entity name", description="find entity", continuous_update=False,
                                    style={"description_width": "initial"}, layout={"width": "260px"})
        self.find.observe(lambda change: self.show_entity(change["new"]) if change["new"].strip() else None,
                          names="value")
        self.degree: ipywidgets.IntSlider | None = None
        controls: list[ipywidgets.Widget] = []
        if result is None:
            top = max((d for _, d in kg.graph.degree()), default=0)
            self.degree = ipywidgets.IntSlider(value=min(min_degree, top), min=0, max=max(1, top),
                                               description="min relations", continuous_update=False,
                                               style={"description_width": "initial"}, layout={"width": "300px"})
            self.degree.observe(lambda _: self._draw(), names="value")
            options = community_options(kg, [community] if community else [])
            self.community = ipywidgets.Dropdown(options=[("All", ""), *options], value=community or "",
                                                 description="community", style={"description_width": "initial"},
                                                 layout={"width": "340px"})
            controls = [self.degree, self.community, self.find]
            self.header.value = overview_header(kg)
        else:
            self.community = ipywidgets.Dropdown(options=[("community report…", "")], value="",
                                                 description="community", style={"description_width": "initial"},
                                                 layout={"width": "340px"})
            controls = [self.community, self.find]
            self.header.value = result_header(result)
            self._ranked = [c["id"] for c in result.graph.get("communities", [])]
        self.community.observe(self._community_changed, names="value")
        self.figure = go.FigureWidget(layout=FIGURE_LAYOUT)
        self.figure.add_traces([go.Scatter(**t) for t in traces(drawing(kg, []))])
        self.figure.data[2].on_click(self._clicked)
        self.drawing = drawing(kg, [])
        self.children = [self.header, ipywidgets.HBox(controls, layout={"flex_flow": "row wrap",
                                                                        "align_items": "center"}),
                         self.note, ipywidgets.HBox([self.figure, self.panel], layout={"flex_flow": "row wrap"})]
        self._draw()
        if result is None and community:
            self.show_community(community)

    @classmethod
    def of(cls, kg: KnowledgeGraph, result: RetrievalResult | None = None, **filters: Any) -> GraphView:
        return cls(kg, result, **filters)

    # ------------------------------------------------------------------ drawing

    def _draw(self) -> None:
        kg = self.kg
        selected = self.drawing.selected
        if self.result is None:
            chosen = self.community.value
            members = kg.communities[chosen].members if chosen else None
            nodes, total = select_overview(kg.graph, self.max_nodes, self.degree.value, members)
            self.drawing = drawing(kg, nodes, seed=self.seed)
            everything = len(members) if members is not None else len(kg.graph)
            note = overview_note(len(nodes), total, everything, self.max_nodes, self.degree.value)
            self.note.value = f'<div class="nbrag-graph nbrag-graph-muted">{e(note)}</div>'
        else:
            focus = select_result(kg, self.result.graph or {}, self.hits, self.max_nodes)
            self.drawing = drawing(kg, focus.nodes, focus.roles, focus.path_edges, seed=self.seed)
            counts = Counter(focus.roles.values())
            parts = ", ".join(f"{counts[r]} {label}" for r, label in (
                ("query", "in the query"), ("path", "on paths"), ("community", "from top communities"),
                ("hit", "named by hits"), ("neighbour", "neighbours")) if counts[r])
            cut = f" (cut from {focus.total} at max_nodes={self.max_nodes})" if focus.total > len(focus.nodes) else ""
            self.note.value = (f'<div class="nbrag-graph nbrag-graph-muted">showing {len(focus.nodes)} entities'
                               f"{cut}: {parts or 'none'}; {len(focus.path_edges)} path relations.</div>")
            first = self._ranked + [c for n in focus.nodes if (c := _level0(kg, n)) is not None]
            with self.community.hold_trait_notifications():
                self.community.options = [("community report…", ""), *community_options(kg, first, limit=60)]
                self.community.value = ""
        self.drawing.selected = selected if selected in self.drawing.positions else None
        self._redraw()

    def _redraw(self) -> None:
        with self.figure.batch_update():
            for trace, values in zip(self.figure.data, traces(self.drawing)):
                trace.update(values)

    def show_result(self, result: RetrievalResult) -> None:
        """Draw another result of the same search (e.g. fused again): its hits and their paths."""
        self.result = result
        self.hits = {h.id: h.rank for h in result.hits}
        self.header.value = result_header(result)
        self._draw()

    # ------------------------------------------------------------------ the panel

    def _clicked(self, trace: Any, points: Any, state: Any) -> None:
        if points.point_inds:
            self.show_entity(self.drawing.nodes[points.point_inds[0]])

    def show_entity(self, name: str) -> None:
        """Fill the panel with an entity (by name or key) and outline it in the figure; an unknown name is
        said in the panel."""
        node = self.kg.find(name)
        try:
            shown = entity_html(self.kg, name, texts=self._texts(node), hits=self.hits,
                                drawn=node in self.drawing.positions)
        except NbragError as error:
            self.panel.value = error_html(str(error))
            return
        self.panel.value = shown
        self.drawing.selected = node
        self._redraw()

    def _texts(self, node: str | None) -> dict[str, str]:
        """The text of the chunks the panel lists, when this view knows the index."""
        if self.index is None or node is None:
            return {}
        wanted = chunk_order(self.kg.graph.nodes[node]["chunks"], self.hits)[:PANEL_CHUNKS]
        return {i: c["text"] for i, c in self.index._chunks(wanted).items()}

    def _community_changed(self, change: dict[str, Any]) -> None:
        if self.result is None:
            self._draw()
        if change["new"]:
            self.show_community(change["new"])
        else:
            self.panel.value = f'<div class="nbrag-graph nbrag-graph-muted">{HINT}</div>'

    def show_community(self, community: str) -> None:
        try:
            self.panel.value = community_html(self.kg, community)
        except NbragError as error:
            self.panel.value = error_html(str(error))

    def to_html(self) -> str:
        return (f"{self.header.value}{self.note.value}"
                f'<div class="nbrag-graph-static">{svg(self.drawing)}</div>')


def _level0(kg: KnowledgeGraph, node: str) -> str | None:
    community = kg.community_of(node, 0)
    return community.id if community is not None else None


class GraphSearchView(WithStaticHTML, ipywidgets.VBox):
    """What a graph search's ``RetrievalResult`` shows: the subgraph around the query, then the scored hits."""

    def __init__(self, result: RetrievalResult, **filters: Any) -> None:
        from nbrag.views.retrieval import ScoreView

        super().__init__()
        self.result = result
        self.scores = ScoreView.of(result)
        kg = result.index.graph if result.index is not None else None
        self.graph: GraphView | None = None
        if kg is None or result.graph is None:
            self.message = ipywidgets.HTML(error_html("This result does not know its index's graph, so only its "
                                                      "hits are shown."))
            self.children = [self.message, self.scores]
            return
        self.graph = GraphView.of(kg, result, **filters)
        # Fusing the same candidates again (the fusion menu) redraws the hits: follow them in the graph.
        self.scores.hits.observe(lambda _: self.graph.show_result(self.scores.result), names="columns")
        self.children = [self.graph, self.scores]

    @classmethod
    def of(cls, result: RetrievalResult, **filters: Any) -> GraphSearchView:
        return cls(result, **filters)

    def to_html(self) -> str:
        graph = self.graph.to_html() if self.graph is not None else ""
        return graph + self.scores.to_html()
