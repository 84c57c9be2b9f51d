"""Graph search through an index: PageRank, local and global search, the modes graph and hybrid+graph."""

from __future__ import annotations

import networkx as nx
import pytest

from nbrag.errors import NbragError
from nbrag.graphrag.search import link_query, pagerank, run


def test_pagerank_matches_networkx(multihop):
    _, _, graph = multihop
    g = nx.Graph()
    for k, data in graph.graph.nodes(data=True):
        for chunk_id, count in data["chunks"].items():
            g.add_edge(f"e:{k}", f"c:{chunk_id}", weight=float(count))
    for a, b, data in graph.graph.edges(data=True):
        g.add_edge(f"e:{a}", f"e:{b}", weight=float(data["weight"]))
    g.add_nodes_from(f"c:{c}" for c in graph.chunks)
    chunk = next(c for c, record in graph.chunks.items() if record["document"] == "mu00049")
    seeds = {f"e:{graph.find('Anna Benson')}": 0.7, f"c:{chunk}": 0.3}
    expected = nx.pagerank(g, alpha=0.5, personalization=seeds, weight="weight", tol=1e-12)
    got = pagerank(graph, seeds, alpha=0.5, tol=1e-12, max_iter=500)
    assert max(abs(got[n] - expected[n]) for n in expected) < 1e-7


def test_link_query_finds_the_entities_named(multihop):
    _, _, graph = multihop
    names = [e["name"] for e in link_query(graph, "Who is the father of Edward Baring, 1st Baron Revelstoke's father?")]
    assert names[:2] == ["Edward Baring", "Baron Revelstoke"]
    assert link_query(graph, "what is this about?") == []
    with pytest.raises(NbragError, match=r"^query='  ': empty: write what you are looking for\."):
        link_query(graph, "  ")


def test_graph_search_reaches_the_second_hop(multihop):
    data, index, _ = multihop
    qid = next(q for q, text in data.queries.items() if "Van Hook Township" in text)
    supporting = {doc for doc, score in data.qrels[qid].items() if score > 0}
    dense = {h.document for h in index.search(data.queries[qid], k=5, mode="dense")}
    local = index.search(data.queries[qid], k=5, mode="graph", graph="local")
    assert supporting <= {h.document for h in local} and not supporting <= dense  # the county's seat: 2nd hop
    for method in ("ppr", "local"):
        result = index.search(data.queries[qid], k=5, mode="graph", graph=method)
        assert result.graph["search"] == method
        assert "Van Hook Township" in [e["name"] for e in result.graph["entities"]]
        assert all(h.scores["graph"] > 0 and h.ranks["graph"] == h.rank for h in result)
        assert any(h.meta.get("graph_path", [None])[0] == "Van Hook Township" for h in result)


def test_global_search_ranks_community_reports(multihop):
    _, index, graph = multihop
    question = "Which reality television series are about love?"
    result = index.search(question, k=5, mode="graph", graph="global")
    assert result.graph["communities"] and result.graph["summary"] and result.graph["level"] == 1
    top = graph.communities[result.graph["communities"][0]["id"]]
    assert "love" in top.report["summary"].casefold()
    assert {h.id for h in result} <= set().union(*(
        graph.communities[c["id"]].report["chunks"] for c in result.graph["communities"]))
    for level in (0, 1, 2):  # the partition at each depth: that level's communities and the unsplit smaller ones
        ranked = index.search(question, k=5, mode="graph", graph="global", graph_options={"level": level})
        for c in ranked.graph["communities"]:
            community = graph.communities[c["id"]]
            assert community.level == level or (community.level < level and not community.children)
    with pytest.raises(NbragError, match=r"^level=-1: give a whole number of at least 0"):
        index.search(question, mode="graph", graph="global", graph_options={"level": -1})


def test_hybrid_plus_graph_fuses_three_retrievers(multihop):
    data, index, _ = multihop
    result = index.search(next(iter(data.queries.values())), k=10, mode="hybrid+graph")
    assert set(result.candidates) == {"bm25", "dense", "graph"} and result.params["graph"] == "ppr"
    assert any("graph" in h.scores for h in result) and len(result) == 10
    again = result.fuse(weights={"bm25": 0, "dense": 0, "graph": 1})
    assert [h.id for h in again] == [i for i, _ in result.candidates["graph"][:10]]


def test_no_entity_in_the_query_says_so(multihop):
    _, index, _ = multihop
    result = index.search("what is this about?", k=5, mode="graph", graph="local")
    assert len(result) == 0 and "No entity of the graph" in result.graph["message"]
    assert len(index.search("what is this about?", k=5, mode="hybrid+graph")) == 5  # BM25 and dense still answer


def test_graph_modes_need_a_graph_and_a_known_search(tmp_path):
    from nbrag.retrieval import Index

    index = Index("no-graph-here", memory=True)
    index.add({"a": "Marie Curie was born in Warsaw."}, progress=False)
    with pytest.raises(ValueError, match="no knowledge graph yet"):
        index.search("Marie Curie", mode="graph")
    index.build_graph(progress=False)
    with pytest.raises(NbragError, match=r"^graph='pagerank': "):
        index.search("Marie Curie", mode="graph", graph="pagerank")
    with pytest.raises(NbragError, match=r"^graph='pagerank': unknown graph search: use one of 'local', 'ppr', "
                                         r"'global'\."):
        run(index.graph, "pagerank", "Marie Curie", 5)
    with pytest.raises(NbragError, match=r"^alpha=1\.5: give a number greater than 0 and less than 1 \(0\.5, as in "
                                         r"HippoRAG, is usual\)\.$"):
        index.search("Marie Curie", mode="graph", graph_options={"alpha": 1.5})
    with pytest.raises(NbragError, match=r"^dense_weight=-0\.5: give a number from 0 to 1 \(0: the query's"):
        index.search("Marie Curie", mode="graph", graph_options={"dense_weight": -0.5})


def test_graph_persists_beside_the_index_and_follows_its_documents(tmp_path):
    from nbrag import configure, settings
    from nbrag.retrieval import Index

    old = settings.data_dir
    configure(data_dir=str(tmp_path))
    try:
        index = Index("people")
        index.add({"curie": "Marie Curie was born in Warsaw. She worked in Paris with Pierre Curie.",
                   "fermi": "Enrico Fermi built a reactor in Chicago."}, progress=False)
        graph = index.build_graph(progress=False)
        assert (tmp_path / "indexes" / "people" / "graph.json").exists() and graph.find("Warsaw")
        reopened = Index("people")
        assert reopened.graph is not None and reopened.graph.find("Enrico Fermi")
        reopened.add({"bohr": "Niels Bohr met Enrico Fermi in Copenhagen."}, progress=False)
        assert reopened.graph.find("Niels Bohr") and reopened.graph.last_update.added == 1  # read only the new chunk
        reopened.delete("curie")
        assert reopened.graph.find("Warsaw") is None and len(reopened.graph.chunks) == len(reopened)
        again = reopened.build_graph(progress=False)
        assert again.last_update.added == 0  # nothing left to read
        hits = reopened.search("Where did Enrico Fermi build a reactor?", k=2, mode="graph", graph="local")
        assert hits[0].document == "fermi"
    finally:
        configure(data_dir=old)


def test_common_words_link_no_entity(multihop):
    _, _, graph = multihop
    linked = link_query(graph, "What is the seat of the county where Van Hook Township is located?")
    assert [e["name"] for e in linked] == ["Van Hook Township"]


def test_reports_are_embedded_again_only_when_they_change(multihop):
    from nbrag.graphrag import KnowledgeGraph
    from nbrag.models import embed

    graph = multihop[2]
    copy = KnowledgeGraph.from_dict(graph.to_dict())
    vector = embed(["Which reality television series are about love?"])[0]
    run(copy, "global", "Which reality television series are about love?", 10, vector=vector)
    before = dict(copy.vectors)
    copy.add({"extra#0": ("Chris Harrison hosted The Bachelor on ABC in Los Angeles.", "extra")}, progress=False)
    run(copy, "global", "Which reality television series are about love?", 10, vector=vector)
    new = set(copy.vectors) - set(before)
    assert 0 < len(new) < len(before) / 4  # only the reports of the touched communities


def test_report_vectors_are_saved_and_loaded_for_the_reports_the_graph_still_has(multihop, tmp_path):
    import numpy as np

    from nbrag.graphrag import KnowledgeGraph
    from nbrag.models import embed

    query = "Which reality television series are about love?"
    graph = KnowledgeGraph.from_dict(multihop[2].to_dict())
    vector = embed([query])[0]
    ranked, trace = run(graph, "global", query, 10, vector=vector)
    assert trace["embedded"] == len(graph.vectors) > 0
    graph.save_vectors(tmp_path / "vectors.npz")
    loaded = KnowledgeGraph.from_dict(graph.to_dict())
    assert loaded.load_vectors(tmp_path / "vectors.npz") == len(graph.vectors)
    assert all(np.array_equal(loaded.vectors[k], v) for k, v in graph.vectors.items())
    again, trace = run(loaded, "global", query, 10, vector=vector)
    assert "embedded" not in trace and again == ranked  # nothing embedded again, the same ranking
    loaded.add({"extra#0": ("Chris Harrison hosted The Bachelor on ABC in Los Angeles.", "extra")}, progress=False)
    changed = KnowledgeGraph.from_dict(loaded.to_dict())
    kept = changed.load_vectors(tmp_path / "vectors.npz")  # the reports that changed are left out
    summaries = {c.report["summary"] for c in changed.communities.values() if c.report}
    assert 0 < kept < len(graph.vectors) and all(s in summaries for _, s in changed.vectors)
    assert KnowledgeGraph().load_vectors(tmp_path / "missing.npz") == 0
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert changed.load_vectors(tmp_path / "broken.npz") == 0


def test_an_index_keeps_its_report_vectors_with_its_graph(tmp_path):
    from nbrag.retrieval import Index

    index = Index("people", path=tmp_path / "people")
    index.add({"curie": "Marie Curie was born in Warsaw. She worked in Paris with Pierre Curie and Paul Langevin.",
               "fermi": "Enrico Fermi built a reactor in Chicago with Leo Szilard. Fermi met Niels Bohr there.",
               "bohr": "Niels Bohr met Enrico Fermi and Leo Szilard in Copenhagen."}, progress=False)
    index.build_graph(progress=False)
    first = index.search("Where did Enrico Fermi build a reactor?", k=2, mode="graph", graph="global")
    assert first.graph["embedded"] > 0 and (tmp_path / "people" / "graph.vectors.npz").exists()
    reopened = Index("people", path=tmp_path / "people")
    again = reopened.search("Where did Enrico Fermi build a reactor?", k=2, mode="graph", graph="global")
    assert "embedded" not in again.graph  # read from the file, not embedded again
    assert [h.id for h in again] == [h.id for h in first]


def test_queries_are_read_without_the_model_that_built_the_graph():
    from nbrag.graphrag import KnowledgeGraph
    from nbrag.graphrag.search import link_query

    calls = []

    def model(messages):
        calls.append(messages)
        return '{"entities": [{"name": "Marie Curie"}, {"name": "Warsaw"}]}'

    graph = KnowledgeGraph("llm", generator=model)
    graph.add({"a": ("Marie Curie was born in Warsaw.", "a")}, progress=False)
    assert len(calls) == 1
    assert [e["name"] for e in link_query(graph, "Where was Marie Curie born?")] == ["Marie Curie"]
    assert len(calls) == 1  # no model call per query
