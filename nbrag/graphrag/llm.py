"""The LLM extractor: a generator names a chunk's entities and relations as JSON.

The model is anything :func:`nbrag.llm.resolve` takes as ``generator=`` (the configured
generator by default, a Hugging Face id, a ``(model, tokenizer)`` pair, any
``complete(messages) -> str``), or an OpenAI-compatible server (``endpoint="http://host:8000/v1",
model=NAME``, ``api_key=``, ``timeout=``).
Replies are read leniently: the first JSON object in the reply (inside a code fence or
prose), trailing commas and Python-style quotes forgiven, a bare list of entities
accepted. An entity whose name does not occur in the chunk is dropped (small models
invent them), and so is a relation whose ends are not entities of the chunk. A reply
with nothing usable makes that chunk an :class:`Extraction` with an ``error`` and the
reply kept: the graph skips it and counts it, it never stops the build. A server that
cannot be reached raises (:class:`~nbrag.errors.EndpointError`): that is not the
chunk's fault.

:class:`ModelChoice` holds those options for the extractor and for LLM-written community
reports: a model named is loaded only when it is first asked.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError, renamed, whole_number
from nbrag.graphrag.base import Extraction, Link, Mention, extractor
from nbrag.llm import Generator, resolve

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


class ModelChoice:
    """``generator=`` (or ``endpoint=``, ``model=``, ``api_key=``, ``timeout=``), resolved by
    :func:`nbrag.llm.resolve`: at once where that is cheap (a callable, a pair, an endpoint, whose options
    are checked there), on first use for a model to load by name."""

    def __init__(self, generator: Any = None, *, endpoint: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.given = generator
        self.endpoint, self.model, self._api_key, self.timeout = endpoint, model, api_key, timeout
        self._resolved: Generator | None = None
        if not (generator is None or isinstance(generator, str)) or any(
                v is not None for v in (endpoint, model, api_key)):
            self.resolve()

    def resolve(self) -> Generator:
        if self._resolved is None:
            self._resolved = resolve(self.given, endpoint=self.endpoint, model=self.model, api_key=self._api_key,
                                     timeout=self.timeout)
        return self._resolved

    def record(self) -> dict[str, Any]:
        """What names the model, to save and compare: the generator's name (None: the configured one), or the
        endpoint and its model. Never the key."""
        if self.endpoint is not None:
            return {"generator": None, "endpoint": self.endpoint, "model": self.model}
        name = self.given if self.given is None or isinstance(self.given, str) else self.resolve().name
        return {"generator": name, "endpoint": None, "model": None}

    def __repr__(self) -> str:
        record = self.record()
        return (f"ModelChoice({record['model']!r} at {record['endpoint']!r})" if record["endpoint"]
                else f"ModelChoice({record['generator'] or 'the configured generator'!r})")


@extractor("llm")
class LLMExtractor:
    """Entities and relations written by a generator as JSON (see the module docstring).

    ``complete=`` is the old name of ``generator=`` (a ``complete(messages) -> str`` callable), kept
    one release.
    """

    name = "llm"

    def __init__(self, generator: Any = None, *, endpoint: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT, max_new_tokens: int = 256,
                 max_chars: int = 2000, complete: Any = None) -> None:
        if complete is not None:
            renamed("LLMExtractor(complete=...)", "LLMExtractor(generator=...)")
            if generator is not None:
                raise NbragError("the old name of generator=: give generator= alone.", option="complete")
            generator = complete
        self.max_new_tokens = whole_number(max_new_tokens, "max_new_tokens")
        self.max_chars = whole_number(max_chars, "max_chars")
        self.choice = ModelChoice(generator, endpoint=endpoint, model=model, api_key=api_key, timeout=timeout)

    @property
    def generator(self) -> Generator:
        """The model that reads the chunks (a model named is loaded now, on first use)."""
        return self.choice.resolve()

    def options(self) -> dict[str, Any]:
        return {**self.choice.record(), "max_new_tokens": self.max_new_tokens, "max_chars": self.max_chars}

    def extract(self, texts: list[str]) -> list[Extraction]:
        out = []
        for text in texts:
            piece = text[:self.max_chars]  # a long chunk is read in part: the model's context is short
            reply = self.generator.complete([{"role": "user", "content": PROMPT.format(text=piece)}],
                                            max_new_tokens=self.max_new_tokens)
            out.append(read_extraction(piece, reply))
        return out
