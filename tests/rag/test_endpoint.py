"""ask through an OpenAI-compatible server on 127.0.0.1 that the test starts, with SmolLM2 behind it.

The server runs the offline generator through ``nbrag.llm.resolve()`` (greedy, the chat template
applied), so an answer through the endpoint must be the answer the same model gives locally.
It speaks both forms of the protocol: one JSON reply, and server-sent events with ``"stream": true``.
"""

import pytest

import nbrag
import nbrag.llm

from .servers import serving
from .test_ask import QUESTION


def smollm2(body):
    """The offline generator, greedy, its chat template applied; usage counted with its tokenizer (the text's own
    tokens: a server does not count the end-of-text token that stopped the reply)."""
    generator = nbrag.llm.resolve()
    reply = generator.reply(body["messages"], max_new_tokens=body.get("max_tokens", 64))
    return reply.text, {"prompt_tokens": reply.prompt_tokens, "completion_tokens": generator.count_tokens(reply.text)}


@pytest.fixture
def model_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(smollm2) as server:
        yield server


@pytest.mark.slow
def test_the_endpoint_answers_as_the_same_model_does_locally(english_index, model_server):
    local = nbrag.ask(QUESTION, english_index, k=2, max_new_tokens=24)
    remote = nbrag.ask(QUESTION, english_index, k=2, max_new_tokens=24, endpoint=model_server.url,
                       model="SmolLM2-135M-Instruct", timeout=120)
    (request,) = model_server.requests
    assert request["messages"] == remote.messages == local.messages and request["max_tokens"] == 24
    assert request["temperature"] == 0 and "stream" not in request
    assert remote.text == local.text and remote.text
    assert remote.generator == f"SmolLM2-135M-Instruct at {model_server.url}"
    # the server's usage: the same tokenizer and chat template (locally a final end-of-text token counts too)
    assert remote.tokens["prompt"] == local.tokens["prompt"]
    assert 0 <= local.tokens["completion"] - remote.tokens["completion"] <= 1
    assert remote.prompt.startswith("<system>\n") and local.prompt.startswith("<|im_start|>system\n")

    pieces = []
    streamed = nbrag.ask(QUESTION, english_index, k=2, max_new_tokens=24, endpoint=model_server.url,
                         model="SmolLM2-135M-Instruct", timeout=120, stream=pieces.append)
    assert model_server.requests[-1]["stream"] is True
    assert len(pieces) > 1 and "".join(pieces).strip() == streamed.text == local.text
    assert streamed.tokens == remote.tokens
