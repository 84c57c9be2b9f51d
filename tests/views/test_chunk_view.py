"""The live chunk view: sliders that re-chunk, the size histogram and the similarity curve."""

import json

import pytest

import nbrag
from nbrag.views.chunks import ChunkView

PLOTLY = "application/vnd.plotly.v1+json"


def figure(area):
    (output,) = area.outputs
    return output["data"][PLOTLY]


def test_moving_the_size_slider_rechunks_and_redraws(python_doc):
    view = nbrag.chunk(python_doc, size=64, overlap=8).view()
    assert isinstance(view, ChunkView) and set(view.sliders) == {"size", "overlap"}
    before = len(view.boundary.chunks)
    view.sliders["size"].value = 32
    assert len(view.boundary.chunks) == len(nbrag.chunk(python_doc, size=32, overlap=8)) > before
    assert view.sliders["overlap"].max == 31
    sizes = figure(view.sizes)["data"][0]["x"]
    assert sorted(sizes) == sorted(c.tokens for c in view.result)
    assert max(sizes) <= 32


def test_a_refused_value_keeps_the_last_drawing_and_says_why(python_doc):
    view = nbrag.chunk(python_doc, method="semantic", max_size=96).view()
    drawn = view.boundary.segments
    view.rechunk(threshold=250.0)
    assert view.status.value == ('<span class="nbrag-refused">threshold=250.0: with the percentile threshold type, '
                                 'give a number from 0 to 100.</span>')
    assert view.boundary.segments is drawn
    view.sliders["threshold"].value = 50.0
    assert view.status.value == "" and view.result.params["threshold"] == 50.0


def test_the_semantic_view_plots_similarities_threshold_and_cuts(python_doc):
    result = nbrag.chunk(python_doc, method="semantic", max_size=96, threshold=20)
    fig = figure(nbrag.chunk(python_doc, method="semantic", max_size=96, threshold=20).view().similarity)
    curve, *cuts = fig["data"]
    assert curve["y"] == result.details["similarities"]
    cut_units = sorted(x for trace in cuts for x in trace["x"])
    assert cut_units == sorted(c["unit"] for c in result.details["cuts"])
    line = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert line and line[0]["y0"] == result.details["threshold_value"]
    json.dumps(fig)


def test_slider_ranges_follow_each_chunker(python_doc):
    semantic = nbrag.chunk(python_doc, method="semantic", threshold_type="std", threshold=1.0).view()
    assert set(semantic.sliders) == {"max_size", "min_size", "threshold"}
    assert (semantic.sliders["threshold"].min, semantic.sliders["threshold"].max) == (0.0, 3.0)
    assert set(nbrag.chunk(python_doc, method="recursive").view().sliders) == {"size"}
    assert set(nbrag.chunk("# A\n\nb\n", method="structure").view().sliders) == {"size"}
    assert nbrag.chunk("", size=8, overlap=0).view().sizes.outputs == ()


def test_the_static_copy_is_the_boundary_drawing(python_doc):
    view = nbrag.chunk(python_doc, size=64, overlap=8).view()
    bundle = view._repr_mimebundle_()
    assert bundle[0]["text/html"] == view.boundary.to_html()
    assert "application/vnd.jupyter.widget-view+json" in bundle[0]


def test_a_threshold_past_the_usual_range_is_shown_as_given(python_doc):
    view = nbrag.chunk(python_doc, method="semantic", threshold_type="std", threshold=4.5).view()
    assert view.sliders["threshold"].value == 4.5 and view.sliders["threshold"].max == 4.5


def test_a_bug_while_rechunking_is_not_hidden_as_a_refusal(python_doc, monkeypatch):
    from nbrag.views import chunks

    view = nbrag.chunk(python_doc, size=64, overlap=8).view()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(chunks, "chunk", broken)
    with pytest.raises(RuntimeError, match="boom"):
        view.rechunk(size=32)
    assert view.status.value == ""


def test_the_refusal_style_ships_with_the_boundary_widget():
    from nbrag.views.shared import static

    assert ".nbrag-refused" in static("boundary.css").read_text()
