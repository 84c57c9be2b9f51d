"""nbrag.ask over a real index: the prompt, citations linked to their chunks, the support check, bad input."""

import json
import re
import socket
import time

import pytest

import nbrag
from nbrag.errors import EndpointError, NbragError, NbragTypeError
from nbrag.rag import CLOSED_BOOK_TEMPLATE, DEFAULT_TEMPLATE, Answer
from tests.tiny import tiny

from .conftest import extractive, plain_extractive

QUESTION = "Where was the first lighthouse lens of Fresnel's design installed?"


def test_an_answer_cites_the_chunk_it_came_from(english_index):
    answer = nbrag.ask(QUESTION, index=english_index, k=3, generator=extractive)
    assert isinstance(answer, Answer) and "Cordouan" in answer.text
    assert answer.warnings == []
    (citation,) = answer.citations
    source = answer.sources[citation.source]
    assert answer.text[citation.start:citation.end] == f"[{source.number}]"
    assert "Cordouan" in source.hit.text and source.hit.document == "lighthouses"
    assert english_index.document("lighthouses")[source.hit.start:source.hit.end] == source.hit.text
    assert [s.hit.id for s in answer.sources] == answer.retrieval.ids and len(answer.sources) == 3
    assert f"[{source.number}] {source.text}" in answer.messages[-1]["content"]
    assert answer.prompt == f"<system>\n{answer.messages[0]['content']}\n\n<user>\n{answer.messages[1]['content']}"
    (check,) = answer.support
    assert check.cited == [source.number] and check.supported and check.score >= answer.support_threshold
    assert set(answer.seconds) == {"retrieve", "generate", "support"}
    assert answer.tokens["prompt"] > 100 and answer.tokens["completion"] > 5
    assert answer.cited == [source] and answer.unsupported == []
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["citations"][0]["number"] == source.number and data["retrieval"]["query"] == QUESTION
    assert data["template"] == DEFAULT_TEMPLATE.to_dict() and "Cordouan" in repr(answer)


def test_search_options_and_modes_pass_through(english_index):
    answer = nbrag.ask(QUESTION, index=english_index, mode="bm25", k=2, generator=extractive)
    assert answer.retrieval.mode == "bm25" and len(answer.sources) == 2
    assert answer.params["mode"] == "bm25" and answer.params["k"] == 2
    fused = nbrag.ask(QUESTION, english_index, k=2, fusion="minmax", weights={"bm25": 0.2, "dense": 0.8},
                      generator=extractive)
    assert fused.retrieval.params["fusion"] == "minmax"
    assert fused.retrieval.params["weights"] == {"bm25": 0.2, "dense": 0.8}


def test_a_callable_generator_streams_its_answer(english_index):
    pieces = []
    answer = nbrag.ask(QUESTION, index=english_index, generator=extractive, stream=pieces.append)
    assert "".join(pieces).strip() == answer.text


def test_a_generator_that_ignores_the_format_keeps_its_answer_with_a_warning(english_index):
    answer = nbrag.ask(QUESTION, index=english_index, generator=plain_extractive)
    assert "Cordouan" in answer.text and answer.citations == []
    assert any("cites no source" in w for w in answer.warnings)
    assert answer.support and answer.support[0].uncited and answer.support[0].supported


def test_without_an_index_the_model_answers_alone(english_index):
    answer = nbrag.ask("What is two and two?", generator=lambda m: m[-1]["content"])
    assert answer.retrieval is None and answer.sources == [] and answer.template is CLOSED_BOOK_TEMPLATE
    assert answer.text == "Question: What is two and two?" and "retrieve" not in answer.seconds


def test_an_empty_index_says_how_to_fill_it():
    empty = nbrag.Index("rag-tests-empty", memory=True)
    with pytest.raises(NbragError, match=r"^index: the index 'rag-tests-empty' has no documents: add some with "
                                         r"index\.add"):
        nbrag.ask("Anything?", index=empty, generator=extractive)


def test_a_chinese_question_against_english_documents_is_warned(english_index):
    answer = nbrag.ask("菲涅耳透镜最早安装在哪里？", index=english_index, generator=extractive)
    (warning,) = [w for w in answer.warnings if "in Chinese" in w]
    assert "passages retrieved are in English" in warning and "multilingual embedder" in warning


def test_a_chinese_question_against_chinese_documents_is_not(chinese_index):
    answer = nbrag.ask("绿茶需要发酵吗？", index=chinese_index, generator=extractive)
    assert not any("in Chinese" in w for w in answer.warnings)
    assert answer.sources and all(s.hit.document == "tea" for s in answer.sources)


def test_a_question_longer_than_the_model_reads_is_an_error(one_thread):
    model, tokenizer = tiny("llama")  # random weights: 512 positions
    question = "Why " + "really " * 600 + "?"
    with pytest.raises(NbragError, match=r"more than the 512 tokens .* Shorten the question"):
        nbrag.ask(question, generator=(model, tokenizer))


def test_a_local_model_streams_through_a_thread_and_records_its_exact_prompt(english_index, one_thread):
    model, tokenizer = tiny("llama")  # random weights: the mechanism, not the text
    pieces = []
    answer = nbrag.ask(QUESTION, english_index, k=2, generator=(model, tokenizer), max_new_tokens=12,
                       context_tokens=400, stream=pieces.append)
    assert answer.generator == "tiny-llama" and answer.tokens["completion"] == 12
    assert "".join(pieces).strip() == answer.text
    assert answer.prompt == "\n".join(m["content"] for m in answer.messages)  # no chat template: contents joined
    assert answer.tokens["prompt"] == len(tokenizer(answer.prompt)["input_ids"]) <= 400


def test_a_budget_beyond_the_model_context_is_held_to_it(english_index, one_thread):
    model, tokenizer = tiny("llama")  # random weights: 512 positions
    answer = nbrag.ask(QUESTION, english_index, k=8, generator=(model, tokenizer), max_new_tokens=12,
                       context_tokens=4096)
    assert any("the prompt was held to 500 tokens" in w for w in answer.warnings)
    assert answer.tokens["prompt"] <= 500 and any(s.dropped or s.truncated for s in answer.sources)


@pytest.fixture
def silent_port():
    """A port on 127.0.0.1 that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock.getsockname()[1]
    sock.close()


def test_an_endpoint_that_never_answers_times_out_naming_the_url(english_index, silent_port, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    url = f"http://127.0.0.1:{silent_port}/v1"
    started = time.perf_counter()
    with pytest.raises(EndpointError, match=rf"{url}/chat/completions did not answer within 0.5 s"):
        nbrag.ask(QUESTION, english_index, endpoint=url, model="m", timeout=0.5)
    assert time.perf_counter() - started < 10


def test_an_unreachable_endpoint_is_named(english_index, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(EndpointError, match=rf"Cannot reach http://127.0.0.1:{port}/v1/chat/completions"):
        nbrag.ask(QUESTION, english_index, endpoint=f"http://127.0.0.1:{port}/v1", model="m", timeout=2)


@pytest.mark.parametrize("options, option, message", [
    ({"model": "m"}, "model", "model: an option of OpenAI-compatible endpoints"),
    ({"endpoint": "localhost:8000", "model": "m"}, "endpoint", "endpoint='localhost:8000': not a URL"),
    ({"endpoint": "http://127.0.0.1:9/v1"}, "model", "the endpoint http://127.0.0.1:9/v1 needs the name of a model"),
    ({"endpoint": "http://127.0.0.1:9/v1", "model": "m", "generator": extractive}, "generator",
     "give endpoint= or generator=, not both"),
    ({"generator": 42}, "generator", "generator=42: not a generator"),
    ({"k": 0}, "k", "k=0: give a whole number of at least 1."),
    ({"k": True}, "k", "k=True: give a whole number of at least 1."),
    ({"max_new_tokens": 0}, "max_new_tokens", "max_new_tokens=0: give a whole number of at least 1."),
    ({"context_tokens": -5}, "context_tokens", "context_tokens=-5: give a whole number of at least 1."),
    ({"support_threshold": 3}, "support_threshold",
     "support_threshold=3: give a number from -1 to 1 (a cosine similarity; default 0.6)."),
    ({"template": "Answer: {question}"}, "template", "template='Answer: {question}': not a PromptTemplate"),
])
def test_bad_options_are_named(english_index, options, option, message):
    with pytest.raises(NbragError, match=re.escape(message)) as error:
        nbrag.ask(QUESTION, english_index, **options)
    assert error.value.option == option


def test_a_wrong_type_is_a_type_error_too(english_index):
    for options in ({"generator": 42}, {"template": "Answer: {question}"}, {"index": 42}):
        with pytest.raises(NbragTypeError) as error:
            nbrag.ask(QUESTION, **{"index": english_index, **options})
        assert isinstance(error.value, TypeError)


def test_an_empty_question_is_refused(english_index):
    with pytest.raises(NbragError, match=r"^query: the question is empty: write what you want to know"):
        nbrag.ask("  ", english_index, generator=extractive)
    for wrong in (["a question", "another"], None):
        with pytest.raises(NbragTypeError, match=r"^query: give the question as a str, one per call \(got a "):
            nbrag.ask(wrong, english_index, generator=extractive)
