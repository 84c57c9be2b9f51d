"""An OpenAI-compatible chat-completions server on 127.0.0.1 for the tests, with a real generator behind it.

``serving(answer)`` starts it in a thread: ``answer(body) -> (text, usage)`` produces each reply.
It speaks both forms of the protocol: one JSON reply, and server-sent events (one word an event)
when the request asks ``"stream": true``. Every request body is kept in ``server.requests``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], tuple[str, dict[str, int]]]


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.answer, self.requests = answer, []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        text, usage = self.server.answer(body)
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = text.split(" ")
            for i, word in enumerate(words):
                event = {"choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n".encode())
            return
        reply = json.dumps({"object": "chat.completion", "model": body["model"], "usage": usage, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(answer: Answer) -> Iterator[ChatServer]:
    server = ChatServer(answer)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
