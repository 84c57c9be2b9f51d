"""OpenAI-compatible endpoints: one chat-completions call, with the standard library only.

``openai_complete(messages, base_url="http://localhost:8000/v1", model="my-model")``
POSTs ``{base_url}/chat/completions`` and returns ``choices[0].message.content``.
Any server that speaks that protocol works (vLLM, llama.cpp's server, Ollama,
LM Studio, LiteLLM, OpenAI itself).

``base_url`` is read as the OpenAI client reads it: the URL that ``/chat/completions``
is appended to, usually ending in ``/v1``. Two shortcuts: a URL with no path at all
gets ``/v1`` (``http://localhost:8000`` means ``http://localhost:8000/v1``), and a URL
that already ends in ``/chat/completions`` is used as it is. A trailing slash never matters.

The key goes in an ``Authorization: Bearer`` header: ``api_key=``, else the
``OPENAI_API_KEY`` environment variable when it is set, else no header. It is never
shown in an error. A server that cannot be reached, that refuses the request or whose reply
is not a chat completion raises :class:`~nbrag.errors.EndpointError` (an ``NbragError``),
which names the URL and the likely fix.

Two limits bound a call. ``timeout`` (60 s by default) bounds each wait for the server: connecting,
and each read from the socket. ``deadline`` (300 s by default) bounds the whole call, streamed or not:
every read waits at most until then, so a server that holds the call open with keep-alive comments,
a trickle of bytes or silence after its headers is cut at ``deadline`` seconds with an
``EndpointError`` that says what it had sent. Time spent in a ``stream`` callback counts too.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import math
import numbers
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from nbrag.errors import EndpointError, NbragError

DEFAULT_TIMEOUT = 60.0  # seconds: each wait for the server (connecting, each read)
DEFAULT_DEADLINE = 300.0  # seconds: the whole call
__all__ = ["DEFAULT_DEADLINE", "DEFAULT_TIMEOUT", "EndpointError", "chat_completions_url", "check_endpoint_options",
           "openai_chat", "openai_complete"]


def check_endpoint_options(endpoint: Any, model: Any, api_key: Any, timeout: Any,
                           deadline: Any = DEFAULT_DEADLINE) -> None:
    """The options that name an OpenAI-compatible endpoint, checked before any request: ``model`` and
    ``api_key`` only with an ``endpoint``; an endpoint needs an http(s) URL, a model name, and a ``timeout``
    and a ``deadline`` that are positive, finite numbers of seconds."""
    if endpoint is None:
        for name, value in (("model", model), ("api_key", api_key)):
            if value is not None:
                raise NbragError("an option of OpenAI-compatible endpoints: give endpoint='http://…/v1' too, or use "
                                 "generator= for a local Hugging Face model.", option=name)
        return
    if not isinstance(endpoint, str) or not endpoint.strip().lower().startswith(("http://", "https://")):
        raise NbragError("not a URL: give one that starts with http:// or https://, e.g. "
                         "'http://localhost:8000/v1'.", option="endpoint", value=endpoint)
    if not isinstance(model, str) or not model.strip():
        given = {} if model is None else {"value": model}  # none given: the option alone heads the message
        raise NbragError(f"the endpoint {endpoint} needs the name of a model that server serves (its /v1/models "
                         "lists them).", option="model", **given)
    _seconds(timeout, "timeout")
    _seconds(deadline, "deadline")


def _seconds(value: Any, option: str) -> float:
    """``value`` as a float when it is a positive, finite number of seconds (a bool is not); else an error
    naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise NbragError("must be a positive number of seconds.", option=option, value=value)
    if not math.isfinite(value):
        raise NbragError("must be a finite number of seconds, e.g. 60.", option=option, value=value)
    return float(value)


def chat_completions_url(base_url: str) -> str:
    """The URL to POST to: ``{base_url}/chat/completions``, with ``/v1`` added where the URL has no path."""
    if not isinstance(base_url, str) or not base_url.strip().lower().startswith(("http://", "https://")):
        raise NbragError("not an http(s) URL: give one like 'http://localhost:8000/v1'.", option="base_url",
                         value=base_url)
    url = base_url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if not urllib.parse.urlsplit(url).path:
        url += "/v1"
    return url + "/chat/completions"


def openai_complete(messages: list[dict[str, str]], *, base_url: str, model: str, api_key: str | None = None,
                    max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT,
                    deadline: float = DEFAULT_DEADLINE) -> str:
    """The reply of ``model`` at an OpenAI-compatible ``base_url`` to chat ``messages`` (greedy: temperature 0)."""
    return openai_chat(messages, base_url=base_url, model=model, api_key=api_key, max_tokens=max_tokens,
                       timeout=timeout, deadline=deadline)[0]


def openai_chat(messages: list[dict[str, str]], *, base_url: str, model: str, api_key: str | None = None,
                max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE,
                stream: Callable[[str], Any] | None = None) -> tuple[str, dict[str, int]]:
    """The reply, and the server's ``usage`` (``prompt_tokens``, ``completion_tokens``; empty when it sends none).

    With ``stream``, the request asks for server-sent events (``"stream": true``) and ``stream`` receives
    each piece of the reply as it arrives. ``timeout`` bounds each wait for the server, ``deadline`` the
    whole call (see the module's docstring).
    """
    url = chat_completions_url(base_url)
    clock = _Clock(_seconds(timeout, "timeout"), _seconds(deadline, "deadline"))
    key = api_key or os.environ.get("OPENAI_API_KEY") or None
    payload = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    if stream is not None:
        payload["stream"] = True
    headers = {"Content-Type": "application/json", "User-Agent": "nbrag",
               "Accept": "text/event-stream" if stream is not None else "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.build_opener(_ClockedHandler(clock)).open(request, timeout=clock.timeout) as response:
            if stream is not None and "text/event-stream" in (response.headers.get("Content-Type") or ""):
                return _events(url, response, stream, key, clock)
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise _status_error(url, model, error.code, _excerpt(_error_body(error), key), bool(key)) from None
    except urllib.error.URLError as error:
        raise _failure(url, error.reason, clock) from None
    except (OSError, http.client.HTTPException) as error:  # timeouts and dropped connections while reading
        raise _failure(url, error, clock) from None
    content = _content(url, raw, key)
    if stream is not None and content:  # the server ignored "stream": the reply comes in one piece
        stream(content)
    return content, _usage(raw)


def _usage(raw: bytes | dict) -> dict[str, int]:
    try:
        usage = (json.loads(raw) if isinstance(raw, bytes) else raw).get("usage") or {}
        return {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}
    except (ValueError, AttributeError):
        return {}


def _events(url: str, response: Any, stream: Callable[[str], Any], key: str | None,
            clock: _Clock) -> tuple[str, dict[str, int]]:
    """Read server-sent events (``data: {...}`` lines, ending with ``data: [DONE]``), passing on each delta."""
    pieces: list[str] = []
    usage: dict[str, int] = {}
    for line in response:
        line = line.decode("utf-8", errors="replace").strip()
        if line.startswith(":"):
            clock.comments += 1
        if not line.startswith("data:"):
            continue
        clock.events += 1
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            event = json.loads(data)
        except ValueError:
            raise EndpointError(f"{url} sent an event that is not JSON ({_excerpt(data.encode(), key)!r}).") from None
        usage = _usage(event) or usage
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if isinstance(piece, str) and piece:
                pieces.append(piece)
                stream(piece)
    return "".join(pieces), usage


def _excerpt(raw: bytes, key: str | None, limit: int = 200) -> str:
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    if key:
        text = text.replace(key, "***")
    return text[:limit] + ("…" if len(text) > limit else "")


def _error_body(error: urllib.error.HTTPError) -> bytes:
    """The body of an error reply, or nothing where reading it failed (the deadline passed, the server hung up)."""
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


def _failure(url: str, reason: Any, clock: _Clock) -> EndpointError:
    if clock.cut and (isinstance(reason, TimeoutError) or "timed out" in str(reason)):
        return EndpointError(f"{url} did not finish its reply within deadline={clock.deadline:g} s (waited "
                             f"{clock.elapsed():.1f} s; it sent {clock.received_so_far()}): check that the server "
                             "is not stuck or overloaded, or allow more time (deadline=...).")
    return _unreachable(url, reason, clock.timeout)


def _unreachable(url: str, reason: Any, timeout: float) -> EndpointError:
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return EndpointError(f"{url} did not answer within {timeout:g} s: check that the server is up and not "
                             "overloaded, or allow more time (timeout=...).")
    if isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    else:
        why = str(getattr(reason, "strerror", None) or reason).strip() or type(reason).__name__
    return EndpointError(f"Cannot reach {url}: {why}. Check that the server is running and that the host and "
                         "port in the URL are right.")


def _status_error(url: str, model: str, status: int, excerpt: str, keyed: bool) -> EndpointError:
    said = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if status in (401, 403):
        fix = ("check the key you gave (api_key=... or $OPENAI_API_KEY)" if keyed else
               "set the key: pass api_key=... or set the OPENAI_API_KEY environment variable")
        return EndpointError(f"{url} refused the request ({said}); {fix}.")
    if status == 404:
        return EndpointError(f"{url} was not found ({said}): check that the base URL is the server's API root, "
                             f"usually ending in /v1 (e.g. http://localhost:8000/v1), and that it serves "
                             f"the model {model!r}.")
    if status >= 500:
        return EndpointError(f"The server at {url} failed ({said}); its log says why.")
    return EndpointError(f"{url} rejected the request ({said}): check the model name {model!r} and the "
                         "server's limits.")


def _content(url: str, raw: bytes, key: str | None) -> str:
    try:
        reply = json.loads(raw)
    except ValueError:
        raise EndpointError(f"{url} answered with something that is not JSON ({_excerpt(raw, key)!r}): is it an "
                         "OpenAI-compatible server? Its base URL usually ends in /v1.") from None
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"The reply from {url} has no choices[0].message.content "
                         f"({_excerpt(raw, key)!r}): is it an OpenAI-compatible chat-completions server?") from None
    if content is not None and not isinstance(content, str):
        raise EndpointError(f"The reply from {url} has a choices[0].message.content that is not text "
                         f"({_excerpt(raw, key)!r}).")
    return content or ""


# ------------------------------------------------------------------ the deadline: every read from the socket on a clock


class _Clock:
    """One call's time: each wait on the socket lasts at most ``timeout``, and none goes past ``deadline`` seconds
    after the call began. It keeps what arrived, for the error that cuts the call."""

    def __init__(self, timeout: float, deadline: float) -> None:
        self.timeout, self.deadline = timeout, deadline
        self.started = time.monotonic()
        self.received = 0  # bytes read from the socket, headers included
        self.answered = False  # the status line and headers are in
        self.events = self.comments = 0  # server-sent events: data lines and comment (keep-alive) lines
        self.cut = False  # the last wait was bounded by the deadline rather than by timeout

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait(self) -> float:
        """How long the next connect or read may wait; ``TimeoutError`` once the deadline has passed."""
        left = self.deadline - self.elapsed()
        self.cut = left <= self.timeout
        if left <= 0:
            raise TimeoutError("the deadline passed")
        return min(self.timeout, left)

    def received_so_far(self) -> str:
        if not self.received:
            return "nothing"
        if not self.answered:
            return f"{self.received} bytes, not yet a whole status line and headers"
        if self.comments and not self.events:
            return "only keep-alive comments"
        events = f", {self.events} events" if self.events else ""
        return f"its headers and {self.received} bytes in all so far{events}"


class _ClockedReader(io.RawIOBase):
    """The socket's reader, each read given ``clock.wait()`` seconds at most."""

    def __init__(self, raw: io.RawIOBase, sock: Any, clock: _Clock) -> None:
        self.raw, self.sock, self.clock = raw, sock, clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self.sock.settimeout(self.clock.wait())
        count = self.raw.readinto(buffer)
        self.clock.received += count or 0
        return count

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
        super().close()


class _ClockedResponse(http.client.HTTPResponse):
    """An HTTP response that reads its status line, headers and body through a :class:`_ClockedReader`."""

    def __init__(self, sock: Any, *args: Any, clock: _Clock, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.clock = clock
        self.fp = io.BufferedReader(_ClockedReader(self.fp.detach(), sock, clock))

    def begin(self) -> None:
        super().begin()
        self.clock.answered = True


class _ClockedConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, clock: _Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.response_class = functools.partial(_ClockedResponse, clock=clock)

    def connect(self) -> None:
        self.timeout = self.clock.wait()  # connecting and sending the request
        super().connect()


class _ClockedHTTPSConnection(_ClockedConnection, http.client.HTTPSConnection):
    pass


class _ClockedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's handler of http and https URLs, with the connections above (redirects stay on the same clock)."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_ClockedConnection, clock=self.clock), req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_ClockedHTTPSConnection, clock=self.clock), req)
