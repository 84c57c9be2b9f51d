"""Nothing lost: Chroma is the one source of truth of an index, across processes, crashes and damaged side files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from nbrag.errors import NbragError
from nbrag.retrieval import Index
from nbrag.retrieval.store import JOURNAL, documents_collection

ROOT = Path(__file__).resolve().parents[2]
TOPICS = {
    "tides": "The moon raises the tides twice a day. Spring tides come at new and full moon.",
    "bread": "Yeast makes the dough rise. Bakers knead bread to build gluten.",
    "bees": "Honey bees dance to tell the hive where the flowers are.",
    "glass": "Glass is made by melting sand with soda and lime.",
    "rust": "Iron rusts when water and oxygen reach it; paint keeps them out.",
    "owls": "Owls hunt at night and hear mice under the snow.",
}


def documents(prefix: str, n: int) -> dict[str, str]:
    """n documents, each long enough for several chunks, about the topics in turn."""
    names = list(TOPICS)
    return {f"{prefix}-{i}": " ".join([f"Note {i} of {prefix}.", TOPICS[names[i % len(names)]]] * 6)
            for i in range(n)}


def consistent(index: Index) -> dict[str, set[str]]:
    """Asserts what must always hold, and returns each document's chunks."""
    records = index.store.records()
    listed = {c for r in records.values() for c in r.chunks}
    stored = set(index.collection.get(include=[])["ids"])
    assert stored == listed, f"stray: {sorted(stored - listed)[:3]}, missing: {sorted(listed - stored)[:3]}"
    assert set(index.bm25.ids) == stored
    if index.graph is not None:
        assert set(index.graph.chunks) == stored
    return {d: set(r.chunks) for d, r in records.items()}


CHILD = textwrap.dedent("""
    import json, os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.retrieval.test_store import documents
    from nbrag.retrieval import Index
    from nbrag.retrieval import store
    prefix, n, kill_at = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    index = Index("shared", path={path!r})
    calls = {{"embed": 0, "commit": 0, "bump": 0, "delete": 0}}
    def killing(kind, real):
        def wrapped(*args, **kwargs):
            calls[kind] += 1
            if kill_at == f"{{kind}}:{{calls[kind]}}":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapped
    from nbrag import models
    models.embed = killing("embed", models.embed)
    store.Store.commit = killing("commit", store.Store.commit)
    store.Store.bump = killing("bump", store.Store.bump)
    index.collection.delete = killing("delete", index.collection.delete)
    report = index.add(documents(prefix, n), chunker="fixed", size=16, overlap=0, batch_size=4, progress=False)
    hits = index.search("Which animal hears mice under the snow?", k=3)
    print(json.dumps({{"added": report.added, "top": hits[0].document, "documents": len(index.documents)}}))
""")


def child(tmp_path: Path, prefix: str, n: int, kill_at: str = "") -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), path=str(tmp_path / "index")), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, str(script), prefix, str(n), kill_at], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_two_processes_add_to_one_index_at_once_and_nothing_is_lost(tmp_path):
    first = Index("shared", path=tmp_path / "index")
    first.add({"seed": TOPICS["owls"]}, chunker="fixed", size=16, overlap=0, progress=False)
    first.build_graph(progress=False)
    a, b = child(tmp_path, "a", 12), child(tmp_path, "b", 12)
    for process in (a, b):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        assert json.loads(out.splitlines()[-1])["documents"] >= 13
    # This process saw neither write: its search follows them (Chroma reopened, BM25 and graph rebuilt or reloaded).
    hits = first.search("Which animal hears mice under the snow?", k=50)
    assert {h.document.split("-")[0] for h in hits} >= {"a", "b", "seed"}
    chunks = consistent(first)
    assert set(chunks) == {"seed", *documents("a", 12), *documents("b", 12)}
    assert first.graph is not None and set(first.graph.chunks) == {c for ids in chunks.values() for c in ids}
    graph = first.search("owls and mice", k=5, mode="graph")
    assert len(graph) == 5
    reopened = Index("shared", path=tmp_path / "index")
    assert consistent(reopened) == chunks


@pytest.mark.parametrize("kill_at", ["embed:2", "commit:1", "commit:2", "delete:1", "bump:1"])
def test_a_process_killed_mid_add_leaves_what_was_committed(tmp_path, kill_at):
    seed = Index("shared", path=tmp_path / "index")
    # "a-0" is there already with other text, so the add replaces it: its old chunks must survive a kill before the
    # commit and be gone after it.
    seed.add({"a-0": TOPICS["glass"]}, chunker="fixed", size=16, overlap=0, progress=False)
    seed.build_graph(progress=False)
    before = consistent(seed)
    process = child(tmp_path, "a", 24, kill_at)
    process.communicate(timeout=600)
    assert process.returncode == -signal.SIGKILL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reopened = Index("shared", path=tmp_path / "index")
        chunks = consistent(reopened)
    assert (tmp_path / "index" / JOURNAL).exists() is False
    assert any("interrupted" in str(w.message) for w in caught)
    wanted = documents("a", 24)
    for doc_id, ids in chunks.items():  # every document is as one add or the other left it, whole
        assert reopened.document(doc_id) in (wanted.get(doc_id), TOPICS["glass"] if doc_id == "a-0" else None)
        assert ids == set(reopened.collection.get(where={"document": doc_id}, include=[])["ids"])
    if kill_at == "embed:2":  # before the first commit: exactly what was there
        assert chunks == before
    reopened.add(wanted, chunker="fixed", size=16, overlap=0, batch_size=4, progress=False)
    done = consistent(reopened)
    assert set(done) == set(wanted) and all(reopened.document(d) == t for d, t in wanted.items())


def test_side_files_that_are_damaged_or_lost_are_rebuilt_with_a_warning(tmp_path):
    index = Index("healing", path=tmp_path)
    index.add(documents("d", 4), chunker="fixed", size=16, overlap=0, progress=False)
    index.build_graph(progress=False)
    expected = consistent(index)
    top = index.search("where are the flowers", k=3)[0].id
    for damage in (lambda f: f.write_bytes(f.read_bytes()[:100]), lambda f: f.write_bytes(b""),
                   lambda f: f.write_bytes(b"\xff\xfe\x00garbage"), lambda f: f.unlink()):
        for name in ("bm25", "graph.json"):
            damage(tmp_path / name)
        with pytest.warns(UserWarning) as caught:
            reopened = Index("healing", path=tmp_path)
            assert reopened.graph is not None  # the offline graph is built again from its recipe
        messages = [str(w.message) for w in caught]
        assert any(str(tmp_path / "bm25") in m and "rebuilt" in m for m in messages)
        assert any(str(tmp_path / "graph.json") in m and "built again" in m for m in messages)
        assert consistent(reopened) == expected
        assert reopened.search("where are the flowers", k=3)[0].id == top
        reopened.add({"new": TOPICS["bees"]}, progress=False)  # an add after the damage works too
        reopened.delete("new")


def test_an_index_of_the_first_format_is_migrated(tmp_path):
    index = Index("old", path=tmp_path)
    docs = documents("o", 3)
    index.add(docs, chunker="fixed", size=16, overlap=0, progress=False)
    chunks = consistent(index)
    # What the first format kept: the chunks in Chroma, the documents in documents.json, no documents' collection.
    index.client.delete_collection(documents_collection("old"))
    (tmp_path / "documents.json").write_text(json.dumps({d: {"text": t, "chunker": "fixed"} for d, t in docs.items()}))
    del index
    from nbrag.retrieval import store

    store._PLACES.clear()
    migrated = Index("old", path=tmp_path)
    assert consistent(migrated) == chunks and all(migrated.document(d) == t for d, t in docs.items())
    assert not (tmp_path / "documents.json").exists() and (tmp_path / "documents.json.migrated").exists()


def test_a_lost_documents_file_is_pieced_together_from_the_chunks(tmp_path):
    index = Index("older", path=tmp_path)
    docs = {"one": "Alpha beta gamma. " * 30}
    index.add(docs, chunker="fixed", size=16, overlap=0, progress=False)
    index.client.delete_collection(documents_collection("older"))
    (tmp_path / "documents.json").write_text('{"one": {"te')  # cut short
    from nbrag.retrieval import store

    store._PLACES.clear()
    with pytest.warns(UserWarning, match="documents.json was unreadable.*pieced together"):
        migrated = Index("older", path=tmp_path)
    text = migrated.document("one")
    hit = migrated.search("gamma", k=1)[0]
    assert text[hit.start:hit.end] == hit.text and len(text) <= len(docs["one"])


def test_ids_cannot_collide_silently(tmp_path):
    for folder in ("c1", "c2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text(f"Notes kept in {folder} about tides.", encoding="utf-8")
    index = Index("ids", memory=True)
    report = index.add_files([tmp_path / "c1", tmp_path / "c2"], progress=False)
    assert index.documents == ["c1/notes.txt", "c2/notes.txt"] and report.documents == 2
    assert "c2" in index.document("c2/notes.txt")
    with pytest.raises(NbragError, match=r"^ids: the id 'a' is given twice \(texts 0 and 2\)"):
        index.add(["one", "two", "three"], ids=["a", "b", "a"])
    assert index.documents == ["c1/notes.txt", "c2/notes.txt"]  # nothing was added
    index.add_files(tmp_path / "c2", progress=False)  # id notes.txt, from c2
    with pytest.warns(UserWarning, match=r"'notes.txt' replaced: it was .*c2/notes.txt, it is now .*c1/notes.txt"):
        report = index.add_files(tmp_path / "c1" / "notes.txt", progress=False)
    assert list(report.replaced) == ["notes.txt"] and "replaced 1: notes.txt (was " in repr(report)
    assert index.add(["same", "same"]).documents == 1  # the same text twice without ids is one document


def test_an_index_that_does_not_exist_is_not_created(tmp_path):
    with pytest.raises(NbragError, match=r"^index='nowhere': no index named 'nowhere' .*nothing was created"):
        Index("nowhere", path=tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(NbragError, match=r"^name="):
        Index("x", path=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_bm25s_saved_log_holds_what_a_rebuild_holds(tmp_path):
    index = Index("logged", path=tmp_path)
    index.add(documents("l", 4), chunker="fixed", size=16, overlap=0, progress=False)
    snapshot = (tmp_path / "bm25").stat().st_size
    index.add({"l-1": TOPICS["rust"], "extra": TOPICS["bees"]}, chunker="fixed", size=16, overlap=0, progress=False)
    index.delete("l-2")
    lines = (tmp_path / "bm25").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and (tmp_path / "bm25").stat().st_size < 2 * snapshot  # two changes appended
    from nbrag.ranking.bm25 import BM25

    loaded = BM25.load(tmp_path / "bm25")
    assert loaded.stamp == index.store.generation()
    assert dict(zip(loaded.ids, map(loaded._texts.get, loaded.ids))) == index.store.committed_chunks()
    query = "rust paint iron bees"
    assert loaded.search(query, 10) == index._rebuild_bm25("bm25s").search(query, 10)
    with (tmp_path / "bm25").open("a", encoding="utf-8") as f:  # a line torn by a crash
        f.write('{"stamp": "x", "upsert": [["l-0#1", "tor')
    reopened = Index("logged", path=tmp_path)
    assert set(reopened.bm25.ids) == set(index.store.committed_chunks())
