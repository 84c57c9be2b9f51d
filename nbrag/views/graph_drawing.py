"""What the graph view draws: which entities, where, in which colour and size, and with which name.

Python decides everything drawn: which entities (:func:`select_overview` for the whole graph,
:func:`select_result` around a graph search), where they lie (:func:`layout`: ``spring_layout``
with a fixed seed on the drawn subgraph only), their colours (level-0 community), sizes
(relations), marks (a star for the query's entities, thick red lines for the hits' paths) and
which names are written (:func:`label_choice`). :func:`traces` gives the plotly traces the
widget draws, :func:`svg` the same drawing for outputs without a kernel. Every name is escaped.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import networkx as nx

from nbrag.views.shared import count, e, plain

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from nbrag.graphrag.graph import KnowledgeGraph

MAX_NODES = 200
SEED = 7
SPREAD = 2.0  # spring_layout's distance between nodes, times its default 1/sqrt(n): dense groups open up
LABELS = 12  # names written beside their nodes besides the query's and the paths'; the rest show on hover
NEIGHBOURS = 4  # strongest neighbours drawn per query or path entity around a search
SIZE = {"width": 500, "height": 480}
# Tableau 10 without its red (red marks the paths), then five more from d3's category palette.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac",
           "#17becf", "#bcbd22", "#8c564b", "#1f77b4", "#9467bd")
NO_COMMUNITY = "#d0d7de"
HIGHLIGHT = "#d1242f"
QUERY_OUTLINE = "#1f2328"
SELECTED = "#0969da"
EDGE = "#c3c9d0"


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
        hover = [f"<b>{plain(data['name'])}</b>",
                 f"{plain(data['type'])} · {count(degree[n], 'relation')} · {count(len(data['chunks']), 'chunk')}"]
        hover += [f"community: {plain(title)}"] if title else []
        hover += [why] if why else []
        hovers.append("<br>".join(hover))
        labels.append(plain(data["name"]) if n in labelled else "")
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
            f'viewBox="0 0 {width} {height}">')]
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
        out.append(f"{shape}<title>{e(name)}</title>{end}")
        if label:
            out.append(f'<text x="{x}" y="{y - r - 3}" text-anchor="middle" font-size="11" '
                       f'font-family="sans-serif" fill="#24292f">{label}</text>')
    out.append("</svg>")
    return "".join(out)
