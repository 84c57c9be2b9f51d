"""The offline extractor: names and keyphrases found without a model, relations from co-occurrence.

English (and other space-separated scripts):

* names: runs of capitalised words, joined by lower-case particles (``of``, ``de``, ``von``,
  ``van der``…: "University of Chicago", "Ludwig van Beethoven"); a sentence's first word is
  dropped when it is a function word ("The", "In", "However"); lone month and day names and
  "I" are not names;
* keyphrases: the chunk's best few from YAKE (Campos et al., 2020, the ``yake`` package),
  kept as ``concept`` entities when no name already covers them.

Chinese: jieba's part-of-speech tagger gives names (``nr``, ``nz``), places (``ns``) and
organisations (``nt``); a title in 《》 is a ``work``; jieba's TF-IDF keywords (nouns) give concepts.

Relations: every two entities named in the same sentence (weight 1, the sentence as
evidence); and the chunk's first entity, usually its subject ("Title\\ntext" passages,
encyclopaedia articles), with each other entity of the chunk (``topic``, weight 0.5),
so that "He was born in Lyon" still links the person to Lyon.
"""

from __future__ import annotations

import re
from typing import Any

import regex

from nbrag.errors import NbragError, whole_number
from nbrag.graphrag.base import Extraction, Link, Mention, extractor
from nbrag.text import HAN, STOP_WORDS, has_han, sentence_spans

_UPPER = r"[\p{Lu}\p{Lt}]"
_WORD = rf"(?:{_UPPER}[\p{{L}}\p{{M}}\p{{N}}'’\-]*|{_UPPER}\.)"  # a word, or an initial ("J.")
# Particles that join capitalised words into one name; never at either end.
_PARTICLES = r"(?:of|the|de|del|della|der|den|des|di|da|do|dos|du|la|le|van|von|y|al|bin|ibn|for)"
_NAME = regex.compile(rf"(?<![\p{{L}}\p{{N}}]){_WORD}(?:[ \t]+(?:{_PARTICLES}[ \t]+)*{_WORD})*")
# Words that begin no name, though capitalised at a sentence's start ("The", "However"): the stop words,
# less those that are names or initials too ("Will Smith", "Don Quixote", "Yes", "T. S. Eliot"), and linking words.
_LEADING = (STOP_WORDS - {"can", "don", "will", "yes", "d", "m", "s", "t"}) | frozenset("""
above according again against although another below despite even every few further furthermore however including
indeed let many meanwhile moreover most much neither now once one other out over per since therefore though thus
under unlike until upon us whatever whenever whereas whether within without yet
""".split())
_NOT_NAMES = frozenset("""
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday i mr mrs ms dr st
""".split())
# jieba's person tags (nr…) are kept as plain names: its dictionary tags some common nouns so (乌龙茶, 叶子).
_JIEBA_TYPES = {"nr": "name", "nrt": "name", "nrfg": "name", "ns": "place", "nt": "organization", "nz": "name"}
_TITLE = regex.compile(r"《([^《》\n]{1,40})》")  # a book, poem or law: 《茶经》


def _trim(text: str, start: int, end: int, at_sentence_start: bool) -> tuple[int, int] | None:
    """The name without leading function words ("The", "However": capitalised at a sentence's start) and
    trailing dots; None if nothing stays."""
    words = list(re.finditer(r"\S+", text[start:end]))
    i = 0
    while i < len(words) and words[i].group().rstrip(".,").casefold() in _LEADING:
        i += 1
    if i == len(words):
        return None
    s = start + words[i].start()
    e = end
    while e > s and text[e - 1] in ".-'’":
        e -= 1
    piece = text[s:e]
    if len(piece) < 2 or piece.casefold() in _NOT_NAMES or not any(c.isalpha() for c in piece):
        return None
    if at_sentence_start and s == start and " " not in piece and piece.endswith(("ly", "ed")):
        return None  # "Shortly after…", "Located in…": an adverb or participle opening a sentence
    return s, e


@extractor("offline")
class OfflineExtractor:
    """Names, keyphrases and co-occurrence relations, without a model (see the module's docstring)."""

    name = "offline"

    def __init__(self, keyphrases: int = 5, max_ngram: int = 3, topic_links: bool = True,
                 language: str = "en") -> None:
        whole_number(keyphrases, "keyphrases", 0, " (0: names only)")
        if isinstance(max_ngram, bool) or not isinstance(max_ngram, int) or not 1 <= max_ngram <= 5:
            raise NbragError("give a whole number of words from 1 to 5.", option="max_ngram", value=max_ngram)
        self.keyphrases = keyphrases
        self.max_ngram = max_ngram
        self.topic_links = topic_links
        self.language = language
        self._yake: Any = None

    def options(self) -> dict[str, Any]:
        return {"keyphrases": self.keyphrases, "max_ngram": self.max_ngram, "topic_links": self.topic_links,
                "language": self.language}

    def extract(self, texts: list[str]) -> list[Extraction]:
        return [self.extract_one(text) for text in texts]

    # ------------------------------------------------------------------ one chunk

    def extract_one(self, text: str) -> Extraction:
        mentions = self._names(text)
        if has_han(text):
            mentions += self._chinese(text)
        mentions += self._keyphrases(text, mentions)
        mentions.sort(key=lambda m: (m.start, -m.end))
        return Extraction(mentions=mentions, links=self._links(text, mentions))

    def _names(self, text: str) -> list[Mention]:
        out = []
        for sentence_start, sentence_end in sentence_spans(text):
            for match in _NAME.finditer(text, sentence_start, sentence_end):
                span = _trim(text, match.start(), match.end(), match.start() == sentence_start)
                if span is not None:
                    out.append(Mention(text[span[0]:span[1]], "name", span[0], span[1]))
        return out

    def _chinese(self, text: str) -> list[Mention]:
        import logging

        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict…" in every notebook
        out = [Mention(m.group(1), "work", m.start(1), m.end(1)) for m in _TITLE.finditer(text)]
        at = 0
        for pair in jieba.posseg.cut(text):
            word, flag = pair.word, pair.flag
            start = text.find(word, at)
            at = start + len(word) if start >= 0 else at
            if flag in _JIEBA_TYPES and len(word) >= 2 and HAN.search(word):
                out.append(Mention(word, _JIEBA_TYPES[flag], start, start + len(word)))
        if self.keyphrases:
            import jieba.analyse

            taken = {m.name for m in out}
            for word in jieba.analyse.extract_tags(text, topK=self.keyphrases, allowPOS=("n", "vn", "nz")):
                if len(word) >= 2 and word not in taken:
                    start = text.find(word)
                    out.append(Mention(word, "concept", start, start + len(word) if start >= 0 else -1))
        return out

    def _keyphrases(self, text: str, names: list[Mention]) -> list[Mention]:
        if not self.keyphrases or not re.search(r"[A-Za-z]{3}", text):
            return []
        if self._yake is None:
            import yake

            self._yake = yake.KeywordExtractor(lan=self.language, n=self.max_ngram, dedupLim=0.7,
                                               top=self.keyphrases * 2)
        covered = " ".join(m.name for m in names).casefold()
        out = []
        for phrase, _score in self._yake.extract_keywords(text):
            folded = phrase.casefold()
            if folded in covered or folded.replace(" ", "").isdigit() or len(folded) < 3:
                continue
            words = folded.split()
            if phrase != folded or any(w in _LEADING for w in words):
                continue  # names are the name pass's; "Lennon and Paul", "was built": not one thing
            if words[-1].endswith(("ly", "ed", "ing")) or words[0].endswith("ly"):
                continue  # "courthouse continuously", "dakota built": an adverb or verb at an edge
            match = re.search(re.escape(phrase), text, re.IGNORECASE)
            start, end = (match.start(), match.end()) if match else (-1, -1)
            out.append(Mention(text[start:end] if match else phrase, "concept", start, end))
            if len(out) == self.keyphrases:
                break
        return out

    def _links(self, text: str, mentions: list[Mention]) -> list[Link]:
        links: list[Link] = []
        placed = [m for m in mentions if m.start >= 0]
        linked: set[frozenset[str]] = set()
        for start, end in sentence_spans(text):
            inside = [m for m in placed if start <= m.start < end]
            sentence = " ".join(text[start:end].split())
            for i, a in enumerate(inside):
                for b in inside[i + 1:]:
                    pair = frozenset((a.name.casefold(), b.name.casefold()))
                    if len(pair) == 2 and pair not in linked:
                        linked.add(pair)
                        links.append(Link(a.name, b.name, 1.0, sentence, "sentence"))
        if self.topic_links and placed:
            topic = placed[0]
            first_sentence = " ".join(text[slice(*sentence_spans(text)[0])].split()) if text.strip() else ""
            for m in placed[1:]:
                pair = frozenset((topic.name.casefold(), m.name.casefold()))
                if len(pair) == 2 and pair not in linked:
                    linked.add(pair)
                    links.append(Link(topic.name, m.name, 0.5, first_sentence, "topic"))
        return links
