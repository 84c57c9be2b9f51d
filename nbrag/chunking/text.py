"""Text spans shared by the chunkers: sentences (English and Chinese), separators, token counts.

Every function here returns half-open character spans ``(start, end)`` into the
original text, so chunkers never rebuild text and never lose a character.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

# A sentence ends at ., ! or ? followed by whitespace, or at Chinese/full-width
# end marks (。！？；…, also repeated, as in ！？ or ……), either optionally
# followed by closing quotes or brackets. The span keeps its trailing whitespace
# so that sentences tile the text.
_SENTENCE_END = re.compile(
    r"""(?:[.!?]+[)\]"'”’」』）]*(?=\s)|[。！？；…!?]+[)\]"'”’」』）]*)\s*""",
    re.UNICODE,
)


# Words after which a period rarely ends a sentence (single letters cover initials).
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "cf", "no", "fig", "jr", "sr",
                  "inc", "ltd", "co", "approx", "dept", "est", "vol"}
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    if not match.group().startswith("."):
        return True
    word = _WORD_BEFORE.search(text, max(0, match.start() - 12), match.start() + 1)
    if word is None:
        return True
    token = word.group(1).lower()
    if token.isdigit():  # "2." opening a line is a list marker, not a sentence
        line_start = text.rfind("\n", 0, word.start(1)) + 1
        return bool(text[line_start:word.start(1)].strip())
    return not (len(token) == 1 and token.isalpha()) and token not in _ABBREVIATIONS


def tile(start: int, end: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` at ``cuts`` into consecutive non-empty spans."""
    points = [start, *sorted(c for c in set(cuts) if start < c < end), end]
    return [(a, b) for a, b in zip(points, points[1:]) if b > a]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences of ``text[start:end]`` as spans that tile it (whitespace stays with the sentence before)."""
    end = len(text) if end is None else end
    return tile(start, end, [m.end() for m in _SENTENCE_END.finditer(text, start, end) if _ends_sentence(text, m)])


def regex_spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of ``text[start:end]`` cut right after each match of ``pattern``."""
    return tile(start, end, [m.end() for m in pattern.finditer(text, start, end) if m.end() > m.start()])


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace (empty spans collapse to ``(start, start)``)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class TokenCounter:
    """Token counts of any span, from one encoding of the whole text.

    A token belongs to the span that holds its first character, so the counts of
    spans that tile a text add up to the text's token count.
    """

    def __init__(self, offsets: Sequence[tuple[int, int]] | None) -> None:
        tokens = [] if offsets is None else [(s, e) for s, e in offsets if e > s]
        self.starts = None if offsets is None else [s for s, _ in tokens]
        self.ends = None if offsets is None else [e for _, e in tokens]

    def inside_token(self, position: int) -> bool:
        """Whether ``position`` falls strictly inside a token (cutting there would split it)."""
        if self.starts is None:
            return False
        i = bisect.bisect_right(self.starts, position) - 1
        return i >= 0 and self.starts[i] < position < self.ends[i]

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

    def __call__(self, start: int, end: int) -> int:
        if self.starts is None:  # counting characters
            return end - start
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def token_starts(self, start: int, end: int) -> list[int]:
        """Character positions where the span's tokens start (characters when counting characters)."""
        if self.starts is None:
            return list(range(start, end))
        return self.starts[bisect.bisect_left(self.starts, start):bisect.bisect_left(self.starts, end)]


def token_counter(text: str, unit: str, tokenizer: str) -> TokenCounter:
    if unit == "char":
        return TokenCounter(None)
    from nbrag.models import load_tokenizer

    return TokenCounter(load_tokenizer(tokenizer).encode(text, add_special_tokens=False).offsets)
