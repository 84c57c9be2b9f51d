"""Index: documents, chunks and vectors in Chroma, with BM25 and the knowledge graph derived from them.

Chroma holds everything an index is (see :mod:`nbrag.retrieval.store`): the chunks, their
metadata and the vectors nbrag computes (Chroma's own default embedding function downloads a
model, so nbrag always hands it the vectors), and each document's full text and chunker. BM25
and the graph are caches saved beside it, stamped with the generation they cover and rebuilt
whenever that differs (after an interrupted ingest, a lost or damaged file, or a collection
another process changed), so they never disagree with Chroma. Writers take the index's lock, so
two notebooks (or a notebook and a script) can add to one index at the same time.

``Index(name)`` keeps everything on disk under ``settings.data_dir/indexes/<name>``
(``PersistentClient``); ``memory=True`` keeps it in memory (``EphemeralClient``);
``host=`` talks to a Chroma server (``HttpClient``), with the BM25 and graph caches in a local
folder (the lock then covers the processes of this machine only). ``create=False`` opens an
index that exists and creates nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nbrag.config import language_name, settings
from nbrag.errors import NbragError, NbragTypeError, readable, whole_number
from nbrag.llm import resolve
from nbrag.ranking.bm25 import BM25, backend_name
from nbrag.ranking.fusion import check_fusion, check_rrf_k, check_weights, fuse, settle
from nbrag.retrieval import rerank as reranking
from nbrag.retrieval.base import GRAPH_SEARCHES, MODES, RETRIEVERS, Hit, RetrievalResult
from nbrag.retrieval.documents import SUFFIXES, IngestReport, as_documents, digest, flat, read_document, unflat
from nbrag.retrieval.hyde import hypothetical_answer
from nbrag.retrieval.rerank import check_rerank
from nbrag.retrieval.store import BATCH, Record, Store

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
WAVE = 16  # batches of chunks stored between two commits of the documents they belong to
# beside graph.json: the community reports' vectors, keyed by the report's text (its digest) and embedder, so
# that any version of the graph takes those of its reports that it still has
REPORT_VECTORS = "graph.vectors.npz"
FUSE_CHANGES = ("fusion", "weights", "rrf_k", "k", "rerank", "generator")  # what fuse() may change


# Chroma's in-memory client is one store per process; graphs of in-memory indexes follow it.
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
    """A Chroma collection with a BM25 index beside it; ``add`` documents, ``search`` them.

    ``language`` is BM25's analyzer (:mod:`nbrag.analyzers`): ``"auto"``, ``"none"`` or a Snowball
    language. A new index records ``language`` (default ``settings.language``); ``None`` opens an
    index with the language it records (``"none"`` for one written before indexes recorded it), and
    another language rebuilds its BM25 in that language, with a warning, and records it.
    """

    def __init__(self, name: str, path: str | Path | None = None, *, memory: bool = False,
                 host: str | None = None, port: int = 8000, embedder: str | None = None,
                 bm25: str | None = None, language: str | None = None, create: bool = True) -> None:
        check_name(name)
        self.name = name
        self.embedder = embedder or settings.embedder
        backend = backend_name(bm25 or settings.bm25, option="bm25")  # checked before anything is created
        asked = language_name(language) if language is not None else None
        if host is not None:
            self.path: Path | None = (Path(path) if path else
                                      Path(settings.data_dir) / "indexes" / f"{host}-{port}" / name)
        elif memory:
            self.path = None
        else:
            self.path = Path(path) if path else Path(settings.data_dir) / "indexes" / name
        self.store = Store(name, path=self.path if not memory else None, memory=memory and host is None, host=host,
                           port=port, embedder=self.embedder, create=create)
        self.where = self.store.where
        recorded = (self.collection.metadata or {}).get("embedder")
        if recorded and recorded != self.embedder:
            raise NbragError(f"index {name!r} was built with the embedder {recorded!r}: its vectors only compare "
                             f"with that model's. Open it with embedder={recorded!r}, or use another name.",
                             option="embedder", value=self.embedder)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        self.store.tidy(self._file("documents.json"))
        self.language = self._language(asked)
        self._generation = self.store.refresh()
        self.bm25 = self._open_bm25(backend)
        self._graph: Any = None
        self._graph_seen: tuple[int, int] | None = None

    @property
    def collection(self):
        """The Chroma collection of the chunks."""
        return self.store.chunks

    @property
    def client(self):
        return self.store.place.client

    # ------------------------------------------------------------------ caches derived from Chroma

    def _file(self, name: str) -> Path | None:
        return self.path / name if self.path is not None else None

    def _refresh(self) -> None:
        """Follow what other processes (or other Index objects here) committed: the caches are rebuilt if behind."""
        generation = self.store.refresh()
        if generation != self._generation:
            self._generation = generation
            self.language = self._recorded_language() or self.language  # another process may have changed it
            self.bm25 = self._open_bm25(self.bm25.backend)
            self._graph, self._graph_seen = None, None

    def _recorded_language(self) -> str | None:
        """The BM25 language the index records; ``"none"`` for an index written before indexes recorded one (its BM25
        was built without stemming); None for a new index, which has none yet."""
        state = self.store.state()
        if "language" in state:
            return str(state["language"])
        return "none" if state.get("generation") else None

    def _language(self, asked: str | None) -> str:
        """The index's BM25 language: the one it records unless ``asked`` is another, which it then records (BM25
        is rebuilt with it, with a warning); a new index records ``asked`` or ``settings.language``."""
        recorded = self._recorded_language()
        if recorded is not None and asked in (None, recorded):
            return recorded
        chosen = asked or settings.language
        with self.store.writing():
            recorded = self._recorded_language()  # another process may have recorded one meanwhile
            if recorded is not None and asked in (None, recorded):
                return recorded
            if recorded is not None:
                warnings.warn(f"index {self.name!r} was analyzed in language {recorded!r}: its BM25 is built again "
                              f"in {chosen!r}, which the index records now (open it with language=None to keep what "
                              "it has).", stacklevel=3)
            state = self.store.state()
            if state.get("generation"):
                self.store.bump(language=chosen)  # a new generation: other processes rebuild their BM25 too
            else:  # nothing committed yet: no cache to rebuild, and the first add still writes BM25's file whole
                self.store.documents.modify(metadata={**state, "language": chosen})
        return chosen

    def _open_bm25(self, backend: str) -> BM25:
        """The saved BM25 when it is stamped with the current generation; else rebuilt from the committed chunks."""
        saved = self._file("bm25")
        if saved is None or not saved.exists():
            if saved is not None and self.store.documents.count():
                warnings.warn(f"{saved} is missing: BM25 rebuilt from the index's chunks.", stacklevel=3)
            return self._rebuild_bm25(backend)
        try:
            bm25 = BM25.load(saved)
        except (OSError, ValueError, KeyError, TypeError) as error:  # JSON and Unicode errors are ValueErrors
            warnings.warn(f"{saved} is unreadable ({type(error).__name__}): BM25 rebuilt from the index's chunks.",
                          stacklevel=3)
            return self._rebuild_bm25(backend)
        if bm25.backend == backend and bm25.language == self.language and bm25.stamp == self._generation:
            return bm25
        return self._rebuild_bm25(backend)

    def _rebuild_bm25(self, backend: str) -> BM25:
        bm25 = BM25(backend, language=self.language)
        chunks = self.store.committed_chunks()
        if chunks:
            bm25.upsert(list(chunks), list(chunks.values()))
        self._save_bm25(bm25)
        return bm25

    def _save_bm25(self, bm25: BM25, changed: tuple[list[str], list[str]] | None = None) -> None:
        """Saved only by the lock's holder (a reader that cannot take it at once keeps its rebuild in memory).
        ``changed`` (upserted and deleted ids since the file was last read or written, at the generation before
        this one): appended to the file, at the cost of the change alone, where the file allows."""
        saved = self._file("bm25")
        if saved is None:
            return
        from filelock import Timeout

        try:
            with self.store.place.lock.acquire(timeout=0):
                if changed is None or not bm25.append(saved, self._generation, *changed):
                    bm25.save(saved, stamp=self._generation)
        except Timeout:
            pass

    # ------------------------------------------------------------------ ingest

    def add(self, texts: str | Iterable[str] | Mapping[str, str] | Any, *, ids: Iterable[str] | None = None,
            chunker: str = "fixed", batch_size: int = 64, progress: bool = True, **options: Any) -> IngestReport:
        """Chunk, embed and store documents: a str, a list of str, a dict id -> text, or a DataFrame
        with a ``text`` column (and ``id`` or ``_id``). Ids default to a hash of the text, so adding
        the same documents again changes nothing; a document added again with other text or another
        chunker replaces its chunks (the report lists it under ``replaced``). An id given twice is an error.

        Other options go to the chunker (:func:`nbrag.chunk`): ``size=``, and ``context=`` for any chunker
        (``"title"``, ``"neighbours"``, ``"title+neighbours"``, ...), which embeds each chunk with its
        context while the index stores, shows and BM25 indexes the chunk's own text."""
        return self._ingest(as_documents(texts, ids), {}, chunker, batch_size, progress, options)

    def add_files(self, paths: str | Path | Iterable[str | Path], *, pattern: str = "**/*", chunker: str = "fixed",
                  batch_size: int = 64, progress: bool = True, **options: Any) -> IngestReport:
        """Add files (txt, md, html; PDF with pypdf) or every such file under a folder.

        Ids are paths: relative to the folder given, a file's own name when one file is given, and relative to
        the folders' common parent when several are given (so ``c1/notes.txt`` and ``c2/notes.txt`` stay two
        documents). A document that another file had added is replaced, and the report names both files."""
        roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        for root in roots:
            if not root.exists():
                raise NbragError("no such file or folder.", option="paths", value=str(root))
        base = None if len(roots) == 1 else Path(os.path.commonpath([r.resolve() for r in roots]))
        documents: dict[str, str] = {}
        sources: dict[str, str] = {}
        skipped: list[str] = []
        for root in roots:
            files = sorted(p for p in root.glob(pattern) if p.is_file()) if root.is_dir() else [root]
            for file in files:
                if file.suffix.lower() not in SUFFIXES:
                    skipped.append(str(file))
                    continue
                if base is not None:
                    doc_id = file.resolve().relative_to(base).as_posix()
                else:
                    doc_id = file.relative_to(root).as_posix() if root.is_dir() else file.name
                source = str(file.resolve())
                if sources.get(doc_id, source) != source:
                    raise NbragError(f"two files would be the document {doc_id!r}: {sources[doc_id]} and {source}. "
                                     "Add them in separate indexes, or rename one.", option="paths", value=str(root))
                documents[doc_id], sources[doc_id] = read_document(file), source
        report = self._ingest(documents, sources, chunker, batch_size, progress, options)
        report.skipped = skipped
        return report

    def _ingest(self, documents: dict[str, str], sources: dict[str, str], chunker: str, batch_size: int,
                progress: bool, options: dict[str, Any]) -> IngestReport:
        from tqdm.auto import tqdm

        from nbrag.chunking import chunk, get_chunker

        whole_number(batch_size, "batch_size")
        started = time.perf_counter()
        method = get_chunker(chunker, option="chunker").name  # unknown names fail before any work
        report = IngestReport(documents=len(documents))
        cut: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}  # id -> (chunk id, text, metadata)
        embedded: dict[str, str] = {}  # chunk id -> what is embedded, where context= adds to the chunk's text
        for doc_id, text in documents.items():
            chunks = chunk(text, method=method, **options)
            cut[doc_id] = []
            for c in chunks:
                # The chunk's own text is stored and indexed by BM25; its context only changes its vector (and id).
                extra = () if c.embed_text is None else (c.embed_text,)
                chunk_id = f"{doc_id}#{digest(method, str(c.start), str(c.end), c.text, *extra)}"
                meta = {**flat(c.meta), "document": doc_id, "start": c.start, "end": c.end, "tokens": c.tokens,
                        "chunk": c.index, "chunker": method}
                if c.embed_text is not None:
                    meta["context"], embedded[chunk_id] = chunks.params["context"], c.embed_text
                cut[doc_id].append((chunk_id, c.text, meta))
        with self.store.writing():
            self._refresh()
            committed = self.store.records(list(documents))
            waves: list[tuple[list[tuple[str, str, dict[str, Any]]], list[Record], list[str]]] = [([], [], [])]
            for doc_id, fresh in cut.items():
                old = set(committed[doc_id].chunks) if doc_id in committed else set()
                new_ids = [row[0] for row in fresh]
                report.unchanged += len(old & set(new_ids))
                before = committed.get(doc_id)
                if before is not None and (before.text != documents[doc_id] or old != set(new_ids)
                                           or (sources.get(doc_id) and before.source != sources[doc_id])):
                    was = before.source if before.source and before.source != sources.get(doc_id) else ""
                    report.replaced[doc_id] = was
                elif before is not None:
                    continue  # the same document again: nothing to do
                if len(waves[-1][0]) >= WAVE * batch_size:
                    waves.append(([], [], []))
                rows, records, stale = waves[-1]
                rows += [row for row in fresh if row[0] not in old]
                records.append(Record(doc_id, documents[doc_id], method, new_ids, sources.get(doc_id, "")))
                stale += sorted(old - set(new_ids))
            if not waves[0][1]:
                report.seconds = time.perf_counter() - started
                return report  # nothing changes: no new generation, the caches stay valid
            self.store.begin(record.id for _, records, _ in waves for record in records)
            total = sum(len(rows) for rows, _, _ in waves)
            bar = tqdm(total=total, desc=f"embedding {total} chunks", unit="chunk",
                       disable=not progress or total <= batch_size)
            try:
                for rows, records, stale in waves:  # each wave is committed whole, so an interrupt keeps the others
                    self._store(rows, batch_size, bar, embedded)
                    self.store.commit(records)  # these documents change here
                    if stale:
                        self.collection.delete(ids=stale)
                        self.bm25.delete(stale)
                    report.added += len(rows)
                    report.removed += len(stale)
            except BaseException:  # an interrupt or an error mid-way: back to the last commit, caches in step
                self.store.rollback([record.id for _, records, _ in waves for record in records])
                self.store.end()
                self._generation = self.store.bump()
                self.bm25 = self._rebuild_bm25(self.bm25.backend)
                raise
            finally:
                bar.close()
            self._committed(progress, ([row[0] for rows, _, _ in waves for row in rows],
                                       [i for _, _, stale in waves for i in stale]))
        report.seconds = time.perf_counter() - started
        moved = {d: w for d, w in report.replaced.items() if w}
        if moved:
            warnings.warn("; ".join(f"{d!r} replaced: it was {w}, it is now {sources[d]}" for d, w in moved.items()),
                          stacklevel=3)
        return report

    def _committed(self, progress: bool, changed: tuple[list[str], list[str]]) -> None:
        """After a commit, under the lock: a new generation, the caches saved with it, the journal cleared."""
        before, self._generation = self._generation, self.store.bump()
        self._save_bm25(self.bm25, changed if self.bm25.stamp == before else None)
        self._sync_graph(progress)
        self.store.end()

    def _store(self, rows: list[tuple[str, str, dict[str, Any]]], batch_size: int, bar: Any = None,
               embedded: Mapping[str, str] | None = None) -> None:
        """Embed and store ``rows``; ``embedded`` gives, by chunk id, what to embed in place of a chunk's text."""
        from nbrag.models import embed

        # Batches of similar length: each batch is padded to its longest text (sentence-transformers sorts
        # within one call; across calls, this keeps short chunks out of long chunks' batches).
        rows = sorted(rows, key=lambda row: len(row[1]))
        step = min(batch_size, self.client.get_max_batch_size())
        for first in range(0, len(rows), step):
            batch = rows[first:first + step]
            ids, texts, metas = (list(x) for x in zip(*batch))
            self.collection.upsert(ids=ids, documents=texts, metadatas=metas,
                                   embeddings=embed([(embedded or {}).get(i, t) for i, t in zip(ids, texts)],
                                                    name=self.embedder))
            self.bm25.upsert(ids, texts)
            if bar is not None:
                bar.update(len(batch))

    def delete(self, document: str) -> int:
        """Remove a document and its chunks; returns how many chunks went."""
        if not isinstance(document, str):
            raise NbragTypeError(f"a {type(document).__name__}: give the document's id (a str; index.documents lists "
                                 "them).", option="document", value=document)
        with self.store.writing():
            self._refresh()
            if not self.store.records([document]):
                raise NbragError(f"no such document in index {self.name!r}.", option="document", value=document)
            ids = self.collection.get(where={"document": document}, include=[])["ids"]
            self.store.begin([document])
            self.store.forget([document])  # the document goes here; its chunks follow
            if ids:
                self.collection.delete(ids=ids)
            self.bm25.delete(ids)
            self._committed(False, ([], ids))
        return len(ids)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self.collection.count()

    @property
    def documents(self) -> list[str]:
        return self.store.all_documents()

    def document(self, document: str) -> str:
        """A document's full text."""
        record = self.store.records([document]).get(document)
        if record is None:
            raise NbragError(f"no such document in index {self.name!r}.", option="document", value=document)
        return record.text

    def document_chunks(self, document: str):
        """``document`` as this index chunked it: a :class:`~nbrag.chunking.ChunkResult` of its chunks here, in
        document order, with the chunker's metadata."""
        from nbrag.chunking.base import Chunk, ChunkResult

        record = self.store.records([document]).get(document)
        if record is None:
            raise NbragError(f"no such document in index {self.name!r}.", option="document", value=document)
        text = record.text
        metas = sorted((c["meta"] for c in self._chunks(record.chunks).values()),
                       key=lambda m: (int(m["start"]), int(m["end"])))
        chunks = [Chunk(text=text[int(m["start"]):int(m["end"])], start=int(m["start"]), end=int(m["end"]),
                        tokens=int(m.get("tokens", 0)), index=i, meta=unflat(m)) for i, m in enumerate(metas)]
        return ChunkResult(source=text, chunks=chunks, method=record.chunker, params={})

    def __repr__(self) -> str:
        return (f"Index({self.name!r}: {self.store.documents.count()} documents, {len(self)} chunks, {self.embedder}, "
                f"BM25 {self.bm25.backend} (language {self.language}), {self.where})")

    # ------------------------------------------------------------------ graph

    @property
    def graph(self):
        """The knowledge graph of this index's chunks (``build_graph()`` makes it), or None."""
        if self.path is None:
            return self._graph if self._graph is not None else _MEMORY_GRAPHS.get(self.name)
        file = self.path / "graph.json"
        seen = (file.stat().st_mtime_ns, file.stat().st_size) if file.exists() else None
        if self._graph is None or seen != self._graph_seen:  # another process may have written it
            self._graph, self._graph_seen = self._load_graph(file), seen
            graph = self._graph
            if graph is not None and graph.extractor.name == "offline" and set(graph.chunks) != self.store.chunk_ids():
                warnings.warn(f"{file} was behind the index's chunks (a write stopped before saving it): the offline "
                              "graph is brought up to date.", stacklevel=3)
                with self.store.writing():
                    graph.last_update = self._update_graph(graph, False)
        return self._graph

    def _load_graph(self, file: Path):
        """graph.json, or the graph rebuilt from its recipe when the file is unreadable or lost (an offline graph;
        an LLM graph waits for build_graph())."""
        from nbrag.graphrag import KnowledgeGraph

        recipe = self.store.state().get("graph")
        if file.exists():
            try:
                graph = KnowledgeGraph.load(file)
                graph.load_vectors(file.with_name(REPORT_VECTORS))  # what global search embedded before, if kept
                return graph
            except (OSError, ValueError, KeyError, TypeError) as error:
                problem = f"is unreadable ({type(error).__name__})"
        elif recipe:
            problem = "is missing"
        else:
            return None
        recipe = json.loads(recipe) if recipe else {}
        if recipe.get("extractor", {}).get("name") == "offline" and recipe.get("settings", {}).get("reports") != "llm":
            graph = KnowledgeGraph("offline", **recipe["settings"], **recipe["extractor"]["options"])
            warnings.warn(f"{file} {problem}: the offline graph is built again from the index's chunks.", stacklevel=4)
            with self.store.writing():
                graph.last_update = self._update_graph(graph, False)
            return graph
        warnings.warn(f"{file} {problem}: build the graph again with index.build_graph(...).", stacklevel=4)
        return None

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
        with self.store.writing():
            self._refresh()
            graph = self.graph
            if (graph is None or rebuild or fresh.extractor.name != graph.extractor.name
                    or fresh.extractor.options() != graph.extractor.options()
                    or fresh.settings() != graph.settings()  # communities and reports, and who writes the reports
                    or not isinstance(extractor, str)):
                graph = fresh
            graph.last_update = self._update_graph(graph, progress)
            try:
                recipe = json.dumps({"extractor": {"name": graph.extractor.name, "options": graph.extractor.options()},
                                     "settings": graph.settings()})
            except TypeError:  # options that are objects: the graph cannot be rebuilt without them
                recipe = json.dumps({"extractor": {"name": graph.extractor.name}})
            self._generation = self.store.bump(graph=recipe)
            self._save_bm25(self.bm25)
        return graph

    def _update_graph(self, graph: Any, progress: bool):
        """Under the lock: the graph follows the committed chunks, and is saved."""
        ids = set(self.store.committed_chunks())
        new = sorted(ids - set(graph.chunks))
        chunks = self._chunks(new)
        added = {i: (chunks[i]["text"], str(chunks[i]["meta"]["document"])) for i in new}
        update = graph.update(added, set(graph.chunks) - ids, progress=progress)
        self._graph = graph
        if self.path is None:
            _MEMORY_GRAPHS[self.name] = graph
        else:
            file = graph.save(self.path / "graph.json")
            self._graph_seen = (file.stat().st_mtime_ns, file.stat().st_size)
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

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", *, fusion: str | None = None,
               weights: Mapping[str, float] | None = None, rrf_k: int | None = None, candidates: int | None = None,
               hyde: bool | str = False, rerank: bool | str = False, generator: Any = None, graph: str = "ppr",
               graph_options: Mapping[str, Any] | None = None) -> RetrievalResult:
        """The ``k`` best chunks for ``query``.

        ``mode`` is ``bm25``, ``dense`` or ``hybrid`` (``fusion`` ``rrf``, ``minmax`` or ``zscore``,
        ``weights`` such as ``{"bm25": 0.3, "dense": 0.7}``, ``rrf_k`` for ``rrf``). Given none, hybrid
        fuses by ``minmax`` with BM25 weighted 0.3 and dense 0.7, and ``rrf`` takes ``rrf_k=5``
        (:data:`nbrag.ranking.fusion.DEFAULTS`, measured on two QA sets). Each retriever
        returns ``candidates`` items (default ``max(50, 4k)``). ``hyde=True`` (or ``"average"``)
        embeds a hypothetical answer the generator writes, averaged with the query; ``"replace"``
        embeds the answer alone. ``rerank=True`` reorders the best ``max(20, k)`` candidates by the
        generator's judgement of each; ``rerank="<cross-encoder>"`` by a sentence-transformers
        cross-encoder. ``generator`` is anything :func:`nbrag.llm.resolve` takes (None: the configured
        one; a name, a ``(model, tokenizer)`` pair, a ``complete(messages) -> str`` function).

        ``mode="graph"`` ranks chunks through the index's knowledge graph (``build_graph()``) with
        the search ``graph`` names: ``ppr`` (personalized PageRank from the query's entities and best
        dense hits), ``local`` (the query's entities and their neighbours) or ``global`` (community
        reports); ``"hybrid+graph"`` fuses it with BM25 and dense, by default by ``rrf`` (``rrf_k=5``) with
        the graph weighted 0.5, dense 0.3 and BM25 0.2. ``graph_options`` go to that search
        (e.g. ``{"dense_weight": 0}`` for PageRank from entities alone).
        """
        k = whole_number(settings.top_k if k is None else k, "k")
        if mode not in MODES:
            raise NbragError(f"choose one of {', '.join(MODES)}.", option="mode", value=mode)
        if fusion is not None and not isinstance(fusion, str):
            raise NbragTypeError("give the fusion's name: 'rrf', 'minmax' or 'zscore'.", option="fusion", value=fusion)
        if fusion is not None:
            check_fusion(fusion)
        if rrf_k is not None:
            check_rrf_k(rrf_k)
        if weights is not None and not isinstance(weights, Mapping):
            raise NbragTypeError("give a dict of retriever -> weight, e.g. {'bm25': 0.3, 'dense': 0.7}.",
                                 option="weights", value=weights)
        if candidates is not None:
            whole_number(candidates, "candidates")
        if weights and mode in ("hybrid", "hybrid+graph"):  # checked before any work; fused with the candidates
            check_weights(weights, ["bm25", "dense", "graph"] if mode == "hybrid+graph" else ["bm25", "dense"])
        if hyde not in (False, True, "average", "replace"):
            raise NbragError("give True (or 'average': the answer's embedding averaged with the query's), 'replace' "
                             "(the answer's alone) or False.", option="hyde", value=hyde)
        rerank = check_rerank(rerank)
        if graph not in GRAPH_SEARCHES:
            raise NbragError(f"choose one of {', '.join(GRAPH_SEARCHES)}.", option="graph", value=graph)
        self._refresh()  # a search never fails because a cache is behind another process's writes
        knowledge = self._searchable_graph(mode) if "graph" in mode else None
        if not isinstance(query, str) or not query.strip():
            raise NbragError("empty: write what you are looking for.", option="query", value=query)
        readable(query, "query")
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
            if trace.get("embedded") and self.path is not None:  # community reports embedded: kept beside the graph
                knowledge.save_vectors(self.path / REPORT_VECTORS)
            timings["graph"] = time.perf_counter() - t
            if len(knowledge.chunks) < len(self):
                trace["stale"] = (f"The graph has read {len(knowledge.chunks)} of the index's {len(self)} chunks; "
                                  "index.build_graph() reads the rest.")
        params = {"k": k, "fusion": settle(found, fusion).fusion if hybrid else None,
                  "weights": dict(weights) if weights else None,
                  "rrf_k": settle(found, rrf_k=rrf_k).rrf_k, "hyde": hyde, "rerank": rerank}
        if knowledge is not None:
            params["graph"] = graph
        result = RetrievalResult(query=query, mode=mode, hits=[], params=params, candidates=found,
                                 hyde=hypothetical, timings=timings, index=self, graph=trace, generator=generator)
        return self.fuse(result)

    def _query_vector(self, query: str, hyde: bool | str, generator: Any = None):
        import numpy as np

        from nbrag.models import embed_query

        if not hyde:
            return embed_query([query], name=self.embedder)[0], None
        answer = hypothetical_answer(query, generator)
        vectors = embed_query([query, answer], name=self.embedder)
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
        if params.get("rrf_k") is not None:  # checked whichever the fusion, so a bad value never waits for rrf
            check_rrf_k(params.get("rrf_k"))
        names = list(result.candidates)
        if len(names) == 1:
            ranked = list(result.candidates[names[0]])
        else:
            fused = settle(names, params["fusion"], params["weights"], params.get("rrf_k"))
            ranked = fuse(result.candidates, fused.fusion, fused.weights, fused.rrf_k)
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
        out: dict[str, dict[str, Any]] = {}
        for first in range(0, len(ids), BATCH):  # Chroma's SQLite takes so many ids per statement
            got = self.collection.get(ids=ids[first:first + BATCH], include=["documents", "metadatas"])
            out.update({i: {"text": t, "meta": m} for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])})
        return out

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
            # also for dense hits: which query words they hold (none known for a chunk another process is adding now)
            terms = self.bm25.explain(query, item) if item in self.bm25 else {}
            hits.append(Hit(id=item, text=chunk["text"], document=str(meta.pop("document")),
                            start=int(meta.pop("start")), end=int(meta.pop("end")), score=float(score), rank=rank,
                            scores=scores, ranks=ranks, terms=terms, meta=meta))
        return hits
