"""BM25 keyword search over a changing set of documents, on bm25s or rank-bm25.

:func:`nbrag.text.terms` is the analyzer both backends share: NFKC, case-folded words of
letters and digits, English stop words dropped, and runs of CJK characters (Han, Hiragana,
Katakana, Hangul) cut into overlapping character bigrams, as Lucene's CJKAnalyzer does.

``BM25`` keeps each document's id, text and terms; the backend's index is rebuilt
lazily, on the first search after a change, so a thousand upserts cost one rebuild.
Scores come from the backend itself, and so does ``explain()``: each query term's
share of a document's score is that backend's score for the term alone.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nbrag.config import BM25_BACKENDS
from nbrag.text import STOP_WORDS, term_spans, terms

__all__ = ["BM25", "STOP_WORDS", "term_spans", "terms"]

class BM25:
    """A BM25 index of ``id -> text``: ``upsert``, ``delete``, ``search``, ``explain``, ``save``.

    ``backend`` picks the scorer: ``bm25s`` (Lucene's BM25, precomputed sparse scores: fast)
    or rank-bm25's ``okapi``, ``l`` (BM25L) or ``plus`` (BM25+), which score every
    document in Python at each query. rank-bm25's Okapi floors negative idf at a fraction
    of the mean idf, so on a handful of documents a term in half of them may score little
    or nothing; bm25s's idf is always positive.
    """

    BACKENDS = BM25_BACKENDS
    FORMAT = "nbrag.bm25"

    def __init__(self, backend: str = "bm25s", k1: float = 1.5, b: float = 0.75) -> None:
        if backend not in self.BACKENDS:
            raise ValueError(f"Unknown BM25 backend {backend!r}. Available: {', '.join(self.BACKENDS)}.")
        if isinstance(k1, bool) or not isinstance(k1, (int, float)) or not math.isfinite(k1) or k1 <= 0:
            raise ValueError(f"k1={k1!r} must be a number above 0 (1.2 to 2.0 is usual).")
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
            raise ValueError(f"b={b!r} must be a number from 0 (no length normalisation) to 1 (full).")
        self.backend = backend
        self.k1 = float(k1)
        self.b = float(b)
        self._texts: dict[str, str] = {}
        self._terms: dict[str, list[str]] = {}
        self._built: _Built | None = None

    # ------------------------------------------------------------------ the documents

    def upsert(self, ids: list[str], texts: list[str]) -> None:
        """Add documents, or replace the text of ids already here (an id given twice: the last text wins)."""
        ids, texts = list(ids), list(texts)
        if len(ids) != len(texts):
            raise ValueError(f"upsert got {len(ids)} ids and {len(texts)} texts: give one text per id.")
        for id, text in zip(ids, texts):
            if not isinstance(id, str):
                raise TypeError(f"Document ids must be str, got {type(id).__name__} {id!r}.")
            if not isinstance(text, str):
                raise TypeError(f"The text of {id!r} must be a str, got {type(text).__name__}.")
        for id, text in zip(ids, texts):
            if self._texts.get(id) == text:
                continue
            self._texts[id] = text  # a replaced id keeps its place
            self._terms[id] = terms(text)
            self._built = None

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; ids not in the index are ignored."""
        if isinstance(ids, str):
            raise TypeError(f"delete() takes an iterable of ids; wrap a single id in a list: [{ids!r}].")
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
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be a whole number, got {type(k).__name__} {k!r}.")
        if k < 1:
            raise ValueError(f"k={k} must be at least 1.")
        query_terms = terms(query)
        built = self._build()
        if not query_terms or built.engine is None:
            return []
        scores = built.engine.scores(query_terms)
        if built.engine.scores_unmatched:
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
        document. BM25+ also credits documents with terms they lack (its delta); those
        terms are listed too, so that the sum still holds. A document that shares no term
        with the query gets ``{}``.
        """
        if id not in self._texts:
            raise KeyError(f"No document with id {id!r} in this BM25 index ({len(self)} documents).")
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
            if any(docs):  # neither backend can index documents without a single term
                engine = _Bm25s(docs, self.k1, self.b) if self.backend == "bm25s" else \
                    _RankBm25(docs, self.k1, self.b, self.backend.partition(":")[2])
            self._built = _Built(ids, {id: i for i, id in enumerate(ids)}, engine)
        return self._built

    # ------------------------------------------------------------------ files

    def save(self, path: Path | str) -> None:
        """Write backend, parameters, ids and texts to one JSON file (atomically: a temporary file, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"format": self.FORMAT, "version": 1, "backend": self.backend, "k1": self.k1, "b": self.b,
                 "ids": list(self._texts), "texts": list(self._texts.values())}
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f, ensure_ascii=False)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path | str) -> BM25:
        """A BM25 index written by ``save``; its terms are analyzed again, its backend index built on first search."""
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            state: dict[str, Any] = json.load(f)
        if not isinstance(state, dict) or state.get("format") != cls.FORMAT:
            raise ValueError(f"{path} is not a saved nbrag BM25 index (it lacks \"format\": \"{cls.FORMAT}\").")
        bm25 = cls(state["backend"], k1=state["k1"], b=state["b"])
        bm25.upsert(state["ids"], state["texts"])
        return bm25


class _Built:
    """One build of the backend: the ids in the order it holds them, and its index (None: no terms at all)."""

    def __init__(self, ids: list[str], positions: dict[str, int], engine: _Bm25s | _RankBm25 | None) -> None:
        self.ids = ids
        self.positions = positions
        self.engine = engine


class _Bm25s:
    """bm25s's Lucene BM25: scores precomputed per (term, document) at build time."""

    scores_unmatched = False

    def __init__(self, docs: list[list[str]], k1: float, b: float) -> None:
        import bm25s

        # float64, so that explain()'s per-term scores add up to search()'s exactly enough
        self.model = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        self.model.index(docs, create_empty_token=False, show_progress=False)
        self.size = len(docs)

    def scores(self, query: list[str]) -> np.ndarray:
        vocab = self.model.vocab_dict
        token_ids = [vocab[t] for t in query if t in vocab]
        if not token_ids:
            return np.zeros(self.size)
        return self.model.get_scores_from_ids(token_ids)

    def score(self, query: list[str], position: int) -> float:
        return float(self.scores(query)[position])


class _RankBm25:
    """rank-bm25's Okapi, BM25L or BM25+: every document scored in Python at each query."""

    def __init__(self, docs: list[list[str]], k1: float, b: float, variant: str) -> None:
        import rank_bm25

        model = {"okapi": rank_bm25.BM25Okapi, "l": rank_bm25.BM25L, "plus": rank_bm25.BM25Plus}[variant]
        self.model = model(docs, k1=k1, b=b)
        self.scores_unmatched = variant == "plus"  # BM25+ gives idf * delta for a term a document lacks

    def scores(self, query: list[str]) -> np.ndarray:
        # with b = 1 an empty document divides 0 by 0: it matches nothing, so its score is 0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.nan_to_num(self.model.get_scores(query), nan=0.0)

    def score(self, query: list[str], position: int) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.nan_to_num(self.model.get_batch_scores(query, [position])[0], nan=0.0))

    def matches(self, query: list[str]) -> np.ndarray:
        """Which documents hold at least one of the query's terms."""
        unique = set(query)
        return np.fromiter((any(t in doc for t in unique) for doc in self.model.doc_freqs),
                           dtype=bool, count=len(self.model.doc_freqs))
