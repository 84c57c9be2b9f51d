"""%%ask in JupyterLab: click a citation and its source opens; the prompt as the model saw it; the agent's trace.

The first answer comes from a ``complete(messages)`` function written in the notebook, which quotes
sources [2] and [1] and cites them, adds a sentence that no source supports and a number that cites
nothing, so every part of the view is drawn whatever the small model writes. The offline SmolLM2
answers the second question and runs the agent (it seldom cites, so its answers are shown, not clicked).
"""

from __future__ import annotations

import inspect
import json
import re
import time

import pytest

from nbrag.rag.support import SUPPORT_THRESHOLD
from tests.browser.conftest import open_and_run_all, save_screenshot
from tests.browser.test_lab import write_notebook

pytestmark = pytest.mark.browser
QUESTION = "How is the tipping-bucket rain gauge emptied?"
EVIL = '<script>window.__nbragXss = "script"</script> <img src=x onerror="window.__nbragXss = \'img\'">'
TRAP = f"A trap for views. {EVIL} The bucket tips when it is full."


def cite_sources(messages):
    """Quotes a sentence of sources [2] and [1], citing them; then a claim no source makes,
    a number that cites nothing, and markup that must show as text."""
    prompt = messages[-1]["content"]
    found = dict(re.findall(r"^\[(\d+)\] (.+?)(?=^\[\d+\] |\Z)", prompt, flags=re.MULTILINE | re.DOTALL))

    def first(n):  # its first sentence of five words or more, headings skipped
        sentences = re.split(r"(?<=[.!?])\s+|\n+", found[n])
        return next(s for s in sentences if len(s.split()) >= 5 and not s.startswith("#")).rstrip(".")

    return f"{first('2')} [2]. {first('1')} [1]. The Moon is made of green cheese [3]. See also [9]. {EVIL}"


def cite_plainly(messages):
    """The same answer without the markup (the README's picture of an answer)."""
    return cite_sources(messages).replace(EVIL, "").strip()


CELLS = [
    ("%load_ext nbrag\nimport json, re, torch\ntorch.set_num_threads(1)\nfrom nbrag import Index\n"
     f"from nbrag.data import sample_documents\nEVIL = {EVIL!r}\n"
     f"docs = {{**sample_documents(), 'trap': {TRAP!r}}}\n"
     "notes = Index('browser-rag', memory=True)\nnotes.add(docs, chunker='recursive', size=128, progress=False)"),
    inspect.getsource(cite_sources) + "\n\n" + inspect.getsource(cite_plainly),  # the generators, in the notebook
    f"%%ask --index notes -k 4 --generator cite_sources -o ans\n{QUESTION}",
    # What the view should show, from the same kernel.
    ("print(json.dumps({'sources': {s.number: s.hit.text for s in ans.sources}, "
     "'supported': [s.supported for s in ans.support], 'prompt': ans.prompt}))"),
    f"%%ask --index notes -k 2 --max-new-tokens 48 -o smol\n{QUESTION}",
    f"%%ask --agent --index notes -k 2 --max-steps 5 --max-new-tokens 48 -o trace\n{QUESTION}",
    f"%%ask --index notes -k 4 --generator cite_plainly\n{QUESTION}",
]


# Records the longest text a streaming view showed while the cells ran (each is removed once its answer is drawn).
WATCH_STREAM = """window.__nbragStreamed = 0;
new MutationObserver(() => {
    for (const box of document.querySelectorAll('.nbrag-stream')) {
        window.__nbragStreamed = Math.max(window.__nbragStreamed, box.textContent.length);
    }
}).observe(document, {childList: true, subtree: true, characterData: true});"""


def test_clicking_a_citation_opens_its_source(page, lab, lab_root):
    write_notebook(lab_root / "rag.ipynb", CELLS)
    page.add_init_script(WATCH_STREAM)
    open_and_run_all(page, lab, "rag.ipynb", timeout_s=400)
    assert page.evaluate("() => window.__nbragStreamed") > len("Generating…") + 10  # the reply showed as it came
    expected = json.loads(page.locator(".jp-OutputArea-output pre").filter(has_text='"sources"').first.inner_text())
    page.wait_for_function("document.querySelectorAll('.jp-OutputArea-output .nbrag-rag .nbrag-rag-answer')"
                           ".length >= 3", timeout=60_000)
    cells = page.locator(".jp-CodeCell")
    view = cells.nth(2).locator(".nbrag-rag")
    assert view.count() == 1 and page.locator(".nbrag-stream").count() == 0  # the streamed text gave way
    streamed, shown = cells.nth(2).locator(".jp-OutputArea-output").all()  # its output emptied, then the answer
    assert streamed.inner_text().strip() == "" and streamed.bounding_box()["height"] < 5
    assert shown.locator(".nbrag-rag").count() == 1
    assert view.locator(".nbrag-rag-question").text_content() == f"Question {QUESTION}"
    assert view.locator(".nbrag-rag-source").count() == 4
    save_screenshot(view, "rag-answer.png")

    # Click [2]: source 2 is highlighted, scrolled to, and shows its chunk's full text.
    view.locator('.nbrag-cite[data-source="2"]').click()
    selected = view.locator(".nbrag-rag-source.nbrag-selected")
    selected.wait_for(timeout=10_000)
    assert selected.get_attribute("data-number") == "2"
    assert selected.locator(".nbrag-rag-text").text_content() == expected["sources"]["2"]
    assert "fused" in selected.inner_text() and "bm25" in selected.inner_text() and "dense" in selected.inner_text()
    page.wait_for_timeout(600)  # the smooth scroll
    assert selected.evaluate("e => { const r = e.getBoundingClientRect(); return r.top >= 0 && "
                             "r.bottom <= window.innerHeight; }")
    save_screenshot(view, "rag-citation-clicked.png")
    # Then [1] moves the highlight.
    view.locator('.nbrag-cite[data-source="1"]').click()
    page.wait_for_function("() => document.querySelector('.nbrag-rag-source.nbrag-selected')?.dataset.number === '1'")
    assert view.locator(".nbrag-rag-source.nbrag-selected .nbrag-rag-text").text_content() == expected["sources"]["1"]

    # [9] cites nothing: drawn broken, with a tooltip; the made-up sentence is marked unsupported.
    broken = view.locator(".nbrag-cite.nbrag-broken")
    assert broken.count() == 1 and broken.inner_text() == "[9]"
    assert broken.get_attribute("title").startswith("[9] cites no source: the prompt had 4 sources")
    unsupported = view.locator(".nbrag-sentence.nbrag-unsupported")
    assert unsupported.count() == expected["supported"].count(False) >= 1
    cheese = view.locator(".nbrag-sentence", has_text="green cheese")
    assert "nbrag-unsupported" in cheese.get_attribute("class")
    threshold = f"threshold {SUPPORT_THRESHOLD:.2f}"
    assert threshold in cheese.get_attribute("title")
    assert threshold in view.locator(".nbrag-rag-legend").inner_text()

    # Markup in the answer and in a document shows as text and never runs.
    assert "<script>window.__nbragXss" in view.locator(".nbrag-rag-answer").inner_text()
    assert page.evaluate("() => window.__nbragXss") is None
    assert view.locator(".nbrag-rag-answer script, .nbrag-rag-answer img, .nbrag-rag-sources img").count() == 0

    # The prompt, exactly as the model saw it.
    view.locator(".nbrag-rag-prompt summary").click()
    assert view.locator(".nbrag-rag-prompt pre").text_content() == expected["prompt"]
    save_screenshot(view.locator(".nbrag-rag-prompt"), "rag-prompt.png")

    # SmolLM2's own answer: its prompt carries the chat template.
    smol = cells.nth(4).locator(".nbrag-rag")
    smol.scroll_into_view_if_needed()
    assert smol.locator(".nbrag-rag-answer").inner_text().strip()
    assert "SmolLM2" in smol.locator(".nbrag-rag-meta").inner_text()
    assert "<|im_start|>" in smol.locator(".nbrag-rag-prompt pre").text_content()
    save_screenshot(smol, "rag-smollm2.png")

    # The agent's trace: one collapsible row per step, then the answer drawn as above.
    trace = cells.nth(5).locator(".nbrag-trace")
    trace.scroll_into_view_if_needed()
    steps = trace.locator(".nbrag-step")
    assert 1 <= steps.count() <= 5 and steps.first.locator(".nbrag-badge").inner_text() == "plan"
    steps.first.locator("summary").click()
    assert steps.first.evaluate("e => e.open")
    retrieve = trace.locator('.nbrag-step[data-action="retrieve"]').first
    retrieve.locator("summary").click()
    hit = retrieve.locator(".nbrag-step-hit").first
    closed = hit.locator(".nbrag-rag-text").bounding_box()["height"]
    hit.click()  # a retrieved passage opens in full
    assert "nbrag-open" in hit.get_attribute("class")
    assert hit.locator(".nbrag-rag-text").bounding_box()["height"] > closed
    assert cells.nth(5).locator(".nbrag-rag .nbrag-rag-answer").count() == 1
    assert cells.nth(5).locator(".nbrag-rag-question").count() == 1  # asked once, above the trace
    assert cells.nth(5).locator(".nbrag-rag .nbrag-rag-answer-head").text_content() == "Final answer"
    save_screenshot(cells.nth(5).locator(".jp-OutputArea"), "rag-trace.png")

    # The same citations without the markup trap, [2] clicked: the picture of an answer in the README.
    plain = cells.nth(6).locator(".nbrag-rag")
    plain.scroll_into_view_if_needed()
    assert "<script>" not in plain.locator(".nbrag-rag-answer").inner_text()
    assert plain.locator(".nbrag-cite").count() >= 3
    plain.locator('.nbrag-cite[data-source="2"]').click()
    plain.locator('.nbrag-rag-source.nbrag-selected[data-number="2"]').wait_for(timeout=10_000)
    page.mouse.move(5, 5)
    page.wait_for_timeout(600)  # the smooth scroll
    save_screenshot(plain, "rag-plain-cited.png")
    assert not [e for e in page.errors if "nbrag" in e.lower() or "rag" in e.lower()], page.errors


def test_the_static_drawing_links_citations_to_sources(page):
    """What an exported notebook shows (no kernel, no widget): citations are links to their sources."""
    import nbrag
    from nbrag.data import sample_documents
    from nbrag.views.rag import AnswerView

    index = nbrag.Index(f"static-rag-{time.monotonic_ns()}", memory=True)
    index.add({**sample_documents(), "trap": TRAP}, chunker="recursive", size=128, progress=False)
    answer = nbrag.ask(QUESTION, index, k=4, generator=cite_sources)
    page.set_viewport_size({"width": 560, "height": 900})  # narrow: every source's text is longer than 2 lines
    page.set_content(f"<!doctype html><html><body>{AnswerView(answer).to_html()}</body></html>")
    view = page.locator(".nbrag-rag")
    closed = view.locator('.nbrag-rag-source[data-number="2"] .nbrag-rag-text').bounding_box()["height"]
    view.locator("a.nbrag-cite", has_text="[2]").click()
    target = view.locator(".nbrag-rag-source:target")
    assert target.get_attribute("data-number") == "2"
    assert target.locator(".nbrag-rag-text").text_content() == answer.sources[1].hit.text
    assert target.locator(".nbrag-rag-text").bounding_box()["height"] > closed  # opened in full
    assert view.locator(".nbrag-broken").inner_text() == "[9]"
    assert view.locator(".nbrag-unsupported", has_text="green cheese").count() == 1
    assert page.evaluate("() => window.__nbragXss") is None and view.locator("script, img").count() == 0
    save_screenshot(view, "rag-static.png")
