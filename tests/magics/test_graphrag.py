"""%graphrag / %%graphrag, and %%retrieve's graph modes, on the shipped multi-hop sample."""

import pytest
from IPython.core.error import UsageError

from nbrag.graphrag import KnowledgeGraph
from nbrag.retrieval import RetrievalResult
from tests.magics.test_magics import run

QUESTION = "What is the seat of the county where Van Hook Township is located?"


@pytest.fixture(scope="module")
def sample(ip):
    """An in-memory index of the MuSiQue sample, held in a variable of the notebook."""
    from nbrag.data import sample_multihop
    from nbrag.eval import load_beir

    ip.user_ns["musique"] = load_beir(sample_multihop()).index()
    return ip.user_ns["musique"]


def test_build_then_search_through_the_graph(ip, sample, capsys):
    graph = run(ip, "%graphrag --index musique --build -o kg")
    assert isinstance(graph, KnowledgeGraph) and ip.user_ns["kg"] is graph and sample.graph is graph
    assert "chunks read" in capsys.readouterr().out
    result = run(ip, f"%%graphrag --index musique --mode local -k 5 -o found\n{QUESTION}")
    assert isinstance(result, RetrievalResult) and ip.user_ns["found"] is result
    assert result.mode == "graph" and result.params["graph"] == "local" and 2 <= len(result) <= 5
    assert result.ids == sample.search(QUESTION, 5, mode="graph", graph="local").ids
    hybrid = run(ip, f"%graphrag --index musique --mode hybrid -k 3 --query {QUESTION.rstrip('?')}")
    assert hybrid.mode == "hybrid+graph" and set(hybrid.candidates) == {"bm25", "dense", "graph"}
    shown = run(ip, "%graphrag --index musique")
    assert shown is graph  # no query: the graph itself, which shows as the graph view


def test_retrieve_takes_the_graph_modes(ip, sample):
    run(ip, "%graphrag --index musique --build")
    result = run(ip, f"%%retrieve --index musique --mode graph --graph ppr -k 4\n{QUESTION}")
    assert result.mode == "graph" and result.params["graph"] == "ppr" and len(result) == 4
    global_ = run(ip, f"%graphrag --index musique --mode global --level 1 --query {QUESTION.rstrip('?')}")
    assert global_.params["graph"] == "global" and global_.graph["level"] == 1


def test_wrong_input_is_a_usage_error(ip, sample):
    from nbrag.retrieval import Index

    ip.user_ns["bare"] = Index("magic-bare-graph", memory=True)
    with pytest.raises(UsageError, match="no knowledge graph yet"):
        run(ip, f"%%graphrag --index bare\n{QUESTION}")
    with pytest.raises(UsageError, match=r"^--endpoint: the model of --extractor llm or --reports llm; add one"):
        run(ip, "%graphrag --index musique --build --endpoint http://localhost:9/v1")
    with pytest.raises(UsageError, match=r"^--extractor and --generator: options of building the graph; add --build"):
        run(ip, "%graphrag --index musique --extractor llm --generator namer")
    with pytest.raises(UsageError, match="Query given twice"):
        run(ip, "%%graphrag --index musique --query one\ntwo")
    with pytest.raises(UsageError, match="no knowledge graph yet"):
        run(ip, f"%%retrieve --index bare --mode graph\n{QUESTION}")


def test_an_engine_bug_keeps_its_traceback(ip, sample, monkeypatch):
    from nbrag.graphrag import search

    run(ip, "%graphrag --index musique --build")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(search.SEARCHES, "local", broken)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%%graphrag --index musique --mode local\n{QUESTION}")


def test_a_bad_option_is_one_line_naming_its_flag(ip, sample):
    run(ip, "%graphrag --index musique --build")
    with pytest.raises(UsageError) as caught:
        run(ip, f"%graphrag --index musique --mode global --level -1 --query {QUESTION.rstrip('?')}")
    assert str(caught.value) == "--level -1: give a whole number of at least 0 (0: the largest communities)."
    with pytest.raises(UsageError,
                       match=r"^--model: the endpoint http://localhost:9/v1 needs the name of a model") as caught:
        run(ip, "%graphrag --index musique --build --extractor llm --endpoint http://localhost:9/v1")
    assert "\n" not in str(caught.value)


def test_the_llm_extractor_takes_a_complete_function_from_the_notebook(ip):
    import json

    from nbrag.retrieval import Index

    names = ("Marie Curie", "Warsaw", "Pierre Curie", "Paris")

    def namer(messages):
        content = messages[-1]["content"]
        if "Summary:" in content:
            return "Marie and Pierre Curie worked in Paris; Marie was born in Warsaw."
        found = [n for n in names if n in content.rsplit("Text: ", 1)[1]]
        return json.dumps({"entities": [{"name": n, "type": "person"} for n in found],
                           "relations": [{"source": found[0], "target": n, "relation": "with"} for n in found[1:]]})

    ip.user_ns["namer"] = namer
    ip.user_ns["curies"] = Index("magic-llm-graph", memory=True)
    ip.user_ns["curies"].add({"marie": "Marie Curie was born in Warsaw. She married Pierre Curie.",
                              "pierre": "Pierre Curie worked in Paris with Marie Curie."}, progress=False)
    graph = run(ip, "%graphrag --index curies --build --extractor llm --generator namer --reports llm -o curie_graph")
    assert isinstance(graph, KnowledgeGraph) and ip.user_ns["curie_graph"] is graph
    assert graph.extractor.name == "llm" and graph.extractor.options()["generator"] == "namer"
    assert {graph.graph.nodes[n]["name"] for n in graph.graph} == set(names)
    assert {c.report["written_by"] for c in graph.communities.values() if c.report} == {"llm"}
    found = run(ip, "%%graphrag --index curies --mode local -k 2\nWhere was Marie Curie born?")
    assert found.ids and found.graph["entities"][0]["name"] == "Marie Curie"
