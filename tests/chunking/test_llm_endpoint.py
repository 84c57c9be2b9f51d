"""The llm chunker against a real OpenAI-compatible HTTP server on 127.0.0.1 (offline, in a thread)."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from IPython.core.error import UsageError

import nbrag
from nbrag.endpoints import EndpointError, chat_completions_url, openai_complete
from nbrag.errors import NbragError
from tests.chunking.test_semantic import TOPICS_EN
from tests.magics.test_magics import run


class ChatServer(ThreadingHTTPServer):
    """Speaks chat completions: records each request and answers with ``content`` (or ``status``/``raw``)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.requests, self.content, self.status, self.raw = [], "4, 7", 200, None
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        server: ChatServer = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if server.raw is not None:
            reply = server.raw
        elif self.path != "/v1/chat/completions":
            server.status, reply = 404, b'{"detail": "Not Found"}'
        else:
            reply = json.dumps({"object": "chat.completion", "model": body["model"], "choices": [
                {"index": 0, "message": {"role": "assistant", "content": server.content}, "finish_reason": "stop"}
            ]}).encode()
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closed_port():
    """A port bound on 127.0.0.1 that nobody listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


TEXT = " ".join(TOPICS_EN)


def test_the_chunks_start_where_the_endpoint_says(server):
    result = nbrag.chunk(TEXT, method="llm", max_size=200, endpoint=server.url, model="tiny-chat", api_key="sk-test")
    assert [c.text for c in result] == TOPICS_EN
    assert result.details["replies"] == ["4, 7"]
    assert result.params["endpoint"] == server.url and result.params["model"] == "tiny-chat"
    assert "generator" not in result.params and "sk-test" not in repr(result) + json.dumps(result.to_dict())
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny-chat" and request["body"]["temperature"] == 0
    assert request["body"]["max_tokens"] == 48
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "user", "assistant", "user"]
    opening = "1. Bread dough needs flour, water, salt and yeast.\n2. "
    assert request["body"]["messages"][-1]["content"].startswith(opening)


def test_the_key_comes_from_the_environment_and_no_key_sends_no_header(server, monkeypatch):
    openai_complete([{"role": "user", "content": "hi"}], base_url=server.url, model="m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    openai_complete([{"role": "user", "content": "hi"}], base_url=server.url, model="m")
    assert "Authorization" not in server.requests[0]["headers"]
    assert server.requests[1]["headers"]["Authorization"] == "Bearer sk-env"


@pytest.mark.parametrize("base, expected", [
    ("http://h:8000/v1", "http://h:8000/v1/chat/completions"),
    ("http://h:8000/v1/", "http://h:8000/v1/chat/completions"),
    ("http://h:8000", "http://h:8000/v1/chat/completions"),            # no path: /v1 is added
    ("http://h:8000/", "http://h:8000/v1/chat/completions"),
    ("https://h/openai/v1beta", "https://h/openai/v1beta/chat/completions"),  # any other path is kept
    ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
])
def test_base_urls_like_the_openai_client(base, expected):
    assert chat_completions_url(base) == expected


def test_a_base_url_without_v1_reaches_the_server(server):
    root = server.url.removesuffix("/v1") + "/"
    assert openai_complete([{"role": "user", "content": "hi"}], base_url=root, model="m") == "4, 7"
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_an_unusable_reply_falls_back_to_semantic_with_a_note(server):
    server.content = "Sure! Here is the text split into topics."
    result = nbrag.chunk(TEXT, method="llm", max_size=200, endpoint=server.url, model="tiny-chat")
    assert result.params["fallback"] == "semantic" and result.params["model"] == "tiny-chat"
    assert result.warnings[0].startswith(f"The model tiny-chat at {server.url} gave no usable list")
    assert result.chunks and result.details["replies"] == [server.content]


@pytest.mark.parametrize("status, message", [
    (401, r"/v1/chat/completions refused the request \(HTTP 401: .*bad key \*\*\*.*\); check the key"),
    (404, r"was not found \(HTTP 404.*\): check that the base URL .* usually ending in /v1"),
    (500, r"The server at http://127\.0\.0\.1:\d+/v1/chat/completions failed \(HTTP 500: .*boom"),
])
def test_http_errors_name_the_url_and_the_fix(server, status, message):
    server.status, server.raw = status, json.dumps({"error": {"message": "boom, bad key sk-secret"}}).encode()
    with pytest.raises(EndpointError, match=message) as caught:
        nbrag.chunk(TEXT, method="llm", endpoint=server.url, model="m", api_key="sk-secret")
    assert "sk-secret" not in str(caught.value)


def test_401_without_a_key_says_how_to_set_one(server):
    server.status, server.raw = 401, b"Unauthorized"
    with pytest.raises(EndpointError, match=r"set the key: pass api_key=\.\.\. or set the OPENAI_API_KEY"):
        nbrag.chunk(TEXT, method="llm", endpoint=server.url, model="m")


def test_a_wrong_path_is_a_404_that_suggests_v1(server):
    with pytest.raises(EndpointError, match=r"/api/chat/completions was not found \(HTTP 404.*/v1"):
        nbrag.chunk(TEXT, method="llm", endpoint=server.url.replace("/v1", "/api"), model="m")


def test_a_refused_connection_raises_instead_of_falling_back(closed_port):
    url = f"http://127.0.0.1:{closed_port}/v1"
    with pytest.raises(EndpointError, match=rf"Cannot reach {url}/chat/completions: connection refused\. "
                                            "Check that the server is running"):
        nbrag.chunk(TEXT, method="llm", endpoint=url, model="m")


def test_a_silent_server_times_out(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with socket.socket() as sock:  # accepts connections (the kernel's backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        with pytest.raises(EndpointError, match=r"did not answer within 0\.2 s"):
            nbrag.chunk(TEXT, method="llm", endpoint=url, model="m", timeout=0.2)


@pytest.mark.parametrize("raw, message", [
    (b"<html>hello</html>", r"answered with something that is not JSON \('<html>hello</html>'\)"),
    (b'{"error": "no such model"}', r"has no choices\[0\]\.message\.content \('\{\"error\": \"no such model\"\}'\)"),
])
def test_a_reply_that_is_not_a_chat_completion_is_a_clear_error(server, raw, message):
    server.raw = raw
    with pytest.raises(ValueError, match=message):
        nbrag.chunk(TEXT, method="llm", endpoint=server.url, model="m")


@pytest.mark.parametrize("options, message", [
    ({"endpoint": "localhost:8000/v1", "model": "m"}, "endpoint='localhost:8000/v1': not a URL: give one"),
    ({"endpoint": "http://localhost:8000/v1"}, "model: the endpoint http://localhost:8000/v1 needs the name "),
    ({"model": "m"}, "model: an option of OpenAI-compatible endpoints: give endpoint="),
    ({"endpoint": "http://h/v1", "model": "m", "generator": str}, "generator: give endpoint= or generator=, not both"),
    ({"endpoint": "http://h/v1", "model": "m", "timeout": 0}, "timeout=0: must be a positive number"),
])
def test_bad_endpoint_settings(options, message):
    with pytest.raises(NbragError) as caught:
        nbrag.chunk(TEXT, method="llm", **options)
    assert str(caught.value).startswith(message)


def test_the_key_is_not_in_the_config_repr():
    from nbrag.chunking.llm import LLMConfig

    assert "sk-secret" not in repr(LLMConfig(endpoint="http://h/v1", model="m", api_key="sk-secret"))


# ------------------------------------------------------------------ the magic


def test_magic_endpoint_and_model_reach_the_llm_chunker(ip, server):
    ip.user_ns["doc"] = TEXT
    result = run(ip, f"%chunk --var doc -m llm --max-size 200 --endpoint {server.url} --model tiny-chat")
    assert [c.text for c in result] == TOPICS_EN and result.params["model"] == "tiny-chat"
    assert server.requests[0]["body"]["model"] == "tiny-chat"
    both = run(ip, f"%chunk --var doc --compare fixed,llm --size 200 --endpoint {server.url} --model tiny-chat")
    assert [c.text for c in both.results["llm"]] == TOPICS_EN


def test_magic_endpoint_errors_are_one_line(ip, server, closed_port):
    ip.user_ns["doc"] = TEXT
    with pytest.raises(UsageError, match="--endpoint and --model are options of the llm chunker: add -m llm"):
        run(ip, f"%chunk --var doc --endpoint {server.url} --model m")
    with pytest.raises(UsageError, match=f"^--model: the endpoint {server.url} needs the name of a model"):
        run(ip, f"%chunk --var doc -m llm --endpoint {server.url}")
    with pytest.raises(UsageError, match="connection refused"):
        run(ip, f"%chunk --var doc -m llm --endpoint http://127.0.0.1:{closed_port}/v1 --model m")
