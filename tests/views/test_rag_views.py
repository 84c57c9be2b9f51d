"""AnswerView, TraceView and StreamView over answers built from a real index, real citations and a real
support check (the all-MiniLM-L6-v2 embedder); the browser test clicks them in JupyterLab."""

from __future__ import annotations

import time

import pytest

import nbrag
from nbrag.data import sample_documents
from nbrag.errors import NbragError
from nbrag.rag.base import AgentResult, AgentStep, Answer, Source
from nbrag.rag.support import parse_citations, support_check
from nbrag.retrieval import Index
from nbrag.views.rag import (
    AnswerView,
    StreamView,
    TraceView,
    answer_data,
    answer_runs,
    static_answer,
)

EVIL = '<script>window.__nbragXss = "script"</script> <img src=x onerror="window.__nbragXss = \'img\'">'
QUESTION = "How is the tipping-bucket rain gauge emptied?"


@pytest.fixture(scope="module")
def index():
    idx = Index(f"rag-views-{time.monotonic_ns()}", memory=True)
    docs = dict(sample_documents())
    docs["evil"] = f"A trap for views. {EVIL} The bucket tips when full, and a magnet closes a reed switch."
    idx.add(docs, chunker="recursive", size=128, progress=False)
    return idx


def make_answer(index, text: str, question: str = QUESTION, k: int = 4, truncate: int | None = None) -> Answer:
    """An Answer as the engine assembles it, from a real search: the sources are the hits, numbered; the
    citations and the support check are the engine's own."""
    result = index.search(question, k=k)
    sources = []
    for i, hit in enumerate(result.hits, 1):
        cut = truncate is not None and i == len(result.hits)
        sources.append(Source(number=i, hit=hit, text=hit.text[:truncate] + " …" if cut else hit.text,
                              tokens=len(hit.text.split()), truncated=cut))
    citations, warnings = parse_citations(text, sources)
    support = support_check(text, sources, citations, threshold=0.55)
    prompt = "<|im_start|>system\nAnswer from the sources.<|im_end|>\n" + "\n\n".join(
        f"[{s.number}] {s.text}" for s in sources) + f"\n\nQuestion: {question}"
    return Answer(question=question, text=text, sources=sources, citations=citations,
                  messages=[{"role": "user", "content": prompt}], prompt=prompt, support=support,
                  support_threshold=0.55, retrieval=result, generator="test", seconds={"retrieve": 0.01,
                  "generate": 1.5, "support": 0.02}, tokens={"prompt": 300, "completion": 20}, warnings=warnings)


def test_runs_cut_the_answer_at_citations_and_sentences(index):
    text = "The bucket tips when it is full, which empties it [1]. Lighthouses use Fresnel lenses [9]."
    answer = make_answer(index, text)
    runs = answer_runs(answer.text, answer.citations, answer.support)
    assert "".join(r["text"] for r in runs) == text
    cites = [r for r in runs if r["cite"]]
    assert [r["text"] for r in cites] == ["[1]", "[9]"]
    assert cites[0]["cite"] == {"number": 1, "source": 0}
    assert cites[1]["cite"] == {"number": 9, "source": None}  # the prompt had 4 sources
    assert [r["sentence"] for r in cites] == [0, 1]  # each marker inside its own sentence
    data = answer_data(answer)
    assert data["runs"][-2]["cite"]["title"] == "[9] cites no source: the prompt had 4 sources ([1]–[4])."
    assert any("[9]" in w for w in data["warnings"])  # the engine's warning is shown


def test_sources_carry_their_place_scores_and_what_the_prompt_kept(index):
    answer = make_answer(index, "It tips over [1][2].", truncate=40)
    cards = answer_data(answer)["sources"]
    assert [c["number"] for c in cards] == [1, 2, 3, 4]
    first, hit = cards[0], answer.sources[0].hit
    assert (first["document"], first["start"], first["end"], first["text"]) == (hit.document, hit.start, hit.end,
                                                                                 hit.text)
    assert index.document(hit.document)[hit.start:hit.end] == first["text"]
    assert first["scores"][0] == {"name": "fused", "value": hit.score, "rank": 1}
    assert {s["name"]: s["value"] for s in first["scores"][1:]} == hit.scores  # bm25 and dense, as retrieved
    assert first["inPrompt"] == len(hit.text) and first["status"] == ""
    last = cards[-1]
    assert last["status"] == "truncated" and last["inPrompt"] == 40  # the kept beginning, then the cut part
    note = f"Source [4] was truncated to {answer.sources[3].tokens} tokens to fit the context budget."
    assert answer_data(answer)["notes"] == [note]


def test_unsupported_sentences_say_their_score_and_the_threshold(index):
    text = ("A tipping-bucket rain gauge empties itself: the bucket tips when it is full [1]. "
            "The Great Wall of China was finished by the Romans in 1990 [1].")
    answer = make_answer(index, text)
    notes = answer_data(answer)["sentences"]
    assert [n["supported"] for n in notes] == [s.supported for s in answer.support]
    assert not notes[1]["supported"]  # nothing in the sources says so
    assert notes[1]["title"].startswith(f"not supported: similarity {answer.support[1].score:.3f} < threshold 0.55")
    view = AnswerView(answer)
    assert "threshold 0.55" in view.legend
    html = view.to_html()
    assert html.count('class="nbrag-sentence nbrag-unsupported"') == sum(not s.supported for s in answer.support)


def test_document_and_model_text_is_escaped(index):
    text = f"The bucket tips [1]. {EVIL} [2]"
    answer = make_answer(index, text, question="What trap is set for views with a script and an image?")
    assert any(EVIL in s.hit.text for s in answer.sources), "the evil document is among the sources"
    html = AnswerView(answer).to_html()
    assert "<script>window" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;window.__nbragXss") >= 3  # in the answer, the source and the prompt
    assert html.count("&lt;img src=x onerror=") >= 3


def test_selecting_a_source_and_the_static_links(index):
    answer = make_answer(index, "It tips [2].")
    view = AnswerView(answer)
    view.select(2)
    assert view.selected == 2
    with pytest.raises(NbragError, match=r"^number=7: no such source: this answer has sources \[1, 2, 3, 4\]"):
        view.select(7)
    html = static_answer(view.data, view.legend, "abc123")
    assert '<a class="nbrag-cite" href="#nbrag-abc123-2"' in html and 'id="nbrag-abc123-2"' in html
    bundle, _ = answer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "nbrag-rag" in bundle["text/html"]
    assert "The prompt, exactly as the model saw it" in bundle["text/html"]


def test_chinese_answers_cut_by_characters(index):
    text = "绿茶应当密封冷藏储存【1】。灯塔用菲涅耳透镜[2]。"
    answer = make_answer(index, text, question="绿茶怎么储存？")
    runs = answer_runs(answer.text, answer.citations, answer.support)
    assert "".join(r["text"] for r in runs) == text
    assert [r["text"] for r in runs if r["cite"]] == ["【1】", "[2]"]
    assert "绿茶应当密封冷藏储存" in AnswerView(answer).to_html()


def make_agent(index) -> AgentResult:
    draft = make_answer(index, "The bucket tips when full [1].")
    hits = draft.retrieval.hits
    steps = [
        AgentStep(1, "Split the question.", "plan", {"question": QUESTION}, "1. How does the gauge measure?",
                  seconds=0.4, prompt_tokens=80, completion_tokens=12, raw="1. How does the gauge measure?"),
        AgentStep(2, "Look for the gauge.", "retrieve", {"query": "tipping bucket"}, "4 passages", hits=hits,
                  seconds=0.05),
        AgentStep(3, "Add up.", "calculate", {"expression": "2 * 0.2"}, "0.4", seconds=0.0),
        AgentStep(4, "Draft <b>it</b>.", "answer", {}, draft.text, seconds=1.2, prompt_tokens=300,
                  completion_tokens=20),
    ]
    return AgentResult(question=QUESTION, answer=draft.text, sources=draft.sources, citations=draft.citations,
                       support=draft.support, sub_questions=["How does the gauge measure?"], steps=steps,
                       verified=None, stopped="Stopped after 4 steps (max_steps=4): the answer is the last draft.",
                       tokens={"prompt": 380, "completion": 32}, seconds=1.65, support_threshold=0.55,
                       draft=draft)


def test_trace_view_shows_every_step_then_the_answer(index):
    result = make_agent(index)
    view = TraceView(result)
    assert isinstance(view.answer, AnswerView) and view.answer.answer is result
    data = view.trace.data
    assert [s["action"] for s in data["steps"]] == ["plan", "retrieve", "calculate", "answer"]
    assert [h["document"] for h in data["steps"][1]["hits"]] == [h.document for h in result.draft.retrieval.hits]
    assert data["stopped"].startswith("Stopped after 4 steps") and data["verified"] == "not checked"
    assert view.answer.data["prompt"] == result.draft.prompt  # the draft's prompt, as the model saw it
    assert view.answer.data["question"] == "" and view.answer.data["heading"] == "Final answer"  # asked once
    html = view.to_html()
    assert html.count('<details class="nbrag-step"') == 4 and "Draft &lt;b&gt;it&lt;/b&gt;." in html
    assert "Stopped after 4 steps" in html and html.index("nbrag-trace") < html.index("nbrag-rag-answer")
    bundle, _ = result._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    shown = result.view()  # the registry's view of an AgentResult, from the engine's side
    assert isinstance(shown, TraceView) and shown.result is result


def test_stream_view_draws_at_most_every_interval():
    view = StreamView(interval=60)
    assert view.widget.title == "Generating…" and view.widget.text == ""
    for piece in ["The ", "bucket ", "<b>tips</b>"]:
        view(piece)
    assert view.text == "The bucket <b>tips</b>" and view.pieces == 3
    assert view.draws == 1 and view.widget.text == "The "  # the first piece; the rest wait for the interval
    view.flush()
    assert view.widget.text == "The bucket <b>tips</b>" and view.draws == 2  # text: the widget sets it as text
    assert view.widget.kind == "stream"
    view.close()


def test_a_marker_with_several_numbers_links_each(index):
    answer = make_answer(index, "The bucket tips when full and the logger counts each tip [1, 2].")
    runs = answer_runs(answer.text, answer.citations, answer.support)
    assert [(r["text"], r["cite"]["source"]) for r in runs if r["cite"]] == [("1", 0), ("2", 1)]
    assert "".join(r["text"] for r in runs) == answer.text


def test_a_closed_book_answer_has_no_sources_to_show():
    answer = nbrag.ask(QUESTION, generator=lambda messages: "It tips over by itself [1].")
    data = answer_data(answer)
    assert data["sources"] == []
    assert data["runs"][-2]["cite"]["title"] == "[1] cites no source: the prompt had 0 sources."
    html = AnswerView(answer).to_html()
    assert "Sources (" not in html and 'nbrag-cite nbrag-broken' in html
