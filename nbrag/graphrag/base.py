"""GraphRAG types: what an extractor finds in a chunk, and the registries of extractors and searches.

An extractor reads one chunk and returns an :class:`Extraction`: the entities it names
(:class:`Mention`, with a character span in the chunk where it has one) and the
relations between them (:class:`Link`, with the sentence that states it). The graph
merges extractions of all chunks (``graphrag/graph.py``); searches rank chunks through
it (``graphrag/search.py``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbrag.errors import NbragError, NbragTypeError


@dataclass
class Mention:
    """An entity named in a chunk: its surface ``name``, a ``type`` and where it lies in the chunk (-1 if unknown)."""

    name: str
    type: str = "name"  # offline: name, person, place, organization, concept; LLM: whatever the model says
    start: int = -1
    end: int = -1
    description: str = ""


@dataclass
class Link:
    """A relation between two mentioned names, with its weight and the text that states it."""

    source: str
    target: str
    weight: float = 1.0
    evidence: str = ""  # the sentence (offline) or the model's description of the relation
    kind: str = "sentence"  # sentence: same sentence; topic: the chunk's first entity and another; llm


@dataclass
class Extraction:
    """What an extractor found in one chunk; ``error`` is set (and the rest empty) when it failed on it."""

    mentions: list[Mention] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    error: str | None = None
    reply: str | None = None  # an LLM's raw reply, kept to show what went wrong


class Extractor(Protocol):
    """Reads chunks, returns what they name: ``extract(["text", ...]) -> [Extraction, ...]``."""

    name: str

    def extract(self, texts: list[str]) -> list[Extraction]: ...

    def options(self) -> dict[str, Any]: ...


EXTRACTORS: dict[str, Callable[..., Extractor]] = {}


def extractor(name: str) -> Callable[[Callable[..., Extractor]], Callable[..., Extractor]]:
    def register(factory: Callable[..., Extractor]) -> Callable[..., Extractor]:
        EXTRACTORS[name] = factory
        return factory

    return register


def get_extractor(name: str | Extractor, **options: Any) -> Extractor:
    """An extractor by name (``offline``, ``llm``) with its options, or an extractor object as it is."""
    if not isinstance(name, str):
        if not callable(getattr(name, "extract", None)):
            raise NbragTypeError("not an extractor: give 'offline', 'llm', or an object with "
                                 "extract(texts) -> list[Extraction].", option="extractor", value=name)
        return name
    for module in ("nbrag.graphrag.llm", "nbrag.graphrag.offline"):  # importing them registers their extractors
        importlib.import_module(module)

    if name not in EXTRACTORS:
        raise NbragError(f"unknown extractor: use one of {', '.join(map(repr, EXTRACTORS))}.", option="extractor",
                         value=name)
    factory = EXTRACTORS[name]
    takes = inspect.signature(factory).parameters
    unknown = [option for option in options if option not in takes]
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in takes.values()):
        raise NbragError(f"not an option of the {name} extractor; it takes {', '.join(takes)}.", option=unknown[0],
                         value=options[unknown[0]])
    return factory(**options)
