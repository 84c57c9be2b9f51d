"""GraphView: a knowledge graph as an interactive network. GraphSearchView: a graph search's subgraph and its hits.

Python decides everything drawn: which entities (``select_overview`` for the whole graph,
``select_result`` around a graph search), where they lie (``spring_layout`` with a fixed seed
on the drawn subgraph only), their colours (level-0 community), sizes (relations), marks (★ the
query's entities, thick red lines the hits' paths), and the HTML of the side panel
(``entity_html``, ``community_html``). The widget is a plotly ``FigureWidget``: clicking an
entity, or finding it by name, fills the panel. Every name and piece of document text is
escaped, in the panel, in the figure's labels and hover text, and in the static drawing.
"""

from __future__ import annotations

import heapq
import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import ipywidgets
import networkx as nx

from nbrag.views.html import WithStaticHTML

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.graphrag.graph import KnowledgeGraph
    from nbrag.retrieval.base import RetrievalResult

MAX_NODES = 200
SEED = 7
SPREAD = 2.0  # spring_layout's distance between nodes, times its default 1/sqrt(n): dense groups open up
LABELS = 12  # names written beside their nodes besides the query's and the paths'; the rest show on hover
NEIGHBOURS = 4  # strongest neighbours drawn per query or path entity around a search
PANEL_CHUNKS = 12
PANEL_NEIGHBOURS = 8
PREVIEW = 240  # characters of a chunk shown in the panel
SIZE = {"width": 500, "height": 480}
# Tableau 10 without its red (red marks the paths), then five more from d3's category palette.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac",
           "#17becf", "#bcbd22", "#8c564b", "#1f77b4", "#9467bd")
NO_COMMUNITY = "#d0d7de"
HIGHLIGHT = "#d1242f"
QUERY_OUTLINE = "#1f2328"
SELECTED = "#0969da"
EDGE = "#c3c9d0"
SEARCHES = {"ppr": "personalized PageRank from the query's entities", "local": "the query's entities and their "
            "neighbours", "global": "community reports ranked against the query"}
HINT = "Click an entity, or find one by name, to see its chunks and relations."
STYLE = """<style>
.nbrag-graph { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; font-size: 13px;
  color: #1f2328; line-height: 1.45; }
.nbrag-graph h4 { margin: 0 0 4px; font-size: 15px; }
.nbrag-graph .nbrag-graph-muted { color: #57606a; font-size: 12px; }
.nbrag-graph .nbrag-graph-warn { color: #9a6700; background: #fff8c5; padding: 2px 6px; border-radius: 4px; }
.nbrag-graph .nbrag-graph-error { color: #cf222e; }
.nbrag-graph .nbrag-graph-hit { color: #fff; background: #1a7f37; border-radius: 8px; padding: 0 6px; font-size: 11px; }
.nbrag-graph ul, .nbrag-graph ol { margin: 2px 0 6px; padding-left: 18px; }
.nbrag-graph li { margin: 0 0 4px; }
.nbrag-graph .nbrag-graph-preview, .nbrag-graph .nbrag-graph-evidence { color: #3d444d; font-size: 12px;
  white-space: pre-wrap; word-break: break-word; }
.nbrag-graph .nbrag-graph-evidence { border-left: 2px solid #d0d7de; padding-left: 6px; margin: 1px 0; }
.nbrag-graph .nbrag-graph-summary { white-space: pre-wrap; font-size: 12px; background: #f6f8fa; padding: 4px 8px; }
.nbrag-graph-head span.nbrag-graph-key { font-size: 11px; text-transform: uppercase;
  letter-spacing: 0.04em; color: #57606a; margin-right: 4px; }
</style>"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _plain(text: Any) -> str:
    """Text for plotly's labels and hover boxes, which read a little HTML: markup shows as text."""
    return html.escape(str(text), quote=False)


# ---------------------------------------------------------------------- what is drawn

def select_overview(graph: nx.Graph, max_nodes: int = MAX_NODES, min_degree: int = 0,
                    members: Iterable[str] | None = None) -> tuple[list[str], int]:
    """The ``max_nodes`` most connected entities with at least ``min_degree`` relations (among ``members``
    when given), most connected first (ties by key), and how many entities qualify."""
    degree = graph.degree
    pool = graph.nodes if members is None else [m for m in members if m in graph]
    eligible = [(-degree[n], n) for n in pool if degree[n] >= min_degree]
    return [n for _, n in heapq.nsmallest(max_nodes, eligible)], len(eligible)


@dataclass
class Focus:
    """The subgraph around a graph search: its entities in order of priority, and why each is there."""

    nodes: list[str]
    roles: dict[str, str]  # entity -> query, path, community, hit or neighbour
    path_edges: list[tuple[str, str]]  # relations on a hit's path from a query entity
    total: int  # entities that qualified before the cap


def select_result(kg: KnowledgeGraph, trace: Mapping[str, Any], hits: Mapping[str, int],
                  max_nodes: int = MAX_NODES) -> Focus:
    """The query's entities, the entities on each hit's path, (for global search) the best communities'
    main entities, the entities the hits name, then the strongest neighbours of query and path entities,
    in that order, cut at ``max_nodes``. ``hits`` maps chunk id -> rank; entities the graph no longer holds
    are left out."""
    graph = kg.graph
    roles: dict[str, str] = {}

    def take(node: str, role: str) -> None:
        if node in graph and node not in roles:
            roles[node] = role

    for entity in trace.get("entities") or []:
        take(entity["key"], "query")
    paths = trace.get("paths") or {}
    path_edges: list[tuple[str, str]] = []
    for chunk in sorted(hits, key=hits.get):
        path = paths.get(chunk) or []
        for node in path:
            take(node, "path")
        path_edges += [(a, b) for a, b in pairwise(path) if graph.has_edge(a, b)]
    for ranked in trace.get("communities") or []:
        community = kg.communities.get(ranked["id"])
        for entity in (community.report.get("entities", []) if community else [])[:5]:
            take(entity["key"], "community")
    for chunk in sorted(hits, key=hits.get):
        named = kg.chunks.get(chunk, {}).get("entities", {})
        for node in sorted(named, key=lambda n: (-named[n], n)):
            take(node, "hit")
    for node in [n for n, role in roles.items() if role in ("query", "path")]:
        strongest = heapq.nsmallest(NEIGHBOURS, ((-d["weight"], n) for n, d in graph[node].items()))
        for _, neighbour in strongest:
            take(neighbour, "neighbour")
    nodes = list(roles)[:max_nodes]
    kept = set(nodes)
    edges = list(dict.fromkeys(tuple(sorted(e)) for e in path_edges if kept.issuperset(e)))
    return Focus(nodes, {n: roles[n] for n in nodes}, edges, len(roles))


def community_colours(kg: KnowledgeGraph, nodes: Iterable[str]) -> dict[str, str]:
    """A colour per entity by its level-0 community: the communities with most drawn entities get the palette's
    first colours (so neighbouring groups differ); entities alone in their community are grey."""
    of = {}
    for node in nodes:
        community = kg.community_of(node, 0)
        of[node] = community.id if community is not None and len(community.members) > 1 else None
    counts = Counter(c for c in of.values() if c is not None)
    order = {c: i for i, (c, _) in enumerate(sorted(counts.items(), key=lambda p: (-p[1], p[0])))}
    return {n: PALETTE[order[c] % len(PALETTE)] if c is not None else NO_COMMUNITY for n, c in of.items()}


def layout(graph: nx.Graph, nodes: list[str], seed: int = SEED) -> dict[str, tuple[float, float]]:
    """Positions of ``nodes`` from their relations among themselves only: each connected part by
    ``spring_layout`` in a square as wide as the root of its size, the parts packed in rows, largest first
    (one spring layout of them all pushes small parts far out). The same for the same subgraph, whatever
    order it was built in."""
    sub = nx.Graph()
    sub.add_nodes_from(sorted(nodes))
    sub.add_edges_from(sorted(tuple(sorted(e)) for e in graph.subgraph(nodes).edges))
    parts = sorted((sorted(c) for c in nx.connected_components(sub)), key=lambda c: (-len(c), c[0]))
    sides = [max(0.6, math.sqrt(len(c))) for c in parts]
    row = max([1.4 * math.sqrt(sum(s * s for s in sides)), *sides[:1]])
    gap = 0.5
    positions: dict[str, tuple[float, float]] = {}
    x = y = height = 0.0
    for part, side in zip(parts, sides):
        if x > 0 and x + side > row:
            x, y, height = 0.0, y - height - gap, 0.0
        placed = (nx.spring_layout(sub.subgraph(part), k=SPREAD / math.sqrt(len(part)), seed=seed, weight=None)
                  if len(part) > 1 else {part[0]: (0, 0)})
        for n, (px, py) in placed.items():
            positions[n] = (round(x + (float(px) + 1) / 2 * side, 5), round(y - (1 - float(py)) / 2 * side, 5))
        x, height = x + side + gap, max(height, side)
    return positions


def node_sizes(degrees: list[int]) -> list[float]:
    """Marker diameters from 7 to 26 pixels by the root of each degree over the largest drawn."""
    top = math.sqrt(max(degrees, default=0)) or 1.0
    return [round(7.0 + 19.0 * math.sqrt(d) / top, 2) for d in degrees]


def label_choice(nodes: list[str], positions: Mapping[str, tuple[float, float]], always: Iterable[str],
                 priority: Mapping[str, float], limit: int = LABELS) -> set[str]:
    """The entities whose names are written: ``always``, then up to ``limit`` others by ``priority``, each
    only where no written name lies close by (names side by side overlap and none can be read)."""
    if not positions:
        return set()
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    width, height = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    chosen = [n for n in always if n in positions]

    def clear(n: str) -> bool:
        x, y = positions[n]
        return all(abs(x - positions[m][0]) > 0.16 * width or abs(y - positions[m][1]) > 0.05 * height
                   for m in chosen)

    taken = 0
    for n in sorted((n for n in nodes if n not in set(chosen)), key=lambda n: (-priority.get(n, 0), n)):
        if taken >= limit:
            break
        if clear(n):
            chosen.append(n)
            taken += 1
    return set(chosen)


@dataclass
class Drawing:
    """Everything the figure and the static drawing show, per entity in ``nodes`` order."""

    nodes: list[str]
    positions: dict[str, tuple[float, float]]
    roles: dict[str, str]
    edges: list[tuple[str, str]]
    path_edges: list[tuple[str, str]]
    colours: list[str]
    sizes: list[float]
    labels: list[str]  # escaped; "" for an entity named on hover only
    hovers: list[str]  # escaped
    selected: str | None = None
    names: list[str] = field(default_factory=list)  # plain, for the static drawing's tooltips


def drawing(kg: KnowledgeGraph, nodes: list[str], roles: Mapping[str, str] | None = None,
            path_edges: Iterable[tuple[str, str]] = (), seed: int = SEED) -> Drawing:
    """Positions, colours, sizes, labels and hover text of ``nodes``, and the relations among them."""
    graph = kg.graph
    roles = dict(roles or {})
    positions = layout(graph, nodes, seed)
    colours = community_colours(kg, nodes)
    degree = graph.degree
    marked = [n for n in nodes if roles.get(n) in ("query", "path")]
    labelled = label_choice(nodes, positions, marked, {n: degree[n] for n in nodes})
    labels, hovers = [], []
    for n in nodes:
        data = graph.nodes[n]
        community = kg.community_of(n, 0)
        title = community.report.get("title", "") if community is not None else ""
        why = {"query": "named in the query", "path": "on a hit's path", "community": "in a top community",
               "hit": "named by a hit", "neighbour": "a neighbour"}.get(roles.get(n, ""), "")
        hover = [f"<b>{_plain(data['name'])}</b>",
                 f"{_plain(data['type'])} · {_count(degree[n], 'relation')} · {_count(len(data['chunks']), 'chunk')}"]
        hover += [f"community: {_plain(title)}"] if title else []
        hover += [why] if why else []
        hovers.append("<br>".join(hover))
        labels.append(_plain(data["name"]) if n in labelled else "")
    edges = sorted(tuple(sorted(e)) for e in graph.subgraph(nodes).edges)
    paths = sorted({tuple(sorted(e)) for e in path_edges if e[0] in positions and e[1] in positions})
    return Drawing(nodes=list(nodes), positions=positions, roles=roles, edges=edges, path_edges=paths,
                   colours=[colours[n] for n in nodes], sizes=node_sizes([degree[n] for n in nodes]), labels=labels,
                   hovers=hovers, names=[graph.nodes[n]["name"] for n in nodes])


def _lines(d: Drawing, edges: list[tuple[str, str]]) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in edges:
        xs += [d.positions[a][0], d.positions[b][0], None]
        ys += [d.positions[a][1], d.positions[b][1], None]
    return xs, ys


def _text_sides(d: Drawing) -> list[str]:
    """Where each name is written: above its node, towards the middle near the left and right borders."""
    xs = [d.positions[n][0] for n in d.nodes]
    if not xs:
        return []
    low, width = min(xs), (max(xs) - min(xs)) or 1.0
    return ["top right" if (x - low) / width < 0.15 else "top left" if (x - low) / width > 0.85 else "top center"
            for x in xs]


def traces(d: Drawing) -> list[dict[str, Any]]:
    """The figure's three traces as plotly properties: relations, the hits' paths, and the entities."""
    highlighted = set(d.path_edges)
    ex, ey = _lines(d, [e for e in d.edges if e not in highlighted])
    px, py = _lines(d, d.path_edges)
    symbols, outlines, widths, sizes = [], [], [], []
    for n, size in zip(d.nodes, d.sizes):
        role = d.roles.get(n)
        symbols.append("star" if role == "query" else "circle")
        sizes.append(max(size, 20.0) + 4 if role == "query" else size)
        colour, width = ((SELECTED, 3.5) if n == d.selected else (QUERY_OUTLINE, 2.0) if role == "query"
                         else (HIGHLIGHT, 2.0) if role == "path" else ("#ffffff", 0.8))
        outlines.append(colour)
        widths.append(width)
    return [
        {"x": ex, "y": ey, "mode": "lines", "line": {"color": EDGE, "width": 1}, "hoverinfo": "skip",
         "name": "relations"},
        {"x": px, "y": py, "mode": "lines", "line": {"color": HIGHLIGHT, "width": 4.5}, "hoverinfo": "skip",
         "name": "paths"},
        {"x": [d.positions[n][0] for n in d.nodes], "y": [d.positions[n][1] for n in d.nodes],
         "mode": "markers+text", "text": d.labels, "textposition": _text_sides(d),
         "textfont": {"size": 11, "color": "#24292f"}, "hovertext": d.hovers, "hoverinfo": "text",
         "customdata": d.nodes, "name": "entities", "cliponaxis": False,  # names at the border stay whole
         "marker": {"color": d.colours, "size": sizes, "symbol": symbols, "opacity": 0.95,
                    "line": {"color": outlines, "width": widths}}},
    ]


FIGURE_LAYOUT = {"showlegend": False, "hovermode": "closest", "dragmode": "pan", "template": "plotly_white",
                 "margin": {"l": 36, "r": 36, "t": 24, "b": 8}, "plot_bgcolor": "#ffffff",
                 "xaxis": {"visible": False}, "yaxis": {"visible": False}, **SIZE}


def figure(d: Drawing) -> go.Figure:
    """The drawing as a static plotly figure (the widget draws the same traces)."""
    import plotly.graph_objects as go

    return go.Figure([go.Scatter(**t) for t in traces(d)], layout=FIGURE_LAYOUT)


def _star(x: float, y: float, r: float) -> str:
    """The corners of a five-pointed star of radius ``r`` around (x, y), as SVG points."""
    corners = []
    for i in range(10):
        reach = r if i % 2 == 0 else r / 2.4
        corners.append(f"{x + reach * math.sin(i * math.pi / 5):.1f},{y - reach * math.cos(i * math.pi / 5):.1f}")
    return " ".join(corners)


def svg(d: Drawing, width: int = SIZE["width"], height: int = SIZE["height"]) -> str:
    """The drawing as an SVG, for outputs without a kernel or JavaScript (every name escaped)."""
    if not d.nodes:
        return ""
    xs = [p[0] for p in d.positions.values()]
    ys = [p[1] for p in d.positions.values()]
    pad = 30

    def at(n: str) -> tuple[float, float]:
        x, y = d.positions[n]
        sx = pad + (x - min(xs)) / ((max(xs) - min(xs)) or 1) * (width - 2 * pad)
        sy = pad + (max(ys) - y) / ((max(ys) - min(ys)) or 1) * (height - 2 * pad)
        return round(sx, 1), round(sy, 1)

    out = [(f'<svg class="nbrag-graph-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="background:#fff;border:1px solid #d0d7de">')]
    for edges, colour, w in ((d.edges, EDGE, 1), (d.path_edges, HIGHLIGHT, 4)):
        for a, b in edges:
            (x1, y1), (x2, y2) = at(a), at(b)
            out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="{w}"/>')
    for n, colour, size, label, name in zip(d.nodes, d.colours, d.sizes, d.labels, d.names):
        x, y = at(n)
        role = d.roles.get(n)
        stroke = QUERY_OUTLINE if role == "query" else HIGHLIGHT if role == "path" else "#ffffff"
        r = max(size, 20.0) / 2 + 2 if role == "query" else size / 2
        if role == "query":
            shape = f'<polygon points="{_star(x, y, r)}" fill="{colour}" stroke="{stroke}" stroke-width="2">'
            end = "</polygon>"
        else:
            shape = f'<circle cx="{x}" cy="{y}" r="{r}" fill="{colour}" stroke="{stroke}" stroke-width="1.5">'
            end = "</circle>"
        out.append(f"{shape}<title>{_e(name)}</title>{end}")
        if label:
            out.append(f'<text x="{x}" y="{y - r - 3}" text-anchor="middle" font-size="11" '
                       f'font-family="sans-serif" fill="#24292f">{label}</text>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------- the panel and the header

def chunk_order(chunks: Mapping[str, int], hits: Mapping[str, int]) -> list[str]:
    """An entity's chunks (id -> mentions) as the panel lists them: hits by rank, then most mentions first."""
    return sorted(chunks, key=lambda c: (c not in hits, hits.get(c, 0), -chunks[c], c))


def entity_html(kg: KnowledgeGraph, name: str, *, texts: Mapping[str, str] | None = None,
                hits: Mapping[str, int] | None = None, drawn: bool = True) -> str:
    """An entity's name, type, surface names, communities, chunks (hits first, by rank; a preview of each
    where ``texts`` holds it) and strongest neighbours with the sentences that relate them.
    Raises ValueError for a name the graph does not hold."""
    info = kg.entity(name)
    hits = hits or {}
    texts = texts or {}
    chunks = chunk_order(info["chunks"], hits)
    names = ", ".join(f"{_e(n)} ×{count}" for n, count in sorted(info["names"].items(), key=lambda p: -p[1]))
    out = [f'<div class="nbrag-graph nbrag-graph-entity" data-key="{_e(info["key"])}">',
           f"<h4>{_e(info['name'])}</h4>",
           (f'<div class="nbrag-graph-muted">{_e(info["type"])} · {_count(len(info["neighbours"]), "relation")} · '
            f"{_count(len(chunks), 'chunk')} · named as {names}</div>")]
    if not drawn:
        out.append('<div class="nbrag-graph-muted">Not drawn in the figure (it is not among the entities '
                   "shown): its details are below.</div>")
    level0 = [kg.communities[c] for c in info["communities"] if kg.communities[c].level == 0]
    for community in level0:
        if community.report:
            out.append(f'<div class="nbrag-graph-muted">community {_e(community.id)}: '
                       f'{_e(community.report["title"])}</div>')
    among = f" ({sum(c in hits for c in chunks)} of them hits)" if hits else ""
    out.append(f'<b>Chunks</b>{among}<ul class="nbrag-graph-chunks">')
    for chunk in chunks[:PANEL_CHUNKS]:
        document = kg.chunks.get(chunk, {}).get("document", "")
        hit = f' <span class="nbrag-graph-hit">hit #{hits[chunk]}</span>' if chunk in hits else ""
        text = " ".join(texts.get(chunk, "").split())
        preview = (f'<div class="nbrag-graph-preview">{_e(text[:PREVIEW])}{"…" if len(text) > PREVIEW else ""}'
                   "</div>") if text else ""
        out.append(f'<li data-chunk="{_e(chunk)}"><b>{_e(document)}</b> '
                   f'<span class="nbrag-graph-muted">{_e(chunk)}</span>{hit}{preview}</li>')
    out.append("</ul>")
    if len(chunks) > PANEL_CHUNKS:
        out.append(f'<div class="nbrag-graph-muted">and {len(chunks) - PANEL_CHUNKS} more chunks</div>')
    if info["neighbours"]:
        out.append("<b>Strongest relations</b><ul>")
        for neighbour in info["neighbours"][:PANEL_NEIGHBOURS]:
            evidence = "".join(f'<div class="nbrag-graph-evidence">{_e(s)}</div>' for s in neighbour["evidence"][:2])
            out.append(f"<li>{_e(neighbour['name'])} <span class=\"nbrag-graph-muted\">weight "
                       f"{neighbour['weight']:g}</span>{evidence}</li>")
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


def community_html(kg: KnowledgeGraph, community: str) -> str:
    """A community's report: title, main entities, strongest relations with their evidence, key sentences."""
    c = kg.communities.get(community)
    if c is None:
        raise ValueError(f"No community {community!r} in the graph.")
    report = c.report
    out = [f'<div class="nbrag-graph nbrag-graph-report" data-community="{_e(c.id)}">',
           f"<h4>{_e(report.get('title') or c.id)}</h4>",
           (f'<div class="nbrag-graph-muted">community {_e(c.id)} · level {c.level} · {len(c.members)} entities'
            f'{" · summary written by the model" if report.get("written_by") == "llm" else ""}</div>')]
    if not report:
        out.append("<div>A single entity: no report.</div></div>")
        return "".join(out)
    if report.get("written_by") == "llm":
        out.append(f'<div class="nbrag-graph-summary">{_e(report["summary"])}</div>')
    out.append("<b>Entities</b><ul>")
    out += [f"<li>{_e(e['name'])} <span class=\"nbrag-graph-muted\">{_e(e['type'])} · {_count(e['chunks'], 'chunk')}"
            "</span></li>"
            for e in report.get("entities", [])]
    out.append("</ul><b>Relations</b><ul>")
    for r in report.get("relations", []):
        evidence = f'<div class="nbrag-graph-evidence">{_e(r["evidence"])}</div>' if r["evidence"] else ""
        out.append(f"<li>{_e(r['source'])} — {_e(r['target'])} <span class=\"nbrag-graph-muted\">weight "
                   f"{r['weight']:g}</span>{evidence}</li>")
    out.append("</ul>")
    if report.get("sentences"):
        out.append("<b>Sentences</b><ul>" + "".join(f"<li class=\"nbrag-graph-preview\">{_e(s)}</li>"
                                                     for s in report["sentences"]) + "</ul>")
    out.append(f'<div class="nbrag-graph-muted">{len(report.get("chunks", []))} chunks mention it most: '
               f'{_e(", ".join(report.get("chunks", [])[:5]))}</div></div>')
    return "".join(out)


def error_html(message: str) -> str:
    return f'<div class="nbrag-graph nbrag-graph-error">{_e(message)}</div>'


def overview_header(kg: KnowledgeGraph) -> str:
    level0 = sum(1 for c in kg.communities.values() if c.level == 0 and c.report)
    return (f'{STYLE}<div class="nbrag-graph nbrag-graph-head"><b>Knowledge graph</b> · '
            f"{kg.graph.number_of_nodes():,} entities · {kg.graph.number_of_edges():,} relations · "
            f"{len(kg.chunks):,} chunks · {level0} communities · extractor {_e(kg.extractor.name)}"
            '<div class="nbrag-graph-muted">Colour: community (level 0) · size: relations · '
            "hover an entity for its name.</div></div>")


def result_header(result: RetrievalResult) -> str:
    """The query, the graph search and its entities, its message or staleness, and for global search the
    ranked communities and the summary."""
    trace = result.graph or {}
    search = trace.get("search", result.params.get("graph", ""))
    out = [STYLE, '<div class="nbrag-graph nbrag-graph-head">',
           f'<div><span class="nbrag-graph-key">Query</span> {_e(result.query)}</div>',
           (f'<div><span class="nbrag-graph-key">Search</span> {_e(result.mode)} · {_e(search)}: '
            f"{_e(SEARCHES.get(search, ''))}</div>")]
    entities = trace.get("entities") or []
    named = ", ".join(f"<b>{_e(e['name'])}</b>" + (f" (“{_e(e['matched'])}”)" if e["matched"] != e["name"] else "")
                      for e in entities)
    out.append(f'<div><span class="nbrag-graph-key">Entities</span> {named or "none found in the query"}</div>')
    for key in ("message", "stale"):
        if trace.get(key):
            out.append(f'<div class="nbrag-graph-warn">{_e(trace[key])}</div>')
    if trace.get("communities"):
        out.append('<div><span class="nbrag-graph-key">Communities</span></div><ol>')
        out += [f"<li>{_e(c['title'])} <span class=\"nbrag-graph-muted\">{_e(c['id'])} · score {c['score']:.4f}"
                "</span></li>" for c in trace["communities"]]
        out.append("</ol>")
    if trace.get("summary"):
        out.append(f'<div><span class="nbrag-graph-key">Summary</span></div>'
                   f'<div class="nbrag-graph-summary">{_e(trace["summary"])}</div>')
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
        filtered = f" with at least {_count(min_degree, 'relation')}, of {everything:,}" if total < everything else ""
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

        super().__init__()
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValueError(f"max_nodes={max_nodes!r} must be a whole number of at least 1.")
        if not isinstance(min_degree, int) or min_degree < 0:
            raise ValueError(f"min_degree={min_degree!r} must be a whole number of at least 0.")
        if community is not None and community not in kg.communities:
            raise ValueError(f"No community {community!r} in the graph.")
        if result is not None and result.graph is None:
            raise ValueError(f"This result comes from mode={result.mode!r}, not a graph search: search with "
                             "mode='graph' or 'hybrid+graph' to see it in the graph.")
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
            self.community = ipywidgets.Dropdown(options=[("All", "")] + options, value=community or "",
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
            self.note.value = f'<div class="nbrag-graph nbrag-graph-muted">{_e(note)}</div>'
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
                self.community.options = [("community report…", "")] + community_options(kg, first, limit=60)
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
        except ValueError as error:
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
        except ValueError as error:
            self.panel.value = error_html(str(error))

    def to_html(self) -> str:
        return (f"{self.header.value}{self.note.value}"
                f'<div style="display:flex;flex-wrap:wrap;gap:10px">{svg(self.drawing)}</div>')


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
