"""%nbrag index and %%retrieve on an in-memory index of the sample documents."""

import time

import pytest
from IPython.core.error import UsageError

from nbrag.data import sample_documents, samples_dir
from nbrag.retrieval import Index, RetrievalResult
from nbrag.retrieval.comparison import RetrievalComparison
from tests.magics.test_magics import run

QUERY = "what keeps the light visible far out at sea"


def magics(ip):
    """What the notebook's magics share: the indexes built with %nbrag index, and the current one."""
    return ip.magics_manager.registry["RetrieveMagics"].session


@pytest.fixture(scope="module")
def built(ip):
    """``%nbrag index`` over the sample corpus, in memory; the index it built."""
    name = f"magic-samples-{time.monotonic_ns()}"
    ip.user_ns["corpus"] = str(samples_dir() / "corpus")
    run(ip, f"%nbrag index $corpus --memory --name {name} --chunker recursive --size 128")
    return magics(ip).indexes[name]


@pytest.fixture(scope="module")
def samples():
    """The same documents added from Python, as another engineer might hold them in a variable."""
    idx = Index(f"magic-var-{time.monotonic_ns()}", memory=True)
    idx.add(sample_documents(), chunker="recursive", size=128, progress=False)
    return idx


def test_nbrag_index_builds_the_current_index(ip, built, capsys):
    assert built.where == "memory" and built.documents == ["lighthouses.md", "tea.md", "weather_station.md"]
    assert magics(ip).current_index is built
    again = run(ip, f"%nbrag index $corpus --memory --name {built.name} --chunker recursive --size 128")
    out = capsys.readouterr().out
    assert again is None and "0 chunks embedded" in out and f"%%retrieve searches {built.name!r} now" in out
    assert magics(ip).indexes[built.name] is built  # the same index, updated


def test_retrieve_searches_the_current_index(ip, built):
    result = run(ip, f"%%retrieve --mode hybrid -k 4 -o found\n{QUERY}")
    assert isinstance(result, RetrievalResult) and ip.user_ns["found"] is result
    assert result.index is built and result.ids == built.search(QUERY, 4, mode="hybrid").ids
    assert (result.params["fusion"], result.params["weights"], result.params["rrf_k"]) == ("minmax", None, 5)
    data, _ = result._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data and 'data-columns="1"' in data["text/html"]


def test_options_reach_the_engine(ip, built):
    result = run(ip, f"%%retrieve -k 3 --weights 0.2,0.8 --fusion zscore --rrf-k 10\n{QUERY}")
    assert result.params["weights"] == {"bm25": 0.2, "dense": 0.8} and result.params["fusion"] == "zscore"
    assert result.params["rrf_k"] == 10 and len(result) == 3
    assert result.ids == built.search(QUERY, 3, weights={"bm25": 0.2, "dense": 0.8}, fusion="zscore").ids
    named = run(ip, f"%%retrieve -k 3 --weights bm25=1,dense=3\n{QUERY}")
    assert named.params["weights"] == {"bm25": 1.0, "dense": 3.0}
    assert run(ip, f"%%retrieve --mode bm25\n{QUERY}").mode == "bm25"


def test_the_line_form_takes_the_rest_of_the_line_as_the_query(ip, built):
    result = run(ip, "%retrieve -k 2 --mode bm25 --query what's a Fresnel lens")
    assert result.query == "what's a Fresnel lens" and len(result) == 2
    quoted = run(ip, '%retrieve -k 2 --query "what\'s a Fresnel lens?"')  # quoted, a final ? is not help
    assert quoted.query == "what's a Fresnel lens?"


def test_an_index_in_a_variable_or_by_name(ip, built, samples):
    ip.user_ns["idx"] = samples
    assert run(ip, f"%%retrieve --index idx -k 2\n{QUERY}").index is samples
    assert run(ip, f"%%retrieve --index {built.name} -k 2\n{QUERY}").index is built
    assert magics(ip).current_index is built  # --index does not change the default


def test_compare_sets_modes_side_by_side(ip, built):
    result = run(ip, f"%%retrieve --compare bm25,dense,hybrid -k 3 -o modes\n{QUERY}")
    assert isinstance(result, RetrievalComparison) and ip.user_ns["modes"] is result
    assert result.modes == ["bm25", "dense", "hybrid"] and all(len(r) == 3 for r in result.results.values())
    assert [c["mode"] for c in result.view().hits.columns] == ["bm25", "dense", "hybrid"]


@pytest.fixture
def no_current_index(ip):
    saved = magics(ip).current_index
    magics(ip).current_index = None
    yield
    magics(ip).current_index = saved


def test_without_an_index_retrieve_says_how_to_build_one(ip, no_current_index):
    with pytest.raises(UsageError, match="No index to search: build one with %nbrag index PATH"):
        run(ip, "%%retrieve\nlenses")


@pytest.mark.parametrize("source, message", [
    ("%%retrieve --mode sparse\nq", "--mode sparse: choose one of bm25, dense, hybrid, graph, hybrid+graph."),
    ("%%retrieve --mode graph\nq", "--mode graph: index 'magic-samples-"),
    ("%%retrieve --fusion borda\nq", "--fusion borda: choose one of rrf, minmax, zscore."),
    ("%%retrieve --rrf-k -1\nq", "--rrf-k -1: give a whole number of at least 0 (5 by default; the RRF paper used "
                                  "60)."),
    ("%%retrieve -k 0\nq", "--top-k 0: give a whole number of at least 1."),
    ("%%retrieve -k five\nq", "argument -k/--top-k: invalid int value: 'five'"),
    ("%%retrieve --weights 0.3\nq", "--weights 0.3: give the BM25 and dense weights as two numbers"),
    ("%%retrieve --weights a,b\nq", "--weights a,b: give the BM25 and dense weights"),
    ("%%retrieve --weights 0,0\nq", "--weights {'bm25': 0.0, 'dense': 0.0}: give numbers of at least 0 with a "
                                     "positive sum"),
    ("%%retrieve --weights bm25=1,sparse=1\nq", "--weights {'bm25': 1.0, 'sparse': 1.0}: sparse is not a retriever "
                                               "here: weigh bm25, dense."),
    ("%%retrieve --hyde always\nq", "argument --hyde: invalid choice: 'always'"),
    ("%%retrieve --compare bm25,sparse\nq", "--compare ['bm25', 'sparse']: 'sparse' is not a mode: choose from bm25, "
                                           "dense, hybrid"),
    ("%%retrieve --compare bm25,bm25\nq", "--compare ['bm25', 'bm25']: 'bm25' is named twice"),
    ("%%retrieve --index nowhere\nq", "--index nowhere: no such index. Build it with %nbrag index PATH --name nowhere"),
    ("%%retrieve --index text\nq", "(the variable text holds a str, not an nbrag.Index)"),
    ("%%retrieve --query twice\nq", "Query given twice (the cell and --query)"),
    ("%%retrieve -k 3\n  \n", "No query: write it in the cell under %%retrieve"),
    ("%retrieve -k 3", "No query"),
    ("%%retrieve -o 2x\nq", "-o '2x' is not a valid Python variable name"),
    ("%%retrieve --sise 3\nq", "unrecognized arguments: --sise 3"),
    ("%nbrag index /no/such/folder", "%nbrag index /no/such/folder: no such file or folder"),
    ("%nbrag index", "the following arguments are required: path"),
    ("%nbrag index $corpus --memory --chunker rekursive", "--chunker rekursive: no such chunker"),
    ("%nbrag index $corpus --memory --name x", "--name x: not a name Chroma allows: 3-512 characters"),
    ("%nbrag index $corpus --size many", "argument --size: invalid int value: 'many'"),
    ("%nbrag info please", "%nbrag info takes no arguments"),
])
def test_bad_input_is_one_line_usage_error(ip, built, source, message):
    ip.user_ns.update(text="not an index", keep="still here")
    ip.user_ns.pop("nowhere", None)
    current = magics(ip).current_index
    with pytest.raises(UsageError) as info:
        run(ip, source)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()
    assert ip.user_ns["keep"] == "still here" and magics(ip).current_index is current


def test_a_bug_in_the_engine_keeps_its_traceback(ip, built, monkeypatch):
    """Only a person's mistake (an NbragError) becomes a one-line UsageError: a bug inside the engine reaches the
    notebook as the exception it is."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Index, "search", broken)
    for source in (f"%%retrieve -k 2\n{QUERY}", f"%%retrieve --compare bm25,dense\n{QUERY}"):
        with pytest.raises(RuntimeError, match=r"^boom$"):
            run(ip, source)
    monkeypatch.setattr(Index, "add_files", broken)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%nbrag index $corpus --memory --name {built.name}")
    assert magics(ip).current_index is built


def test_a_bad_option_names_its_flag_in_one_line(ip, built):
    with pytest.raises(UsageError) as info:
        run(ip, f"%%retrieve -k 3 --fusion rrf --rrf-k -1 --hyde --generator g\n{QUERY}")
    assert str(info.value) == "--rrf-k -1: give a whole number of at least 0 (5 by default; the RRF paper used 60)."
    with pytest.raises(UsageError) as info:
        run(ip, f"%retrieve --weights bm25=0.5,dense=-1 --query {QUERY}")
    assert str(info.value) == ("--weights {'bm25': 0.5, 'dense': -1.0}: give numbers of at least 0 with a positive "
                               "sum, e.g. {'bm25': 0.3, 'dense': 0.7}.")
