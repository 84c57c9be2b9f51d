import pytest

import nbrag
from nbrag import errors
from nbrag.chunking import ChunkComparison, compare
from nbrag.chunking.comparison import options_for
from nbrag.errors import NbragError
from nbrag.views.chunk_comparison import ChunkComparisonView


def test_each_chunker_takes_the_options_it_has(python_doc):
    assert options_for("fixed", {"size": 64, "overlap": 8}) == {"size": 64, "overlap": 8}
    assert options_for("recursive", {"size": 64, "overlap": 8}) == {"size": 64}
    assert options_for("semantic", {"size": 64, "overlap": 8}) == {"max_size": 64}
    assert options_for("semantic", {"size": 64, "max_size": 32}) == {"max_size": 32}


def test_results_equal_running_each_chunker_alone(python_doc):
    comparison = compare(python_doc, ["fixed", "recursive", "structure"], size=48, overlap=4)
    assert list(comparison.results) == ["fixed", "recursive", "structure"]
    alone = nbrag.chunk(python_doc, method="recursive", size=48)
    assert [c.to_dict() for c in comparison.results["recursive"]] == [c.to_dict() for c in alone]
    stats = {row["method"]: row for row in comparison.stats()}
    assert stats["fixed"]["chunks"] == len(comparison.results["fixed"])
    assert stats["fixed"]["max_tokens"] == 48
    assert comparison.to_dict()["stats"] == comparison.stats()


def test_the_view_places_chunks_by_offset(python_doc):
    comparison = compare(python_doc, ["fixed", "recursive"], size=64, overlap=8)
    view = ChunkComparisonView.of(comparison)
    assert view.length == len(python_doc)
    assert [len(t["chunks"]) for t in view.tracks] == [len(r) for r in comparison.results.values()]
    first = view.tracks[0]["chunks"][0]
    assert (first["start"], first["end"]) == (comparison.results["fixed"][0].start, comparison.results["fixed"][0].end)
    html = view.to_html()
    assert html.count('class="nbrag-track"') == 2 and "<table" in html and html.startswith("<style>")


def test_the_comparison_shows_its_registered_view(python_doc):
    comparison = compare(python_doc, ["fixed", "recursive"], size=64, overlap=8)
    view = comparison.view()
    assert isinstance(view, ChunkComparisonView) and view.tracks == ChunkComparisonView.of(comparison).tracks
    bundle, _ = comparison._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/html"] == view.to_html()


def test_the_old_name_still_works_with_a_warning(monkeypatch):
    monkeypatch.setattr(errors, "_warned", set())
    with pytest.warns(FutureWarning, match="nbrag.chunking.Comparison is now nbrag.chunking.ChunkComparison"):
        from nbrag.chunking import Comparison
    assert Comparison is ChunkComparison
    with pytest.raises(AttributeError):
        nbrag.chunking.Comparisons  # noqa: B018


def test_unknown_or_no_chunkers():
    with pytest.raises(NbragError, match=r"^methods='fixd': no such chunker; choose one of fixed, llm, recursive,"):
        compare("text", ["fixed", "fixd"])
    with pytest.raises(NbragError, match=r"^methods=\[\]: give a list of one or more chunkers"):
        compare("text", [])
    with pytest.raises(NbragError, match=r"^methods='fixed': give a list of one or more chunkers,"):
        compare("text", "fixed")
