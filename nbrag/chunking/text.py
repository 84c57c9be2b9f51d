"""Spans for the chunkers: cuts at separators, the token offsets and counts of any span, and where a cut may fall.

Every function here returns half-open character spans ``(start, end)`` into the
original text, so chunkers never rebuild text and never lose a character. Sentences,
:func:`~nbrag.text.strip_span` and grapheme-cluster boundaries come from nbrag's shared
text analysis (:mod:`nbrag.text`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nbrag.text import at_grapheme_boundary, grapheme_ceil, grapheme_cuts, grapheme_floor, strip_span, tile

if TYPE_CHECKING:  # pragma: no cover
    import tokenizers


def regex_spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of ``text[start:end]`` cut right after each match of ``pattern``."""
    return tile(start, end, [m.end() for m in pattern.finditer(text, start, end) if m.end() > m.start()])


_START, _END = operator.itemgetter(0), operator.itemgetter(1)

# Characters one token may stand for when a chunk's characters are bounded (see TokenCounter):
# at least this many, whatever the tokenizer's vocabulary.
MIN_TOKEN_CHARS = 16


class Column:
    """One column of a list of ``(start, end)`` pairs, read in place (for bisecting, without a copy)."""

    __slots__ = ("column", "pairs")

    def __init__(self, pairs: Sequence[tuple[int, int]], column: int) -> None:
        self.pairs, self.column = pairs, column

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> int:
        return self.pairs[i][self.column]


class Units:
    """What windows count over a span: characters, or tokens, with a token longer than
    ``TokenCounter.token_chars`` cut at grapheme boundaries into pieces no longer than that.

    ``starts`` and ``ends`` are the units' character spans, in order and never overlapping
    (``range`` objects when counting characters, columns of the token offsets where no token
    is cut, so that no list is made).
    """

    def __init__(self, starts: Sequence[int], ends: Sequence[int], long_tokens: int = 0) -> None:
        self.starts, self.ends, self.long_tokens = starts, ends, long_tokens

    def __len__(self) -> int:
        return len(self.starts)


class TokenCounter:
    """Token counts of any span of one text, from one encoding of the whole text, and where chunks may be cut.

    A token belongs to the span that holds its first character, so the counts of
    spans that tile a text add up to the text's token count. Tokens of no width
    (marks a tokenizer drops) are not counted. Spans are found by bisecting the
    tokens' starts.

    Chunks are cut only where no grapheme cluster (a letter and its combining marks, an
    emoji sequence, a flag, a Hangul syllable in jamo) is split, and no token but where
    text is cut by characters. A chunk of ``size`` tokens holds at most
    ``size × token_chars`` characters (:meth:`bound`; ``token_chars`` is the tokenizer's
    longest token, see :func:`token_chars`): a stretch the tokenizer reads as one token or
    a few (a megabyte of ``"a"``, a long URL, base64) is cut by characters, at grapheme
    boundaries, where it is longer; ``cut_stretches`` counts such stretches and
    :meth:`note` says so.
    """

    def __init__(self, text: str, offsets: Sequence[tuple[int, int]] | None, token_chars: int = 1) -> None:
        self.text = text
        self.widest = 1  # the most characters of one token
        if offsets:
            widths = list(map(operator.sub, map(_END, offsets), map(_START, offsets)))
            if min(widths) <= 0:
                offsets = [o for o in offsets if o[1] > o[0]]
            self.widest = max(widths)
        self.offsets = offsets  # None: counting characters
        self.token_chars = 1 if offsets is None else token_chars
        self.cut_stretches = 0

    # ------------------------------------------------------------------ counts

    def _index(self, position: int) -> int:
        """How many tokens start before ``position``."""
        return bisect.bisect_left(self.offsets, position, key=_START)

    def __call__(self, start: int, end: int) -> int:
        if self.offsets is None:  # counting characters
            return end - start
        return self._index(end) - self._index(start)

    def touching(self, start: int, end: int) -> int:
        """Tokens that have a character in the span: those that start in it, and one that starts
        before and reaches into it (a token cut by characters counts in each of its pieces)."""
        if self.offsets is None or end <= start:
            return max(0, end - start)
        first = self._index(start)
        crossing = first > 0 and self.offsets[first - 1][1] > start
        return self._index(end) - first + crossing

    def bound(self, size: int) -> int:
        """The most characters a chunk of ``size`` tokens (or characters) may hold."""
        return size * self.token_chars

    def fits(self, start: int, end: int, size: int) -> bool:
        """Whether the span may be one chunk of at most ``size``: tokens and characters both."""
        return end - start <= self.bound(size) and self.touching(start, end) <= size

    def note(self, size: int) -> list[str]:
        """A line for a result's warnings when stretches were cut by characters (else none)."""
        n = self.cut_stretches
        if not n:
            return []
        return [f"{n} stretch{'es' if n > 1 else ''} of text (such as a long word, URL or base64 that the tokenizer "
                f"reads as one token) ran past the {self.bound(size)} characters a chunk of {size} tokens may hold "
                f"({self.token_chars} a token) and {'were' if n > 1 else 'was'} cut by characters, at grapheme "
                "boundaries."]

    # ------------------------------------------------------------------ where chunks may be cut

    def inside_token(self, position: int) -> bool:
        """Whether ``position`` falls strictly inside a token (cutting there would split it)."""
        if self.offsets is None:
            return False
        i = bisect.bisect_right(self.offsets, position, key=_START) - 1
        return i >= 0 and self.offsets[i][0] < position < self.offsets[i][1]

    def cuttable(self, position: int) -> bool:
        """Whether a cut at ``position`` splits neither a token nor a grapheme cluster."""
        return at_grapheme_boundary(self.text, position) and not self.inside_token(position)

    def snap(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Join neighbouring spans whose shared edge splits a token or a grapheme cluster.

        Separators are found in the text, but a tokenizer may read across some of
        them (a form feed it drops, say), and a combining mark may follow one; a cut
        there would split a token or a character in two.
        """
        joined: list[tuple[int, int]] = []
        for span in spans:
            if joined and not self.cuttable(span[0]):
                joined[-1] = (joined[-1][0], span[1])
            else:
                joined.append(span)
        return joined

    def strip(self, start: int, end: int) -> tuple[int, int]:
        """The span without leading and trailing whitespace, widened again to whole grapheme
        clusters (a combining mark over a space keeps its space)."""
        a, b = strip_span(self.text, start, end)
        if a == b:
            return a, b
        return grapheme_floor(self.text, a), grapheme_ceil(self.text, b)

    # ------------------------------------------------------------------ windows

    def units(self, start: int, end: int) -> Units:
        """The units of ``[start, end)`` that windows count (see :class:`Units`)."""
        if self.offsets is None:
            return Units(range(start, end), range(start + 1, end + 1))
        first, last = self._index(start), self._index(end)
        whole = first == 0 and last == len(self.offsets) and (not last or self.offsets[-1][1] <= end)
        tokens = self.offsets if whole else self.offsets[first:last]
        if tokens and not whole:
            tokens[-1] = (tokens[-1][0], min(tokens[-1][1], end))
        return self._units(tokens, self.widest if whole else None)

    def _units(self, tokens: list[tuple[int, int]], widest: int | None = None) -> Units:
        """Units of these token spans (``widest``: the most characters of one, where known)."""
        most = self.token_chars
        if not tokens or (max(e - s for s, e in tokens) if widest is None else widest) <= most:
            return Units(Column(tokens, 0), Column(tokens, 1))  # no token to cut (nearly always)
        starts: list[int] = []
        ends: list[int] = []
        long_tokens = 0
        for s, e in tokens:
            cuts = grapheme_cuts(self.text, s, e, most) if e - s > most else []
            long_tokens += bool(cuts)
            starts += [s, *cuts]
            ends += [*cuts, e]
        return Units(starts, ends, long_tokens)

    def _cut_below(self, units: Units, i: int, low: int) -> tuple[int, int] | None:
        """The last unit ``j`` in ``(low, i]`` that a chunk may start at, with where: the last grapheme
        boundary at or before the unit, unless the unit before reaches past it."""
        while i > low:
            at = grapheme_floor(self.text, units.starts[i])
            if at >= units.ends[i - 1]:
                return i, at
            # Units that start in the cluster from `at` share its start: only the first of them can start a chunk.
            i = min(i - 1, bisect.bisect_left(units.starts, at))
        return None

    def _cut_above(self, units: Units, i: int) -> tuple[int, int] | None:
        """The first unit ``j >= i`` (before the last) that a chunk may start at, with where."""
        while 0 < i < len(units):
            at = grapheme_floor(self.text, units.starts[i])
            if at >= units.ends[i - 1]:
                return i, at
            after = grapheme_ceil(self.text, units.starts[i] + 1)  # the end of the cluster the unit starts in
            i = max(i + 1, bisect.bisect_left(units.starts, after))
        return None

    def _cut_near(self, units: Units, i: int, low: int) -> tuple[int, int] | None:
        """The cut at or before unit ``i`` (after unit ``low``), else the first one after it."""
        return self._cut_below(units, i, low) or self._cut_above(units, i + 1)

    def even_windows(self, start: int, end: int, size: int) -> list[tuple[int, int]]:
        """Windows of about equal units, at most ``size`` each, that tile ``[start, end)``.

        A window holds more only where a grapheme cluster spans more than ``size`` units (a
        Hangul syllable in jamo is three tokens of MiniLM) and no cut is possible.
        """
        units = self.units(start, end)
        self.cut_stretches += units.long_tokens
        n, i, cuts = len(units), 0, [start]
        windows, k = -(-n // size), 1
        while n - i > size:
            even = (k * n) // windows if k < windows else n  # past the last even place when cuts moved back
            found = self._cut_near(units, min(max(even, i + 1), i + size), i)
            if found is None:
                break
            i, at = found
            cuts.append(at)
            k += 1
        cuts.append(end)
        return list(itertools.pairwise(cuts))

    def sliding_windows(self, size: int, overlap: int) -> list[tuple[int, int]]:
        """Windows of ``size`` units over the whole text, each starting ``size - overlap`` units after
        the one before; each starts at its first unit and ends after its last, widened to whole grapheme
        clusters.

        A window end that would split a cluster moves back to the cluster's start (forward, where the
        cluster alone is more than ``size`` units). A window whose units spread over more than
        ``bound(size)`` characters (long runs of spaces or marks between them) ends early; one that still
        does (a lone unit with the marks after it) is left for :meth:`cut_long`, and the next window
        starts after it, so that windows stay in order.
        """
        units = self.units(0, len(self.text))
        self.cut_stretches += units.long_tokens
        n, most = len(units), self.bound(size)
        if n == 0:
            return []
        spans: list[tuple[int, int]] = []
        a, at = 0, grapheme_floor(self.text, units.starts[0])
        last = (0, 0)  # the unit and the place where the window before ended
        while True:
            b = min(a + size, n)
            if b < n:
                b = (self._cut_near(units, b, a) or (n, 0))[0]
            end = grapheme_ceil(self.text, units.ends[b - 1])
            while end - at > most and (shorter := self._cut_below(units, b - 1, a)) is not None:
                b = shorter[0]
                end = grapheme_ceil(self.text, units.ends[b - 1])
            if b <= last[0]:  # a window moved back by a cluster would lie inside the one before: start after it
                a, at = last
                continue
            spans.append((at, end))
            if b == n:
                return spans
            last = (b, grapheme_floor(self.text, units.starts[b]))  # a window may start at unit b
            shifted = self._cut_below(units, max(b - overlap, a + 1), a) if end - at <= most else None
            a, at = shifted or last

    def cut_long(self, spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
        """Spans longer than ``bound(size)`` cut by characters at grapheme boundaries (each such span is a
        stretch in ``cut_stretches``, unless nothing of it is kept). The pieces lose the whitespace at their
        ends, and pieces that touch no token (only what the tokenizer drops: spaces, control characters) are
        left out."""
        most = self.bound(size)
        out = []
        for a, b in spans:
            if b - a <= most:
                out.append((a, b))
                continue
            cuts = grapheme_cuts(self.text, a, b, most)
            pieces = (self.strip(*piece) for piece in itertools.pairwise([a, *cuts, b]))
            kept = [piece for piece in pieces if self.touching(*piece)]
            self.cut_stretches += bool(cuts and kept)
            out += kept
        return out


# Long texts are encoded in pieces of about this many characters, in parallel (see token_offsets).
PIECE_CHARS = 2000
# Characters a token stands for in English text, about (MiniLM: 4.6 on Wikipedia passages, 3.6 on Python's docs).
CHARS_PER_TOKEN = 4
_PIECE_CUT = re.compile(r"[ \n]")


def english_chars(piece: str) -> int:
    """About how many characters of English text hold as many tokens as ``piece``: its length, with each
    character outside ASCII weighed by its UTF-8 length (a CJK ideograph or a Hangul syllable, three bytes,
    weighs :data:`CHARS_PER_TOKEN`, about a token; an accented or Cyrillic letter, two bytes, 2.5)."""
    if piece.isascii():
        return len(piece)
    return len(piece) + 3 * (len(piece.encode("utf-8", "surrogatepass")) - len(piece)) // 2


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


# Characters that no token of a tokenizer that reads words apart holds (see reads_words_apart), and runs of them.
_BLANK = frozenset(" \t\r\n")
_BLANKS = re.compile(r"[ \t\r\n]*")
_LINE_ENDS = re.compile(r"\n[ \t\r\n]*")


def piece_cuts(text: str) -> list[int]:
    """Where :class:`PieceCounter` cuts ``text``: after each run of line breaks (with the blanks among
    them), and in a line longer than :data:`PIECE_CHARS`, after a space past each ``PIECE_CHARS``
    characters; from 0 to ``len(text)``."""
    cuts = [0]
    for b in [m.end() for m in _LINE_ENDS.finditer(text)] + [len(text)]:
        while b - cuts[-1] > PIECE_CHARS and (m := _PIECE_CUT.search(text, cuts[-1] + PIECE_CHARS, b - 1)):
            cuts.append(m.end())
        if b > cuts[-1]:
            cuts.append(b)
    return cuts


class PieceCounter(TokenCounter):
    """A :class:`TokenCounter` that reads token offsets only where it is asked about a place inside a line.

    The text is cut into pieces (lines, see :func:`piece_cuts`) that are encoded apart without
    offsets, which is much cheaper than with them: a piece's token count is the length of its
    encoding. A place at a piece's edge, or with only spaces, tabs and line breaks between it and
    an edge, needs no offsets; elsewhere the piece holding it is encoded again with offsets, once.
    Chunkers that ask about few places (the recursive chunker, at the separators it cuts) so skip
    most of the offsets; the answers are :class:`TokenCounter`'s.

    Only for tokenizers that read words apart (:func:`reads_words_apart`): no token holds a space,
    tab, CR or newline, so a piece's tokens are the text's tokens over its span and no token starts
    or crosses a run of those characters; and none of their tokens has no width (so counts need no
    offsets to leave such tokens out).
    """

    def __init__(self, text: str, tok: tokenizers.Tokenizer, token_chars: int, size: int | None = None) -> None:
        self.text, self.tok, self.token_chars, self.cut_stretches = text, tok, token_chars, 0
        self.cuts = piece_cuts(text)  # piece k is [cuts[k], cuts[k + 1])
        pieces = [text[a:b] for a, b in itertools.pairwise(self.cuts)]
        # A piece of likely more than `size` tokens (over `size` × CHARS_PER_TOKEN characters, English weighed,
        # see english_chars) will be cut inside: encode it with offsets at once.
        most = size * CHARS_PER_TOKEN if size is not None else None
        heavy = [most is not None and english_chars(piece) > most for piece in pieces]
        long = [k for k, cut in enumerate(heavy) if cut]
        counts = [0] * len(pieces)
        self._offsets: dict[int, list[tuple[int, int]]] = {}
        for k, encoding in zip(long, tok.encode_batch([pieces[k] for k in long], add_special_tokens=False)):
            counts[k] = len(encoding)
            self._offsets[k] = encoding.offsets
        short = [k for k, cut in enumerate(heavy) if not cut] if long else range(len(pieces))
        encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # without offsets (tokenizers >= 0.21)
        for k, encoding in zip(short, encode([pieces[k] for k in short], add_special_tokens=False)):
            counts[k] = len(encoding)
        self.before = list(itertools.accumulate(counts, initial=0))

    def _piece(self, position: int) -> int:
        """The piece that holds the character at ``position`` (``0 <= position < len(text)``)."""
        return bisect.bisect_right(self.cuts, position) - 1

    def _piece_offsets(self, k: int) -> list[tuple[int, int]]:
        """The offsets of piece ``k``'s tokens in the piece, from its start (encoded once, when first asked)."""
        offsets = self._offsets.get(k)
        if offsets is None:
            piece = self.text[self.cuts[k]:self.cuts[k + 1]]
            self._offsets[k] = offsets = self.tok.encode(piece, add_special_tokens=False).offsets
        return offsets

    @functools.cached_property
    def offsets(self) -> list[tuple[int, int]]:  # type: ignore[override]
        """Every token's offsets in the text (encodes every piece again: for what needs them all)."""
        return [(s + a, e + a) for k, a in enumerate(self.cuts[:-1]) for s, e in self._piece_offsets(k)]

    @functools.cached_property
    def widest(self) -> int:  # type: ignore[override]
        return max((e - s for s, e in self.offsets), default=1)

    def _index(self, position: int) -> int:
        if position >= len(self.text):
            return self.before[-1]
        k = self._piece(position)
        a = self.cuts[k]
        offsets = self._offsets.get(k)
        if offsets is None:
            b = self.cuts[k + 1]
            if position <= a or _BLANKS.match(self.text, a, position).end() == position:  # only blanks before it
                return self.before[k]
            if _BLANKS.match(self.text, position, b).end() == b:  # only blanks after it
                return self.before[k + 1]
            offsets = self._piece_offsets(k)
        return self.before[k] + bisect.bisect_left(offsets, position - a, key=_START)

    def __call__(self, start: int, end: int) -> int:
        return self._index(end) - self._index(start)

    def touching(self, start: int, end: int) -> int:
        if end <= start:
            return 0
        return self._index(end) - self._index(start) + self._crossed(start)

    def _crossed(self, position: int) -> bool:
        """Whether a token starts before ``position`` and ends after it."""
        if position <= 0 or position >= len(self.text) or self.text[position - 1] in _BLANK:
            return False  # a token across the text's end, or one that would hold that blank
        k = self._piece(position)
        position -= self.cuts[k]  # in the piece
        if position == 0:  # no token crosses a cut
            return False
        offsets = self._piece_offsets(k)
        i = bisect.bisect_left(offsets, position, key=_START)
        return i > 0 and offsets[i - 1][1] > position

    def inside_token(self, position: int) -> bool:
        if position <= 0 or position >= len(self.text) or self.text[position - 1] in _BLANK:
            return False
        k = self._piece(position)
        position -= self.cuts[k]  # in the piece
        if position == 0:
            return False
        offsets = self._piece_offsets(k)
        i = bisect.bisect_right(offsets, position, key=_START) - 1
        return i >= 0 and offsets[i][0] < position < offsets[i][1]

    def units(self, start: int, end: int) -> Units:
        tokens: list[tuple[int, int]] = []
        for k in range(self._piece(start), self._piece(end - 1) + 1) if start < end else ():
            a, offsets = self.cuts[k], self._piece_offsets(k)
            tokens += [(s + a, e + a) for s, e in offsets[bisect.bisect_left(offsets, start - a, key=_START):
                                                          bisect.bisect_left(offsets, end - a, key=_START)]]
        if tokens:
            tokens[-1] = (tokens[-1][0], min(tokens[-1][1], end))
        return self._units(tokens)


def longest_token(tok: tokenizers.Tokenizer) -> int:
    """Characters of the longest entry of ``tok``'s vocabulary, added tokens included, less a
    WordPiece continuation prefix (``##``) or an end-of-word suffix."""
    prefix = getattr(tok.model, "continuing_subword_prefix", None) or ""
    suffix = getattr(tok.model, "end_of_word_suffix", None) or ""
    longest = 0
    for piece in tok.get_vocab(with_added_tokens=True):
        n = len(piece)
        if prefix and piece.startswith(prefix):
            n -= len(prefix)
        if suffix and piece.endswith(suffix):
            n -= len(suffix)
        longest = max(longest, n)
    return longest


@functools.lru_cache(maxsize=16)
def token_chars(tokenizer: str) -> int:
    """Characters a token may stand for in a bounded chunk: the longest token of the tokenizer
    (18 for MiniLM, "telecommunications"), at least :data:`MIN_TOKEN_CHARS`; read once per tokenizer."""
    from nbrag.models import load_tokenizer

    return max(longest_token(load_tokenizer(tokenizer)), MIN_TOKEN_CHARS)


def token_counter(text: str, unit: str, tokenizer: str, pieces: int | None = None) -> TokenCounter:
    """A counter of ``unit`` over ``text``. ``pieces`` (the chunk size of a chunker that asks about few
    places) gives a :class:`PieceCounter` where the tokenizer reads words apart."""
    if unit == "char":
        return TokenCounter(text, None)
    from nbrag.models import load_tokenizer

    tok = load_tokenizer(tokenizer)
    if pieces is not None and _reads_words_apart(tokenizer):
        return PieceCounter(text, tok, token_chars(tokenizer), pieces)
    return TokenCounter(text, token_offsets(tok, text), token_chars(tokenizer))


@functools.lru_cache(maxsize=16)
def _reads_words_apart(tokenizer: str) -> bool:
    from nbrag.models import load_tokenizer

    return reads_words_apart(load_tokenizer(tokenizer))
