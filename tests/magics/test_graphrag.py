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
    with pytest.raises(UsageError, match="--extractor llm"):
        run(ip, "%graphrag --index musique --build --endpoint http://localhost:9/v1")
    with pytest.raises(UsageError, match="Query given twice"):
        run(ip, "%%graphrag --index musique --query one\ntwo")
    with pytest.raises(UsageError, match="no knowledge graph yet"):
        run(ip, f"%%retrieve --index bare --mode graph\n{QUESTION}")
