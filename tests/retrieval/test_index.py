"""The index: Chroma and BM25 in step, persistence, ingest, search modes and fusion, on real text."""

import itertools
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbrag
from nbrag import errors
from nbrag.chunking import chunk
from nbrag.data import sample_documents
from nbrag.errors import NbragError
from nbrag.ranking.fusion import DEFAULTS, FUSIONS, contributions, default, fuse, settle
from nbrag.retrieval import Index, check_name
from nbrag.retrieval.documents import read_document
from nbrag.retrieval.index import WAVE

_names = itertools.count()


def fresh(prefix="t"):
    return f"{prefix}-{next(_names)}-{time.monotonic_ns()}"


@pytest.fixture(scope="module")
def docs():
    return sample_documents()


@pytest.fixture(scope="module")
def index(docs):
    idx = Index(fresh("samples"), memory=True)
    idx.add(docs, chunker="recursive", size=128, progress=False)
    return idx


def test_every_mode_finds_the_passage_and_keeps_every_score(index):
    query = "How is a tipping-bucket rain gauge emptied?"
    for mode in ("bm25", "dense", "hybrid"):
        result = index.search(query, k=3, mode=mode)
        assert len(result) == 3 and [h.rank for h in result] == [1, 2, 3]
        top = result[0]
        assert top.document == "weather_station" and "tipping" in top.text.lower()
        assert index.document(top.document)[top.start:top.end] == top.text
    hybrid = index.search(query, k=3)
    top = hybrid[0]
    assert set(top.scores) == {"bm25", "dense"} and set(top.ranks) == {"bm25", "dense"}
    assert "tip" in top.terms and abs(sum(top.terms.values()) - top.scores["bm25"]) < 1e-4  # "tipping", stemmed
    assert hybrid.params["fusion"] == "minmax" and hybrid.params["rrf_k"] == 5  # the defaults, as the magic's
    scaled = {}  # min-max, BM25 weighted 0.3 and dense 0.7, each retriever's scores scaled over its candidates
    for name in ("bm25", "dense"):
        scores = dict(hybrid.candidates[name])
        low, high = min(scores.values()), max(scores.values())
        scaled[name] = (scores[top.id] - low) / (high - low)
    assert top.score == pytest.approx(0.3 * scaled["bm25"] + 0.7 * scaled["dense"])
    assert hybrid.weights() == pytest.approx({"bm25": 0.3, "dense": 0.7}) and hybrid.params["weights"] is None
    assert hybrid.candidates["bm25"][0][1] >= hybrid.candidates["bm25"][-1][1]
    old = index.search(query, k=3, fusion="rrf", weights={"bm25": 1, "dense": 1}, rrf_k=60)  # every option is kept
    assert old[0].score == pytest.approx(1 / (60 + old[0].ranks["bm25"]) / 2 + 1 / (60 + old[0].ranks["dense"]) / 2)
    rrf = index.search(query, k=3, fusion="rrf")  # another fusion than the default's: equal weights, rrf_k 5
    assert rrf.params["rrf_k"] == 5 and rrf.weights() == pytest.approx({"bm25": 0.5, "dense": 0.5})
    assert rrf[0].score == pytest.approx(sum(0.5 / (5 + rrf[0].ranks[n]) for n in rrf[0].ranks))
    assert hybrid.fuse(fusion="zscore").weights() == pytest.approx({"bm25": 0.5, "dense": 0.5})


def test_weights_and_fusions_reorder_the_same_candidates(index):
    result = index.search("lens that bends light into a beam", k=10, mode="hybrid")
    bm25_only = result.fuse(weights={"bm25": 1.0, "dense": 0.0})
    dense_only = result.fuse(weights={"bm25": 0.0, "dense": 1.0}, fusion="minmax")
    assert [h.id for h in bm25_only] == [i for i, _ in result.candidates["bm25"][:10]]
    assert [h.id for h in dense_only] == [i for i, _ in result.candidates["dense"][:10]]
    assert bm25_only.candidates is result.candidates  # no new search
    z = result.fuse(fusion="zscore")
    assert z.params["fusion"] == "zscore" and len(z) == 10
    assert len(result.fuse(k=3)) == 3
    with pytest.raises(NbragError, match=r"^weights=\{'bm25': 0, 'dense': 0\}: give numbers of at least 0 with a "
                                         r"positive sum"):
        result.fuse(weights={"bm25": 0, "dense": 0})
    with pytest.raises(NbragError, match=r"^weights=\{'bm25': 1, 'sparse': 1\}: sparse is not a retriever here: "
                                         r"weigh bm25, dense\.$"):
        result.fuse(weights={"bm25": 1, "sparse": 1})
    with pytest.raises(NbragError, match=r"^fusion='borda': choose one of rrf, minmax, zscore\.$"):
        result.fuse(fusion="borda")
    with pytest.raises(NbragError, match=r"^rrf_k=-1: give a whole number of at least 0"):
        result.fuse(rrf_k=-1)
    with pytest.raises(NbragError, match=r"^query='x': changes what is searched: search again with it"):
        result.fuse(query="x")


def test_refuse_is_fuse_under_its_old_name(index, monkeypatch):
    monkeypatch.setattr(errors, "_warned", set())
    result = index.search("lens that bends light into a beam", k=5, mode="hybrid")
    with pytest.warns(FutureWarning, match=r"RetrievalResult\.refuse is now RetrievalResult\.fuse"):
        again = result.refuse(weights={"bm25": 1.0, "dense": 0.0})
    assert again.ids == result.fuse(weights={"bm25": 1.0, "dense": 0.0}).ids


def test_every_default_is_a_registered_fusion_with_weights_summing_to_one():
    for names, chosen in DEFAULTS.items():
        assert chosen.fusion in FUSIONS and set(chosen.weights) == names and chosen.rrf_k >= 0
        assert sum(chosen.weights.values()) == pytest.approx(1.0)
    assert default(["bm25", "dense"]) is DEFAULTS[frozenset({"bm25", "dense"})] == default(["dense", "bm25"])
    other = default(["dense", "graph"])  # a set without a measured default: RRF, equal weights
    assert (other.fusion, other.weights) == ("rrf", {"dense": 0.5, "graph": 0.5})
    asked = settle(["bm25", "dense"], "zscore")  # the measured weights go with the measured fusion only
    assert (asked.fusion, asked.weights, asked.rrf_k) == ("zscore", {"bm25": 0.5, "dense": 0.5}, 5)
    given = settle(["bm25", "dense"], "rrf", {"bm25": 2, "dense": 1}, 60)
    assert (given.fusion, given.weights, given.rrf_k) == ("rrf", {"bm25": 2, "dense": 1}, 60)
    assert settle(["bm25", "dense"]) == DEFAULTS[frozenset({"bm25", "dense"})]


def test_hybrid_plus_graph_fuses_by_rank_with_the_graph_weighted_most(docs):
    idx = Index(fresh("graph"), memory=True)
    idx.add(docs, chunker="recursive", size=128, progress=False)
    idx.build_graph(progress=False)
    result = idx.search("How is a tipping-bucket rain gauge emptied?", k=5, mode="hybrid+graph")
    assert set(result.candidates) == {"bm25", "dense", "graph"}
    assert (result.params["fusion"], result.params["rrf_k"], result.params["weights"]) == ("rrf", 5, None)
    weights = result.weights()
    assert weights == pytest.approx({"bm25": 0.2, "dense": 0.3, "graph": 0.5})
    for hit in result:  # each retriever that returned the hit adds its weight / (5 + its rank)
        assert hit.score == pytest.approx(sum(weights[r] / (5 + rank) for r, rank in hit.ranks.items()))
    assert result.fuse(fusion="minmax").params["fusion"] == "minmax"  # the other fusions stay one option away


def test_fusion_by_hand():
    candidates = {"bm25": [("a", 9.0), ("b", 3.0)], "dense": [("b", 0.9), ("c", 0.5), ("a", 0.1)]}
    rrf = dict(fuse(candidates, "rrf", {"bm25": 1, "dense": 1}, rrf_k=0))
    assert rrf == pytest.approx({"a": (1 / 1 + 1 / 3) / 2, "b": (1 / 2 + 1 / 1) / 2, "c": (1 / 2) / 2})
    minmax = dict(fuse(candidates, "minmax", {"bm25": 3, "dense": 1}))
    assert minmax == pytest.approx({"a": 0.75 * 1 + 0.25 * 0, "b": 0.75 * 0 + 0.25 * 1, "c": 0.75 * 0 + 0.25 * 0.5})
    parts = contributions(candidates, "rrf", {"bm25": 1, "dense": 1}, rrf_k=0)
    assert parts["c"] == pytest.approx({"bm25": 0.0, "dense": (1 / 2) / 2})  # absent from BM25: no part
    parts = contributions(candidates, "minmax", {"bm25": 3, "dense": 1})
    assert parts["c"] == pytest.approx({"bm25": 0.0, "dense": 0.25 * 0.5})
    for how in ("rrf", "minmax", "zscore"):
        fused = dict(fuse(candidates, how, {"bm25": 1, "dense": 2}))
        parts = contributions(candidates, how, {"bm25": 1, "dense": 2})
        assert {item: sum(p.values()) for item, p in parts.items()} == pytest.approx(fused)


@pytest.mark.parametrize("how", ["rrf", "minmax", "zscore"])
def test_a_retriever_with_one_candidate_still_lifts_it(how):
    """BM25 finding one passage alone (a rare word) is a strong signal, not a tie with every passage it missed."""
    candidates = {"bm25": [("rare", 7.5)], "dense": [("b", 0.62), ("rare", 0.60), ("a", 0.59), ("c", 0.2)]}
    assert fuse(candidates, how, {"bm25": 1, "dense": 0})[0][0] == "rare"
    assert fuse(candidates, how, {"bm25": 0.3, "dense": 0.7})[0][0] == "rare"
    tied = {"bm25": [("x", 2.0), ("y", 2.0)], "dense": [("z", 0.9), ("y", 0.5), ("x", 0.1)]}
    assert {i for i, _ in fuse(tied, how, {"bm25": 1, "dense": 0})[:2]} == {"x", "y"}
    parts = contributions(candidates, how, {"bm25": 0.3, "dense": 0.7})
    assert {i: sum(p.values()) for i, p in parts.items()} == pytest.approx(dict(fuse(candidates, how,
                                                                                       {"bm25": 0.3, "dense": 0.7})))


def test_a_chinese_query_finds_the_chinese_passage(index, docs):
    storage = docs["tea"].index("## 八、储存")  # the last section: storage
    bm25 = index.search("绿茶应该怎样储存？", k=3, mode="bm25")
    assert bm25[0].document == "tea" and bm25[0].start >= storage and "储存" in bm25[0].terms
    dense = index.search("绿茶应该怎样储存？", k=3, mode="dense")  # MiniLM is an English model, yet:
    assert dense[0].document == "tea" and dense[0].start >= storage
    assert {h.document for h in index.search("绿茶应该怎样储存？", k=3)} == {"tea"}


def test_reopening_gives_the_same_results_and_rerunning_adds_nothing(tmp_path, docs):
    name = fresh("disk")
    first = Index(name, path=tmp_path)
    report = first.add(docs, chunker="fixed", size=96, overlap=8, progress=False)
    assert report.added == len(first) > 30 and report.unchanged == 0
    before = [(h.id, round(h.score, 6)) for h in first.search("Fresnel lens orders", k=5)]
    again = first.add(docs, chunker="fixed", size=96, overlap=8, progress=False)
    assert again.added == 0 and again.unchanged == report.added and len(first) == report.added
    del first
    reopened = Index(name, path=tmp_path)
    assert len(reopened) == report.added and reopened.documents == sorted(docs)
    assert [(h.id, round(h.score, 6)) for h in reopened.search("Fresnel lens orders", k=5)] == before
    # A document added again with other text replaces its chunks; delete removes them.
    changed = reopened.add({"tea": "绿茶要冷藏。红茶放在干燥处。"}, chunker="fixed", size=96, progress=False)
    assert changed.removed > 0 and changed.added == 1
    assert reopened.search("冷藏", k=1, mode="bm25")[0].text == "绿茶要冷藏。红茶放在干燥处。"
    assert reopened.delete("tea") == 1 and "tea" not in reopened.documents
    assert set(reopened.bm25.ids) == set(reopened.collection.get(include=[])["ids"])


def test_an_interrupted_ingest_leaves_bm25_and_chroma_in_step(tmp_path, docs, monkeypatch):
    from nbrag import models

    name = fresh("interrupted")
    index = Index(name, path=tmp_path)
    real, calls = models.embed, []
    total = sum(len(chunk(text, method="fixed", size=64, overlap=0).chunks) for text in docs.values())

    def embed_then_interrupt(texts, **kwargs):
        calls.append(len(texts))
        if sum(calls) == total:  # the last batch
            raise KeyboardInterrupt
        return real(texts, **kwargs)

    monkeypatch.setattr(models, "embed", embed_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        index.add(docs, chunker="fixed", size=64, overlap=0, batch_size=4, progress=False)
    # The documents of the first wave (WAVE batches or more) were committed and stay; the last wave's are rolled back.
    stored = set(index.collection.get(include=[])["ids"])
    committed = {c for d in index.documents for c in index.store.records([d])[d].chunks}
    assert WAVE * 4 <= len(stored) < total and stored == committed and set(index.bm25.ids) == stored
    assert index.documents and set(index.documents) < set(docs)
    monkeypatch.setattr(models, "embed", real)
    reopened = Index(name, path=tmp_path)
    assert set(reopened.bm25.ids) == stored
    finished = reopened.add(docs, chunker="fixed", size=64, overlap=0, batch_size=4, progress=False)
    assert finished.unchanged == len(stored) and len(reopened) == len(stored) + finished.added


def test_files_and_folders(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Tides\n\nThe moon raises the tides twice a day.\n", encoding="utf-8")
    (folder / "sub" / "b.html").write_text("<html><script>var x = 'tides';</script><h1>Bread</h1>"
                                           "<p>Yeast makes the dough rise.</p></html>", encoding="utf-8")
    (folder / "c.bin").write_bytes(b"\x00\x01")
    index = Index(fresh("files"), memory=True)
    report = index.add_files(folder, chunker="structure", progress=False)
    assert index.documents == ["a.md", "sub/b.html"] and report.skipped == [str(folder / "c.bin")]
    assert "var x" not in index.document("sub/b.html") and "Yeast makes the dough rise." in index.document("sub/b.html")
    assert index.search("why does dough rise", k=1)[0].document == "sub/b.html"
    with pytest.raises(NbragError, match=r"^paths='.*/nope': no such file or folder\.$"):
        index.add_files(tmp_path / "nope")
    with pytest.raises(NbragError, match=r"^path='.*c\.bin': nbrag reads \.txt, \.md, .* \.pdf files, not \.bin\."):
        read_document(folder / "c.bin")


def test_bad_input_gets_clear_errors_or_empty_results(index):
    empty = Index(fresh("empty"), memory=True)
    assert len(empty.search("anything", k=5)) == 0
    assert len(index.search("rain gauge", k=10_000, mode="bm25")) <= len(index)
    with pytest.raises(NbragError, match=r"^mode='vector': choose one of bm25, dense, hybrid, graph, hybrid\+graph\.$"):
        index.search("x", mode="vector")
    with pytest.raises(NbragError, match=r"^query='   ': empty: write what you are looking for\.$"):
        index.search("   ")
    with pytest.raises(NbragError, match=r"^k=0: give a whole number of at least 1\.$"):
        index.search("x", k=0)
    with pytest.raises(NbragError, match=r"^hyde='sometimes': give True"):
        index.search("x", hyde="sometimes")
    with pytest.raises(NbragError, match=r"^rerank='': give True \(the generator judges each passage\)"):
        index.search("x", rerank="")
    with pytest.raises(NbragError, match=r"^graph='far': choose one of ppr, local, global\.$"):
        index.search("x", graph="far")
    with pytest.raises(NbragError, match=r"^mode='graph': index '.*' has no knowledge graph yet: build it with "):
        empty.search("x", mode="graph")
    with pytest.raises(NbragError, match=r"^name='ab': not a name Chroma allows: .* Try 'ab-index'\.$"):
        check_name("ab")
    with pytest.raises(NbragError, match="Try 'my-notes'"):
        Index("my notes!", memory=True)
    with pytest.raises(NbragError, match=r"^bm25='bm26': choose one of bm25s, "):
        Index(fresh("backend"), memory=True, bm25="bm26")
    with pytest.raises(TypeError, match=r"^texts: holds a bytes: Index.add takes text \(str\)"):
        empty.add([b"bytes"])
    with pytest.raises(NbragError, match=r"^document='nope': no such document in index"):
        empty.delete("nope")
    with pytest.raises(NbragError, match=r"^document='nope': no such document in index"):
        empty.document_chunks("nope")


def test_an_index_remembers_its_embedder(tmp_path):
    name = fresh("embedder")
    Index(name, path=tmp_path)
    with pytest.raises(NbragError, match=r"^embedder='some/other-model': index '.*' was built with the embedder "
                                         r"'all-MiniLM-L6-v2'"):
        Index(name, path=tmp_path, embedder="some/other-model")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_chroma_server_through_http_client(tmp_path, docs):
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists() and not shutil.which("chroma"):
        pytest.skip("the chroma command is not installed")
    port = _free_port()
    server = subprocess.Popen([str(chroma if chroma.exists() else "chroma"), "run", "--path", str(tmp_path / "db"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                index = Index("served", host="127.0.0.1", port=port, path=tmp_path / "local")
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        index.add({"lighthouses": docs["lighthouses"]}, chunker="recursive", size=128, progress=False)
        top = index.search("Who automated the lighthouses?", k=3)
        assert len(top) == 3 and top[0].document == "lighthouses"
        assert "chroma server" in repr(index)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_dataframes_are_documents():
    pd = pytest.importorskip("pandas")
    index = Index(fresh("frame"), memory=True)
    index.add(pd.DataFrame({"id": ["x", "y"], "text": ["Owls hunt at night.", "Bees make honey."]}), progress=False)
    assert index.documents == ["x", "y"] and index.search("honey", k=1)[0].document == "y"


def test_nbrag_index_is_the_class():
    assert nbrag.Index is Index


def test_an_in_memory_index_opened_again_in_the_session_is_the_same(docs):
    name = fresh("memory")
    Index(name, memory=True).add({"tea": docs["tea"]}, chunker="fixed", size=128, progress=False)
    again = Index(name, memory=True)
    assert again.documents == ["tea"] and len(again) > 0 and again.document("tea") == docs["tea"]
    assert again.search("绿茶", k=1, mode="bm25")[0].document == "tea"


def test_a_document_as_the_index_chunked_it(index, docs):
    chunked = index.document_chunks("weather_station")
    assert chunked.source == docs["weather_station"] and chunked.method == "recursive"
    assert [c.index for c in chunked.chunks] == list(range(len(chunked.chunks)))
    assert all(chunked.source[c.start:c.end] == c.text for c in chunked.chunks)
    assert [c.start for c in chunked.chunks] == sorted(c.start for c in chunked.chunks)
    held = index.collection.get(where={"document": "weather_station"}, include=[])["ids"]
    assert len(chunked.chunks) == len(held)
    assert all("document" not in c.meta and "start" not in c.meta for c in chunked.chunks)


def test_chunk_metadata_survives_chroma(tmp_path):
    from nbrag.retrieval.documents import flat, unflat

    meta = {"level": 2, "heading": "Tides", "section": {"start": 3, "end": 40}, "path": ["A", "B"], "none": None}
    stored = flat(meta)
    assert stored == {"level": 2, "heading": "Tides", "section_start": 3, "section_end": 40, "path": '["A", "B"]'}
    assert unflat({**stored, "document": "d", "start": 0, "end": 9, "tokens": 4, "chunk": 0}) == \
        {"level": 2, "heading": "Tides", "section": {"start": 3, "end": 40}, "path": ["A", "B"]}


def test_an_index_saved_with_a_rank_bm25_backend_opens_with_bm25s(tmp_path, docs, monkeypatch):
    import json
    import warnings

    monkeypatch.setattr(errors, "_warned", set())
    name = fresh("old-backend")
    first = Index(name, path=tmp_path)
    first.add({"tea": docs["tea"]}, chunker="fixed", size=128, progress=False)
    del first
    saved = tmp_path / "bm25"
    state = json.loads(saved.read_text(encoding="utf-8"))
    saved.write_text(json.dumps({**state, "backend": "rank_bm25:plus"}), encoding="utf-8")  # an earlier release's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reopened = Index(name, path=tmp_path, bm25="rank_bm25:plus")
    assert reopened.bm25.backend == "bm25s:bm25+"
    assert any("'rank_bm25:plus' is now 'bm25s:bm25+'" in str(w.message) for w in caught)
    assert json.loads(saved.read_text(encoding="utf-8"))["backend"] == "rank_bm25:plus"  # reused, not rebuilt
    assert reopened.search("绿茶", k=1, mode="bm25")[0].document == "tea"


def test_add_with_context_embeds_the_title_but_stores_and_bm25_indexes_the_chunk_alone():
    text = ("# Island travel notes\n\n## Zanzibar ferry\n\nThe first boat leaves the harbour at seven. It takes two "
            "hours to cross. The last one leaves at nine in the evening.\n\n## Mountain railway\n\nThe first train "
            "leaves the valley at eight. It takes one hour to climb. The last one leaves at ten in the evening.\n")
    plain, titled = Index(fresh("plain"), memory=True), Index(fresh("titled"), memory=True)
    plain.add({"notes": text}, chunker="recursive", size=12, progress=False)
    report = titled.add({"notes": text}, chunker="recursive", size=12, context="title", progress=False)
    assert len(titled) == len(plain) == report.added
    query = "When does the last Zanzibar ferry leave?"
    hit = titled.search(query, k=1, mode="dense")[0]
    assert hit.text == "The last one leaves at nine in the evening." == text[hit.start:hit.end]
    assert "Zanzibar" not in hit.text and hit.meta["context"] == "title"
    assert plain.search(query, k=1, mode="dense")[0].text != hit.text
    # BM25 reads the chunk's own text: only the chunk holding the heading has the word, not those embedded with it.
    holding = {c.text for c in chunk(text, method="recursive", size=12) if "Zanzibar" in c.text}
    assert {h.text for h in titled.search("Zanzibar", k=5, mode="bm25")} == holding and len(holding) == 1
    # The same document with another context is embedded again, not taken for unchanged.
    again = titled.add({"notes": text}, chunker="recursive", size=12, context="title+neighbours", progress=False)
    assert again.replaced == {"notes": ""} and again.added == len(titled)
