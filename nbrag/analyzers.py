"""BM25's analyzers: the words of :func:`nbrag.text.terms`, stemmed by Snowball in a language.

An analyzer is named by its *language*, one of :data:`nbrag.config.LANGUAGES`:

* a Snowball language (``"english"``, ``"german"``, ``"french"``, ... or its ISO 639-1 code,
  ``"en"``, ``"de"``, ``"fr"``): every word is stemmed by PyStemmer's stemmer for it, so that
  ``"Running runs"`` gives ``["run", "run"]``;
* ``"auto"``: each document in the language py3langid detects in it, among the languages
  Snowball has (:func:`detect`); a text with fewer than :data:`MIN_LETTERS` letters outside CJK
  runs, or whose language is unsure (below :data:`MIN_CONFIDENCE`), is analyzed as English
  (:data:`FALLBACK`), so that the analysis of a document never depends on the other documents;
* ``"none"``: words kept whole (code, identifiers, part numbers), :func:`nbrag.text.terms` as is.

Whatever the language, text is NFKC-normalised and case-folded, the English stop words go
before stemming, and runs of CJK characters become character bigrams, never stemmed.

A query is analyzed for the languages of the documents it is matched against
(:func:`query_terms`): each word gives its stem in each of those languages, each different stem
once (``"Häuser"`` against English and German documents: ``häuser`` and ``haus``). An index of
one language gets exactly that language's analysis; in a mixed index a German query finds the
German documents through the German stems, and the English stems it also gives rarely match
anything. Detecting the query's own language instead would fail on short queries, which is where
detection is least sure.

Only BM25 and what explains it stem: the score view marks matched terms through :func:`spans` in the
index's language, so that a stem marks each word it came from. The other word-overlap measures (graph
search's report sentences against the question, the agent's content words) keep
:func:`nbrag.text.terms`' whole words: they compare a few short texts of no known language, where
detection would be a guess, and count the words they share, where a stem in the wrong language would
join words that differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from nbrag.config import LANGUAGE_CODES, SNOWBALL, language_name
from nbrag.text import CJK, stop_word_share, term_spans, terms

__all__ = ["FALLBACK", "analyze", "detect", "document_language", "language_name", "query_terms", "spans", "stemmer"]

FALLBACK = "english"  # what "auto" uses where a text is too short or its language unsure
MIN_LETTERS = 20  # letters outside CJK runs that detection needs
MIN_CONFIDENCE = 0.9  # py3langid's probability, among the Snowball languages, below which a language is unsure
DETECT_CHARS = 500  # detection reads this much of a text (its cost grows with the length: ~0.3 ms here)
ENGLISH_SHARE = 0.25  # a text whose words are this share English stop words (or more) is English, without py3langid
ENGLISH_WORDS = 12  # ... if it has at least this many words

_local = threading.local()  # PyStemmer's stemmers hold state: one per thread and language
_detector: Any = None
_detector_lock = threading.Lock()


def stemmer(language: str) -> Callable[[list[str]], list[str]] | None:
    """``stemWords`` of this thread's Snowball stemmer for ``language`` (None for ``"none"``)."""
    if language == "none":
        return None
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    found = stemmers.get(language)
    if found is None:
        import Stemmer

        if language not in SNOWBALL:
            language = language_name(language)
        found = stemmers[language] = Stemmer.Stemmer(language).stemWords
    return found


def _identifier() -> Any:
    """py3langid's identifier, restricted to the languages Snowball has, probabilities normalised (loaded once)."""
    global _detector
    with _detector_lock:
        if _detector is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages([code for code in LANGUAGE_CODES if code in set(identifier.labels)])
            _detector = identifier
    return _detector


def detect(text: str) -> str:
    """The Snowball language of ``text`` (py3langid over its first :data:`DETECT_CHARS` characters, CJK runs
    left out), or :data:`FALLBACK` where the text is too short or the language unsure.

    A text whose words are at least :data:`ENGLISH_SHARE` English stop words is English without asking
    py3langid: nine English passages in ten of HotpotQA and MuSiQue (a third of their words are stop words), a
    few times faster; German, French, Spanish, Dutch or Norwegian prose has a tenth or less.
    """
    sample = CJK.sub(" ", text[:DETECT_CHARS])
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return FALLBACK
    share, words = stop_word_share(sample)
    if share >= ENGLISH_SHARE and words >= ENGLISH_WORDS:
        return "english"
    code, confidence = _identifier().classify(sample)
    return LANGUAGE_CODES[code] if confidence >= MIN_CONFIDENCE else FALLBACK


def document_language(text: str, language: str) -> str:
    """The language a document is analyzed in: ``language`` itself, or the detected one for ``"auto"``."""
    return detect(text) if language == "auto" else language


def analyze(text: str, language: str) -> list[str]:
    """The terms of ``text`` in ``language`` (a Snowball language or ``"none"``; ``"auto"`` detects it)."""
    return terms(text, stemmer(document_language(text, language)))


def query_terms(text: str, languages: Iterable[str]) -> list[str]:
    """The terms of a query matched against documents of ``languages``: each word's stem in each language, each
    different stem once per word (words and bigrams in the query's order; ``"none"`` keeps the word whole)."""
    languages = list(dict.fromkeys(languages)) or [FALLBACK]
    if len(languages) == 1:
        return terms(text, stemmer(languages[0]))
    each = [terms(text, stemmer(language)) for language in languages]  # the same cut: one term per word each
    out: list[str] = []
    for variants in zip(*each):
        out.extend(dict.fromkeys(variants))
    return out


def spans(text: str, language: str) -> list[tuple[str, int, int]]:
    """Each term of ``text`` analyzed as BM25 analyzes it in ``language`` (``"auto"`` detects it again, the same
    language BM25 found), with the characters it came from: :func:`nbrag.text.term_spans`, stemmed."""
    return term_spans(text, stemmer(document_language(text, language)))
