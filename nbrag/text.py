"""Text analysis shared by every part of nbrag: scripts, stop words, sentences and search terms.

* scripts: :data:`HAN` (Chinese characters), :data:`CJK` (the letters of Chinese, Japanese and
  Korean), :func:`script_share`;
* :data:`STOP_WORDS`: the one English stop list (BM25, graph search, the agent's word overlap);
* :func:`sentence_spans`: sentences of English and Chinese text as spans that tile it;
* :func:`terms` / :func:`term_spans`: the words and CJK bigrams of BM25 and of every word-overlap measure
  (BM25 stems them: :mod:`nbrag.analyzers`);
* :func:`content_words`: the words of a question that carry its content; :func:`stop_word_share`;
* grapheme clusters: :func:`at_grapheme_boundary`, :func:`grapheme_floor`, :func:`grapheme_ceil`,
  :func:`grapheme_cuts`: where text may be cut without splitting a character as people see it.

Every span is a half-open ``(start, end)`` range of characters of the text as given.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence

import regex

# --------------------------------------------------------------------------- scripts

# A Chinese character (sc=Han: ideographs of every CJK block and extension, 〇 々).
HAN = regex.compile(r"\p{sc=Han}")
# Letters of the CJK scripts; script extensions (scx) also cover the marks they share.
CJK_SCRIPTS = r"[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]"
LETTERS = r"[\p{L}\p{M}\p{N}]"
CJK = regex.compile(rf"[{LETTERS}&&{CJK_SCRIPTS}]", regex.V1)


def has_han(text: str) -> bool:
    return HAN.search(text) is not None


def script_share(text: str) -> dict[str, float]:
    """The share of Han characters and of Latin letters among a text's letters (a Han character
    counts twice: it carries about as much as a short word)."""
    han = len(HAN.findall(text))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    total = han * 2 + latin
    if total == 0:
        return {"han": 0.0, "latin": 0.0}
    return {"han": han * 2 / total, "latin": latin / total}


# --------------------------------------------------------------------------- stop words

# A short English stop list: pronouns, articles, auxiliaries, prepositions, conjunctions, question
# words, and the pieces that apostrophes leave ("don't" -> "don", "t").
STOP_WORDS = frozenset("""
a about after all also am an and any are as at be because been before being between both but by can
could d did do does doing don during each either for from had has have having he her here hers
herself him himself his how i if in into is it its itself just ll m me might my myself no nor not of
on only or our ours ourselves re s she should so some such t than that the their theirs them
themselves then there these they this those through to too very was we were what when where which
while who whom whose why will with would yes you your yours yourself yourselves ve
""".split())


# --------------------------------------------------------------------------- sentences

# A sentence ends at ., ! or ? followed by whitespace, or at Chinese/full-width end marks
# (。！？；…, also repeated), either optionally followed by closing quotes or brackets. The span
# keeps its trailing whitespace so that sentences tile the text.
_SENTENCE_END = re.compile(r"""(?:[.!?]+[)\]"'”’」』）]*(?=\s)|[。！？；…!?]+[)\]"'”’」』）]*)\s*""")
_LINE_END = re.compile(r"\n+\s*")
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
    return [(a, b) for a, b in itertools.pairwise(points) if b > a]


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace (an empty span collapses to ``(start, start)``)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None, *,
                   lines: bool = False) -> list[tuple[int, int]]:
    """Sentences of ``text[start:end]`` as spans that tile it (whitespace stays with the sentence before).

    ``lines=True`` ends a sentence at every line break too (answers, lists, headings).
    """
    end = len(text) if end is None else end
    cuts = [m.end() for m in _SENTENCE_END.finditer(text, start, end) if _ends_sentence(text, m)]
    if lines:
        cuts += [m.end() for m in _LINE_END.finditer(text, start, end)]
    return tile(start, end, cuts)


# --------------------------------------------------------------------------- search terms

# A CJK run is letters of the CJK scripts (so 。、 split runs); a word is any other run of letters,
# marks and digits (the marks keep words of scripts such as Devanagari whole).
_TOKEN = regex.compile(rf"(?P<cjk>[{LETTERS}&&{CJK_SCRIPTS}]+)|[{LETTERS}--{CJK_SCRIPTS}]+", regex.V1)


def terms(text: str, stem: Callable[[list[str]], list[str]] | None = None) -> list[str]:
    """The terms BM25 indexes and searches: ``"Python的with语句"`` -> ``["python", "的", "语句"]``.

    Text is NFKC-normalised (full-width ``Ｐｙ３`` becomes ``py3``) and case-folded. Words of
    letters and digits are kept whole, less :data:`STOP_WORDS`; ``stem`` (a list of words -> their
    stems, such as PyStemmer's ``stemWords``; see :mod:`nbrag.analyzers`) stems them, after the stop
    words went. A run of CJK characters becomes its overlapping bigrams (``"绿茶储存"`` -> ``绿茶, 茶储,
    储存``), as Lucene's CJKAnalyzer does, and a run of one character stays a unigram; bigrams are
    never stemmed.
    """
    if not isinstance(text, str):
        from nbrag.errors import NbragTypeError

        raise NbragTypeError(f"terms() needs a str, got {type(text).__name__}.")
    out: list[str] = []
    words: list[int] = []  # where the words (not the bigrams) are in out, for stem
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        word = match.group()
        if match.lastgroup == "cjk":
            if len(word) == 1:
                out.append(word)
            else:
                out.extend(word[i:i + 2] for i in range(len(word) - 1))
        elif word not in STOP_WORDS:
            words.append(len(out))
            out.append(word)
    if stem is not None and words:
        for at, stemmed in zip(words, stem([out[i] for i in words])):
            out[at] = stemmed
    return out


def term_spans(text: str, stem: Callable[[list[str]], list[str]] | None = None) -> list[tuple[str, int, int]]:
    """Each term of ``text`` with where it lies: ``(term, start, end)`` in the text as given.

    The same cut as :func:`terms` (stop words included, and stemmed by ``stem`` too), each piece
    normalised on its own, so that offsets stay those of the original text: for marking matched
    terms in a passage (a stem marks each word it came from).
    """
    out: list[tuple[str, int, int]] = []
    words: list[int] = []
    for match in _TOKEN.finditer(text):
        word, start = match.group(), match.start()
        if match.lastgroup == "cjk":
            grams = [(0, 1)] if len(word) == 1 else [(i, i + 2) for i in range(len(word) - 1)]
        else:
            grams = [(0, len(word))]
            words.append(len(out))
        out += [(unicodedata.normalize("NFKC", word[a:b]).casefold(), start + a, start + b) for a, b in grams]
    if stem is not None and words:
        for at, stemmed in zip(words, stem([out[i][0] for i in words])):
            out[at] = (stemmed, out[at][1], out[at][2])
    return out


def stop_word_share(text: str) -> tuple[float, int]:
    """The share of the words of ``text`` (CJK runs aside) that are English :data:`STOP_WORDS`, and how many words
    there are: a third or more of the words of most English prose, a tenth or less of other languages'."""
    words = [m.group() for m in _TOKEN.finditer(text.casefold()) if m.lastgroup != "cjk"]
    return (sum(w in STOP_WORDS for w in words) / len(words) if words else 0.0), len(words)


_WORD = regex.compile(r"\p{sc=Han}|[[\p{L}\p{N}]--\p{sc=Han}][[\p{L}\p{M}\p{N}'’-]--\p{sc=Han}]*", regex.V1)


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry content: lower-cased, less :data:`STOP_WORDS`; each Chinese
    character a word of its own (``"Who built the lens"`` -> ``["built", "lens"]``)."""
    words = (m.group().lower().strip("'’-") for m in _WORD.finditer(unicodedata.normalize("NFKC", text)))
    return [w for w in words if w and w not in STOP_WORDS]


# --------------------------------------------------------------------------- grapheme clusters

# A grapheme cluster is one character as people see it: a letter and its combining marks, an emoji
# with a skin tone or a ZWJ sequence, a flag (two regional indicators), a Hangul syllable written as
# jamo, an Indic conjunct (Unicode's extended grapheme clusters, UAX #29, as the regex module has them).
# The regex module's \X reads back as far as a rule needs (a run of flags, an emoji sequence), so
# matching it at any position ends at the first cluster boundary after that position.
_CLUSTER = regex.compile(r"\X")


def at_grapheme_boundary(text: str, position: int) -> bool:
    """Whether cutting ``text`` at ``position`` keeps every grapheme cluster whole.

    Only the characters around ``position`` are read; two ASCII characters other than
    ``"\\r\\n"`` always have a boundary between them.
    """
    if position <= 0 or position >= len(text):
        return True
    pair = text[position - 1:position + 1]
    if pair.isascii():
        return pair != "\r\n"
    return _CLUSTER.match(text, position - 1).end() == position


def grapheme_ceil(text: str, position: int) -> int:
    """The first grapheme-cluster boundary at or after ``position``."""
    if at_grapheme_boundary(text, position):
        return position
    return _CLUSTER.match(text, position - 1).end()


def grapheme_floor(text: str, position: int) -> int:
    """The last grapheme-cluster boundary at or before ``position``."""
    if at_grapheme_boundary(text, position):
        return position
    back = 16
    while True:  # look back further each time until a boundary turns up (a cluster may be long)
        start = max(0, position - back)
        found = 0 if start == 0 else None
        for match in _CLUSTER.finditer(text, start):  # the first match ends at the first boundary after start
            if match.end() > position:
                break
            found = match.end()
        if found is not None:
            return found
        back *= 4


def grapheme_cuts(text: str, start: int, end: int, most: int) -> list[int]:
    """Grapheme-cluster boundaries that cut ``text[start:end]`` into pieces of at most ``most`` characters.

    A single cluster longer than ``most`` (a letter under hundreds of combining marks) stays
    whole, in a piece of its own that is longer.
    """
    if text[start:end].isascii() and "\r\n" not in text[start:end]:  # every position is a boundary
        return list(range(start + most, end, most))
    cuts: list[int] = []
    at = start
    while end - at > most:
        cut = grapheme_floor(text, at + most)
        if cut <= at:
            cut = grapheme_ceil(text, at + 1)
        if cut >= end:
            break
        cuts.append(cut)
        at = cut
    return cuts
