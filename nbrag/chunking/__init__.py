"""Chunkers, one strategy per file, behind a registry (``get_chunker``, ``available``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from nbrag.chunking import context, fixed, llm, recursive, semantic, structure  # noqa: F401  (register the strategies)
from nbrag.chunking.base import Chunk, Chunker, ChunkResult, available, check_offsets, chunker, get_chunker
from nbrag.chunking.comparison import ChunkComparison, compare
from nbrag.errors import NbragTypeError, readable, renamed

__all__ = ["Chunk", "ChunkComparison", "ChunkResult", "Chunker", "available", "chunk", "chunker", "compare",
           "get_chunker"]




def chunk(text: str, method: str = "fixed", **options: Any) -> ChunkResult:
    """Split ``text`` into chunks with a registered strategy.

    ``nbrag.chunk(text, method="fixed", size=64, overlap=8)`` gives token windows
    of the default tokenizer; every chunk carries exact character offsets
    (``text[chunk.start:chunk.end] == chunk.text``). Options not given take the session
    settings (``nbrag.settings``).

    Every chunker keeps grapheme clusters whole: no chunk starts or ends inside a letter
    and its combining marks, an emoji sequence, a flag or a Hangul syllable written as jamo.
    A chunk of ``size`` tokens holds at most ``size`` times as many characters as the
    tokenizer's longest token (18 for MiniLM; at least 16): a longer stretch that the
    tokenizer reads as one or a few tokens (a megabyte of ``"a"``, a long URL, base64) is
    cut by characters at grapheme-cluster boundaries, and ``result.warnings`` says how
    many stretches were. A chunk's ``tokens`` counts the tokens it touches, so each piece
    of a token cut by characters counts it once. A chunk holds more than ``size`` tokens
    only where one grapheme cluster spans more (a Hangul syllable in jamo is three MiniLM
    tokens), and more characters than the bound only where one cluster is that long.

    ``context=`` (every chunker takes it; ``"none"`` by default) sets what each chunk is embedded
    with besides its own text: ``"title"`` (its headings, after ``title=``), ``"neighbours"`` or
    ``"sentences:N"`` (the sentences around it), ``"generated"`` (a line from
    ``context_generator=``), joined by ``+``. Spans stay exact; ``chunk.embed_text`` holds what
    is embedded, within the embedder's limit (see :mod:`nbrag.chunking.context`).

    A text that holds a lone surrogate (``"\\ud800"``, from bytes decoded with
    ``errors="surrogateescape"``) raises :class:`~nbrag.errors.NbragError`: it is not
    text that a tokenizer can read. Decode such bytes with ``errors="replace"``.
    """
    if not isinstance(text, str):
        raise NbragTypeError(f"needs a str, got {type(text).__name__}; read files first or pass their text.",
                             option="text")
    readable(text, "text")
    cls = get_chunker(method)
    own = [f.name for f in dataclasses.fields(cls.Config)]
    for name, value in options.items():
        if name not in own and name not in context.OPTIONS:
            # (context=, title=, context_size= and context_generator= go to every chunker: see the docstring)
            raise NbragTypeError(f"not an option of the {cls.name} chunker, which takes {', '.join(own)}.",
                                 option=name, value=value)
    around = context.ContextConfig(**{k: v for k, v in options.items() if k in context.OPTIONS})
    result = cls(cls.Config(**{k: v for k, v in options.items() if k not in context.OPTIONS})).split(text)
    check_offsets(text, result.chunks)
    result = context.with_context(result, around)
    result.options = dict(options)
    return result


def __getattr__(name: str) -> Any:
    if name == "Comparison":  # the old name, for one more release
        renamed("nbrag.chunking.Comparison", "nbrag.chunking.ChunkComparison")
        return ChunkComparison
    raise AttributeError(f"module 'nbrag.chunking' has no attribute {name!r}")
