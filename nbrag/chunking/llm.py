"""LLM chunking: a generator reads numbered sentences and names the ones that open a new topic.

Sentences go to the model in windows (numbered 1..n, with one worked example
before them); the reply should be numbers only. A reply that is not (a small
model often repeats the sentences instead) makes the whole text fall back to the
semantic chunker, with a note saying so and the reply kept in ``details``;
such a reply never raises. Chunks never exceed ``max_size``.

The model is asked in one of three ways:

* by default, the configured generator (``nbrag.models.generate``, any Hugging Face
  chat model, run locally);
* ``endpoint="http://localhost:8000/v1", model="..."``: an OpenAI-compatible
  chat-completions server (``nbrag.endpoints.openai_complete``; the key comes from
  ``api_key=`` or ``$OPENAI_API_KEY``). ``params`` records the endpoint and the model,
  never the key. A server that cannot be reached or refuses the request raises
  :class:`~nbrag.endpoints.EndpointError` instead of falling back: that endpoint was asked for;
* ``complete(messages) -> str``: any client of your own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbrag.chunking.base import (Chunk, Chunker, ChunkResult, check_size_and_unit, chunker, size_field,
                                 tokenizer_field, unit_field)
from nbrag.chunking.semantic import SemanticChunker, SemanticConfig, sentence_units
from nbrag.chunking.text import token_counter
from nbrag.config import settings
from nbrag.endpoints import DEFAULT_TIMEOUT, check_endpoint_options, openai_complete

SYSTEM = ("You split documents into sections. Reply with only the numbers of the sentences that start a new "
          "topic, separated by commas.")
EXAMPLE = (["Cats sleep most of the day.", "They hunt at dusk.", "Paris is the capital of France.",
            "It lies on the Seine.", "Rain fell all week.", "The river flooded."], "3, 5")


@dataclass
class LLMConfig:
    max_size: int = size_field()
    window: int = field(default=30, metadata={"help": "Sentences shown to the model at once."})
    generator: str = field(default_factory=lambda: settings.generator,
                           metadata={"help": "Generator that proposes the boundaries."})
    max_new_tokens: int = field(default=48, metadata={"help": "Longest reply read from the model."})
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()
    complete: Callable[[list[dict[str, str]]], str] | None = field(
        default=None, metadata={"help": "complete(messages) -> reply; default: the configured generator."})
    endpoint: str | None = field(
        default=None, metadata={"help": "URL of an OpenAI-compatible server to ask instead of the generator, "
                                        "e.g. http://localhost:8000/v1 (/chat/completions is added)."})
    model: str | None = field(default=None, metadata={"help": "Name of the model at `endpoint` (required with it)."})
    api_key: str | None = field(default=None, repr=False,
                                metadata={"help": "Key for `endpoint`; default: $OPENAI_API_KEY when set."})
    timeout: float = field(default=DEFAULT_TIMEOUT, metadata={"help": "Seconds to wait for `endpoint` to answer."})

    def __post_init__(self) -> None:
        check_size_and_unit("max_size", self.max_size, self.unit)
        if not isinstance(self.window, int) or self.window < 2:
            raise ValueError(f"window={self.window!r} must be a whole number of at least 2 sentences.")
        check_endpoint_options(self.endpoint, self.model, self.api_key, self.timeout)
        if self.endpoint is not None and self.complete is not None:
            raise ValueError("Give endpoint= or complete=, not both: each says how to ask the model.")


def numbered(sentences: list[str]) -> str:
    return "\n".join(f"{i}. {' '.join(s.split())}" for i, s in enumerate(sentences, 1))


def prompt(sentences: list[str]) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": numbered(EXAMPLE[0])}, {"role": "assistant", "content": EXAMPLE[1]},
            {"role": "user", "content": numbered(sentences)}]


_NOT_AN_ANSWER = re.compile(r"\d+|[\s,;.:()\[\]#*-]|\band\b", re.IGNORECASE)


def parse_boundaries(reply: str, n: int) -> list[int] | None:
    """Sentence numbers (2..n) that open a section, or None when the reply is not an answer.

    Not an answer: no numbers, mostly prose (the model repeating the sentences), or
    every sentence marked (the model counting 1, 2, 3, … instead of choosing).
    """
    numbers = [int(x) for x in re.findall(r"\d+", reply)]
    prose = _NOT_AN_ANSWER.sub("", reply)
    if not numbers or len(prose) > max(24, len(reply) // 3):
        return None
    found = sorted({k for k in numbers if 2 <= k <= n})
    if n >= 3 and found == list(range(2, n + 1)):
        return None
    return found


@chunker("llm")
class LLMChunker(Chunker):
    Config = LLMConfig

    def split(self, text: str) -> ChunkResult:
        cfg: LLMConfig = self.config
        count = token_counter(text, cfg.unit, cfg.tokenizer)
        units = sentence_units(text, count, cfg.max_size)
        asks = {"endpoint": cfg.endpoint, "model": cfg.model} if cfg.endpoint else {"generator": cfg.generator}
        params = {"max_size": cfg.max_size, "window": cfg.window, **asks, "unit": cfg.unit}
        if not units:
            return ChunkResult(source=text, chunks=[], method=self.name, params=params)
        complete = cfg.complete or (self._endpoint if cfg.endpoint else self._generator)
        starts, replies = {0}, []
        for first in range(0, len(units), cfg.window):
            window = units[first:first + cfg.window]
            reply = complete(prompt([text[a:b] for a, b in window]))
            replies.append(reply)
            found = parse_boundaries(reply, len(window))
            if found is None:
                return self._fall_back(text, params, units, replies)
            starts.update(first + k - 1 for k in found)
            starts.add(first)
        chunks, model_starts = [], {units[i][0] for i in starts}
        for a, b in self._fit(sorted(starts), units, count):
            chunks.append(Chunk(text=text[a:b], start=a, end=b, tokens=count(a, b), index=len(chunks),
                                meta={"llm_boundary": a in model_starts}))
        details = {"units": [list(u) for u in units], "replies": replies, "boundaries": sorted(starts)}
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, details=details)

    def _generator(self, messages: list[dict[str, str]]) -> str:
        from nbrag.models import generate

        return generate(messages, max_new_tokens=self.config.max_new_tokens, name=self.config.generator)

    def _endpoint(self, messages: list[dict[str, str]]) -> str:
        cfg: LLMConfig = self.config
        return openai_complete(messages, base_url=cfg.endpoint, model=cfg.model, api_key=cfg.api_key,
                               max_tokens=cfg.max_new_tokens, timeout=cfg.timeout)

    def _fit(self, starts: list[int], units, count) -> list[tuple[int, int]]:
        """Sections from the model's boundaries, cut further wherever one would pass max_size."""
        spans = []
        for first, end in zip(starts, [*starts[1:], len(units)]):
            current = first
            for i in range(first + 1, end):
                if count(units[current][0], units[i][1]) > self.config.max_size:
                    spans.append((units[current][0], units[i - 1][1]))
                    current = i
            spans.append((units[current][0], units[end - 1][1]))
        return spans

    def _fall_back(self, text: str, params: dict[str, Any], units, replies: list[str]) -> ChunkResult:
        cfg: LLMConfig = self.config
        result = SemanticChunker(SemanticConfig(max_size=cfg.max_size, unit=cfg.unit, tokenizer=cfg.tokenizer)).split(text)
        shown = " ".join(replies[-1].split())[:120]
        result.method, result.params = self.name, {**params, "fallback": "semantic"}
        who = f"The model {cfg.model} at {cfg.endpoint}" if cfg.endpoint else f"The generator {cfg.generator}"
        result.notes.append(f"{who} gave no usable list of sentence numbers ({shown!r}); "
                            "these chunks come from the semantic chunker instead. A larger instruction model "
                            "usually answers as asked.")
        result.details = {**result.details, "replies": replies}
        return result
