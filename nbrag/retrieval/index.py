"""Index: a real Chroma collection and a BM25 index over the same chunks, kept in step.

Chroma holds the chunks, their metadata and the vectors nbrag computes (its own default
embedding function downloads a model, so nbrag always hands Chroma the vectors). BM25 is
derived from Chroma: it is saved beside it with the ids it covers, and rebuilt from the
collection's chunks whenever they differ (after an interrupted ingest, or a collection
another process changed), so the two never disagree.

``Index(name)`` keeps everything on disk under ``settings.data_dir/indexes/<name>``
(``PersistentClient``); ``memory=True`` keeps it in memory (``EphemeralClient``);
``host=`` talks to a Chroma server (``HttpClient``), with BM25 and the documents' texts
in a local folder.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nbrag.config import settings
from nbrag.errors import NbragError, whole_number
from nbrag.llm import resolve
from nbrag.ranking.bm25 import BM25, backend_name
from nbrag.ranking.fusion import check_fusion, check_rrf_k, check_weights, fuse
from nbrag.retrieval import rerank as reranking
from nbrag.retrieval.base import GRAPH_SEARCHES, MODES, RETRIEVERS, Hit, RetrievalResult
from nbrag.retrieval.documents import SUFFIXES, IngestReport, as_documents, digest, flat, read_document, unflat
from nbrag.retrieval.hyde import hypothetical_answer
from nbrag.retrieval.rerank import check_rerank

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
FUSE_CHANGES = ("fusion", "weights", "rrf_k", "k", "rerank", "generator")  # what fuse() may change


# Chroma's in-memory clients share one store per process; the documents' texts and graphs follow it.
_MEMORY_DOCUMENTS: dict[str, dict[str, dict[str, Any]]] = {}
_MEMORY_GRAPHS: dict[str, Any] = {}


def check_name(name: str) -> None:
    """Chroma's rule for collection names, as an error that suggests a name that passes."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", str(name)).strip("._-")[:512] or "index"
    slug = slug if len(slug) >= 3 else f"{slug}-index"
    raise NbragError(f"not a name Chroma allows: 3-512 characters from a-z, A-Z, 0-9, '.', '_' and '-', starting "
                     f"and ending with a letter or digit. Try {slug!r}.", option="name", value=name)


class Index:
    """A Chroma collection with a BM25 index beside it; ``add`` documents, ``search`` them."""

    def __init__(self, name: str, path: str | Path | None = None, *, memory: bool = False,
                 host: str | None = None, port: int = 8000, embedder: str | None = None,
                 bm25: str | None = None) -> None:
        check_name(name)
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.name = name
        self.embedder = embedder or settings.embedder
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if host is not None:
            self.where = f"chroma server {host}:{port}"
            self.client = chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
            self.path: Path | None = (Path(path) if path else
                                      Path(settings.data_dir) / "indexes" / f"{host}-{port}" / name)
        elif memory:
            self.where, self.path = "memory", None
            self.client = chromadb.EphemeralClient(settings=chroma_settings)
        else:
            self.path = Path(path) if path else Path(settings.data_dir) / "indexes" / name
            self.where = str(self.path)
            self.client = chromadb.PersistentClient(path=str(self.path / "chroma"), settings=chroma_settings)
        self.collection = self.client.get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine", "embedder": self.embedder})
        recorded = (self.collection.metadata or {}).get("embedder")
        if recorded and recorded != self.embedder:
            raise NbragError(f"index {name!r} was built with the embedder {recorded!r}: its vectors only compare "
                             f"with that model's. Open it with embedder={recorded!r}, or use another name.",
                             option="embedder", value=self.embedder)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        self._documents: dict[str, dict[str, Any]] = (
            _MEMORY_DOCUMENTS.setdefault(name, {}) if self.path is None else self._load_documents())
        self.bm25 = self._open_bm25(backend_name(bm25 or settings.bm25, option="bm25"))
        self._graph: Any = None

    # ------------------------------------------------------------------ persistence

    def _file(self, name: str) -> Path | None:
        return self.path / name if self.path is not None else None

    def _load_documents(self) -> dict[str, dict[str, Any]]:
        file = self._file("documents.json")
        return json.loads(file.read_text(encoding="utf-8")) if file and file.exists() else {}

    def _save(self) -> None:
        file = self._file("documents.json")
        if file is None:
            return
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._documents, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, file)
        self.bm25.save(self._file("bm25"))

    def _all(self, include: list[str]) -> dict[str, Any]:
        return self.collection.get(include=include)

    def _open_bm25(self, backend: str) -> BM25:
        """The saved BM25 when it covers exactly the collection's chunks; else rebuilt from them."""
        saved = self._file("bm25")
        if saved is not None and saved.exists():
            bm25 = BM25.load(saved)
            if bm25.backend == backend and set(bm25.ids) == set(self._all([])["ids"]):
                return bm25
        return self._rebuild_bm25(backend)

    def _rebuild_bm25(self, backend: str) -> BM25:
        bm25 = BM25(backend)
        everything = self._all(["documents"])
        if everything["ids"]:
            bm25.upsert(list(everything["ids"]), list(everything["documents"]))
        saved = self._file("bm25")
        if saved is not None:
            bm25.save(saved)
        return bm25

    # ------------------------------------------------------------------ ingest

    def add(self, texts: str | Iterable[str] | Mapping[str, str] | Any, *, ids: Iterable[str] | None = None,
            chunker: str = "fixed", batch_size: int = 64, progress: bool = True, **options: Any) -> IngestReport:
        """Chunk, embed and store documents: a str, a list of str, a dict id -> text, or a DataFrame
        with a ``text`` column (and ``id`` or ``_id``). Ids default to a hash of the text, so adding
        the same documents again changes nothing; a document added again with other text or another
        chunker replaces its chunks."""
        return self._ingest(as_documents(texts, ids), chunker, batch_size, progress, options)

    def add_files(self, paths: str | Path | Iterable[str | Path], *, pattern: str = "**/*", chunker: str = "fixed",
                  batch_size: int = 64, progress: bool = True, **options: Any) -> IngestReport:
        """Add files (txt, md, html; PDF with pypdf) or every such file under a folder; ids are the paths
        relative to the folder given."""
        roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        documents: dict[str, str] = {}
        skipped: list[str] = []
        for root in roots:
            if not root.exists():
                raise NbragError("no such file or folder.", option="paths", value=str(root))
            files = sorted(p for p in root.glob(pattern) if p.is_file()) if root.is_dir() else [root]
            for file in files:
                doc_id = file.relative_to(root).as_posix() if root.is_dir() else file.name
                if file.suffix.lower() not in SUFFIXES:
                    skipped.append(str(file))
                    continue
                documents[doc_id] = read_document(file)
        report = self._ingest(documents, chunker, batch_size, progress, options)
        report.skipped = skipped
        return report

    def _ingest(self, documents: dict[str, str], chunker: str, batch_size: int, progress: bool,
                options: dict[str, Any]) -> IngestReport:
        from nbrag.chunking import chunk, get_chunker

        started = time.perf_counter()
        method = get_chunker(chunker, option="chunker").name  # unknown names fail before any work
        report = IngestReport(documents=len(documents))
        rows: list[tuple[str, str, dict[str, Any]]] = []  # (id, text, metadata)
        stale: list[str] = []
        for doc_id, text in documents.items():
            chunks = chunk(text, method=method, **options)
            fresh = []
            for c in chunks:
                chunk_id = f"{doc_id}#{digest(method, str(c.start), str(c.end), c.text)}"
                meta = {**flat(c.meta), "document": doc_id, "start": c.start, "end": c.end, "tokens": c.tokens,
                        "chunk": c.index, "chunker": method}
                fresh.append((chunk_id, c.text, meta))
            old = set(self.collection.get(where={"document": doc_id}, include=[])["ids"])
            new_ids = {row[0] for row in fresh}
            stale += sorted(old - new_ids)
            report.unchanged += len(old & new_ids)
            rows += [row for row in fresh if row[0] not in old]
        try:
            self._store(rows, batch_size, progress)
            if stale:
                self.collection.delete(ids=stale)
                self.bm25.delete(stale)
            for doc_id, text in documents.items():
                self._documents[doc_id] = {"text": text, "chunker": method}
        except BaseException:  # an interrupt or an error mid-way: BM25 follows what Chroma holds
            self.bm25 = self._rebuild_bm25(self.bm25.backend)
            raise
        finally:
            self._save()
        self._sync_graph(progress)
        report.added, report.removed = len(rows), len(stale)
        report.seconds = time.perf_counter() - started
        return report

    def _store(self, rows: list[tuple[str, str, dict[str, Any]]], batch_size: int, progress: bool) -> None:
        from tqdm.auto import tqdm

        from nbrag.models import embed

        if not rows:
            return
        # Batches of similar length: each batch is padded to its longest text (sentence-transformers sorts
        # within one call; across calls, this keeps short chunks out of long chunks' batches).
        rows = sorted(rows, key=lambda row: len(row[1]))
        step = min(batch_size, self.client.get_max_batch_size())
        batches = range(0, len(rows), step)
        for first in tqdm(batches, desc=f"embedding {len(rows)} chunks", unit="batch",
                          disable=not progress or len(batches) < 2):
            batch = rows[first:first + step]
            ids, texts, metas = (list(x) for x in zip(*batch))
            self.collection.upsert(ids=ids, documents=texts, metadatas=metas,
                                   embeddings=embed(texts, name=self.embedder))
            self.bm25.upsert(ids, texts)

    def delete(self, document: str) -> int:
        """Remove a document and its chunks; returns how many chunks went."""
        ids = self.collection.get(where={"document": document}, include=[])["ids"]
        if not ids and document not in self._documents:
            raise NbragError(f"no such document in index {self.name!r}.", option="document", value=document)
        if ids:
            self.collection.delete(ids=ids)
            self.bm25.delete(ids)
        self._documents.pop(document, None)
        self._save()
        self._sync_graph(False)
        return len(ids)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self.collection.count()

    @property
    def documents(self) -> list[str]:
        return sorted(self._documents)

    def document(self, document: str) -> str:
        """A document's full text."""
        if document not in self._documents:
            raise NbragError(f"no such document in index {self.name!r}.", option="document", value=document)
        return self._documents[document]["text"]

    def document_chunks(self, document: str):
        """``document`` as this index chunked it: a :class:`~nbrag.chunking.ChunkResult` of its chunks here, in
        document order, with the chunker's metadata."""
        from nbrag.chunking.base import Chunk, ChunkResult

        text = self.document(document)
        metas = sorted(self.collection.get(where={"document": document}, include=["metadatas"])["metadatas"],
                       key=lambda m: (int(m["start"]), int(m["end"])))
        chunks = [Chunk(text=text[int(m["start"]):int(m["end"])], start=int(m["start"]), end=int(m["end"]),
                        tokens=int(m.get("tokens", 0)), index=i, meta=unflat(m)) for i, m in enumerate(metas)]
        method = str(metas[0].get("chunker", "")) if metas else self._documents[document].get("chunker", "")
        return ChunkResult(source=text, chunks=chunks, method=method, params={})

    def __repr__(self) -> str:
        return (f"Index({self.name!r}: {len(self._documents)} documents, {len(self)} chunks, {self.embedder}, "
                f"BM25 {self.bm25.backend}, {self.where})")

    # ------------------------------------------------------------------ graph

    @property
    def graph(self):
        """The knowledge graph of this index's chunks (``build_graph()`` makes it), or None."""
        if self._graph is None:
            if self.path is None:
                self._graph = _MEMORY_GRAPHS.get(self.name)
            elif (self.path / "graph.json").exists():
                from nbrag.graphrag import KnowledgeGraph

                self._graph = KnowledgeGraph.load(self.path / "graph.json")
        return self._graph

    def build_graph(self, extractor: Any = "offline", *, rebuild: bool = False, progress: bool = True,
                    **options: Any):
        """Read the chunks into a knowledge graph kept beside the index, and return it.

        A graph that exists is updated: only chunks it has not read are read, chunks no longer in
        the index are taken out, and only the communities they touch are recomputed. Another
        extractor, other options or ``rebuild=True`` build it anew. ``extractor`` is ``"offline"``
        or ``"llm"`` (options ``generator=``, or ``endpoint=`` and ``model=``); options also take
        ``reports="llm"``, ``max_community``, ``levels``, ``resolution``
        (see :class:`~nbrag.graphrag.KnowledgeGraph`). ``graph.last_update`` says what was done.
        """
        from nbrag.graphrag import KnowledgeGraph

        fresh = KnowledgeGraph(extractor, **options)
        graph = self.graph
        if (graph is None or rebuild or fresh.extractor.name != graph.extractor.name
                or fresh.extractor.options() != graph.extractor.options()
                or fresh.settings() != graph.settings()  # communities and reports, and who writes the reports
                or not isinstance(extractor, str)):
            graph = fresh
        self._graph = graph
        graph.last_update = self._update_graph(graph, progress)
        return graph

    def _update_graph(self, graph: Any, progress: bool):
        ids = set(self._all([])["ids"])
        new = sorted(ids - set(graph.chunks))
        chunks = self._chunks(new)
        added = {i: (chunks[i]["text"], str(chunks[i]["meta"]["document"])) for i in new}
        update = graph.update(added, set(graph.chunks) - ids, progress=progress)
        if self.path is None:
            _MEMORY_GRAPHS[self.name] = graph
        else:
            graph.save(self.path / "graph.json")
        return update

    def _sync_graph(self, progress: bool) -> None:
        """After an add or delete: the offline graph follows the chunks (an LLM graph waits for build_graph())."""
        graph = self.graph
        if graph is not None and graph.extractor.name == "offline":
            graph.last_update = self._update_graph(graph, progress)

    def _searchable_graph(self, mode: str):
        graph = self.graph
        if graph is None:
            raise NbragError(f"index {self.name!r} has no knowledge graph yet: build it with index.build_graph() (or "
                             "%%graphrag --build), then search the graph.", option="mode", value=mode)
        return graph

    # ------------------------------------------------------------------ search

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", *, fusion: str = "rrf",
               weights: Mapping[str, float] | None = None, rrf_k: int = 60, candidates: int | None = None,
               hyde: bool | str = False, rerank: bool | str = False, generator: Any = None, graph: str = "ppr",
               graph_options: Mapping[str, Any] | None = None) -> RetrievalResult:
        """The ``k`` best chunks for ``query``.

        ``mode`` is ``bm25``, ``dense`` or ``hybrid`` (``fusion`` ``rrf``, ``minmax`` or ``zscore``,
        ``weights`` such as ``{"bm25": 0.3, "dense": 0.7}``, equal by default). Each retriever
        returns ``candidates`` items (default ``max(50, 4k)``). ``hyde=True`` (or ``"average"``)
        embeds a hypothetical answer the generator writes, averaged with the query; ``"replace"``
        embeds the answer alone. ``rerank=True`` reorders the best ``max(20, k)`` candidates by the
        generator's judgement of each; ``rerank="<cross-encoder>"`` by a sentence-transformers
        cross-encoder. ``generator`` is anything :func:`nbrag.llm.resolve` takes (None: the configured
        one; a name, a ``(model, tokenizer)`` pair, a ``complete(messages) -> str`` function).

        ``mode="graph"`` ranks chunks through the index's knowledge graph (``build_graph()``) with
        the search ``graph`` names: ``ppr`` (personalized PageRank from the query's entities and best
        dense hits), ``local`` (the query's entities and their neighbours) or ``global`` (community
        reports); ``"hybrid+graph"`` fuses it with BM25 and dense. ``graph_options`` go to that search
        (e.g. ``{"dense_weight": 0}`` for PageRank from entities alone).
        """
        k = whole_number(settings.top_k if k is None else k, "k")
        if mode not in MODES:
            raise NbragError(f"choose one of {', '.join(MODES)}.", option="mode", value=mode)
        check_fusion(fusion)
        check_rrf_k(rrf_k)
        if weights and mode in ("hybrid", "hybrid+graph"):  # checked before any work; fused with the candidates
            check_weights(weights, ["bm25", "dense", "graph"] if mode == "hybrid+graph" else ["bm25", "dense"])
        if hyde not in (False, True, "average", "replace"):
            raise NbragError("give True (or 'average': the answer's embedding averaged with the query's), 'replace' "
                             "(the answer's alone) or False.", option="hyde", value=hyde)
        rerank = check_rerank(rerank)
        if graph not in GRAPH_SEARCHES:
            raise NbragError(f"choose one of {', '.join(GRAPH_SEARCHES)}.", option="graph", value=graph)
        knowledge = self._searchable_graph(mode) if "graph" in mode else None
        if not isinstance(query, str) or not query.strip():
            raise NbragError("empty: write what you are looking for.", option="query", value=query)
        if hyde or rerank is True:  # loaded once, for HyDE and for reranking again with other options
            generator = resolve(generator)
        n = candidates or max(50, 4 * k)
        timings: dict[str, float] = {}
        found: dict[str, list[tuple[str, float]]] = {}
        hypothetical = None
        hybrid = mode in ("hybrid", "hybrid+graph")
        if mode == "bm25" or hybrid:
            t = time.perf_counter()
            found["bm25"] = self.bm25.search(query, n)
            timings["bm25"] = time.perf_counter() - t
        vector, dense = None, []
        if mode == "dense" or hybrid or (mode == "graph" and graph != "local"):
            t = time.perf_counter()
            vector, hypothetical = self._query_vector(query, hyde, generator)
            dense = self._dense(vector, n)
            timings["dense"] = time.perf_counter() - t
            if mode != "graph":
                found["dense"] = dense
        trace = None
        if knowledge is not None:
            from nbrag.graphrag.search import run

            t = time.perf_counter()
            found["graph"], trace = run(knowledge, graph, query, n, dense=dense, vector=vector,
                                        embedder=self.embedder, **dict(graph_options or {}))
            timings["graph"] = time.perf_counter() - t
            if len(knowledge.chunks) < len(self):
                trace["stale"] = (f"The graph has read {len(knowledge.chunks)} of the index's {len(self)} chunks; "
                                  "index.build_graph() reads the rest.")
        params = {"k": k, "fusion": fusion if hybrid else None,
                  "weights": dict(weights) if weights else None, "rrf_k": rrf_k, "hyde": hyde, "rerank": rerank}
        if knowledge is not None:
            params["graph"] = graph
        result = RetrievalResult(query=query, mode=mode, hits=[], params=params, candidates=found,
                                 hyde=hypothetical, timings=timings, index=self, graph=trace, generator=generator)
        return self.fuse(result)

    def _query_vector(self, query: str, hyde: bool | str, generator: Any = None):
        import numpy as np

        from nbrag.models import embed

        if not hyde:
            return embed([query], name=self.embedder)[0], None
        answer = hypothetical_answer(query, generator)
        vectors = embed([query, answer], name=self.embedder)
        vector = vectors[1] if hyde == "replace" else vectors.mean(axis=0)
        return vector / (np.linalg.norm(vector) or 1.0), answer

    def _dense(self, vector, n: int) -> list[tuple[str, float]]:
        count = len(self)
        if count == 0:
            return []
        got = self.collection.query(query_embeddings=[vector], n_results=min(n, count), include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]  # cosine similarity

    def fuse(self, result: RetrievalResult, **changes: Any) -> RetrievalResult:
        """Rank ``result``'s candidates (again) with its options, changed by ``changes`` (any of ``fusion``,
        ``weights``, ``rrf_k``, ``k``, ``rerank``, ``generator``)."""
        unknown = sorted(set(changes) - set(FUSE_CHANGES))
        if unknown:
            raise NbragError(f"changes what is searched: search again with it (fusing again changes only "
                             f"{', '.join(FUSE_CHANGES)}).", option=unknown[0], value=changes[unknown[0]])
        generator = changes.pop("generator", result.generator)
        params = {**result.params, **changes}
        whole_number(params["k"], "k")
        params["rerank"] = check_rerank(params["rerank"])
        names = list(result.candidates)
        if len(names) == 1:
            ranked = list(result.candidates[names[0]])
        else:
            weights = params["weights"] or dict.fromkeys(names, 1.0)
            ranked = fuse(result.candidates, params["fusion"] or "rrf", weights, params["rrf_k"])
        timings = dict(result.timings)
        if params["rerank"] and ranked:
            t = time.perf_counter()
            pool = [item for item, _ in ranked[:max(20, params["k"])]]
            texts = self._chunks(pool)
            scores = reranking.rerank(result.query, [texts[i]["text"] for i in pool], params["rerank"],
                                      generator=generator)
            ranked = sorted(zip(pool, scores), key=lambda pair: -pair[1])
            timings["rerank"] = time.perf_counter() - t
        top = ranked[:params["k"]]
        hits = self._hits(result.query, result.candidates, top, reranked=bool(params["rerank"]))
        if result.graph:
            for hit in hits:
                path = result.graph.get("path_names", {}).get(hit.id)
                if path:
                    hit.meta["graph_path"] = list(path)
        return RetrievalResult(query=result.query, mode=result.mode, hits=hits, params=params,
                               candidates=result.candidates, hyde=result.hyde, timings=timings, index=self,
                               graph=result.graph, generator=generator)

    def _chunks(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return {i: {"text": t, "meta": m} for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])}

    def _hits(self, query: str, candidates: dict[str, list[tuple[str, float]]], top: list[tuple[str, float]],
              reranked: bool) -> list[Hit]:
        chunks = self._chunks([item for item, _ in top])
        per = {name: {item: (rank, score) for rank, (item, score) in enumerate(ranked, start=1)}
               for name, ranked in candidates.items()}
        hits = []
        for rank, (item, score) in enumerate(top, start=1):
            chunk = chunks[item]
            meta = dict(chunk["meta"])
            scores = {name: per[name][item][1] for name in RETRIEVERS if name in per and item in per[name]}
            ranks = {name: per[name][item][0] for name in RETRIEVERS if name in per and item in per[name]}
            if reranked:
                scores["rerank"] = score
            terms = self.bm25.explain(query, item)  # also for dense hits: which query words they hold
            hits.append(Hit(id=item, text=chunk["text"], document=str(meta.pop("document")),
                            start=int(meta.pop("start")), end=int(meta.pop("end")), score=float(score), rank=rank,
                            scores=scores, ranks=ranks, terms=terms, meta=meta))
        return hits
