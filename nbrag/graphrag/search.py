"""Graph search: chunks ranked through the knowledge graph, each with the path that led to it.

* ``local``: the query's entities, then their neighbours (by relation weight), then the chunks
  that mention them: a chunk scores ``Σ specificity(e) · (1 for a query entity, or
  ½ · w(q, e) / max w(q, ·) for a neighbour e of query entity q)`` over the entities it names;
* ``ppr``: personalized PageRank (HippoRAG, Gutiérrez et al., 2024) over the graph of
  entities and chunks (an entity is linked to each chunk that names it, and to its related
  entities), restarting at the query's entities, weighted by specificity (1 / the number of
  chunks naming them), and, as in HippoRAG 2, at the best dense hits when a query vector is
  given (``dense_weight``); chunks are ranked by their PageRank;
* ``global``: the community reports of one level ranked against the query (BM25 and, with a
  query vector, cosine similarity, fused by RRF); the best reports' sentences that share most
  words with the query make a map-reduce ``summary``; hits are the chunks that mention the best
  communities most. Level ``L`` is the partition at depth L: the communities of level L, and
  the smaller ones that were not split (level 1 by default, as the level 0 of a corpus of
  unrelated passages holds a few very large communities around words such as "American").

``link_query`` finds the query's entities: every run of up to six words looked up as an
entity key, longest first (a single word only when it is capitalised: "county" names no
particular thing), every Chinese entity the query contains, and the names the offline
extractor finds in the query (whichever extractor built the graph).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np
import regex

from nbrag.errors import NbragError, number, whole_number
from nbrag.graphrag.graph import KnowledgeGraph
from nbrag.graphrag.offline import OfflineExtractor
from nbrag.models import embed
from nbrag.ranking.bm25 import BM25
from nbrag.ranking.fusion import fuse
from nbrag.text import STOP_WORDS, has_han, terms

Ranked = list[tuple[str, float]]
SEARCHES: dict[str, Callable[..., tuple[Ranked, dict[str, Any]]]] = {}
_WORDS = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’.\-][\p{L}\p{N}]+)*")
MAX_NGRAM = 6


def search(name: str) -> Callable[[Callable[..., tuple[Ranked, dict[str, Any]]]], Callable[..., Any]]:
    def register(fn: Callable[..., tuple[Ranked, dict[str, Any]]]) -> Callable[..., Any]:
        SEARCHES[name] = fn
        return fn

    return register


def specificity(kg: KnowledgeGraph, node: str) -> float:
    return 1.0 / max(1, len(kg.graph.nodes[node]["chunks"]))


def link_query(kg: KnowledgeGraph, query: str) -> list[dict[str, Any]]:
    """The graph's entities that ``query`` names: ``[{"key", "name", "matched"}]`` in query order."""
    if not isinstance(query, str) or not query.strip():
        raise NbragError("empty: write what you are looking for.", option="query", value=query)
    found: dict[str, str] = {}
    words = [(m.start(), m.end()) for m in _WORDS.finditer(query)]
    taken = [False] * len(words)
    for n in range(min(MAX_NGRAM, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            if any(taken[i:i + n]):
                continue
            surface = query[words[i][0]:words[i + n - 1][1]]
            node = kg.find(surface)
            if node is not None and " " not in node and not surface[:1].isupper() and not has_han(node):
                continue  # a lone lower-case word ("county", "the county") names no particular thing
            if node is not None and node not in found and _useful(kg, node):
                found[node] = surface
                taken[i:i + n] = [True] * n
    if has_han(query):
        han = sorted((k for k in kg.graph if has_han(k)), key=len, reverse=True)
        rest = query
        for k in han:
            if len(k) >= 2 and k in rest and k not in found:
                found[k] = k
                rest = rest.replace(k, " ")
    for mention in _query_extractor().extract_one(query).mentions:
        if mention.type == "concept" and " " not in mention.name.strip():
            continue  # the same rule as above: one common word is no particular thing
        node = kg.find(mention.name)
        if node is not None and node not in found and _useful(kg, node):
            found[node] = mention.name
    order = sorted(found, key=lambda k: query.casefold().find(found[k].casefold()))
    return [{"key": k, "name": kg.graph.nodes[k]["name"], "matched": found[k]} for k in order]


@functools.lru_cache(maxsize=1)
def _query_extractor() -> OfflineExtractor:
    """The offline extractor reads queries, whatever built the graph: a model call per query would cost seconds."""
    return OfflineExtractor()


def _useful(kg: KnowledgeGraph, node: str) -> bool:
    """Not a stop word, and not named by half the chunks or more (such an entity points nowhere)."""
    if node in STOP_WORDS or len(node) < 2:
        return False
    total = len(kg.chunks)
    return total < 4 or len(kg.graph.nodes[node]["chunks"]) < 0.5 * total


# ------------------------------------------------------------------ local


@search("local")
def local(kg: KnowledgeGraph, query: str, n: int, **_: Any) -> tuple[Ranked, dict[str, Any]]:
    linked = link_query(kg, query)
    trace: dict[str, Any] = {"search": "local", "entities": linked, "paths": {}}
    if not linked:
        trace["message"] = _no_entities(query)
        return [], trace
    scores: dict[str, float] = {}
    paths: dict[str, tuple[float, list[str]]] = {}

    def credit(node: str, amount: float, path: list[str]) -> None:
        for chunk_id in kg.graph.nodes[node]["chunks"]:
            scores[chunk_id] = scores.get(chunk_id, 0.0) + amount
            if chunk_id not in paths or amount > paths[chunk_id][0]:
                paths[chunk_id] = (amount, path)

    for entity in linked:
        q = entity["key"]
        credit(q, specificity(kg, q), [q])
        neighbours = kg.graph[q]
        if neighbours:
            top = max(d["weight"] for d in neighbours.values())
            for e, d in neighbours.items():
                credit(e, 0.5 * specificity(kg, e) * d["weight"] / top, [q, e])
    ranked = sorted(scores.items(), key=lambda p: (-p[1], p[0]))[:n]
    trace["paths"] = {c: paths[c][1] for c, _ in ranked}
    return ranked, trace


# ------------------------------------------------------------------ ppr


def _ppr_matrix(kg: KnowledgeGraph):
    """The column-stochastic transition matrix of the entity-chunk graph, and its node order (cached per version)."""
    cached = kg.cache.get(("ppr", kg.version))
    if cached is not None:
        return cached
    import scipy.sparse as sp

    nodes = [f"e:{k}" for k in kg.graph] + [f"c:{c}" for c in kg.chunks]
    position = {node: i for i, node in enumerate(nodes)}
    rows, cols, weights = [], [], []
    for k, data in kg.graph.nodes(data=True):
        for chunk_id, count in data["chunks"].items():
            a, b = position[f"e:{k}"], position[f"c:{chunk_id}"]
            rows += [a, b]
            cols += [b, a]
            weights += [float(count), float(count)]
    for a, b, data in kg.graph.edges(data=True):
        i, j = position[f"e:{a}"], position[f"e:{b}"]
        rows += [i, j]
        cols += [j, i]
        weights += [float(data["weight"])] * 2
    size = len(nodes)
    adjacency = sp.csr_array((weights, (rows, cols)), shape=(size, size))
    out = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = out == 0
    inverse = np.divide(1.0, out, out=np.zeros_like(out), where=~dangling)
    transition = (sp.diags_array(inverse) @ adjacency).T.tocsr()  # column j: where node j's walk goes
    kg.cache = {k: v for k, v in kg.cache.items() if k[1] == kg.version}
    kg.cache[("ppr", kg.version)] = (transition, dangling, nodes, position)
    return kg.cache[("ppr", kg.version)]


def pagerank(kg: KnowledgeGraph, seeds: dict[str, float], alpha: float = 0.5, tol: float = 1e-8,
             max_iter: int = 100) -> dict[str, float]:
    """Personalized PageRank of every node (``e:<key>``, ``c:<chunk>``), restarting at ``seeds`` (node -> weight).

    The same fixed point as ``networkx.pagerank(G, alpha, personalization=seeds, weight="weight")``
    (dangling nodes jump to the seeds), on a transition matrix kept between queries.
    """
    transition, dangling, nodes, position = _ppr_matrix(kg)
    restart = np.zeros(len(nodes))
    for node, weight in seeds.items():
        restart[position[node]] += weight
    if restart.sum() <= 0:
        return {}
    restart /= restart.sum()
    x = restart.copy()
    for _ in range(max_iter):
        previous = x
        x = alpha * (transition @ x + previous[dangling].sum() * restart) + (1 - alpha) * restart
        if np.abs(x - previous).sum() < len(nodes) * tol:
            break
    return dict(zip(nodes, x.tolist()))


@search("ppr")
def ppr(kg: KnowledgeGraph, query: str, n: int, *, dense: Sequence[tuple[str, float]] = (), alpha: float = 0.5,
        dense_seeds: int = 5, dense_weight: float = 0.5, **_: Any) -> tuple[Ranked, dict[str, Any]]:
    number(alpha, "alpha", above=0, below=1, hint=" (0.5, as in HippoRAG, is usual)")
    number(dense_weight, "dense_weight", 0, 1, hint=" (0: the query's entities only, 1: the dense hits only)")
    linked = link_query(kg, query)
    trace: dict[str, Any] = {"search": "ppr", "entities": linked, "paths": {}}
    seeds: dict[str, float] = {}
    entity_total = sum(specificity(kg, e["key"]) for e in linked)
    top_dense = [(c, s) for c, s in dense[:dense_seeds] if c in kg.chunks and s > 0]
    share = dense_weight if linked and top_dense else (1.0 if top_dense else 0.0)
    for e in linked:
        seeds[f"e:{e['key']}"] = (1 - share) * specificity(kg, e["key"]) / entity_total
    dense_total = sum(s for _, s in top_dense)
    for c, s in top_dense:
        seeds[f"c:{c}"] = seeds.get(f"c:{c}", 0.0) + share * s / dense_total
    trace["seeds"] = {"entities": 1 - share if linked else 0.0, "dense": share,
                      "dense_chunks": [c for c, _ in top_dense]}
    if not seeds:
        trace["message"] = _no_entities(query)
        return [], trace
    rank = pagerank(kg, seeds, alpha=alpha)
    chunks = sorted(((node[2:], score) for node, score in rank.items() if node.startswith("c:") and score > 0),
                    key=lambda p: (-p[1], p[0]))[:n]
    trace["paths"] = _paths(kg, [e["key"] for e in linked], [c for c, _ in chunks])
    return chunks, trace


def _paths(kg: KnowledgeGraph, sources: list[str], chunks: list[str]) -> dict[str, list[str]]:
    """For each chunk, the cheapest entity path from a query entity to an entity the chunk names.

    A step costs more through well-connected entities (``log(1 + degree)`` at each end), so a path
    goes through specific entities ("Mountrail County") rather than hubs ("American") where it can.
    """
    if not sources:
        return {}
    degree = dict(kg.graph.degree())

    def cost(a: str, b: str, _: Any) -> float:
        return 1.0 + 0.5 * (math.log1p(degree[a]) + math.log1p(degree[b]))

    reach = nx.multi_source_dijkstra_path(kg.graph, set(sources), cutoff=12.0, weight=cost)
    out = {}
    for chunk_id in chunks:
        named = [reach[e] for e in kg.chunks[chunk_id]["entities"] if e in reach]
        if named:
            out[chunk_id] = min(named, key=lambda path: (sum(cost(a, b, None) for a, b in itertools.pairwise(path)),
                                                         path))
    return out


# ------------------------------------------------------------------ global


@search("global")
def global_(kg: KnowledgeGraph, query: str, n: int, *, vector: Any = None, level: int = 1, reports: int = 3,
            embedder: str | None = None, **_: Any) -> tuple[Ranked, dict[str, Any]]:
    whole_number(level, "level", 0, " (0: the largest communities)")
    communities = [c for c in kg.communities.values()
                   if c.report and (c.level == level or (c.level < level and not c.children))]
    trace: dict[str, Any] = {"search": "global", "entities": link_query(kg, query), "paths": {}, "level": level,
                             "communities": [], "summary": ""}
    if not communities:
        trace["message"] = "The graph has no community with a report yet: add documents that name related entities."
        return [], trace
    by_id = {c.id: c for c in communities}
    bm25 = kg.cache.get(("reports-bm25", kg.version, level))
    if bm25 is None:
        bm25 = BM25()
        bm25.upsert(list(by_id), [c.report["summary"] for c in communities])
        kg.cache[("reports-bm25", kg.version, level)] = bm25
    candidates = {"bm25": bm25.search(query, len(by_id))}
    if vector is not None:
        summaries = [c.report["summary"] for c in communities]
        missing = list(dict.fromkeys(t for t in summaries if (embedder, t) not in kg.vectors))
        if missing:  # only reports that changed since they were last embedded, in one call (sorted by length there)
            kg.vectors.update(zip(((embedder, t) for t in missing), embed(missing, name=embedder)))
            trace["embedded"] = len(missing)  # the caller may keep them with the graph (KnowledgeGraph.save_vectors)
        vectors = np.stack([kg.vectors[(embedder, t)] for t in summaries])
        cosine = vectors @ np.asarray(vector)
        candidates["dense"] = sorted(zip(by_id, cosine.tolist()), key=lambda p: -p[1])
    ranked_reports = fuse(candidates, "rrf", dict.fromkeys(candidates, 1.0))[:reports]
    wanted = set(terms(query))
    points: list[tuple[float, str, str]] = []  # (score, community, sentence): the map step
    chunk_scores: dict[str, float] = {}
    for rank, (cid, score) in enumerate(ranked_reports, start=1):
        report = by_id[cid].report
        for sentence in report["summary"].split("\n")[1:]:
            overlap = len(wanted & set(terms(sentence)))
            if overlap:
                points.append((overlap / rank, cid, sentence))
        members = set(by_id[cid].members)
        for chunk_id in report["chunks"]:
            named = sum(c for e, c in kg.chunks[chunk_id]["entities"].items() if e in members)
            chunk_scores[chunk_id] = chunk_scores.get(chunk_id, 0.0) + score * named
    points.sort(key=lambda p: (-p[0], p[1]))
    points = list({sentence: (score, cid, sentence) for score, cid, sentence in reversed(points)}.values())[::-1]
    trace["communities"] = [{"id": cid, "title": by_id[cid].report["title"], "score": score}
                            for cid, score in ranked_reports]
    trace["summary"] = "\n".join(f"[{cid}] {sentence}" for _, cid, sentence in points[:6])  # the reduce step
    ranked = sorted(chunk_scores.items(), key=lambda p: (-p[1], p[0]))[:n]
    return ranked, trace


def _no_entities(query: str) -> str:
    words = ", ".join(repr(w) for w in _WORDS.findall(query)[:6])
    return (f"No entity of the graph is named in the query (looked up: {words}). Name a person, place or thing "
            "the documents mention, or use mode='hybrid+graph' so that BM25 and dense still answer.")


def run(kg: KnowledgeGraph, method: str, query: str, n: int, **options: Any) -> tuple[Ranked, dict[str, Any]]:
    """``method``'s ranking and trace; the trace's ``path_names`` are the paths' entity names as they were."""
    if method not in SEARCHES:
        raise NbragError(f"unknown graph search: use one of {', '.join(map(repr, SEARCHES))}.", option="graph",
                         value=method)
    ranked, trace = SEARCHES[method](kg, query, n, **options)
    nodes = kg.graph.nodes
    trace["path_names"] = {c: [nodes[e]["name"] for e in path] for c, path in trace.get("paths", {}).items()}
    return ranked, trace

