"""nbrag.llm: one interface for a local model, an endpoint and a callable; the options checked in one place."""

from __future__ import annotations

import pytest

from nbrag import llm
from nbrag.errors import EndpointError, NbragError, NbragTypeError
from tests.rag.servers import serving
from tests.tiny import tiny

QUESTION = "Which lens did the lighthouse get in 1854?"
PASSAGES = ["The lighthouse received a first-order Fresnel lens in 1854.", "Tea leaves are rolled and dried.",
            "A keeper lived at the foot of the tower with his family for thirty years."]


def scripted(*replies: str):
    """A complete(messages) function that answers with ``replies`` in turn and keeps what it was asked."""
    asked: list[list[dict[str, str]]] = []

    def complete(messages: list[dict[str, str]]) -> str:
        asked.append(messages)
        return replies[(len(asked) - 1) % len(replies)]

    complete.asked = asked
    return complete


# ------------------------------------------------------------------ resolve


def test_resolve_takes_every_form_of_generator():
    function = scripted("fine")
    assert isinstance(llm.resolve(function), llm.CallableGenerator)
    gen = llm.resolve(function)
    assert llm.resolve(gen) is gen
    local = llm.resolve(tiny("llama"))
    assert isinstance(local, llm.LocalGenerator) and local.context_length == 512
    endpoint = llm.resolve(endpoint="http://localhost:9/v1", model="m", api_key="sk-secret")
    assert isinstance(endpoint, llm.EndpointGenerator) and endpoint.name == "m at http://localhost:9/v1"
    assert "sk-secret" not in repr(endpoint)


@pytest.mark.parametrize("options, message", [
    ({"endpoint": "localhost:8000", "model": "m"}, "endpoint='localhost:8000': not a URL"),
    ({"endpoint": "http://localhost:8000/v1"}, "model: the endpoint http://localhost:8000/v1 needs the name"),
    ({"model": "m"}, "model: an option of OpenAI-compatible endpoints"),
    ({"api_key": "k"}, "api_key: an option of OpenAI-compatible endpoints"),
    ({"endpoint": "http://h/v1", "model": "m", "timeout": 0}, "timeout=0: must be a positive number"),
    ({"endpoint": "http://h/v1", "model": "m", "generator": "SmolLM2-135M-Instruct"}, "give endpoint= or generator="),
    ({"generator": 5}, "generator=5: not a generator"),
    ({"generator": "  "}, "generator='  ': empty"),
])
def test_resolve_refuses_what_names_no_model(options, message):
    with pytest.raises(NbragError) as info:
        llm.resolve(**options)
    assert message in str(info.value)


def test_an_error_names_its_option_for_the_magics():
    with pytest.raises(NbragError) as info:
        llm.resolve(endpoint="http://h/v1", model="m", timeout=-1)
    assert (info.value.option, info.value.value) == ("timeout", -1)
    assert info.value.render("--timeout") == "--timeout -1: must be a positive number of seconds."


# ------------------------------------------------------------------ complete, reply, stream


def test_a_callable_answers_and_its_reply_is_accounted_for():
    function = scripted("Paris.")
    gen = llm.resolve(function)
    completion = gen.reply([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}])
    assert completion.text == "Paris."
    assert function.asked[-1] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}]
    assert completion.prompt_tokens > 0 and completion.completion_tokens == gen.count_tokens("Paris.")
    assert gen.complete("Capital?") == "Paris."
    assert function.asked[-1] == [{"role": "user", "content": "Capital?"}], "a str is one user message"


def test_bad_messages_and_replies_are_refused():
    gen = llm.resolve(scripted("ok"))
    with pytest.raises(NbragTypeError, match=r"messages\[0\] is 'hello'"):
        gen.complete(["hello"])
    with pytest.raises(NbragError, match="no message to answer"):
        gen.complete([])
    with pytest.raises(NbragError, match="max_new_tokens=0: give a whole number of at least 1"):
        gen.complete("hi", max_new_tokens=0)
    with pytest.raises(NbragTypeError, match="returned int, not text"):
        llm.resolve(lambda messages: 42).complete("hi")


def test_stream_yields_the_reply_in_pieces():
    local = llm.resolve(tiny("llama"))
    pieces = list(local.stream("the lighthouse keeper", max_new_tokens=6))
    assert len(pieces) >= 1
    assert "".join(pieces) == local.complete("the lighthouse keeper", max_new_tokens=6)


def test_stream_raises_what_the_model_raised():
    def broken(messages):
        raise RuntimeError("the client broke")

    with pytest.raises(RuntimeError, match="the client broke"):
        list(llm.resolve(broken).stream("hi"))


def test_local_generation_is_greedy_and_records_the_prompt():
    local = llm.resolve(tiny("llama"))
    first = local.reply("the lighthouse keeper", max_new_tokens=5)
    assert first.text == local.reply("the lighthouse keeper", max_new_tokens=5).text
    assert first.prompt == "the lighthouse keeper", "no chat template: the messages' text as the prompt"
    assert 1 <= first.completion_tokens <= 5


# ------------------------------------------------------------------ judging


@pytest.mark.parametrize("reply, score", [("Yes.", 1.0), ("no, it does not", -1.0), ("是的", 1.0), ("不", -1.0),
                                          ("Perhaps", None)])
def test_a_model_behind_an_endpoint_or_a_callable_judges_in_words(reply, score):
    function = scripted(reply)
    assert llm.resolve(function).judge(QUESTION, PASSAGES[0]) == score
    prompt = function.asked[-1][-1]["content"]
    assert PASSAGES[0] in prompt and QUESTION in prompt and llm.RELEVANT in prompt


def test_a_local_model_judges_with_its_logits_and_batches_give_the_same_scores():
    local = llm.resolve(tiny("llama"))
    alone = [local.judge(QUESTION, p) for p in PASSAGES]
    assert all(isinstance(s, float) for s in alone)
    assert local.judge_many(QUESTION, PASSAGES, batch_size=2) == pytest.approx(alone, abs=1e-4)
    verdict = local.verdict(llm.judge_messages(QUESTION, PASSAGES[0]))
    assert verdict.how == "logits" and verdict.completion_tokens == 0 and verdict.score == pytest.approx(alone[0])


def test_passages_are_cut_at_token_ends_never_decoded():
    local = llm.resolve(tiny("llama"))  # MiniLM's tokenizer lower-cases when it decodes
    text = "Ünïcode Fresnel LENS, 1854 — kept whole"
    cut = local.cut(text, 3)
    assert text.startswith(cut) and cut != text
    assert llm.resolve(scripted("x")).cut(text, 100) == text


# ------------------------------------------------------------------ an endpoint


def test_an_endpoint_answers_streams_and_reports_its_usage():
    with serving(lambda body: ("The Fresnel lens [1].", {"prompt_tokens": 11, "completion_tokens": 5})) as server:
        gen = llm.resolve(endpoint=server.url, model="tiny", timeout=10)
        completion = gen.reply("Which lens?", max_new_tokens=7)
        assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == \
            ("The Fresnel lens [1].", 11, 5)
        assert "".join(gen.stream("Which lens?")) == "The Fresnel lens [1]."
        assert server.requests[0]["max_tokens"] == 7 and server.requests[0]["temperature"] == 0


def test_an_endpoint_that_cannot_be_reached_names_its_url():
    gen = llm.resolve(endpoint="http://127.0.0.1:9/v1", model="m", timeout=2)
    with pytest.raises(EndpointError, match=r"Cannot reach http://127.0.0.1:9/v1/chat/completions"):
        gen.complete("hi")
