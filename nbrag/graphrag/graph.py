"""The knowledge graph of an index's chunks: entities, relations, communities and their reports.

``KnowledgeGraph`` holds a networkx graph whose nodes are entities (keyed by
``resolve.key``) and whose edges are relations. Every node and edge remembers which chunks
it came from, so a chunk can be taken out again: adding documents updates the graph and
recomputes only the communities that hold a touched entity (untouched communities keep
their ids and reports). It is saved as JSON (networkx's node-link format, no pickle) next
to the index, and exports GraphML for Gephi or Cytoscape.

Node attributes: ``name`` (the most frequent surface form), ``names`` (surface form ->
mentions), ``type``, ``chunks`` (chunk id -> mentions). Edge attributes: ``weight`` (sum
over ``chunks``), ``chunks`` (chunk id -> weight), ``evidence`` (up to three
``[chunk id, sentence]``), ``kinds``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from nbrag.display import Shown
from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError, number, renamed, whole_number
from nbrag.files import write_atomic
from nbrag.graphrag.base import Extraction, Extractor, Link, Mention, get_extractor
from nbrag.graphrag.communities import Community, hierarchy
from nbrag.graphrag.llm import ModelChoice
from nbrag.graphrag.reports import extractive, written
from nbrag.graphrag.resolve import aliases, key
from nbrag.llm import Generator, resolve

EVIDENCE = 3
FORMAT = "nbrag.graph"


@dataclass
class GraphUpdate:
    """What one build or update did."""

    added: int = 0  # chunks read
    removed: int = 0  # chunks taken out
    failed: int = 0  # chunks the extractor could not read (skipped, counted, reasons in graph.failures)
    entities: int = 0
    relations: int = 0
    communities: int = 0  # communities (re)computed
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        failed = f", {self.failed} chunks failed" if self.failed else ""
        return (f"GraphUpdate({self.added} chunks read, {self.removed} removed{failed}: now {self.entities} entities, "
                f"{self.relations} relations; {self.communities} communities recomputed; {self.seconds:.1f} s)")


class KnowledgeGraph(Shown):
    """Entities and relations of a set of chunks, with hierarchical communities and a report for each.

    ``extractor`` is ``"offline"`` (default; options ``keyphrases=``, ``max_ngram=``…), ``"llm"``
    (options ``max_new_tokens=``, ``max_chars=``) or an object with ``extract(texts)``.
    ``reports="llm"`` has the summaries of communities written by a model. The model, of the llm
    extractor and of the reports, is ``generator=`` (anything :func:`nbrag.llm.resolve` takes: a
    name, a ``(model, tokenizer)`` pair, a ``complete(messages) -> str`` callable; the configured
    generator by default) or ``endpoint=`` and ``model=`` (``api_key=``, ``timeout=``) for an
    OpenAI-compatible server; reports use the llm extractor's model where there is one.
    ``max_community`` is the size above which a community is split again one level down, up to
    ``levels`` levels; ``resolution`` is Leiden's (higher: smaller communities). ``complete=`` is the
    old name of ``generator=``, kept one release.
    """

    def __init__(self, extractor: str | Extractor = "offline", *, reports: str = "extractive", generator: Any = None,
                 endpoint: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_community: int = 40, levels: int = 3,
                 resolution: float = 1.0, complete: Any = None, **options: Any) -> None:
        if complete is not None:
            renamed("KnowledgeGraph(complete=...)", "KnowledgeGraph(generator=...)")
            if generator is not None:
                raise NbragError("the old name of generator=: give generator= alone.", option="complete")
            generator = complete
        if reports not in ("extractive", "llm"):
            raise NbragError("use 'extractive' (the graph's own sentences, offline) or 'llm' (a model writes them).",
                             option="reports", value=reports)
        whole_number(max_community, "max_community", 2)
        whole_number(levels, "levels")
        number(resolution, "resolution", above=0, hint=" (1.0 is usual; higher: smaller communities)")
        model_options = {"generator": generator, "endpoint": endpoint, "model": model, "api_key": api_key}
        self.writer: ModelChoice | None = None  # the reports' model, where it is not the llm extractor's
        if isinstance(extractor, str) and extractor == "llm":
            self.extractor = get_extractor("llm", **model_options, timeout=timeout, **options)
        else:
            given = [name for name, value in model_options.items() if value is not None]
            if given and reports != "llm":
                raise NbragError("names the model of extractor='llm' or of reports='llm': give one of them, or leave "
                                 "it out.", option=given[0], value=model_options[given[0]])
            self.extractor = get_extractor(extractor, **options)
            if reports == "llm":
                self.writer = ModelChoice(**model_options, timeout=timeout)
        self.reports = reports
        self.max_community = max_community
        self.levels = levels
        self.resolution = resolution
        self.graph = nx.Graph()
        self.chunks: dict[str, dict[str, Any]] = {}  # chunk id -> {"document", "entities": {key: n}, "edges": [[a, b]]}
        self.communities: dict[str, Community] = {}
        self.failures: list[dict[str, Any]] = []  # {"chunk", "error", "reply"}
        self.version = 0  # bumped at every change; searches cache what they derive from the graph by it
        self._next = 0
        self.cache: dict[Any, Any] = {}  # derived from this version of the graph: (name, version, ...) -> value
        self.vectors: dict[tuple[str | None, str], Any] = {}  # (embedder, report summary) -> its embedding

    # ------------------------------------------------------------------ describing

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        levels = Counter(c.level for c in self.communities.values())
        per_level = ", ".join(f"{n} at level {lv}" for lv, n in sorted(levels.items())) or "none"
        return (f"KnowledgeGraph({self.graph.number_of_nodes()} entities, {self.graph.number_of_edges()} relations, "
                f"{len(self.chunks)} chunks; communities: {per_level}; extractor {self.extractor.name})")

    def stats(self) -> dict[str, Any]:
        degrees = [d for _, d in self.graph.degree()]
        types = Counter(d["type"] for _, d in self.graph.nodes(data=True))
        return {"entities": self.graph.number_of_nodes(), "relations": self.graph.number_of_edges(),
                "chunks": len(self.chunks),
                "chunks_without_entities": sum(not c["entities"] for c in self.chunks.values()),
                "failed_chunks": len(self.failures), "communities": len(self.communities),
                "levels": max((c.level for c in self.communities.values()), default=-1) + 1,
                "components": nx.number_connected_components(self.graph) if len(self.graph) else 0,
                "mean_degree": sum(degrees) / len(degrees) if degrees else 0.0, "types": dict(types.most_common())}

    def entity(self, name: str) -> dict[str, Any]:
        """An entity by name or key: its names, type, chunks, neighbours and communities."""
        node = self.find(name)
        if node is None:
            close = [d["name"] for k, d in self.graph.nodes(data=True) if key(name)[:4] and key(name)[:4] in k][:5]
            hint = f" Close: {', '.join(close)}." if close else ""
            raise NbragError(f"No entity {name!r} in the graph.{hint}")
        data = self.graph.nodes[node]
        neighbours = sorted(self.graph[node].items(), key=lambda p: -p[1]["weight"])
        return {"key": node, "name": data["name"], "names": dict(data["names"]), "type": data["type"],
                "chunks": dict(data["chunks"]),
                "neighbours": [{"name": self.graph.nodes[n]["name"], "key": n, "weight": d["weight"],
                                "evidence": [text for _, text in d["evidence"]]} for n, d in neighbours],
                "communities": [c.id for c in self.communities.values() if node in c.members]}

    def find(self, name: str) -> str | None:
        """The key of the entity named ``name`` (any of its surface forms), or None."""
        for candidate in (name, key(name, concept=False), key(name, concept=True)):
            if candidate in self.graph:
                return candidate
        return None

    def community_of(self, node: str, level: int = 0) -> Community | None:
        membership = self.cache.get(("membership", self.version))
        if membership is None:
            membership = {}
            for c in sorted(self.communities.values(), key=lambda c: c.level):
                for m in c.members:
                    membership[(m, c.level)] = c
            self.cache = {k: v for k, v in self.cache.items() if k[1] == self.version}
            self.cache[("membership", self.version)] = membership
        while level >= 0:
            if (node, level) in membership:
                return membership[(node, level)]
            level -= 1
        return None

    def report(self, community: str) -> dict[str, Any]:
        if community not in self.communities:
            raise NbragError(f"no such community. There are {len(self.communities)}: "
                             f"{', '.join(list(self.communities)[:8])}{'…' if len(self.communities) > 8 else ''}.",
                             option="community", value=community)
        return self.communities[community].report

    # ------------------------------------------------------------------ changing

    def add(self, chunks: Mapping[str, tuple[str, str]], *, progress: bool = True,
            complete: Any = None) -> GraphUpdate:
        """Read ``chunks`` (id -> (text, document)) into the graph; chunks it already holds are read again.
        (``complete=``, a model for this call's reports, is deprecated: give ``generator=`` to the graph.)"""
        return self.update(chunks, [], progress=progress, complete=complete)

    def remove(self, chunk_ids: Iterable[str]) -> GraphUpdate:
        return self.update({}, list(chunk_ids))

    def update(self, added: Mapping[str, tuple[str, str]], removed: Iterable[str], *, progress: bool = True,
               complete: Any = None) -> GraphUpdate:
        """Take out ``removed`` chunk ids, read ``added`` ones, and recompute the communities they touch."""
        from tqdm.auto import tqdm

        if complete is not None:
            renamed("KnowledgeGraph.add/update(complete=...)", "KnowledgeGraph(generator=...)")
        writer = resolve(complete) if complete is not None else None

        started = time.perf_counter()
        report = GraphUpdate()
        touched: set[str] = set()
        gone = [c for c in dict.fromkeys(list(removed) + [c for c in added if c in self.chunks]) if c in self.chunks]
        for chunk_id in gone:
            touched |= self._take_out(chunk_id)
        report.removed = len([c for c in gone if c not in added])
        self.failures = [f for f in self.failures if f["chunk"] not in added and f["chunk"] not in set(gone)]

        ids = list(added)
        t = time.perf_counter()
        extractions: list[Extraction] = []
        batch = 16
        with tqdm(total=len(ids), desc=f"extracting entities ({self.extractor.name})", unit="chunk",
                  disable=not progress or len(ids) < 50) as bar:
            for first in range(0, len(ids), batch):
                texts = [added[i][0] for i in ids[first:first + batch]]
                extractions += self.extractor.extract(texts)
                bar.update(len(texts))
        report.timings["extract"] = time.perf_counter() - t

        # Aliases hold within a document: its chunks read before are resolved again with the new ones (from
        # what was extracted then, without reading them again), so the graph does not depend on reading order.
        fresh = dict(zip(ids, extractions))
        owner = {chunk_id: added[chunk_id][1] for chunk_id in ids}
        documents = set(owner.values())
        for chunk_id, record in list(self.chunks.items()):
            if record["document"] in documents:
                fresh[chunk_id], owner[chunk_id] = _from_raw(record["raw"]), record["document"]
                touched |= self._take_out(chunk_id)
        by_document: dict[str, list[str]] = defaultdict(list)
        for chunk_id in fresh:
            by_document[owner[chunk_id]].append(chunk_id)
        for document, members in by_document.items():
            alias = aliases([m.name for c in members for m in fresh[c].mentions])
            for chunk_id in members:
                extraction = fresh[chunk_id]
                if extraction.error and chunk_id in added:
                    self.failures.append({"chunk": chunk_id, "error": extraction.error, "reply": extraction.reply})
                touched |= self._put(chunk_id, document, extraction, alias)
        report.failed = sum(bool(e.error) for e in extractions)
        if report.failed:
            warnings.warn(f"The {self.extractor.name} extractor could not read {report.failed} of {len(ids)} chunks; "
                          "they are in the graph without entities. graph.failures lists each with the reason.",
                          stacklevel=3)

        self._refresh(touched)
        t = time.perf_counter()
        report.communities = self._recluster(touched, writer)
        report.timings["communities"] = time.perf_counter() - t
        report.added = len(ids)
        report.entities, report.relations = self.graph.number_of_nodes(), self.graph.number_of_edges()
        report.seconds = time.perf_counter() - started
        self.version += 1
        return report

    def _put(self, chunk_id: str, document: str, extraction: Extraction, alias: Mapping[str, str]) -> set[str]:
        record: dict[str, Any] = {"document": document, "entities": {}, "names": {}, "types": {}, "edges": [],
                                  "raw": _to_raw(extraction)}
        self.chunks[chunk_id] = record
        surface: dict[str, str] = {}
        for m in extraction.mentions:
            name = alias.get(m.name, m.name)
            k = key(name, concept=m.type == "concept")
            if not k:
                continue
            surface[m.name] = k
            if k not in self.graph:
                self.graph.add_node(k, name=name, names={}, type=m.type, chunks={})
            self.graph.nodes[k]["chunks"][chunk_id] = self.graph.nodes[k]["chunks"].get(chunk_id, 0) + 1
            record["entities"][k] = record["entities"].get(k, 0) + 1
            names, types = record["names"].setdefault(k, {}), record["types"].setdefault(k, {})
            names[name] = names.get(name, 0) + 1
            types[m.type] = types.get(m.type, 0) + 1
        for link in extraction.links:
            a = surface.get(link.source) or key(alias.get(link.source, link.source))
            b = surface.get(link.target) or key(alias.get(link.target, link.target))
            if not a or not b or a == b or a not in self.graph or b not in self.graph:
                continue
            if not self.graph.has_edge(a, b):
                self.graph.add_edge(a, b, weight=0.0, chunks={}, evidence=[], kinds=[])
            data = self.graph.edges[a, b]
            data["chunks"][chunk_id] = data["chunks"].get(chunk_id, 0.0) + link.weight
            data["weight"] += link.weight
            said = [t for _, t in data["evidence"]]
            if link.evidence and len(said) < EVIDENCE and link.evidence not in said:
                data["evidence"].append([chunk_id, link.evidence])
            if link.kind not in data["kinds"]:
                data["kinds"].append(link.kind)
            if [a, b] not in record["edges"]:
                record["edges"].append([a, b])
        return set(record["entities"])

    def _refresh(self, nodes: Iterable[str]) -> None:
        """Each node's surface names, shown name and type, summed over the chunks that name it (so that they
        do not depend on the order chunks were read in): the most frequent name (then the longest), and the
        most frequent type, a specific one (person, place…) before ``name`` before ``concept``."""
        rank = {"concept": 0, "name": 1}
        for k in nodes:
            if k not in self.graph:
                continue
            data = self.graph.nodes[k]
            names: Counter[str] = Counter()
            types: Counter[str] = Counter()
            for chunk_id in data["chunks"]:
                names.update(self.chunks[chunk_id]["names"].get(k, {}))
                types.update(self.chunks[chunk_id]["types"].get(k, {}))
            data["names"] = dict(sorted(names.items()))
            data["name"] = max(names.items(), key=lambda p: (p[1], len(p[0]), p[0]))[0]
            data["type"] = max(types.items(), key=lambda p: (rank.get(p[0], 2), p[1], p[0]))[0]

    def _take_out(self, chunk_id: str) -> set[str]:
        record = self.chunks.pop(chunk_id)
        for a, b in record["edges"]:
            if not self.graph.has_edge(a, b):
                continue
            data = self.graph.edges[a, b]
            data["weight"] -= data["chunks"].pop(chunk_id, 0.0)
            data["evidence"] = [e for e in data["evidence"] if e[0] != chunk_id]
            if not data["chunks"]:
                self.graph.remove_edge(a, b)
        for k in record["entities"]:
            if k not in self.graph:
                continue
            data = self.graph.nodes[k]
            data["chunks"].pop(chunk_id, None)
            if not data["chunks"]:
                self.graph.remove_node(k)
        return set(record["entities"])

    def _new_id(self) -> str:
        self._next += 1
        return f"c{self._next}"

    def _recluster(self, touched: set[str], writer: Generator | None = None) -> int:
        """Recompute the level-0 communities holding a touched entity (all of them on the first build)."""
        if not touched and self.communities:
            return 0
        roots = {c.id for c in self.communities.values() if c.level == 0 and touched & set(c.members)}
        nodes = {m for r in roots for m in self.communities[r].members if m in self.graph}
        nodes |= {t for t in touched if t in self.graph}
        stale = set(roots)
        frontier = list(roots)
        while frontier:
            children = self.communities[frontier.pop()].children
            stale.update(children)
            frontier += children
        for c in stale:
            del self.communities[c]
        fresh = hierarchy(self.graph, nodes, self._new_id, max_size=self.max_community, max_levels=self.levels,
                          resolution=self.resolution)
        for community in fresh:
            community.report = extractive(self.graph, community) if len(community.members) > 1 else {}
            if self.reports == "llm" and community.report:
                community.report = written(community.report, writer or self.report_writer())
            self.communities[community.id] = community
        return len(fresh)

    def report_writer(self) -> Generator:
        """The model that writes reports (``reports="llm"``): the extractor's, else ``generator=``, else the
        configured generator."""
        own = getattr(self.extractor, "generator", None)
        if isinstance(own, Generator):
            return own
        if self.writer is None:
            self.writer = ModelChoice()
        return self.writer.resolve()

    # ------------------------------------------------------------------ saving

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "extractor": {"name": self.extractor.name,
                                                             "options": self.extractor.options()},
                "settings": self.settings(),
                "graph": nx.node_link_data(self.graph, edges="edges"), "chunks": self.chunks,
                "communities": [c.to_dict() for c in self.communities.values()], "failures": self.failures,
                "next": self._next}

    def settings(self) -> dict[str, Any]:
        """How communities and reports are made (what ``from_dict`` builds the graph with, besides the extractor's
        options): the reports' own model, where it is not the extractor's, by its name or endpoint (never a key)."""
        writer = {k: v for k, v in self.writer.record().items() if v is not None} if self.writer else {}
        return {"reports": self.reports, "max_community": self.max_community, "levels": self.levels,
                "resolution": self.resolution, **writer}

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KnowledgeGraph:
        if data.get("format") != FORMAT:
            raise NbragError(f"This is not an nbrag graph (format {data.get('format')!r}, expected {FORMAT!r}).")
        data = copy.deepcopy(data)  # a graph of its own: to_dict() shares the attributes of the graph it came from
        extractor = data["extractor"]
        graph = cls(extractor["name"], **data["settings"], **extractor["options"])
        graph.graph = nx.node_link_graph(data["graph"], edges="edges")
        graph.chunks = dict(data["chunks"])
        graph.communities = {c["id"]: Community(**c) for c in data["communities"]}
        graph.failures = list(data.get("failures", []))
        graph._next = int(data["next"])
        return graph

    @classmethod
    def load(cls, path: str | Path) -> KnowledgeGraph:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NbragError("no such file: give the graph.json that KnowledgeGraph.save wrote.", option="path",
                             value=str(path)) from None
        except json.JSONDecodeError as error:
            raise NbragError(f"{path} is not valid JSON ({error.msg}); build the graph again.") from None
        return cls.from_dict(data)

    def to_graphml(self, path: str | Path) -> Path:
        """The entity graph as GraphML (list and dict attributes as JSON text), with each entity's level-0 community."""
        flat = nx.Graph()
        for node, data in self.graph.nodes(data=True):
            community = self.community_of(node, 0)
            flat.add_node(node, name=data["name"], type=data["type"], chunks=len(data["chunks"]),
                          community=community.id if community else "",
                          names=json.dumps(data["names"], ensure_ascii=False))
        for a, b, data in self.graph.edges(data=True):
            flat.add_edge(a, b, weight=float(data["weight"]), kinds=",".join(data["kinds"]),
                          evidence=json.dumps([t for _, t in data["evidence"]], ensure_ascii=False))
        nx.write_graphml(flat, str(path))
        return Path(path)

    def save_vectors(self, path: str | Path) -> Path:
        """The vectors of the current community reports that global search embedded, as an ``.npz`` file (no
        pickle), for :meth:`load_vectors`: a graph loaded again needs not embed its reports again."""
        import numpy as np

        current = {c.report["summary"] for c in self.communities.values() if c.report}
        groups: dict[str | None, list[tuple[str, Any]]] = defaultdict(list)
        for (embedder, summary), vector in self.vectors.items():
            if summary in current:
                groups[embedder].append((_digest(summary), vector))
        arrays: dict[str, Any] = {"embedders": np.array(["" if e is None else e for e in groups], dtype=str)}
        for i, rows in enumerate(groups.values()):
            arrays[f"digests{i}"] = np.array([d for d, _ in rows], dtype=str)
            arrays[f"vectors{i}"] = np.stack([np.asarray(v, dtype=np.float32) for _, v in rows])
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_atomic(path, buffer.getvalue())

    def load_vectors(self, path: str | Path) -> int:
        """The report vectors that :meth:`save_vectors` wrote, for the reports this graph still has (the others
        are left out); how many. A missing or unreadable file gives none: global search embeds what it lacks."""
        import numpy as np

        by_digest = {_digest(c.report["summary"]): c.report["summary"] for c in self.communities.values() if c.report}
        try:
            with np.load(path, allow_pickle=False) as data:
                found = 0
                for i, embedder in enumerate(data["embedders"].tolist()):
                    for digest, vector in zip(data[f"digests{i}"].tolist(), data[f"vectors{i}"]):
                        if digest in by_digest:
                            self.vectors[(embedder or None, by_digest[digest])] = vector
                            found += 1
        except (OSError, ValueError, KeyError):
            return 0
        return found


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _to_raw(extraction: Extraction) -> dict[str, Any]:
    """What the extractor found in a chunk, as JSON-ready lists (kept to resolve the chunk again later)."""
    return {"mentions": [[m.name, m.type, m.start, m.end] for m in extraction.mentions],
            "links": [[x.source, x.target, x.weight, x.evidence, x.kind] for x in extraction.links]}


def _from_raw(raw: Mapping[str, Any]) -> Extraction:
    return Extraction(mentions=[Mention(*m) for m in raw["mentions"]], links=[Link(*x) for x in raw["links"]])
