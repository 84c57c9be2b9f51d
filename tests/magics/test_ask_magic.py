"""%%ask and %ask on an in-memory index of the sample documents.

Most tests answer with an extractive generator written in the notebook (a ``complete(messages)``
function that quotes the first sentence of the first source and cites it), which the engine
accepts like any model; the slow tests answer with the offline SmolLM2.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from IPython.core.error import UsageError

import nbrag
from nbrag.data import sample_documents
from nbrag.rag import AgentResult, Answer, PromptTemplate
from nbrag.retrieval import Index
from nbrag.views.rag import AnswerView, StreamView
from tests.magics.test_magics import run

QUESTION = "How is the tipping-bucket rain gauge emptied?"


def quote_first_source(messages):
    """Answers with the first sentence of source [1] as the prompt shows it, and cites it."""
    prompt = messages[-1]["content"]
    match = re.search(r"\[1\][^\n]*\n?([^\n]+)", prompt)
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip())[0] if match else "I cannot tell."
    return f"{first} [1]"


@pytest.fixture(scope="module")
def samples(ip):
    idx = Index(f"ask-samples-{time.monotonic_ns()}", memory=True)
    idx.add(sample_documents(), chunker="recursive", size=128, progress=False)
    ip.user_ns.update(samples=idx, quote=quote_first_source)
    return idx


def test_cell_magic_answers_from_the_index_and_stores_the_answer(ip, samples):
    answer = run(ip, f"%%ask --index samples -k 3 --mode bm25 --generator quote -o ans\n{QUESTION}")
    assert isinstance(answer, Answer) and ip.user_ns["ans"] is answer
    assert answer.question == QUESTION and answer.generator == "quote_first_source"
    assert len(answer.sources) == 3 and answer.retrieval.mode == "bm25"
    direct = nbrag.ask(QUESTION, samples, k=3, mode="bm25", generator=quote_first_source)
    assert answer.text == direct.text and [s.hit.id for s in answer.sources] == [s.hit.id for s in direct.sources]
    assert [c.source for c in answer.citations] == [0]  # [1] links to the first source
    assert answer.text.rstrip(" [1]") in answer.sources[0].text  # quoted from it
    assert isinstance(answer.view(), AnswerView)


def test_line_form_takes_the_question_after_the_options(ip, samples):
    # IPython reads a line that ends in "?" as a request for help: the line form's question ends without one.
    question = QUESTION.rstrip("?")
    answer = run(ip, f"%ask --index samples -k 2 --generator quote {question}")
    assert answer.question == question and len(answer.sources) == 2
    again = run(ip, f"%ask --index samples --generator=quote --query {question}")
    assert again.question == question and again.text == nbrag.ask(question, samples, k=nbrag.settings.top_k,
                                                                  generator=quote_first_source).text


def test_options_reach_the_engine(ip, samples):
    ip.user_ns["short"] = PromptTemplate(system="Answer in one sentence from the sources.",
                                         user="Sources:\n{sources}\n\nQ: {question}", source="[{number}] {text}")
    answer = run(ip, "%%ask --index samples -k 4 --generator quote --template short --context-tokens 200 "
                     f"--threshold 0.3 --max-new-tokens 20\n{QUESTION}")
    assert answer.messages[0]["content"] == "Answer in one sentence from the sources."
    assert answer.messages[-1]["content"].startswith("Sources:\n[1] ")
    assert answer.support_threshold == 0.3
    assert any(s.truncated or s.dropped for s in answer.sources)  # 4 chunks of ~128 tokens in 200
    assert any("budget" in w or "token" in w for w in answer.warnings)


@pytest.mark.parametrize(("cell", "message"), [
    ("%%ask --index samples --generator quote\n   ", "No question: write it in the cell under %%ask"),
    ("%ask --index samples --generator quote", "No question"),
    (f"%%ask --index no_such_index_here\n{QUESTION}", "--index no_such_index_here: no such index"),
    (f"%%ask --index quote\n{QUESTION}", "holds a function, not an nbrag.Index"),
    (f"%%ask --index samples --endpoint http://127.0.0.1:9/v1\n{QUESTION}",
     "--model: the endpoint http://127.0.0.1:9/v1 needs the name of a model that server serves"),
    (f"%%ask --index samples --model qwen\n{QUESTION}", "--model: an option of OpenAI-compatible endpoints"),
    (f"%%ask --index samples --endpoint http://127.0.0.1:9/v1 --model m --generator quote\n{QUESTION}",
     "--generator: give endpoint= or generator=, not both"),
    (f"%%ask --index samples --max-steps 3\n{QUESTION}", "--max-steps: option(s) of the agent; add --agent"),
    (f"%%ask --index samples --threshold 1.5\n{QUESTION}",
     "--threshold 1.5: give a number from -1 to 1 (a cosine similarity; default 0.6)."),
    (f"%%ask --index samples -k 0\n{QUESTION}", "--top-k 0: give a whole number of at least 1."),
    (f"%%ask --index samples --generator quote --max-new-tokens 0\n{QUESTION}",
     "--max-new-tokens 0: give a whole number of at least 1."),
    (f"%%ask --agent --index samples --generator quote --budget 0\n{QUESTION}",
     "--budget 0: give a whole number of at least 1."),
    (f"%%ask --agent --index samples --generator quote --max-steps 0\n{QUESTION}",
     "--max-steps 0: give a whole number of at least 1."),
    (f"%%ask --agent --index samples --generator quote --context-tokens -3\n{QUESTION}",
     "--context-tokens -3: give a whole number of at least 1."),
    (f"%%ask --index samples --template quote --generator quote\n{QUESTION}",
     "--template quote holds a function, not an nbrag PromptTemplate"),
    (f"%%ask --index samples --generator no/such-model-here\n{QUESTION}", "no/such-model-here"),
    (f"%%ask --index samples --generator quote -o 1x\n{QUESTION}", "-o '1x' is not a valid Python variable name"),
    (f"%%ask --index samples --generator quote --query Why\n{QUESTION}", "Question given twice"),
])
def test_bad_input_is_one_clear_line(ip, samples, cell, message):
    with pytest.raises(UsageError, match=re.escape(message)) as error:
        run(ip, cell)
    assert "\n" not in str(error.value)


def test_a_bug_in_the_engine_keeps_its_traceback(ip, samples, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(nbrag.rag, "ask", broken)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%%ask --index samples --generator quote\n{QUESTION}")
    monkeypatch.undo()
    monkeypatch.setattr(nbrag.rag.answer, "support_check", broken)  # deep inside the engine, past the model call
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%%ask --index samples --generator quote\n{QUESTION}")
    # a generator of the notebook's own that fails is its bug too, not a usage error
    ip.user_ns["faulty"] = lambda messages: 1 / 0
    with pytest.raises(ZeroDivisionError):
        run(ip, f"%%ask --index samples --generator faulty\n{QUESTION}")


def test_an_empty_index_and_an_unreachable_endpoint_say_so_and_keep_the_old_result(ip, samples):
    ip.user_ns["empty"] = Index(f"ask-empty-{time.monotonic_ns()}", memory=True)
    ip.user_ns["kept"] = "earlier"
    with pytest.raises(UsageError, match="has no documents: add some"):
        run(ip, f"%%ask --index empty --generator quote -o kept\n{QUESTION}")
    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(UsageError, match=rf"127\.0\.0\.1:{port}"):
        run(ip, f"%%ask --index samples --endpoint http://127.0.0.1:{port}/v1 --model m -o kept\n{QUESTION}")
    assert time.perf_counter() - started < 30
    assert ip.user_ns["kept"] == "earlier"


def test_a_generator_that_ignores_the_format_is_warned_about(ip, samples):
    ip.user_ns["plain"] = lambda messages: "It tips over when it is full."
    answer = run(ip, f"%%ask --index samples --generator plain\n{QUESTION}")
    assert answer.citations == [] and any("cites no source" in w for w in answer.warnings)


@pytest.mark.slow
def test_the_offline_generator_streams_and_answers(ip, samples, one_thread):
    view = StreamView(interval=0)
    streamed = nbrag.ask(QUESTION, samples, k=2, max_new_tokens=32, stream=view)
    assert view.pieces > 1 and view.text.strip() == streamed.text.strip()  # token by token, the same text
    answer = run(ip, f"%%ask --index samples -k 2 --max-new-tokens 32 -o smol\n{QUESTION}")
    assert answer.generator == nbrag.settings.generator and answer.text == streamed.text  # greedy: the same reply
    assert "<|im_start|>" in answer.prompt and answer.sources[0].text in answer.prompt
    assert answer.tokens["completion"] <= 32 and AnswerView(answer).data["prompt"] == answer.prompt


@pytest.mark.slow
def test_the_agent_form_returns_its_trace(ip, samples, one_thread):
    result = run(ip, f"%%ask --agent --index samples -k 2 --max-steps 4 --budget 3000 --max-new-tokens 48 -o tr\n"
                     f"{QUESTION}")
    assert isinstance(result, AgentResult) and ip.user_ns["tr"] is result
    assert 1 <= len(result.steps) <= 4 and result.steps[0].number == 1
    assert result.stopped is None or "step" in result.stopped or "token" in result.stopped
    bundle, _ = result._repr_mimebundle_()
    assert "nbrag-trace" in bundle["text/html"]


def test_the_agent_drafts_its_final_answer_with_the_template_given(ip, samples):
    seen = []

    def judge_then_quote(messages):
        seen.append(messages)
        asks_yes_no = any("Yes or No" in m["content"] for m in messages)
        return "Yes" if asks_yes_no else quote_first_source(messages)

    ip.user_ns.update(judge_then_quote=judge_then_quote,
                      terse=PromptTemplate(system="Cite sources as [n].", user="{sources}\n\nQ: {question}"))
    result = run(ip, f"%%ask --agent --index samples -k 2 --max-steps 12 --generator judge_then_quote "
                     f"--template terse -o tr2\n{QUESTION}")
    drafts = [m for m in seen if m[0]["content"] == "Cite sources as [n]."]
    assert drafts and result.draft is not None and result.draft.template.system == "Cite sources as [n]."
