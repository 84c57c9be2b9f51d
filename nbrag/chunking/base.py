"""Chunking types: the ``Chunk`` every chunker returns, the result set, the registry."""

from __future__ import annotations

import dataclasses
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nbrag.config import UNITS, settings
from nbrag.display import Shown
from nbrag.errors import ModelUnavailableError, NbragError


@dataclass(frozen=True)
class Chunk:
    """A span of a source text. ``source[start:end] == text`` always holds.

    ``embed_text`` is what the embedder reads in place of ``text`` when the chunk was made with
    ``context=`` (the text whole, with its title or neighbouring sentences around it; see
    :mod:`nbrag.chunking.context`); None embeds the text itself. :attr:`embedded` gives either.
    """

    text: str
    start: int
    end: int
    tokens: int
    index: int
    meta: dict[str, Any] = field(default_factory=dict)
    embed_text: str | None = None

    @property
    def embedded(self) -> str:
        """What the embedder reads: ``embed_text`` where a context was added, else ``text``."""
        return self.text if self.embed_text is None else self.embed_text

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        preview = self.text[:40].replace("\n", " ")
        more = "…" if len(self.text) > 40 else ""
        context = ", with context" if self.embed_text not in (None, self.text) else ""
        return f"Chunk(#{self.index}, [{self.start}:{self.end}], {self.tokens} tokens{context}, {preview!r}{more})"


@dataclass
class ChunkResult(Shown):
    """The chunks of one text, with how they were made and what to watch out for.

    ``notes`` holds what the chunker itself has to say; ``warnings`` adds, on first
    access, the chunks that the embedder would truncate (a second tokenization,
    so it is only paid for when someone looks). ``view()`` (and the notebook) shows the
    boundaries, with sliders that chunk again.
    """

    source: str
    chunks: list[Chunk]
    method: str
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # what a strategy measured (e.g. similarities)
    options: dict[str, Any] = field(default_factory=dict)  # what nbrag.chunk() was given, to chunk again

    @functools.cached_property
    def warnings(self) -> list[str]:
        return [*self.notes, *embedder_length_warnings(self.texts)]

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self.chunks)

    def __getitem__(self, i: int) -> Chunk:
        return self.chunks[i]

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.chunks]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": dict(self.params), "warnings": list(self.warnings),
                "details": dict(self.details), "chunks": [c.to_dict() for c in self.chunks]}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"ChunkResult({len(self.chunks)} chunks of {len(self.source)} chars, {self.method}({args}))"


class Chunker(ABC):
    """A chunking strategy. Subclasses declare a ``Config`` dataclass and ``split``."""

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def split(self, text: str) -> ChunkResult: ...


# ------------------------------------------------------------------ config fields shared by chunkers


def size_field(help: str = "Largest chunk, in tokens (or characters).") -> Any:
    return field(default_factory=lambda: settings.chunk_size, metadata={"help": help})


def unit_field() -> Any:
    return field(default_factory=lambda: settings.chunk_unit,
                 metadata={"help": "token: count tokens of `tokenizer`; char: count characters."})


def tokenizer_field() -> Any:
    return field(default_factory=lambda: settings.chunk_tokenizer,
                 metadata={"help": "Tokenizer that counts sizes: a name nbrag ships, a Hugging Face id or a folder."})


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_size_and_unit(name: str, size: Any, unit: str) -> None:
    """The checks every chunker config makes on its size and unit."""
    if unit not in UNITS:
        raise NbragError(f"choose one of {', '.join(UNITS)}.", option="unit", value=unit)
    if not whole(size) or size < 1:
        raise NbragError(f"must be a whole number of at least 1 (counted in {unit}s).", option=name, value=size)


_REGISTRY: dict[str, type[Chunker]] = {}
_ALIASES: dict[str, str] = {}


def chunker(name: str, *aliases: str) -> Callable[[type[Chunker]], type[Chunker]]:
    """Register a chunker class under ``name`` (and short aliases)."""

    def register(cls: type[Chunker]) -> type[Chunker]:
        cls.name = name
        _REGISTRY[name] = cls
        for alias in (name, *aliases):
            _ALIASES[alias] = name
        return cls

    return register


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_chunker(name: str, option: str = "method") -> type[Chunker]:
    """The chunker registered as ``name`` (or an alias); ``option`` names the argument it came from."""
    if not isinstance(name, str) or name not in _ALIASES:
        raise NbragError(f"no such chunker; choose one of {', '.join(available())}.", option=option, value=name)
    return _REGISTRY[_ALIASES[name]]


def embedder_length_warnings(texts: list[str]) -> list[str]:
    """Name the chunks that the configured embedder would truncate when it embeds them."""
    from nbrag import models

    limit = models.embedder_max_tokens()
    if limit is None or not texts:
        return []
    try:
        tok = models.load_tokenizer(settings.embedder)
    except ModelUnavailableError as error:
        return [f"Could not check chunk lengths against the embedder: {error}"]
    encodings = tok.encode_batch(texts, add_special_tokens=True)
    long = [i for i, enc in enumerate(encodings) if len(enc.ids) > limit]
    if not long:
        return []
    shown = ", ".join(str(i) for i in long[:10]) + (" …" if len(long) > 10 else "")
    return [f"{len(long)} chunk(s) exceed the {limit} tokens that {settings.embedder} embeds and would be "
            f"truncated when embedded: {shown}."]


def check_offsets(source: str, chunks: list[Chunk]) -> None:
    """Raise if a chunk's text is not exactly its slice of the source (a bug, never user error)."""
    for c in chunks:
        if source[c.start:c.end] != c.text:
            raise AssertionError(f"chunk {c.index} text differs from source[{c.start}:{c.end}]")
