"""The tour and the boundary widget, run in JupyterLab in a real browser."""

from __future__ import annotations

import nbformat
import pytest

from tests.browser.conftest import ROOT, copy_notebook, open_and_run_all, save_screenshot

pytestmark = pytest.mark.browser
TOUR = ROOT / "notebooks" / "00_tour.ipynb"


def expected_chunk_counts(shell, path) -> tuple[list[int], list[list[int]]]:
    """Run the notebook's %chunk cells in-process: chunks per boundary view, and per track of each comparison."""
    from nbrag.chunking import ChunkComparison

    counts, comparisons = [], []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        source = cell.source
        if source.lstrip().startswith(("%chunk", "%%chunk")):
            result = shell.run_cell(source).result
            if isinstance(result, ChunkComparison):
                comparisons.append([len(r) for r in result.results.values()])
            else:
                counts.append(len(result))
        elif "models." not in source and "llm." not in source:  # the model demos change nothing the chunk cells use
            shell.run_cell(source)
    return counts, comparisons


def widget_counts(page) -> list[int]:
    return page.eval_on_selector_all(
        ".jp-OutputArea-output .nbrag-boundary",
        "els => els.map(e => [Number(e.getAttribute('data-chunks')), e.querySelectorAll('.nbrag-label').length])",
    )


def test_tour_renders_the_boundary_widgets(page, lab, lab_root, ip):
    expected, comparisons = expected_chunk_counts(ip, TOUR)
    assert len(expected) == 4 and all(n > 1 for n in expected) and len(comparisons) == 1
    open_and_run_all(page, lab, copy_notebook(TOUR, lab_root))
    page.wait_for_function(
        f"document.querySelectorAll('.jp-OutputArea-output .nbrag-boundary').length >= {len(expected)}", timeout=60_000)
    rendered = widget_counts(page)
    assert [n for n, _ in rendered] == expected
    assert all(n == labels for n, labels in rendered), "one number label per chunk"
    tracks = page.eval_on_selector_all(
        ".jp-OutputArea-output .nbrag-compare .nbrag-track",
        "els => els.map(e => [Number(e.getAttribute('data-chunks')), e.querySelectorAll('.nbrag-track-seg').length])")
    assert [n for n, _ in tracks] == comparisons[0] and all(n == boxes for n, boxes in tracks)
    save_screenshot(page.locator(".jp-OutputArea-output .nbrag-compare").first, "tour-compare.png")

    first = page.locator(".jp-OutputArea-output .nbrag-boundary").first
    first.scroll_into_view_if_needed()
    save_screenshot(first, "tour-boundary.png")
    save_screenshot(page, "tour-page.png")
    save_screenshot(page.locator(".jp-OutputArea-output .nbrag-boundary").nth(1), "tour-recursive.png")
    save_screenshot(page.locator(".jp-OutputArea-output .nbrag-boundary").nth(2), "tour-chinese.png")

    # Overlaps are drawn differently, and hovering names the chunk and its token count.
    assert page.locator(".nbrag-boundary .nbrag-overlap").count() >= expected[0] - 1
    segment = first.locator(".nbrag-seg").first
    assert segment.get_attribute("title").startswith("chunk 0 · 64 tokens · chars 0–")
    segment.hover()
    assert first.locator(".nbrag-active").count() >= 1

    # The warning about chunks the embedder truncates is on screen.
    warnings = page.locator(".nbrag-boundary .nbrag-warning").all_inner_texts()
    assert len(warnings) == 1 and "chunk(s) exceed the 256 tokens that all-MiniLM-L6-v2 embeds" in warnings[0]
    # The wrong-input cell shows one line, not a traceback.
    assert "--overlap 64: must be a whole number from 0 to 63" in page.inner_text(".jp-Notebook")
    assert not [e for e in page.errors if "nbrag" in e.lower()], page.errors


EVIL = '<script>window.__nbragXss = "script"</script> <img src=x onerror="window.__nbragXss = \'img\'"> plain words'


def test_document_markup_shows_as_text_and_never_runs(page, lab, lab_root):
    write_notebook(lab_root / "xss.ipynb", ["%load_ext nbrag", f"%%chunk --size 6 --overlap 2\n{EVIL}"])
    open_and_run_all(page, lab, "xss.ipynb", timeout_s=120)
    widget = page.locator(".jp-OutputArea-output .nbrag-boundary")
    widget.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # give an injected handler time to fire, if there were one
    assert page.evaluate("window.__nbragXss") is None
    text = widget.locator(".nbrag-text")
    assert text.locator("script, img").count() == 0
    assert "".join(text.locator(".nbrag-seg").all_inner_texts()) == EVIL + "\n"  # a cell ends with a newline
    save_screenshot(widget, "xss-boundary.png")
    assert not [e for e in page.errors if "dialog" in e], page.errors


SLIDERS = [
    "%load_ext nbrag",
    "from pydoc_data.topics import topics\ndoc = topics['with']",
    "%chunk --var doc --size 64 --overlap 8",
    "%chunk --var doc -m semantic --max-size 96",
    "%%chunk -m structure --size 24\n# Guide\n\nRead this first.\n\n## Install\n\n### Linux\n\nRun the installer.\n\n"
    "## Use\n\nCall it from a notebook.",
]


def test_dragging_a_slider_moves_the_boundaries(page, lab, lab_root):
    write_notebook(lab_root / "sliders.ipynb", SLIDERS)
    open_and_run_all(page, lab, "sliders.ipynb", timeout_s=180)
    views = page.locator(".jp-OutputArea-output .nbrag-boundary")
    views.nth(2).wait_for(timeout=60_000)
    fixed = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".nbrag-boundary")).first
    before = int(views.first.get_attribute("data-chunks"))
    assert before == len(chunk_with(size=64, overlap=8))

    # Drag the size slider's handle to the left and let go: the kernel chunks again.
    drag_first_slider(page, fixed, -25)
    size = int(fixed.locator(".widget-readout").first.inner_text())
    assert 8 < size < 64
    page.wait_for_function(f"document.querySelector('.jp-OutputArea-output .nbrag-boundary')"
                           f".getAttribute('data-chunks') !== '{before}'", timeout=30_000)
    after = int(views.first.get_attribute("data-chunks"))
    assert after == len(chunk_with(size=size, overlap=min(8, size - 1))) > before
    assert views.first.locator(".nbrag-label").count() == after
    save_screenshot(fixed, "slider-after-drag.png")

    # Clicking a chunk shows its metadata; plotly drew the size histograms and the similarity curve.
    views.first.locator(".nbrag-seg").nth(3).click()
    assert views.first.locator(".nbrag-meta-title").inner_text().startswith("chunk ")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=30_000)
    semantic = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".nbrag-boundary")).nth(1)
    assert "Neighbour similarity" in semantic.inner_text()
    save_screenshot(semantic, "semantic-view.png")
    # The structure chunker's outline nests the headings.
    outline = views.nth(2).locator(".nbrag-outline summary").all_inner_texts()
    assert [s.split(" (")[0] for s in outline[:3]] == ["Guide", "Install", "Linux"]
    save_screenshot(views.nth(2), "structure-outline.png")
    assert not [e for e in page.errors if "nbrag" in e.lower()], page.errors


def chunk_with(**options):
    """The same chunks in-process, from the text the notebook chunks."""
    from pydoc_data.topics import topics

    import nbrag

    return nbrag.chunk(topics["with"], **options)


CHUNKING = ROOT / "notebooks" / "01_chunking.ipynb"


def test_chunking_notebook_renders_every_view(page, lab, lab_root):
    open_and_run_all(page, lab, copy_notebook(CHUNKING, lab_root), timeout_s=420)
    views = page.locator(".jp-OutputArea-output .nbrag-boundary")
    page.wait_for_function("document.querySelectorAll('.jp-OutputArea-output .nbrag-boundary').length >= 9",
                           timeout=60_000)
    counts = [int(n) for n in views.evaluate_all("els => els.map(e => e.getAttribute('data-chunks'))")]
    assert len(counts) == 9 and all(n > 1 for n in counts), counts
    for i, name in ((0, "fixed"), (1, "recursive"), (2, "semantic"), (3, "structure"), (5, "chinese")):
        views.nth(i).scroll_into_view_if_needed()
        save_screenshot(views.nth(i).locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]"),
                        f"chunking-{name}.png")

    # The evaluation: a plotly bar chart and the question view with the answer boxed and hits starred.
    question = views.nth(7)
    assert question.locator(".nbrag-ref").count() >= 1 and question.locator(".nbrag-hit").count() >= 1
    save_screenshot(question, "chunking-question.png")
    bars = page.locator(".js-plotly-plot").filter(has_text="Chunk quality")
    save_screenshot(bars.first, "chunking-scores.png")

    # A megabyte in pages: the next page draws other text, quickly.
    book = views.nth(8)
    assert "page 1 of" in book.locator(".nbrag-where").inner_text()
    first = book.locator(".nbrag-seg").first.inner_text()
    started = page.evaluate("performance.now()")
    book.locator(".nbrag-next").click()
    assert "page 2 of" in book.locator(".nbrag-where").inner_text()
    assert book.locator(".nbrag-seg").first.inner_text() != first
    assert page.evaluate("performance.now()") - started < 5_000
    save_screenshot(book, "chunking-megabyte.png")
    assert not [e for e in page.errors if "nbrag" in e.lower()], page.errors


RETRIEVE_QUERY = "what keeps the light visible far out at sea"  # BM25 and dense disagree on its best passages
RETRIEVE = [
    "%load_ext nbrag",
    "import nbrag.data\ncorpus = str(nbrag.data.samples_dir() / 'corpus')",
    "%nbrag index $corpus --memory --name lab-samples --chunker recursive --size 128",
    f"%%retrieve --mode hybrid -k 5\n{RETRIEVE_QUERY}",
    f"%%retrieve --compare bm25,dense,hybrid -k 4\n{RETRIEVE_QUERY}",
]


def test_the_weight_slider_refuses_the_ranking(page, lab, lab_root):
    import time as clock

    from nbrag.data import samples_dir
    from nbrag.ranking.fusion import HYBRID
    from nbrag.retrieval import Index
    from nbrag.views.retrieval import slider_weights

    write_notebook(lab_root / "retrieve.ipynb", RETRIEVE)
    open_and_run_all(page, lab, "retrieve.ipynb", timeout_s=300)
    # The same index and search in this process: chunk ids and scores come out the same.
    index = Index(f"lab-expected-{clock.monotonic_ns()}", memory=True)
    index.add_files(samples_dir() / "corpus", chunker="recursive", size=128, progress=False)
    expected = index.search(RETRIEVE_QUERY, 5, mode="hybrid")

    view = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator(".nbrag-retrieval")).first
    hits = view.locator(".nbrag-retrieval .nbrag-hit")
    hits.nth(4).wait_for(timeout=60_000)

    def ranked():
        return hits.evaluate_all("els => els.map(e => e.dataset.id)")

    before = ranked()
    assert before == expected.ids
    assert [h.ranks["bm25"] for h in expected] != [h.ranks["dense"] for h in expected]
    assert view.locator(".nbrag-passage mark").count() >= 5, "query terms are marked"
    marked = {text.lower() for text in view.locator(".nbrag-passage mark").all_inner_texts()}
    assert "lights" in marked, f"a word is marked through its stem (lights: light), marked: {sorted(marked)}"
    parts = view.locator(".nbrag-bar .nbrag-part-bm25").count(), view.locator(".nbrag-bar .nbrag-part-dense").count()
    assert parts == (5, 5)
    assert view.locator(".nbrag-hit .nbrag-chip").first.inner_text() == f"bm25 #{expected[0].ranks['bm25']}"
    assert view.locator(".widget-readout").first.inner_text() == f"{HYBRID.weights['bm25']:.2f}"  # the default's
    view.scroll_into_view_if_needed()
    save_screenshot(view, "retrieve-before.png")

    # Drag the BM25 weight's handle to the right and let go: the kernel fuses the same candidates again.
    drag_first_slider(page, view, 40)
    weight = float(view.locator(".widget-readout").first.inner_text())
    assert HYBRID.weights["bm25"] < weight < 1.0
    refused = expected.fuse(weights=slider_weights(weight)).ids
    assert refused != before, f"at BM25 weight {weight} the ranking would not change; drag further"
    page.wait_for_function(
        """ids => {
            const root = document.querySelector('.jp-OutputArea-output .nbrag-retrieval');
            return !!root && [...root.querySelectorAll('.nbrag-hit')].map(e => e.dataset.id).join(' ') === ids;
        }""", arg=" ".join(refused), timeout=30_000)
    assert ranked() == refused
    assert view.inner_text().count(f"dense weight {1 - weight:.2f}") == 1
    save_screenshot(view, "retrieve-after-drag.png")

    # Clicking a hit opens its document below, with the chunk boundaries and the hit selected.
    hits.nth(1).click()
    document = view.locator(".nbrag-boundary")
    document.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("[...document.querySelectorAll('.nbrag-boundary')].some(e => "
                           "e.querySelector('.nbrag-seg.nbrag-selected'))", timeout=30_000)
    hit = next(h for h in expected.fuse(weights=slider_weights(weight)) if h.id == refused[1])
    assert document.locator(".nbrag-title").inner_text().startswith(f"{hit.document} · ")
    assert document.locator(".nbrag-hit").count() >= 1  # starred labels of this result's hits
    selected = "".join(document.locator(".nbrag-seg.nbrag-selected").all_inner_texts())
    assert selected == hit.text
    page.wait_for_function("() => { const r = [...document.querySelectorAll('.nbrag-boundary')].find("
                           "e => e.querySelector('.nbrag-selected')).getBoundingClientRect();"
                           "return r.top >= 0 && r.bottom <= window.innerHeight; }", timeout=10_000)  # scrolled to it
    save_screenshot(page, "retrieve-document-page.png")
    save_screenshot(document, "retrieve-document.png")

    comparison = page.locator(".jp-OutputArea-output .nbrag-retrieval[data-columns='3']")
    assert comparison.locator(".nbrag-column").count() == 3
    assert comparison.locator(".nbrag-move").count() == 8  # dense and hybrid columns, against bm25
    comparison.scroll_into_view_if_needed()
    save_screenshot(comparison, "retrieve-compare.png")
    assert not [e for e in page.errors if "nbrag" in e.lower()], page.errors


def drag_first_slider(page, widget, dx: float) -> None:
    """Drag the handle of the first ipywidgets slider in ``widget`` by ``dx`` pixels and let go."""
    box = widget.locator(".widget-slider").first.locator(".noUi-handle").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + dx, y, steps=8)
    page.mouse.up()


def write_notebook(path, sources) -> None:
    """A notebook of code cells on the python3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
