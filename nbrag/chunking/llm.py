"""LLM chunking: a generator reads numbered sentences and names the ones that open a new topic.

Sentences go to the model in windows (numbered 1..n, with one worked example
before them); the reply should be numbers only. A reply that is not (a small
model often repeats the sentences instead) makes the whole text fall back to the
semantic chunker, with a note saying so and the reply kept in ``details``;
such a reply never raises. Chunks never exceed ``max_size``, in tokens or in characters (``max_size`` times
the tokenizer's longest token), and never split a grapheme cluster.

The model is the one ``generator=`` names, as everywhere in nbrag (:func:`nbrag.llm.resolve`):
None for the configured generator (run locally, greedy), a Hugging Face chat model's name or
folder, a loaded ``(model, tokenizer)`` pair, a ``complete(messages) -> str`` function of your
own, or an :class:`nbrag.llm.Generator`; or ``endpoint="http://localhost:8000/v1", model="..."``
(``api_key=``, ``timeout=``) names an OpenAI-compatible chat-completions server. ``params``
records the generator's name (for an endpoint, the endpoint and the model), never a key. A
server that cannot be reached or refuses the request raises
:class:`~nbrag.errors.EndpointError` instead of falling back: that endpoint was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nbrag.chunking.base import (
    Chunk,
    Chunker,
    ChunkResult,
    check_size_and_unit,
    chunker,
    size_field,
    tokenizer_field,
    unit_field,
    whole,
)
from nbrag.chunking.semantic import SemanticChunker, SemanticConfig, sentence_units
from nbrag.chunking.text import token_counter
from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError, renamed
from nbrag.llm import Generator, resolve

SYSTEM = ("You split documents into sections. Reply with only the numbers of the sentences that start a new "
          "topic, separated by commas.")
EXAMPLE = (["Cats sleep most of the day.", "They hunt at dusk.", "Paris is the capital of France.",
            "It lies on the Seine.", "Rain fell all week.", "The river flooded."], "3, 5")


@dataclass
class LLMConfig:
    max_size: int = size_field()
    window: int = field(default=30, metadata={"help": "Sentences shown to the model at once."})
    generator: Any = field(default=None, metadata={
        "help": "The model that proposes the boundaries: a name or Hugging Face id, a (model, tokenizer) pair, a "
                "complete(messages) -> str function or an nbrag.llm.Generator; default: the configured generator."})
    max_new_tokens: int = field(default=48, metadata={"help": "Longest reply read from the model."})
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()
    endpoint: str | None = field(
        default=None, metadata={"help": "URL of an OpenAI-compatible server to ask instead of the generator, "
                                        "e.g. http://localhost:8000/v1 (/chat/completions is added)."})
    model: str | None = field(default=None, metadata={"help": "Name of the model at `endpoint` (required with it)."})
    api_key: str | None = field(default=None, repr=False,
                                metadata={"help": "Key for `endpoint`; default: $OPENAI_API_KEY when set."})
    timeout: float = field(default=DEFAULT_TIMEOUT, metadata={"help": "Seconds to wait for `endpoint` to answer."})
    complete: Any = field(default=None, repr=False, metadata={"help": "The old name of generator=."})

    def __post_init__(self) -> None:
        check_size_and_unit("max_size", self.max_size, self.unit)
        if not whole(self.window) or self.window < 2:
            raise NbragError("must be a whole number of at least 2 sentences.", option="window", value=self.window)
        if not whole(self.max_new_tokens) or self.max_new_tokens < 1:
            raise NbragError("must be a whole number of at least 1.", option="max_new_tokens",
                             value=self.max_new_tokens)
        if self.complete is not None:
            renamed("complete=", "generator=")
            if self.generator is not None:
                raise NbragError("give generator= only (complete= is its old name).", option="complete")
            self.generator, self.complete = self.complete, None

    def resolve(self) -> Generator:
        """The model to ask (:func:`nbrag.llm.resolve` checks the endpoint options)."""
        return resolve(self.generator, endpoint=self.endpoint, model=self.model, api_key=self.api_key,
                       timeout=self.timeout)


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
        generator = cfg.resolve()
        count = token_counter(text, cfg.unit, cfg.tokenizer)
        units = sentence_units(text, count, cfg.max_size)
        asks = {"endpoint": cfg.endpoint, "model": cfg.model} if cfg.endpoint else {"generator": generator.name}
        params = {"max_size": cfg.max_size, "window": cfg.window, **asks, "unit": cfg.unit}
        if not units:
            return ChunkResult(source=text, chunks=[], method=self.name, params=params)
        starts, replies = {0}, []
        for first in range(0, len(units), cfg.window):
            window = units[first:first + cfg.window]
            reply = generator.complete(prompt([text[a:b] for a, b in window]), max_new_tokens=cfg.max_new_tokens)
            replies.append(reply)
            found = parse_boundaries(reply, len(window))
            if found is None:
                return self._fall_back(text, params, replies, generator.name)
            starts.update(first + k - 1 for k in found)
            starts.add(first)
        chunks, model_starts = [], {units[i][0] for i in starts}
        for a, b in self._fit(sorted(starts), units, count):
            chunks.append(Chunk(text=text[a:b], start=a, end=b, tokens=count.touching(a, b), index=len(chunks),
                                meta={"llm_boundary": a in model_starts}))
        details = {"units": [list(u) for u in units], "replies": replies, "boundaries": sorted(starts)}
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, details=details,
                           notes=count.note(cfg.max_size))

    def _fit(self, starts: list[int], units, count) -> list[tuple[int, int]]:
        """Sections from the model's boundaries, cut further wherever one would pass max_size."""
        spans = []
        for first, end in zip(starts, [*starts[1:], len(units)]):
            current = first
            for i in range(first + 1, end):
                if not count.fits(units[current][0], units[i][1], self.config.max_size):
                    spans.append((units[current][0], units[i - 1][1]))
                    current = i
            spans.append((units[current][0], units[end - 1][1]))
        return spans

    def _fall_back(self, text: str, params: dict[str, Any], replies: list[str], name: str) -> ChunkResult:
        cfg: LLMConfig = self.config
        semantic = SemanticConfig(max_size=cfg.max_size, unit=cfg.unit, tokenizer=cfg.tokenizer)
        result = SemanticChunker(semantic).split(text)
        shown = " ".join(replies[-1].split())[:120]
        result.method, result.params = self.name, {**params, "fallback": "semantic"}
        result.notes.append(f"The model {name} gave no usable list of sentence numbers ({shown!r}); "
                            "these chunks come from the semantic chunker instead. A larger instruction model "
                            "usually answers as asked.")
        result.details = {**result.details, "replies": replies}
        return result
