"""Spans for the chunkers: cuts at separators, and the token offsets and counts of any span.

Every function here returns half-open character spans ``(start, end)`` into the
original text, so chunkers never rebuild text and never lose a character. Sentences and
:func:`~nbrag.text.strip_span` come from nbrag's shared text analysis (:mod:`nbrag.text`).
"""

from __future__ import annotations

import bisect
import itertools
import operator
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nbrag.text import tile

if TYPE_CHECKING:  # pragma: no cover
    import tokenizers


def regex_spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of ``text[start:end]`` cut right after each match of ``pattern``."""
    return tile(start, end, [m.end() for m in pattern.finditer(text, start, end) if m.end() > m.start()])


_START = operator.itemgetter(0)


class TokenCounter:
    """Token counts of any span, from one encoding of the whole text.

    A token belongs to the span that holds its first character, so the counts of
    spans that tile a text add up to the text's token count. Tokens of no width
    (marks a tokenizer drops) are not counted. Spans are found by bisecting the
    token offsets on their start (no copy of the starts is made).
    """

    def __init__(self, offsets: Sequence[tuple[int, int]] | None) -> None:
        if offsets is not None and not all(end > start for start, end in offsets):
            offsets = [o for o in offsets if o[1] > o[0]]
        self.offsets = offsets  # None: counting characters

    def inside_token(self, position: int) -> bool:
        """Whether ``position`` falls strictly inside a token (cutting there would split it)."""
        if self.offsets is None:
            return False
        i = bisect.bisect_right(self.offsets, position, key=_START) - 1
        return i >= 0 and self.offsets[i][0] < position < self.offsets[i][1]

    def snap(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Join neighbouring spans whose shared edge falls inside a token.

        Separators are found in the text, but a tokenizer may read across some of
        them (a form feed it drops, say); a cut there would split a token in two.
        """
        joined: list[tuple[int, int]] = []
        for span in spans:
            if joined and self.inside_token(span[0]):
                joined[-1] = (joined[-1][0], span[1])
            else:
                joined.append(span)
        return joined

    def _index(self, position: int) -> int:
        """How many tokens start before ``position``."""
        return bisect.bisect_left(self.offsets, position, key=_START)

    def __call__(self, start: int, end: int) -> int:
        if self.offsets is None:  # counting characters
            return end - start
        return self._index(end) - self._index(start)

    def token_starts(self, start: int, end: int) -> list[int]:
        """Character positions where the span's tokens start (characters when counting characters)."""
        if self.offsets is None:
            return list(range(start, end))
        return [s for s, _ in self.offsets[self._index(start):self._index(end)]]


# Long texts are encoded in pieces of about this many characters, in parallel (see token_offsets).
PIECE_CHARS = 2000
_PIECE_CUT = re.compile(r"[ \n]")


def reads_words_apart(tok: tokenizers.Tokenizer) -> bool:
    """Whether no token of ``tok`` reads across a space or a newline, whatever comes before or after.

    True for WordPiece-style pipelines (BERT, MiniLM): a per-character normalizer and a
    pre-tokenizer that splits at whitespace, and no added token that holds or strips
    whitespace. Byte-level BPE and SentencePiece tokenizers mark word starts with a
    space or prefix the text, so they are False.
    """
    from tokenizers import normalizers, pre_tokenizers

    per_character = (normalizers.BertNormalizer, normalizers.Lowercase, normalizers.StripAccents,
                     normalizers.NFD, normalizers.NFKD)
    splits_at_spaces = (pre_tokenizers.BertPreTokenizer, pre_tokenizers.Whitespace, pre_tokenizers.WhitespaceSplit)
    if tok.normalizer is not None and not isinstance(tok.normalizer, per_character):
        return False
    if not isinstance(tok.pre_tokenizer, splits_at_spaces):
        return False
    return not any(t.lstrip or t.rstrip or any(ch.isspace() for ch in t.content)
                   for t in tok.get_added_tokens_decoder().values())


def _parallel_encoding() -> bool:
    """Whether ``encode_batch`` may use several cores: more than one, and not turned off
    (``TOKENIZERS_PARALLELISM=false``, which tokenizers also sets in a process forked after it ran)."""
    setting = os.environ.get("TOKENIZERS_PARALLELISM")
    if setting is not None and setting.strip().lower() in {"", "off", "false", "f", "no", "n", "0"}:
        return False
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return len(cores) > 1


def token_offsets(tok: tokenizers.Tokenizer, text: str) -> list[tuple[int, int]]:
    """``tok.encode(text, add_special_tokens=False).offsets``, sooner for long texts.

    Where no token reads across a space or newline (:func:`reads_words_apart`), a long
    text is cut after such characters into pieces that ``encode_batch`` encodes on all
    cores; the pieces' offsets, shifted to the text, are the whole text's offsets.
    """
    if len(text) < 2 * PIECE_CHARS or not _parallel_encoding() or not reads_words_apart(tok):
        return tok.encode(text, add_special_tokens=False).offsets
    cuts = [0]
    while (m := _PIECE_CUT.search(text, cuts[-1] + PIECE_CHARS)) is not None and m.end() < len(text):
        cuts.append(m.end())
    cuts.append(len(text))
    encodings = tok.encode_batch([text[a:b] for a, b in itertools.pairwise(cuts)], add_special_tokens=False)
    offsets = encodings[0].offsets
    for base, encoding in zip(cuts[1:], encodings[1:]):
        offsets += [(s + base, e + base) for s, e in encoding.offsets]
    return offsets


def token_counter(text: str, unit: str, tokenizer: str) -> TokenCounter:
    if unit == "char":
        return TokenCounter(None)
    from nbrag.models import load_tokenizer

    return TokenCounter(token_offsets(load_tokenizer(tokenizer), text))
