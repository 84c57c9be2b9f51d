"""The LLM extractor: a generator names a chunk's entities and relations as JSON.

The model is the configured generator (any Hugging Face causal LM), an OpenAI-compatible
server (``endpoint="http://host:8000/v1", model=NAME``), or any ``complete(messages) -> str``.
Replies are read leniently: the first JSON object in the reply (inside a code fence or
prose), trailing commas and Python-style quotes forgiven, a bare list of entities
accepted. An entity whose name does not occur in the chunk is dropped (small models
invent them), and so is a relation whose ends are not entities of the chunk. A reply
with nothing usable makes that chunk an :class:`Extraction` with an ``error`` and the
reply kept: the graph skips it and counts it, it never stops the build. A server that
cannot be reached raises (:class:`~nbrag.endpoints.EndpointError`): that is not the
chunk's fault.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

from nbrag.graphrag.base import Extraction, Link, Mention, extractor

PROMPT = """Extract the named entities (people, places, organisations, works, events, things) in the text and the \
relations between them. Reply with JSON only, like this example.

Text: Marie Curie was born in Warsaw. She won the Nobel Prize in Physics with Pierre Curie.
JSON: {{"entities": [{{"name": "Marie Curie", "type": "person"}}, {{"name": "Warsaw", "type": "place"}}, \
{{"name": "Nobel Prize in Physics", "type": "award"}}, {{"name": "Pierre Curie", "type": "person"}}], \
"relations": [{{"source": "Marie Curie", "target": "Warsaw", "relation": "born in"}}, \
{{"source": "Marie Curie", "target": "Nobel Prize in Physics", "relation": "won"}}, \
{{"source": "Marie Curie", "target": "Pierre Curie", "relation": "shared the prize with"}}]}}

Text: {text}
JSON:"""

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_reply(reply: str) -> Any:
    """The first JSON value in ``reply`` (see the module docstring); raises ValueError when there is none."""
    text = reply.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("the reply holds no JSON object")
    start = min(starts)
    decoder = json.JSONDecoder()
    for candidate in (text[start:], _TRAILING_COMMA.sub(r"\1", text[start:])):
        try:
            return decoder.raw_decode(candidate)[0]
        except json.JSONDecodeError:
            pass
    closing = "}" if text[start] == "{" else "]"
    end = text.rfind(closing)
    if end > start:
        try:  # Python-style literals ('single quotes', True): parsed as data, never run
            return ast.literal_eval(_TRAILING_COMMA.sub(r"\1", text[start:end + 1]))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    salvaged = _cut_off(text[start:])
    if salvaged is not None:
        return salvaged
    raise ValueError("the reply's JSON does not parse")


def _cut_off(text: str) -> Any:
    """A reply cut off by the token limit, up to its last complete object, with its brackets closed."""
    ends = [i for i, c in enumerate(text) if c == "}"][-20:]
    for end in reversed(ends):
        stack: list[str] = []
        in_string = escaped = False
        for c in text[:end + 1]:
            if in_string:
                in_string, escaped = (c != '"' or escaped), (c == "\\" and not escaped)
            elif c == '"':
                in_string = True
            elif c in "{[":
                stack.append("}" if c == "{" else "]")
            elif c in "}]" and stack:
                stack.pop()
        if in_string:
            continue
        candidate = _TRAILING_COMMA.sub(r"\1", text[:end + 1] + "".join(reversed(stack)))
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    return None


def _names(items: Any) -> list[tuple[str, str]]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            out.append((item.strip(), "name"))
        elif isinstance(item, dict):
            name = item.get("name") or item.get("entity") or item.get("text")
            if isinstance(name, str):
                out.append((name.strip(), str(item.get("type") or "name").strip().lower() or "name"))
    return [(n, t) for n, t in out if n]


def read_extraction(text: str, reply: str) -> Extraction:
    """The entities and relations of ``reply`` that hold for ``text``, or an Extraction with an ``error``."""
    try:
        data = parse_reply(reply)
    except ValueError as error:
        return Extraction(error=str(error), reply=reply)
    if isinstance(data, list):
        data = {"entities": data}
    if not isinstance(data, dict):
        return Extraction(error=f"the reply is a JSON {type(data).__name__}, not an object", reply=reply)
    folded = text.casefold()
    mentions: list[Mention] = []
    seen: set[str] = set()
    for name, kind in _names(data.get("entities")):
        at = folded.find(name.casefold())
        if at < 0 or name.casefold() in seen:
            continue  # not in the chunk: invented, or a paraphrase we cannot place
        seen.add(name.casefold())
        mentions.append(Mention(text[at:at + len(name)], kind, at, at + len(name)))
    by_fold = {m.name.casefold(): m.name for m in mentions}
    links = []
    relations = data.get("relations")
    for item in relations if isinstance(relations, list) else []:
        if not isinstance(item, dict):
            continue
        source, target = item.get("source"), item.get("target")
        if isinstance(source, str) and isinstance(target, str):
            a, b = by_fold.get(source.strip().casefold()), by_fold.get(target.strip().casefold())
            if a and b and a != b:
                relation = item.get("relation") or item.get("description") or ""
                links.append(Link(a, b, 1.0, f"{a} {relation} {b}".strip() if relation else "", "llm"))
    if not mentions:
        return Extraction(error="no entity of the reply occurs in the chunk", reply=reply)
    return Extraction(mentions=mentions, links=links, reply=reply)


@extractor("llm")
class LLMExtractor:
    """Entities and relations written by a generator as JSON (see the module docstring)."""

    name = "llm"

    def __init__(self, generator: str | None = None, endpoint: str | None = None, model: str | None = None,
                 complete: Callable[[list[dict[str, str]]], str] | None = None, max_new_tokens: int = 256,
                 max_chars: int = 2000) -> None:
        if endpoint and not model:
            raise ValueError("An endpoint needs the model's name too: endpoint='http://host:8000/v1', model='NAME'.")
        self.generator, self.endpoint, self.model = generator, endpoint, model
        self._complete = complete
        self.max_new_tokens = max_new_tokens
        self.max_chars = max_chars

    def options(self) -> dict[str, Any]:
        return {"generator": self.generator, "endpoint": self.endpoint, "model": self.model,
                "max_new_tokens": self.max_new_tokens, "max_chars": self.max_chars}

    def complete(self, messages: list[dict[str, str]]) -> str:
        if self._complete is not None:
            return self._complete(messages)
        if self.endpoint:
            from nbrag.endpoints import openai_complete

            return openai_complete(messages, base_url=self.endpoint, model=self.model or "",
                                   max_tokens=self.max_new_tokens)
        from nbrag.models import generate

        return generate(messages, max_new_tokens=self.max_new_tokens, name=self.generator)

    def extract(self, texts: list[str]) -> list[Extraction]:
        out = []
        for text in texts:
            piece = text[:self.max_chars]  # a long chunk is read in part: the model's context is short
            reply = self.complete([{"role": "user", "content": PROMPT.format(text=piece)}])
            out.append(read_extraction(piece, reply))
        return out
