"""Every endpoint call ends by its ``deadline``: servers on 127.0.0.1 that never finish a reply.

Each server answers a chat-completions POST in one stalling way (keep-alive comments forever, a reply
trickled a byte at a time, silence after the headers, headers trickled, no answer at all), with a
per-read ``timeout`` far longer than the ``deadline``, so only the deadline can end the call.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nbrag import llm
from nbrag.endpoints import openai_chat
from nbrag.errors import EndpointError, NbragError
from tests.rag.servers import serving

DEADLINE = 1.0
SLACK = 2.0
EVENT = b'data: {"choices": [{"index": 0, "delta": {"content": "The lens"}}]}\n\n'
REPLY = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "The Fresnel lens."}}]})

Behaviour = Callable[["StallingHandler"], None]


class StallingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behave: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), StallingHandler)
        self.behave, self.stop = behave, threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


class StallingHandler(BaseHTTPRequestHandler):
    server: StallingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with contextlib.suppress(OSError):  # the client hung up: the call was cut, as it should be
            self.server.behave(self)

    def headers_only(self, content_type: str, length: int | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def every(self, seconds: float, data: bytes) -> None:
        """Write ``data`` every ``seconds`` until the server stops."""
        while not self.server.stop.wait(seconds):
            self.wfile.write(data)

    def trickle(self, data: bytes, seconds: float = 0.2) -> None:
        for byte in data:
            if self.server.stop.wait(seconds):
                return
            self.wfile.write(bytes([byte]))

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def stalling(behave: Behaviour) -> Iterator[StallingServer]:
    server = StallingServer(behave)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def keep_alive(handler: StallingHandler) -> None:
    handler.headers_only("text/event-stream")
    handler.every(0.1, b": keep-alive\n\n")


def trickled_events(handler: StallingHandler) -> None:
    handler.headers_only("text/event-stream")
    handler.trickle(EVENT * 100)


def trickled_json(handler: StallingHandler) -> None:
    handler.headers_only("application/json", len(REPLY))
    handler.trickle(REPLY.encode())


def silent_after_events_headers(handler: StallingHandler) -> None:
    handler.headers_only("text/event-stream")
    handler.server.stop.wait()


def silent_after_json_headers(handler: StallingHandler) -> None:
    handler.headers_only("application/json", len(REPLY))
    handler.server.stop.wait()


def trickled_headers(handler: StallingHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    handler.trickle(b"X-Slow: " + b"z" * 1000)


def silent(handler: StallingHandler) -> None:
    handler.server.stop.wait()


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.parametrize(("behave", "streamed", "received"), [
    (keep_alive, True, "it sent only keep-alive comments"),
    (keep_alive, False, "bytes in all so far"),  # an event stream that was not asked for, read to its end
    (trickled_events, True, "bytes in all so far"),
    (trickled_json, False, "bytes in all so far"),
    (silent_after_events_headers, True, "it sent its headers and"),
    (silent_after_json_headers, False, "it sent its headers and"),
    (trickled_headers, False, "not yet a whole status line and headers"),
    (trickled_headers, True, "not yet a whole status line and headers"),
    (silent, False, "it sent nothing"),
    (silent, True, "it sent nothing"),
], ids=lambda value: getattr(value, "__name__", None) or str(value))
def test_a_reply_that_never_ends_is_cut_at_the_deadline(behave, streamed, received):
    with stalling(behave) as server:
        gen = llm.resolve(endpoint=server.url, model="m", timeout=30, deadline=DEADLINE)
        started = time.monotonic()
        with pytest.raises(EndpointError) as info:
            if streamed:
                "".join(gen.stream("Which lens?"))
            else:
                gen.complete("Which lens?")
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert DEADLINE - 0.05 <= elapsed < DEADLINE + SLACK, message
    assert message.startswith(f"{server.url}/chat/completions did not finish its reply within deadline=1 s")
    assert received in message and "allow more time (deadline=...)" in message


def test_the_per_read_timeout_still_cuts_a_silent_server_first():
    with stalling(silent) as server:
        started = time.monotonic()
        with pytest.raises(EndpointError, match=r"did not answer within 0.5 s: .* \(timeout=\.\.\.\)"):
            openai_chat([{"role": "user", "content": "hi"}], base_url=server.url, model="m", timeout=0.5,
                        deadline=30)
        assert time.monotonic() - started < 0.5 + SLACK


def slow_but_whole_stream(handler: StallingHandler) -> None:
    """Keep-alive comments while it 'thinks', then the reply in two events: all well within the deadline."""
    handler.headers_only("text/event-stream")
    for _ in range(3):
        handler.wfile.write(b": keep-alive\n\n")
        time.sleep(0.05)
    handler.wfile.write(EVENT)
    handler.wfile.write(b'data: {"choices": [{"index": 0, "delta": {"content": " of 1854."}}]}\n\n')
    handler.wfile.write(b'data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}\n\n')
    handler.wfile.write(b"data: [DONE]\n\n")


def test_a_stream_with_keep_alive_comments_that_ends_in_time_is_read_whole():
    with stalling(slow_but_whole_stream) as server:
        pieces: list[str] = []
        text, usage = openai_chat([{"role": "user", "content": "hi"}], base_url=server.url, model="m", timeout=5,
                                  deadline=5, stream=pieces.append)
    assert pieces == ["The lens", " of 1854."] and text == "The lens of 1854."
    assert usage == {"prompt_tokens": 9, "completion_tokens": 4}


def test_a_normal_reply_streamed_or_not_arrives_whole_under_a_deadline():
    with serving(lambda body: ("The Fresnel lens of 1854 [1].", {"prompt_tokens": 11, "completion_tokens": 7})) \
            as server:
        gen = llm.resolve(endpoint=server.url, model="tiny", timeout=5, deadline=DEADLINE)
        assert gen.complete("Which lens?") == "The Fresnel lens of 1854 [1]."
        pieces = list(gen.stream("Which lens?"))
        assert len(pieces) == 6 and "".join(pieces) == "The Fresnel lens of 1854 [1]."
        assert [request.get("stream") for request in server.requests] == [None, True]


@pytest.mark.parametrize("option", ["timeout", "deadline"])
@pytest.mark.parametrize(("value", "message"), [
    (0, "must be a positive number of seconds."),
    (-1.5, "must be a positive number of seconds."),
    (True, "must be a positive number of seconds."),
    ("60", "must be a positive number of seconds."),
    (None, "must be a positive number of seconds."),
    (math.nan, "must be a finite number of seconds, e.g. 60."),
    (math.inf, "must be a finite number of seconds, e.g. 60."),
])
def test_timeout_and_deadline_must_be_positive_finite_seconds(option, value, message):
    with pytest.raises(NbragError) as info:
        llm.resolve(endpoint="http://127.0.0.1:9/v1", model="m", **{option: value})
    assert (info.value.option, info.value.message) == (option, message)
    with pytest.raises(NbragError) as info:  # the function itself checks them too, before any request
        openai_chat([{"role": "user", "content": "hi"}], base_url="http://127.0.0.1:9/v1", model="m",
                    **{option: value})
    assert info.value.option == option
