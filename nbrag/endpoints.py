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
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from nbrag.errors import EndpointError, NbragError

DEFAULT_TIMEOUT = 60.0
__all__ = ["DEFAULT_TIMEOUT", "EndpointError", "chat_completions_url", "check_endpoint_options", "openai_chat",
           "openai_complete"]


def check_endpoint_options(endpoint: Any, model: Any, api_key: Any, timeout: Any) -> None:
    """The options that name an OpenAI-compatible endpoint, checked before any request: ``model`` and
    ``api_key`` only with an ``endpoint``; an endpoint needs an http(s) URL, a model name and a positive timeout."""
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
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise NbragError("must be a positive number of seconds.", option="timeout", value=timeout)


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
                    max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The reply of ``model`` at an OpenAI-compatible ``base_url`` to chat ``messages`` (greedy: temperature 0)."""
    return openai_chat(messages, base_url=base_url, model=model, api_key=api_key, max_tokens=max_tokens,
                       timeout=timeout)[0]


def openai_chat(messages: list[dict[str, str]], *, base_url: str, model: str, api_key: str | None = None,
                max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT,
                stream: Callable[[str], Any] | None = None) -> tuple[str, dict[str, int]]:
    """The reply, and the server's ``usage`` (``prompt_tokens``, ``completion_tokens``; empty when it sends none).

    With ``stream``, the request asks for server-sent events (``"stream": true``) and ``stream`` receives
    each piece of the reply as it arrives; ``timeout`` then bounds each wait for the next piece.
    """
    url = chat_completions_url(base_url)
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
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if stream is not None and "text/event-stream" in (response.headers.get("Content-Type") or ""):
                return _events(url, response, stream, key)
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise _status_error(url, model, error.code, _excerpt(error.read(), key), bool(key)) from None
    except urllib.error.URLError as error:
        raise _unreachable(url, error.reason, timeout) from None
    except (OSError, http.client.HTTPException) as error:  # timeouts and dropped connections while reading
        raise _unreachable(url, error, timeout) from None
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


def _events(url: str, response: Any, stream: Callable[[str], Any], key: str | None) -> tuple[str, dict[str, int]]:
    """Read server-sent events (``data: {...}`` lines, ending with ``data: [DONE]``), passing on each delta."""
    pieces: list[str] = []
    usage: dict[str, int] = {}
    for line in response:
        line = line.decode("utf-8", errors="replace").strip()
        if not line.startswith("data:"):
            continue
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
