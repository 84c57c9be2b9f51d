"""BM25 keyword search over a changing set of documents, scored by bm25s.

:func:`nbrag.text.terms` is the analyzer: NFKC, case-folded words of letters and digits,
English stop words dropped, and runs of CJK characters (Han, Hiragana, Katakana, Hangul)
cut into overlapping character bigrams, as Lucene's CJKAnalyzer does.

``BM25`` keeps each document's id, text and terms; bm25s's index is rebuilt lazily, on
the first search after a change, so a thousand upserts cost one rebuild. Scores come
from bm25s itself, and so does ``explain()``: each query term's share of a document's
score is bm25s's score for the term alone.

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
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nbrag.config import BM25_BACKENDS, BM25_RENAMED
from nbrag.errors import NbragError, NbragTypeError, number, renamed, whole_number
from nbrag.files import write_atomic
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
    (Lucene's, the default), ``bm25s:robertson``, ``bm25s:bm25l`` or ``bm25s:bm25+``. bm25s
    precomputes each (term, document) score at build time, so a query costs a sparse lookup.
    """

    BACKENDS = BM25_BACKENDS
    FORMAT = "nbrag.bm25"

    def __init__(self, backend: str = "bm25s", k1: float = 1.5, b: float = 0.75) -> None:
        backend = backend_name(backend)
        self.backend = backend
        self.k1 = number(k1, "k1", above=0, hint=" (1.2 to 2.0 is usual)")
        self.b = number(b, "b", 0, 1, hint=" (0: no length normalisation, 1: full)")
        self._texts: dict[str, str] = {}
        self._terms: dict[str, list[str]] = {}
        self._built: _Built | None = None
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
            self._terms[id] = terms(text)
            self._built = None

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; ids not in the index are ignored."""
        if isinstance(ids, str):
            raise NbragTypeError(f"one str: give a list of ids, e.g. [{ids!r}].", option="ids", value=ids)
        for id in ids:
            if id in self._texts:
                del self._texts[id], self._terms[id]
                self._built = None

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, id: object) -> bool:
        return id in self._texts

    @property
    def ids(self) -> list[str]:
        """The document ids, in the order they were first added."""
        return list(self._texts)

    def __repr__(self) -> str:
        return f"BM25({self.backend!r}, k1={self.k1:g}, b={self.b:g}, {len(self)} documents)"

    # ------------------------------------------------------------------ search

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)`` pairs, best first; only documents that share a term with the query
        and score above 0. Ties keep the order the documents were added in."""
        whole_number(k, "k")
        query_terms = terms(query)
        built = self._build()
        if not query_terms or built.engine is None:
            return []
        scores = built.engine.scores(query_terms)
        if built.engine.credits_absent_terms:  # only documents that hold a query term are found
            scores = np.where(built.engine.matches(query_terms), scores, 0.0)
        found = np.flatnonzero(scores > 0)
        if len(found) > k:
            kth = np.partition(scores[found], len(found) - k)[len(found) - k]
            found = found[scores[found] >= kth]
        best = found[np.lexsort((found, -scores[found]))][:k]
        return [(built.ids[i], float(scores[i])) for i in best]

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
        counts = Counter(terms(query))
        built = self._build()
        present = set(self._terms[id])
        if built.engine is None or present.isdisjoint(counts):
            return {}
        position = built.positions[id]
        shares = {}
        for term, count in counts.items():
            share = built.engine.score([term] * count, position)
            if term in present or share != 0:
                shares[term] = share
        return shares

    def _build(self) -> _Built:
        """The backend's index over the current documents, rebuilt if they changed since the last one."""
        if self._built is None:
            ids = list(self._terms)
            docs = [self._terms[id] for id in ids]
            engine = None
            if any(docs):  # bm25s cannot index documents without a single term
                engine = _Bm25s(docs, self.k1, self.b, METHODS[self.backend])
            self._built = _Built(ids, {id: i for i, id in enumerate(ids)}, engine)
        return self._built

    # ------------------------------------------------------------------ files

    def save(self, path: Path | str, stamp: str = "") -> None:
        """Write backend, parameters, ids and texts to one JSON file, atomically. ``stamp`` says what the file
        covers (an index writes its generation there); ``load`` gives it back as ``bm25.stamp``."""
        state = {"format": self.FORMAT, "version": 1, "backend": self.backend, "k1": self.k1, "b": self.b,
                 "stamp": stamp, "ids": list(self._texts), "texts": list(self._texts.values())}
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
        line = json.dumps({"stamp": stamp, "upsert": [[id, self._texts[id]] for id in upserted],
                           "delete": [id for id in deleted if id not in self._texts]}, ensure_ascii=False) + "\n"
        with open(path, "a", encoding="utf-8") as f:  # a torn last line is ignored by load (and the stamp with it)
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.stamp = stamp
        self._logged += len(line)
        return True

    @classmethod
    def load(cls, path: Path | str) -> BM25:
        """A BM25 index written by ``save`` (and ``append``); its terms are analyzed again, bm25s's index built on
        the first search. A rank-bm25 backend saved by an earlier release opens as the closest bm25s method."""
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            snapshot = f.readline()
            state: dict[str, Any] = json.loads(snapshot)
            if not isinstance(state, dict) or state.get("format") != cls.FORMAT:
                raise NbragError(f"not a saved nbrag BM25 index (it lacks \"format\": \"{cls.FORMAT}\").",
                                 option="path", value=str(path))
            bm25 = cls(state["backend"], k1=state["k1"], b=state["b"])
            bm25.upsert(state["ids"], state["texts"])
            bm25.stamp, bm25._saved = str(state.get("stamp", "")), len(snapshot)
            for line in f:
                try:
                    change = json.loads(line)
                    pairs = [(str(i), str(t)) for i, t in change["upsert"]]
                except (ValueError, KeyError, TypeError):  # cut short by a crash: what came before stands
                    break
                bm25.upsert([i for i, _ in pairs], [t for _, t in pairs])
                bm25.delete(change.get("delete", []))
                bm25.stamp = str(change.get("stamp", ""))
                bm25._logged += len(line)
        return bm25


class _Built:
    """One build of the index: the ids in the order bm25s holds them, and its index (None: no terms at all)."""

    def __init__(self, ids: list[str], positions: dict[str, int], engine: _Bm25s | None) -> None:
        self.ids = ids
        self.positions = positions
        self.engine = engine


class _Bm25s:
    """bm25s with one scoring method: scores precomputed per (term, document) at build time."""

    def __init__(self, docs: list[list[str]], k1: float, b: float, method: str) -> None:
        import bm25s

        # float64, so that explain()'s per-term scores add up to search()'s exactly enough
        self.model = bm25s.BM25(k1=k1, b=b, delta=DELTAS.get(method, 0.5), method=method, dtype="float64")
        self.model.index(docs, create_empty_token=False, show_progress=False)
        self.size = len(docs)
        # BM25L and BM25+ give a document a part of each query term it lacks
        self.credits_absent_terms = method in self.model.methods_requiring_nonoccurrence

    def _ids(self, query: list[str]) -> list[int]:
        vocab = self.model.vocab_dict
        return [vocab[t] for t in query if t in vocab]

    def scores(self, query: list[str]) -> np.ndarray:
        token_ids = self._ids(query)
        if not token_ids:
            return np.zeros(self.size)
        return self.model.get_scores_from_ids(token_ids)

    def score(self, query: list[str], position: int) -> float:
        return float(self.scores(query)[position])

    def matches(self, query: list[str]) -> np.ndarray:
        """Which documents hold at least one of the query's terms: the rows of the terms' columns in bm25s's
        sparse (document x term) score matrix."""
        indices, indptr = self.model.scores["indices"], self.model.scores["indptr"]
        found = np.zeros(self.size, dtype=bool)
        for token in set(self._ids(query)):
            found[indices[indptr[token]:indptr[token + 1]]] = True
        return found
