"""Where an index keeps what it holds: Chroma alone, safe across processes and crashes.

An index is two Chroma collections. The chunks' collection (named as the index) holds each
chunk's text, metadata and vector. The documents' collection (``nbrag-documents-<hash>``, never
searched: Chroma stores a vector per record, so each gets a one-number placeholder) holds each
document's full text, its chunker and the ids of its chunks, and in its collection metadata the
index's *generation*: a token every committed change replaces. BM25 and the knowledge graph are
caches derived from these; each saved cache carries the generation it covers and is rebuilt when
that differs, so a cache can be deleted, truncated or left behind by a crash and nothing is lost.

Writers (``add``, ``delete``) take the index's lock (a ``filelock`` beside it: one writer at a
time across processes, released by the OS if the writer dies) and follow one order: write the
journal (the documents about to change), store their new chunks, commit each document's record
(the moment a document changes), delete its old chunks, write a new generation, clear the
journal. A writer that takes the lock and finds a journal rolls those documents back to their
committed records (their uncommitted chunks go), so a process killed at any point leaves the
index as its last commit. Chroma keeps a persistent collection's vector index in memory and does
not see another process's writes (its "system constraints"); when the generation shows another
process wrote, the store reopens its client first, reading and before writing.
"""

from __future__ import annotations

import json
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbrag.errors import NbragError
from nbrag.files import lock, write_atomic
from nbrag.retrieval.documents import digest

FORMAT = 2  # 1: documents.json beside Chroma; 2: documents in Chroma
PLACEHOLDER = [0.0]  # the documents' collection is never searched
JOURNAL = "adding.json"
WAIT_NOTICE = 1.0
BATCH = 1000  # ids per Chroma call that names ids  # seconds before saying that another process is writing


def documents_collection(name: str) -> str:
    """The documents' collection of index ``name`` (a fixed-length name, so any index name has one)."""
    return f"nbrag-documents-{digest(name)}"


@dataclass
class _Place:
    """One place an index can live (a folder, a server, this process's memory), shared by every Index on it here."""

    client: Any
    seen: str | None  # the generation this client has loaded
    lock: Any
    epoch: int = 0  # bumped when the client is reopened
    persistent: bool = False  # a folder, whose client must be reopened to see other processes' writes


_PLACES: dict[tuple, _Place] = {}
_PLACES_LOCK = threading.Lock()


@dataclass
class Record:
    """A committed document: its text, the chunker that cut it, the ids of its chunks, and the file it came from."""

    id: str
    text: str
    chunker: str
    chunks: list[str]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, str | int]:
        return {"chunker": self.chunker, "chunks": json.dumps(self.chunks, ensure_ascii=False),
                "count": len(self.chunks), "source": self.source}


class Store:
    """One index's collections, generation, lock and journal."""

    def __init__(self, name: str, *, path: Path | None, memory: bool, host: str | None, port: int,
                 embedder: str, create: bool) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.name, self.path, self.embedder = name, path, embedder
        self._chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if host is not None:
            key: tuple = ("server", host, port)
            self.where = f"chroma server {host}:{port}"
        elif memory:
            key, self.where = ("memory",), "memory"
        else:
            assert path is not None
            key, self.where = ("folder", str(path.resolve())), str(path)
            if not create and not (path / "chroma").is_dir():
                raise self._missing()
        with _PLACES_LOCK:
            place = _PLACES.get(key)
            if place is None:
                if host is not None:
                    client = chromadb.HttpClient(host=host, port=port, settings=self._chroma_settings)
                elif memory:
                    client = chromadb.EphemeralClient(settings=self._chroma_settings)
                else:
                    client = self._persistent()
                file = path / "index.lock" if path is not None else None
                place = _Place(client, None, lock(file) if file is not None else threading.RLock(),
                               persistent=host is None and not memory)
                _PLACES[key] = place
        self.place = place
        self.epoch = -1
        if not create:
            from chromadb.errors import NotFoundError

            try:
                place.client.get_collection(name)
            except NotFoundError:
                raise self._missing() from None
        self._collections()

    def _missing(self) -> NbragError:
        return NbragError(f"no index named {self.name!r} at {self.where}: build it first (nbrag.Index(name).add(...) "
                          "or %nbrag index PATH --name NAME); nothing was created.", option="index", value=self.name)

    def _persistent(self) -> Any:
        import chromadb

        assert self.path is not None
        return chromadb.PersistentClient(path=str(self.path / "chroma"), settings=self._chroma_settings)

    def _collections(self) -> None:
        client = self.place.client
        self.chunks = client.get_or_create_collection(
            self.name, embedding_function=None, metadata={"hnsw:space": "cosine", "embedder": self.embedder})
        self.documents = client.get_or_create_collection(
            documents_collection(self.name), embedding_function=None,
            metadata={"nbrag": "documents", "index": self.name, "format": FORMAT})
        self.epoch = self.place.epoch

    # ------------------------------------------------------------------ generations

    def state(self) -> dict[str, Any]:
        """The documents' collection's metadata as stored now (read fresh: other processes change it)."""
        return dict(self.place.client.get_collection(documents_collection(self.name)).metadata or {})

    def generation(self) -> str:
        return str(self.state().get("generation", ""))

    def refresh(self) -> str:
        """The current generation, after reopening the client if another process wrote since it loaded."""
        place = self.place
        now = self.generation()
        if place.seen is None:
            place.seen = now
        elif now != place.seen:
            if place.persistent:  # a folder: Chroma's in-memory vector index is behind (a server sees every write)
                self._reopen()
            place.seen = now
        if self.epoch != place.epoch:
            self._collections()
        return now

    def _reopen(self) -> None:
        """A fresh client on the folder: Chroma's shared system for it is stopped and forgotten first, or the new
        client would get the same stale one (there is no public call for one path; clear_system_cache drops all)."""
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = self.place.client._identifier
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        if system is not None:
            system.stop()
        self.place.client = self._persistent()
        self.place.epoch += 1
        self._collections()

    def bump(self, **state: Any) -> str:
        """Write a new generation (and any other state, e.g. the graph's recipe); returns it."""
        generation = uuid.uuid4().hex
        self.documents.modify(metadata={**self.state(), **state, "generation": generation, "format": FORMAT})
        self.place.seen = generation
        return generation

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the index's lock: refreshed, with any interrupted add rolled back first."""
        from filelock import Timeout

        held = self.place.lock
        try:
            got = held.acquire(timeout=WAIT_NOTICE)
        except Timeout:
            got = False
        if not got:
            print(f"Waiting for another process to finish writing to index {self.name!r} ({self.where}) ...")
            held.acquire()
        try:
            self.refresh()
            self.recover()
            yield
        finally:
            held.release()

    def tidy(self, documents_file: Path | None) -> None:
        """On opening: migrate the first format and roll back an interrupted write, if no writer is at work now (a
        live writer holds the lock and finishes its own write; opening never waits for it)."""
        from filelock import Timeout

        held = self.place.lock
        try:
            got = held.acquire(timeout=0)
        except Timeout:
            got = False
        if not got:
            return
        try:
            self.refresh()
            self.recover()
            self.migrate(documents_file)
        finally:
            held.release()

    def begin(self, ids: Iterable[str]) -> None:
        """The journal: these documents are about to change."""
        if self.path is not None:
            write_atomic(self.path / JOURNAL, json.dumps(sorted(ids), ensure_ascii=False))
        else:
            self._pending = sorted(ids)

    def end(self) -> None:
        if self.path is not None:
            (self.path / JOURNAL).unlink(missing_ok=True)
        else:
            self._pending = []

    def recover(self) -> int:
        """Roll the documents of an interrupted write back to their committed records; how many chunks went."""
        pending = self._journal()
        if pending is None:
            return 0
        removed = self.rollback(pending)
        self.bump()
        self.end()
        warnings.warn(f"index {self.name!r}: a write to {len(pending)} document(s) was interrupted (a process stopped "
                      f"mid-way); rolled back to the last commit, {removed} uncommitted chunk(s) removed.",
                      stacklevel=4)
        return removed

    def rollback(self, ids: list[str]) -> int:
        """Remove the chunks of documents ``ids`` that their committed records do not list."""
        keep = {c for record in self.records(ids).values() for c in record.chunks}
        removed = 0
        for first in range(0, len(ids), BATCH):
            found = self.chunks.get(where={"document": {"$in": ids[first:first + BATCH]}}, include=[])
            stray = [i for i in found["ids"] if i not in keep]
            if stray:
                self.chunks.delete(ids=stray)
                removed += len(stray)
        return removed

    def _journal(self) -> list[str] | None:
        if self.path is None:
            return getattr(self, "_pending", None) or None
        file = self.path / JOURNAL
        if not file.exists():
            return None
        try:
            ids = json.loads(file.read_text(encoding="utf-8"))
            return [str(i) for i in ids] if isinstance(ids, list) else self.all_documents()
        except (OSError, ValueError):  # a journal cut short: every document is checked
            return self.all_documents()

    def commit(self, records: list[Record]) -> None:
        for first in range(0, len(records), 256):
            part = records[first:first + 256]
            self.documents.upsert(ids=[r.id for r in part], documents=[r.text for r in part],
                                  metadatas=[r.metadata() for r in part], embeddings=[PLACEHOLDER] * len(part))

    def forget(self, ids: list[str]) -> None:
        if ids:
            self.documents.delete(ids=ids)

    # ------------------------------------------------------------------ reading

    def all_documents(self) -> list[str]:
        return sorted(self.documents.get(include=[])["ids"])

    def records(self, ids: list[str] | None = None) -> dict[str, Record]:
        if ids is not None and len(ids) > BATCH:  # Chroma's SQLite takes so many ids per statement
            parts = (self.records(ids[first:first + BATCH]) for first in range(0, len(ids), BATCH))
            return {i: r for part in parts for i, r in part.items()}
        if ids is not None and not ids:
            return {}
        got = self.documents.get(ids=ids, include=["documents", "metadatas"])
        return {i: Record(i, t or "", str(m.get("chunker", "")), json.loads(m.get("chunks", "[]")),
                          str(m.get("source", "")))
                for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])}

    def chunk_ids(self) -> set[str]:
        """The ids of every committed chunk."""
        got = self.documents.get(include=["metadatas"])
        return {c for m in got["metadatas"] for c in json.loads(m.get("chunks", "[]"))}

    def committed_chunks(self) -> dict[str, str]:
        """Every committed chunk's id -> text (what BM25 indexes)."""
        listed = self.chunk_ids()
        got = self.chunks.get(include=["documents"])
        return {i: t for i, t in zip(got["ids"], got["documents"]) if i in listed}

    # ------------------------------------------------------------------ the first format

    def migrate(self, documents_file: Path | None) -> None:
        """An index written with documents.json beside Chroma (format 1): its documents become records.

        Documents the file lacks (it was lost, cut short, or behind) get their text back from their chunks at their
        offsets, with spaces where no chunk covers the text; a warning names the file and what was done."""
        if self.documents.count() or not self.chunks.count():
            return
        saved: dict[str, Any] = {}
        problem = ""
        if documents_file is not None and documents_file.exists():
            try:
                saved = json.loads(documents_file.read_text(encoding="utf-8"))
                if not isinstance(saved, dict):
                    saved, problem = {}, "not a JSON object"
            except (OSError, ValueError) as error:
                problem = f"unreadable: {type(error).__name__}"
        elif documents_file is not None:
            problem = "missing"
        got = self.chunks.get(include=["documents", "metadatas"])
        by_document: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for i, t, m in zip(got["ids"], got["documents"], got["metadatas"]):
            by_document.setdefault(str(m["document"]), []).append((i, t, m))
        records, pieced = [], []
        for doc_id, chunks in sorted(by_document.items()):
            kept = saved.get(doc_id)
            if isinstance(kept, dict) and isinstance(kept.get("text"), str):
                text, chunker = kept["text"], str(kept.get("chunker", ""))
            else:
                text, chunker = _piece_together(chunks), str(chunks[0][2].get("chunker", ""))
                pieced.append(doc_id)
            records.append(Record(doc_id, text, chunker, sorted(i for i, _, _ in chunks)))
        self.commit(records)
        self.bump()
        if documents_file is not None and documents_file.exists():
            documents_file.replace(documents_file.with_name("documents.json.migrated"))
        if pieced:
            warnings.warn(f"index {self.name!r}: {documents_file} was {problem or 'behind the index'}; the text of "
                          f"{len(pieced)} document(s) was pieced together from their chunks (text no chunk held is "
                          "blank). Add those documents again to restore it.", stacklevel=4)


def _piece_together(chunks: list[tuple[str, str, dict[str, Any]]]) -> str:
    end = max(int(m["end"]) for _, _, m in chunks)
    text = [" "] * end
    for _, t, m in chunks:
        start = int(m["start"])
        text[start:start + len(t)] = list(t)
    return "".join(text)[:end]
