"""The knowledge graph: building, incremental updates, removal, saving, and awkward input."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import pytest

from nbrag import errors
from nbrag.data import sample_documents
from nbrag.errors import NbragError
from nbrag.graphrag import KnowledgeGraph


def chunks_of(texts: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each paragraph of each document as one chunk: id -> (text, document)."""
    out = {}
    for doc, text in texts.items():
        for n, paragraph in enumerate(p for p in text.split("\n\n") if p.strip()):
            out[f"{doc}#{n}"] = (paragraph, doc)
    return out


def snapshot(graph: KnowledgeGraph) -> tuple:
    nodes = {n: (d["name"], d["type"], dict(d["chunks"])) for n, d in graph.graph.nodes(data=True)}
    edges = {tuple(sorted((a, b))): round(d["weight"], 9) for a, b, d in graph.graph.edges(data=True)}
    return nodes, edges


@pytest.fixture(scope="module")
def docs():
    return chunks_of(sample_documents())


def test_build_from_real_documents(docs):
    graph = KnowledgeGraph()
    update = graph.add(docs, progress=False)
    stats = graph.stats()
    assert update.added == len(docs) and update.failed == 0
    assert stats["entities"] > 50 and stats["relations"] > 100 and stats["communities"] > 3
    assert "Fresnel" in {d["name"].split()[-1] for _, d in graph.graph.nodes(data=True)}
    assert any(graph.graph.nodes[n]["type"] == "place" for n in graph.graph)  # jieba's places in tea.md
    for community in graph.communities.values():  # levels nest: a child's members are its parent's
        if community.parent:
            assert set(community.members) <= set(graph.communities[community.parent].members)
    level0 = [set(c.members) for c in graph.communities.values() if c.level == 0]
    assert set().union(*level0) == set(graph.graph) and sum(map(len, level0)) == len(graph.graph)  # a partition
    report = next(c.report for c in graph.communities.values() if len(c.members) > 3)
    assert report["title"] and report["entities"] and report["summary"].startswith(report["title"])


def test_entity_lookup_and_unknown_names(docs):
    graph = KnowledgeGraph()
    graph.add(docs, progress=False)
    node = max(graph.graph, key=lambda n: graph.graph.degree(n))
    info = graph.entity(graph.graph.nodes[node]["name"])
    assert info["key"] == node and info["chunks"] and info["neighbours"] and info["communities"]
    with pytest.raises(NbragError, match=r"^No entity 'Zanzibar Quantum Society' in the graph\."):
        graph.entity("Zanzibar Quantum Society")
    with pytest.raises(NbragError, match=r"^community='c0': no such community\. There are "):
        graph.report("c0")


def test_incremental_add_equals_full_build_and_keeps_untouched_communities(docs):
    ids = sorted(docs)
    first = {i: docs[i] for i in ids if not i.startswith("tea")}
    rest = {i: docs[i] for i in ids if i.startswith("tea")}
    full = KnowledgeGraph()
    full.add(docs, progress=False)
    graph = KnowledgeGraph()
    graph.add(first, progress=False)
    before = {c.id: list(c.members) for c in graph.communities.values()}
    update = graph.add(rest, progress=False)
    assert snapshot(graph) == snapshot(full)
    kept = {c.id for c in graph.communities.values()} & set(before)
    assert kept and all(graph.communities[c].members == before[c] for c in kept)  # untouched: same ids, members
    assert update.communities < len(graph.communities)  # only the touched part was clustered again


def test_removing_chunks_restores_the_graph(docs):
    english = {i: v for i, v in docs.items() if not i.startswith("tea")}
    alone = KnowledgeGraph()
    alone.add(english, progress=False)
    graph = KnowledgeGraph()
    graph.add(docs, progress=False)
    update = graph.remove([i for i in docs if i.startswith("tea")])
    assert update.removed == len(docs) - len(english)
    assert snapshot(graph) == snapshot(alone)
    members = set().union(*(set(c.members) for c in graph.communities.values()))
    assert members <= set(graph.graph)  # no community keeps an entity that left


def test_reading_a_chunk_again_replaces_it(docs):
    graph = KnowledgeGraph()
    graph.add(docs, progress=False)
    once = snapshot(graph)
    graph.add({i: docs[i] for i in list(docs)[:5]}, progress=False)
    assert snapshot(graph) == once


def test_save_and_load_round_trip_as_json(docs, tmp_path):
    graph = KnowledgeGraph(max_community=10)
    graph.add(docs, progress=False)
    path = graph.save(tmp_path / "graph.json")
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "nbrag.graph"
    again = KnowledgeGraph.load(path)
    assert snapshot(again) == snapshot(graph) and again.max_community == 10
    assert ({c: x.to_dict() for c, x in again.communities.items()}
            == {c: x.to_dict() for c, x in graph.communities.items()})
    again.add({"new#0": ("Augustin Fresnel met François Arago in Paris.", "new")}, progress=False)
    assert again.community_of(again.find("François Arago")) is not None  # ids keep counting after a load
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(NbragError, match=r"bad\.json is not valid JSON \(Expecting"):
        KnowledgeGraph.load(tmp_path / "bad.json")
    with pytest.raises(NbragError, match=r"^path='.*nowhere\.json': no such file"):
        KnowledgeGraph.load(tmp_path / "nowhere.json")


def test_graphml_export_reads_back(docs, tmp_path):
    graph = KnowledgeGraph()
    graph.add(docs, progress=False)
    back = nx.read_graphml(graph.to_graphml(tmp_path / "g.graphml"))
    assert back.number_of_nodes() == len(graph) and back.number_of_edges() == graph.graph.number_of_edges()
    node = next(iter(back.nodes(data=True)))[1]
    assert {"name", "type", "community", "chunks"} <= set(node)


def test_awkward_input_gives_small_valid_graphs():
    graph = KnowledgeGraph()
    update = graph.add({"a": ("1, 2, 3. 42!", "a"), "b": ("", "b")}, progress=False)
    assert update.added == 2 and len(graph) == 0 and graph.communities == {}
    assert graph.stats()["chunks_without_entities"] == 2
    twice = KnowledgeGraph()
    text = "Marie Curie studied in Paris with Pierre Curie."
    twice.add({"x": (text, "x"), "y": (text, "y")}, progress=False)
    assert len(twice) == 3 and all(len(d["chunks"]) == 2 for _, d in twice.graph.nodes(data=True))
    chinese = KnowledgeGraph()
    chinese.add({"t": (sample_documents()["tea"], "tea")}, progress=False)
    assert len(chinese) > 10 and any("茶" in n for n in chinese.graph)


def test_a_model_that_answers_garbage_skips_chunks_and_says_so(docs):
    def garbage(messages):  # what a small model often says
        return "Sure! Here are the entities: 1, 2, 3"

    graph = KnowledgeGraph("llm", generator=garbage)
    some = dict(list(docs.items())[:4])
    with pytest.warns(UserWarning, match="could not read 4 of 4 chunks"):
        update = graph.add(some, progress=False)
    assert update.failed == 4 and len(graph.failures) == 4 and len(graph) == 0
    assert graph.failures[0]["reply"] == garbage([]) and "JSON" in graph.failures[0]["error"]


def test_bad_settings_are_refused():
    with pytest.raises(NbragError, match=r"^extractor='spacy': unknown extractor: use one of '.*'offline'"):
        KnowledgeGraph("spacy")
    with pytest.raises(NbragError, match=r"^reports='gpt': use 'extractive' .* or 'llm'"):
        KnowledgeGraph(reports="gpt")
    with pytest.raises(NbragError, match=r"^max_community=1: give a whole number of at least 2\."):
        KnowledgeGraph(max_community=1)
    with pytest.raises(NbragError, match=r"^levels=0: give a whole number of at least 1\."):
        KnowledgeGraph(levels=0)
    with pytest.raises(NbragError, match=r"^resolution=0: give a number greater than 0 \(1\.0 is usual"):
        KnowledgeGraph(resolution=0)
    with pytest.raises(NbragError, match=r"^generator='SmolLM2-135M-Instruct': names the model of extractor='llm' "
                                         r"or of reports='llm'"):
        KnowledgeGraph(generator="SmolLM2-135M-Instruct")  # the offline extractor, extractive reports: no model
    with pytest.raises(NbragError, match=r"^keyphrase=3: not an option of the offline extractor"):
        KnowledgeGraph(keyphrase=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KnowledgeGraph()  # building one warns about nothing


def test_one_large_document_builds_and_updates():
    import nbrag

    text = "\n\n".join(sample_documents().values()) * 12  # about 300 KB, one document
    chunks = {f"big#{c.index}": (c.text, "big") for c in nbrag.chunk(text, size=1500, overlap=0, unit="char")}
    graph = KnowledgeGraph()
    update = graph.add(chunks, progress=False)
    assert update.added == len(chunks) > 150 and graph.stats()["communities"] > 0
    assert all(len(c) > 1 for c in [d["chunks"] for _, d in graph.graph.nodes(data=True) if d["type"] == "name"][:20])
    first = next(iter(chunks))
    again = graph.update({}, [first])
    assert again.removed == 1 and first not in graph.chunks


@pytest.mark.slow
def test_reports_written_by_the_generator(docs):
    graph = KnowledgeGraph(reports="llm", max_community=1000)
    graph.add({i: docs[i] for i in ("lighthouses#5", "lighthouses#6")}, progress=False)
    reports = [c.report for c in graph.communities.values() if c.report]
    assert reports and {r["written_by"] for r in reports} <= {"llm", "extractive"}
    for report in reports:
        if report["written_by"] == "llm":
            assert report["summary"] != report["extractive_summary"] and len(report["summary"].split()) >= 4
        else:  # the model's reply was too short to be a summary: kept beside the extractive one
            assert "llm_reply" in report


def summariser(messages):
    """A complete(messages) -> str model that writes every community's report the same way."""
    assert "Summary:" in messages[-1]["content"]
    return "These entities are linked by the lighthouse documents."


def test_reports_written_by_a_plain_complete_function(docs):
    some = {i: docs[i] for i in ("lighthouses#5", "lighthouses#6")}
    graph = KnowledgeGraph(reports="llm", generator=summariser, max_community=1000)
    graph.add(some, progress=False)
    reports = [c.report for c in graph.communities.values() if c.report]
    assert reports and all(r["written_by"] == "llm" and r["summary"] == summariser([{"role": "user", "content":
                                                                                      "Summary:"}]) for r in reports)
    assert all(r["extractive_summary"].startswith(r["title"]) for r in reports)
    assert graph.to_dict()["settings"]["generator"] == "summariser"  # the reports' model, by name


def test_the_llm_extractor_writes_the_reports_too(docs):
    calls = {"extract": 0, "report": 0}

    def model(messages):
        content = messages[-1]["content"]
        if "Summary:" in content:
            calls["report"] += 1
            return "Fresnel and Arago worked on lenses for lighthouses."
        calls["extract"] += 1
        found = [n for n in ("Augustin Fresnel", "François Arago", "Paris") if n in content.rsplit("Text: ", 1)[1]]
        return json.dumps({"entities": [{"name": n} for n in found], "relations": [
            {"source": found[0], "target": b, "relation": "met"} for b in found[1:]]})

    graph = KnowledgeGraph("llm", generator=model, reports="llm")
    graph.add({"a#0": ("Augustin Fresnel met François Arago in Paris.", "a")}, progress=False)
    assert calls == {"extract": 1, "report": 1} and graph.report_writer() is graph.extractor.generator
    (report,) = [c.report for c in graph.communities.values() if c.report]
    assert report["written_by"] == "llm" and report["summary"].startswith("Fresnel and Arago")


def test_complete_is_the_old_name_of_generator(docs, monkeypatch):
    monkeypatch.setattr(errors, "_warned", set())
    with pytest.warns(FutureWarning, match=r"KnowledgeGraph\(complete=\.\.\.\) is now KnowledgeGraph\(generator="):
        graph = KnowledgeGraph(reports="llm", complete=summariser)
    graph.add({i: docs[i] for i in ("lighthouses#5", "lighthouses#6")}, progress=False)
    assert {c.report["written_by"] for c in graph.communities.values() if c.report} == {"llm"}


def test_an_endpoint_builds_the_graph_and_writes_its_reports_and_no_key_is_saved(tmp_path):
    from tests.rag.servers import serving

    def answer(body):
        content = body["messages"][-1]["content"]
        if "Summary:" in content:
            return "Marie Curie was born in Warsaw and worked in Paris.", {}
        found = [n for n in ("Marie Curie", "Warsaw", "Paris") if n in content.rsplit("Text: ", 1)[1]]
        return json.dumps({"entities": [{"name": n} for n in found], "relations": [
            {"source": "Marie Curie", "target": n, "relation": "lived in"} for n in found[1:]]}), {}

    with serving(answer) as server:
        graph = KnowledgeGraph("llm", endpoint=server.url, model="tiny", api_key="sk-secret", timeout=10,
                               reports="llm")
        graph.add({"curie": ("Marie Curie was born in Warsaw. She worked in Paris.", "curie")}, progress=False)
        offline = KnowledgeGraph(reports="llm", endpoint=server.url, model="tiny", api_key="sk-secret")
        offline.add({"curie": ("Marie Curie was born in Warsaw. She worked in Paris.", "curie")}, progress=False)
    assert {"marie curie", "warsaw", "paris"} <= set(graph.graph)
    assert [c.report["written_by"] for c in graph.communities.values() if c.report] == ["llm"]
    assert {r["model"] for r in server.requests} == {"tiny"}
    assert {c.report["written_by"] for c in offline.communities.values() if c.report} == {"llm"}
    for saved in (graph, offline):
        text = saved.save(tmp_path / "graph.json").read_text(encoding="utf-8")
        assert "sk-secret" not in text and server.url in text
        again = KnowledgeGraph.load(tmp_path / "graph.json")
        assert again.extractor.options() == saved.extractor.options() and again.reports == "llm"
    assert offline.to_dict()["settings"] == {"reports": "llm", "max_community": 40, "levels": 3, "resolution": 1.0,
                                             "endpoint": server.url, "model": "tiny"}


def test_a_graph_made_from_another_graphs_dict_is_its_own(docs):
    graph = KnowledgeGraph()
    graph.add(dict(list(docs.items())[:6]), progress=False)
    before = snapshot(graph)
    copy = KnowledgeGraph.from_dict(graph.to_dict())
    copy.add({"extra#0": ("Augustin Fresnel met François Arago in Paris.", "extra")}, progress=False)
    assert snapshot(graph) == before and snapshot(copy) != before
