"""Hierarchical communities of the entity graph with Leiden (Traag et al., 2019; the ``leidenalg`` package).

Level 0 partitions the graph (or the part of it being updated) by weighted modularity; a
community larger than ``max_size`` is partitioned again, inside itself, as level 1, and so
on up to ``max_levels`` (the scheme of graspologic's ``hierarchical_leiden`` that Microsoft's
GraphRAG uses). Leiden runs with a fixed seed, so the same graph gives the same communities.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass
class Community:
    """A group of entities: its ``id`` ("c12"), level, members (entity keys), parent and children ids."""

    id: str
    level: int
    members: list[str]
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # see graphrag/reports.py

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "level": self.level, "members": list(self.members), "parent": self.parent,
                "children": list(self.children), "report": dict(self.report)}


def leiden(graph: nx.Graph, nodes: Iterable[Hashable] | None = None, *, resolution: float = 1.0,
           seed: int = 42) -> list[list[Hashable]]:
    """Leiden communities of ``graph`` (or of the subgraph on ``nodes``), largest first, by edge ``weight``."""
    import igraph
    import leidenalg

    sub = graph if nodes is None else graph.subgraph(nodes)
    order = sorted(sub.nodes, key=str)
    if not order:
        return []
    position = {node: i for i, node in enumerate(order)}
    edges = [(position[a], position[b]) for a, b in sub.edges]
    g = igraph.Graph(n=len(order), edges=edges)
    weights = [float(sub.edges[a, b].get("weight", 1.0)) for a, b in sub.edges]
    if not edges:
        return [[node] for node in order]
    partition = leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition, weights=weights,
                                         resolution_parameter=resolution, seed=seed)
    groups = [[order[i] for i in members] for members in partition]
    return sorted(groups, key=lambda members: (-len(members), str(min(members, key=str))))


def hierarchy(graph: nx.Graph, nodes: Iterable[Hashable] | None, new_id, *, max_size: int = 40,
              max_levels: int = 3, resolution: float = 1.0, seed: int = 42) -> list[Community]:
    """Communities of ``nodes`` (all of ``graph`` when None) at level 0, and their sub-communities below.

    ``new_id()`` names each new community (so ids stay unique across incremental updates).
    """
    out: list[Community] = []

    def split(members: list[Hashable], level: int, parent: Community | None) -> None:
        groups = leiden(graph, members, resolution=resolution, seed=seed)
        if parent is not None and len(groups) < 2:
            return  # Leiden keeps it whole: no level below
        for group in groups:
            community = Community(id=new_id(), level=level, members=sorted(map(str, group)),
                                  parent=parent.id if parent else None)
            out.append(community)
            if parent is not None:
                parent.children.append(community.id)
            if len(group) > max_size and level + 1 < max_levels:
                split(group, level + 1, community)

    split(list(graph.nodes) if nodes is None else list(nodes), 0, None)
    return out
