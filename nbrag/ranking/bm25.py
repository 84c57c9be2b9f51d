"""BM25 keyword search over a changing set of documents, scored with bm25s's formulas.

The analyzer is :mod:`nbrag.analyzers`' for the index's ``language``: NFKC, case-folded words
of letters and digits, English stop words dropped, the rest stemmed by Snowball in the
document's language (``"auto"``: detected per document; ``"none"``: words kept whole), and
runs of CJK characters (Han, Hiragana, Katakana, Hangul) cut into overlapping character
bigrams, as Lucene's CJKAnalyzer does. A query is stemmed in each language the documents have.

``BM25`` keeps each document's id, text and terms, and their postings in
:class:`nbrag.ranking.segments.Segments`: raw term counts in a main segment built in one go,
documents added since in a small tail, deleted ones marked. The first search after a change
applies the changes at their own cost (a thousand upserts, one pass); the main segment is
built anew only when the tail and the marks pass an eighth of it. Scores are computed at
query time from the exact current statistics (number of documents, document frequencies,
average length) with bm25s's own formulas, so they are the scores of a bm25s index built
afresh over the current documents, and ``explain()`` gives each query term's share: the
score of the term alone.

The backends are bm25s's scoring methods (Kamphuis et al., 2020):

* ``bm25s``: Lucene's BM25, ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, always positive;
* ``bm25s:robertson``: Robertson's original, ``idf = ln((N - df + 0.5) / (df + 0.5))``, floored at 0;
* ``bm25s:bm25l``: BM25L (Lv and Zhai, 2011), long documents less penalised, delta 0.5;
* ``bm25s:bm25+``: BM25+ (Lv and Zhai, 2011), every occurrence worth at least delta 1.0.

The rank-bm25 names of earlier releases (``rank_bm25:okapi``, ``rank_bm25:l``,
``rank_bm25:plus``) still open, with a warning, as the closest bm25s method: Robertson,
BM25L and BM25+. How the scores differ from rank-bm25's:

* Okapi -> ``bm25s:robertson``: rank-bm25 multiplies the term-frequency part by ``k1 + 1``
  (bm25s's Robertson and Lucene do not: the same ranking, scores ``k1 + 1`` times
  smaller), and gives a term found in more than half the documents (negative idf) a
  quarter of the mean idf, where bm25s gives it 0: on a handful of documents such a term
  no longer counts, and a document that holds only such terms is not returned;
* BM25+ -> ``bm25s:bm25+``: the same formula and delta (1.0), the same scores;
* BM25L -> ``bm25s:bm25l``: rank-bm25 multiplies each term's part by its count once more
  and gives the query terms a document lacks nothing; bm25s follows Lv and Zhai, so a
  document's score is rank-bm25's only where each matched term occurs once and it holds
  every query term. BM25L and BM25+ credit a document for each query term it lacks
  (``idf`` times the delta's part), but nbrag returns only documents that hold at least
  one query term, whatever the backend.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from nbrag.analyzers import FALLBACK, document_language, query_terms, stemmer
from nbrag.config import BM25_BACKENDS, BM25_RENAMED, SNOWBALL, language_name
from nbrag.errors import NbragError, NbragTypeError, number, renamed, whole_number
from nbrag.files import write_atomic
from nbrag.ranking.segments import Segments
from nbrag.text import STOP_WORDS, term_spans, terms

__all__ = ["BM25", "STOP_WORDS", "backend_name", "term_spans", "terms"]

METHODS = {"bm25s": "lucene", "bm25s:robertson": "robertson", "bm25s:bm25l": "bm25l", "bm25s:bm25+": "bm25+"}
DELTAS = {"bm25l": 0.5, "bm25+": 1.0}  # Lv and Zhai's (and rank-bm25's) defaults


def backend_name(backend: str, option: str = "backend") -> str:
    """``backend`` as one of :data:`BM25_BACKENDS`; a rank-bm25 name of earlier releases becomes the closest
    bm25s method (with a warning, once)."""
    if backend in BM25_RENAMED:
        renamed(f"the BM25 backend {backend!r}", repr(BM25_RENAMED[backend]))
        return BM25_RENAMED[backend]
    if backend not in BM25_BACKENDS:
        raise NbragError(f"choose one of {', '.join(BM25_BACKENDS)}.", option=option, value=backend)
    return backend


class BM25:
    """A BM25 index of ``id -> text``: ``upsert``, ``delete``, ``search``, ``explain``, ``save``.

    ``backend`` picks bm25s's scoring method (see the module's docstring): ``bm25s``
    (Lucene's, the default), ``bm25s:robertson``, ``bm25s:bm25l`` or ``bm25s:bm25+``. An upsert
    or a delete costs what it changes; a query scores the postings of its terms.
    """

    BACKENDS = BM25_BACKENDS
    FORMAT = "nbrag.bm25"

    def __init__(self, backend: str = "bm25s", k1: float = 1.5, b: float = 0.75, language: str = "auto") -> None:
        backend = backend_name(backend)
        self.backend = backend
        self.k1 = number(k1, "k1", above=0, hint=" (1.2 to 2.0 is usual)")
        self.b = number(b, "b", 0, 1, hint=" (0: no length normalisation, 1: full)")
        self.language = language_name(language)  # the analyzer (nbrag.analyzers): auto, none or a Snowball language
        self._language_of: dict[str, str] = {}  # id -> the language its text was analyzed in
        self._detected: dict[str, str] = {}  # "auto": languages a saved file says its texts were found in (load)
        self._languages: Counter[str] = Counter()  # how many documents each language has
        self._texts: dict[str, str] = {}
        self._terms: dict[str, list[str]] = {}
        self._built: Segments | None = None
        self._changed: dict[str, bool] = {}  # ids changed since the last search -> deleted on the way
        self._lock = threading.Lock()  # one thread at a time brings the segments up to date and reads them
        self.stamp = ""  # what a saved index covers, as its writer stamped it
        self._saved = self._logged = 0  # the file's snapshot and log, in characters

    # ------------------------------------------------------------------ the documents

    def upsert(self, ids: list[str], texts: list[str]) -> None:
        """Add documents, or replace the text of ids already here (an id given twice: the last text wins)."""
        ids, texts = list(ids), list(texts)
        if len(ids) != len(texts):
            raise NbragError(f"{len(ids)} ids and {len(texts)} texts: give one text per id.", option="texts")
        for id, text in zip(ids, texts):
            if not isinstance(id, str):
                raise NbragTypeError(f"holds the {type(id).__name__} {id!r}: give each document's id as a str.",
                                     option="ids")
            if not isinstance(text, str):
                raise NbragTypeError(f"the text of {id!r} is a {type(text).__name__}: give each text as a str.",
                                     option="texts")
        for id, text in zip(ids, texts):
            if self._texts.get(id) == text:
                continue
            self._texts[id] = text  # a replaced id keeps its place
            self._terms[id] = self._analyze(id, text)
            self._changed.setdefault(id, False)

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; ids not in the index are ignored."""
        if isinstance(ids, str):
            raise NbragTypeError(f"one str: give a list of ids, e.g. [{ids!r}].", option="ids", value=ids)
        for id in ids:
            if id in self._texts:
                del self._texts[id], self._terms[id]
                self._languages[self._language_of.pop(id)] -= 1
                self._changed[id] = True  # added again later, it goes last

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, id: object) -> bool:
        return id in self._texts

    @property
    def ids(self) -> list[str]:
        """The document ids, in the order they were first added."""
        return list(self._texts)

    def __repr__(self) -> str:
        return (f"BM25({self.backend!r}, k1={self.k1:g}, b={self.b:g}, language={self.language!r}, "
                f"{len(self)} documents)")

    @property
    def languages(self) -> list[str]:
        """The languages the documents were analyzed in, most documents first (one, unless ``language="auto"``)."""
        return [language for language, count in self._languages.most_common() if count > 0]

    def _analyze(self, id: str, text: str) -> list[str]:
        """The terms of document ``id`` in its language, which is kept for the queries."""
        language = self._detected.pop(id, "")
        if language not in SNOWBALL:  # detected again (languages saved for another text are dropped by load)
            language = document_language(text, self.language)
        before = self._language_of.get(id)
        if before is not None:
            self._languages[before] -= 1
        self._language_of[id] = language
        self._languages[language] += 1
        return terms(text, stemmer(language))

    def analyze_query(self, query: str) -> list[str]:
        """The terms a query is searched by: each word stemmed in each of the documents' languages (see
        :func:`nbrag.analyzers.query_terms`), or in the index's language while it is empty."""
        return query_terms(query, self.languages or [self.language if self.language != "auto" else FALLBACK])

    # ------------------------------------------------------------------ search

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)`` pairs, best first; only documents that share a term with the query
        and score above 0. Ties keep the order the documents were added in."""
        whole_number(k, "k")
        wanted = self.analyze_query(query)
        with self._lock:
            built = self._build()
            return built.search(wanted, k) if wanted else []

    def explain(self, query: str, id: str) -> dict[str, float]:
        """Each query term that occurs in document ``id`` -> its share of the document's score.

        The shares are the backend's own scores for each term alone (a term the query repeats
        counts as often as it appears), so they sum to the score ``search`` gives the
        document. BM25L and BM25+ also credit documents with terms they lack (their delta);
        those terms are listed too, so that the sum still holds. A document that shares no
        term with the query gets ``{}``.
        """
        if id not in self._texts:
            raise NbragError(f"no document with this id in this BM25 index ({len(self)} documents).", option="id",
                             value=id)
        counts = Counter(self.analyze_query(query))
        with self._lock:
            built = self._build()
            present = set(self._terms[id])
            if present.isdisjoint(counts):
                return {}
            shares = {}
            for term, count in counts.items():
                share = built.score([term] * count, id)
                if term in present or share != 0:
                    shares[term] = share
            return shares

    def _build(self) -> Segments:
        """The segments brought up to date (under ``self._lock``): each change since the last search applied at its
        own cost, or a new main segment over all the documents when the changes, the tail and the marks pass an
        eighth of it. Should it fail half-way, the next search builds anew."""
        built, changed = self._built, self._changed
        if built is not None and not changed:
            return built
        self._built, self._changed = None, {}
        if built is None or built.crowded(len(changed)):
            method = METHODS[self.backend]
            built = Segments(self.k1, self.b, method, DELTAS.get(method, 0.5))
            documents = list(self._terms.items())
            built.rebuild([id for id, _ in documents], [terms for _, terms in documents])
        else:
            moved = 0
            for id, deleted in list(changed.items()):
                if id in self._terms and id in built and not deleted:
                    built.replace(id, self._terms[id])  # a replaced id keeps its place
                else:
                    built.remove(id)
                    moved += id in self._terms
            # the ids added, or added again after a delete, since the last search are the last ones, in order
            for id in reversed(list(islice(reversed(self._terms), moved))):
                built.add(id, self._terms[id])
        self._built = built
        return built

    # ------------------------------------------------------------------ files

    def save(self, path: Path | str, stamp: str = "") -> None:
        """Write backend, parameters, ids and texts to one JSON file, atomically. ``stamp`` says what the file
        covers (an index writes its generation there); ``load`` gives it back as ``bm25.stamp``."""
        state = {"format": self.FORMAT, "version": 1, "backend": self.backend, "k1": self.k1, "b": self.b,
                 "language": self.language, "stamp": stamp, "ids": list(self._texts),
                 "texts": list(self._texts.values())}
        if self.language == "auto":  # so that load need not detect them again
            state["languages"] = [self._language_of[id] for id in self._texts]
        data = json.dumps(state, ensure_ascii=False) + "\n"
        write_atomic(path, data)
        self.stamp, self._saved, self._logged = stamp, len(data), 0

    def append(self, path: Path | str, stamp: str, upserted: Iterable[str], deleted: Iterable[str]) -> bool:
        """Append the changes since the file was last read or written as one line, stamped ``stamp``: a cost that
        grows with the change, not with the index. False (nothing written) when this object does not hold what
        the file holds or the log has grown past half the snapshot: then ``save`` the whole anew."""
        path = Path(path)
        if not self.stamp or not path.exists() or self._logged > self._saved // 2:
            return False
        upserted = [id for id in upserted if id in self._texts]
        change: dict[str, Any] = {"stamp": stamp, "upsert": [[id, self._texts[id]] for id in upserted],
                                  "delete": [id for id in deleted if id not in self._texts]}
        if self.language == "auto":  # as in save: load need not detect them again
            change["languages"] = [self._language_of[id] for id in upserted]
        line = json.dumps(change, ensure_ascii=False) + "\n"
        with open(path, "a", encoding="utf-8") as f:  # a torn last line is ignored by load (and the stamp with it)
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.stamp = stamp
        self._logged += len(line)
        return True

    @classmethod
    def load(cls, path: Path | str) -> BM25:
        """A BM25 index written by ``save`` (and ``append``); its terms are analyzed again, its segments built on
        the first search. A rank-bm25 backend saved by an earlier release opens as the closest bm25s method."""
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            snapshot = f.readline()
            state: dict[str, Any] = json.loads(snapshot)
            if not isinstance(state, dict) or state.get("format") != cls.FORMAT:
                raise NbragError(f"not a saved nbrag BM25 index (it lacks \"format\": \"{cls.FORMAT}\").",
                                 option="path", value=str(path))
            # a file written before BM25 had languages was analyzed without stemming
            bm25 = cls(state["backend"], k1=state["k1"], b=state["b"], language=state.get("language", "none"))
            if bm25.language == "auto" and len(state.get("languages") or ()) == len(state["ids"]):
                bm25._detected = dict(zip(state["ids"], state["languages"]))
            bm25.upsert(state["ids"], state["texts"])
            bm25._detected = {}
            bm25.stamp, bm25._saved = str(state.get("stamp", "")), len(snapshot)
            for line in f:
                try:
                    change = json.loads(line)
                    pairs = [(str(i), str(t)) for i, t in change["upsert"]]
                except (ValueError, KeyError, TypeError):  # cut short by a crash: what came before stands
                    break
                if bm25.language == "auto" and len(change.get("languages") or ()) == len(pairs):
                    bm25._detected = {i: str(language) for (i, _), language in zip(pairs, change["languages"])}
                bm25.upsert([i for i, _ in pairs], [t for _, t in pairs])
                bm25._detected = {}
                bm25.delete(change.get("delete", []))
                bm25.stamp = str(change.get("stamp", ""))
                bm25._logged += len(line)
        return bm25

