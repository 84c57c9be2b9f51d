"""BM25 over segments of raw term frequencies, scored at query time with exact global statistics.

bm25s precomputes each (term, document) score, and a score depends on the number of documents,
the term's document frequency and the average length: one added document changes them all, so
bm25s has no add but a rebuild. :class:`Segments` keeps what does not change instead:

* the **main segment**: every term's postings (the documents that hold it and how often), as
  the rows of a sparse term x document matrix of raw counts, built in one go;
* the **tail**: the postings of documents added since, appended per term (a cost that grows
  with the document, not with the index);
* a **live mark** per document: a deleted or replaced document is marked, not removed, and
  its postings are skipped;
* the global statistics kept current on each change: how many documents are live and their
  total length. A term's document frequency is the number of its live postings, counted when
  a query asks for it.

A query scores the postings of its terms alone: bm25s's own idf functions and its
term-frequency formulas (:mod:`bm25s.scoring`, the same operations in the same order; each
document's length part is kept per average length), added up in bm25s's order. So the scores
are the ones bm25s built afresh over the live documents gives, to the last bit, and the rankings
the same; the tests check both against bm25s for each method. Each term's scores are kept until
the next change, so a term asked again costs a lookup, as in bm25s. Each document carries its
place in the order the documents were added, which breaks ties. When the tail and the marked
documents pass a fraction of the main segment (:data:`COMPACT_FRACTION`), the owner builds a new
main segment from the live documents (``crowded``): a cost paid once per that many changes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

__all__ = ["COMPACT_FRACTION", "Segments"]

COMPACT_FRACTION = 0.125  # rebuild the main segment when tail + marked documents pass this share of it
CREDITS_ABSENT_TERMS = ("bm25l", "bm25+")  # they give a document a part of each query term it lacks


class Segments:
    """The postings of a changing set of documents, and BM25 scores over them (bm25s's ``method``:
    ``lucene``, ``robertson``, ``bm25l`` or ``bm25+``).

    ``rebuild`` starts a main segment; ``add``, ``replace`` and ``remove`` change one document;
    ``search`` and ``score`` read the scores. Ids are strings; each live id has one slot.
    """

    def __init__(self, k1: float, b: float, method: str, delta: float) -> None:
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

        self.k1, self.b, self.method, self.delta = k1, b, method, delta
        self._idf = _select_idf_scorer(method)
        self._absent_tfc = _select_tfc_scorer(method)  # the part of a term a document lacks (BM25L, BM25+)
        self.credits_absent_terms = method in CREDITS_ABSENT_TERMS
        self.rebuild([], [])

    # ------------------------------------------------------------------ changes

    def rebuild(self, ids: Sequence[str], docs: Sequence[Sequence[str]]) -> None:
        """A main segment of these documents (their terms), in this order; the tail and the marks emptied."""
        n = len(docs)
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=n)
        words = list(chain.from_iterable(docs))
        vocab = {term: i for i, term in enumerate(dict.fromkeys(words))}
        rows = np.fromiter(map(vocab.__getitem__, words), dtype=np.int32, count=len(words))
        columns = np.repeat(np.arange(n, dtype=np.int32 if n < 2**31 else np.int64), lengths)
        # one row of raw counts per term; duplicates (a term again in the same document) are summed, and each
        # row lists its documents in order
        from scipy.sparse import csr_matrix

        counts = csr_matrix((np.ones(len(words)), (rows, columns)), shape=(len(vocab), n), dtype=np.float64)
        counts.sum_duplicates()
        self._vocab = vocab
        self._indptr = counts.indptr.astype(np.int64)
        self._indices = counts.indices.astype(np.int32 if n < 2**31 else np.int64)
        self._tf = counts.data
        self._main = n
        self._tail: dict[str, tuple[array, array]] = {}
        self._ids = list(ids)
        self._slots = {id: slot for slot, id in enumerate(self._ids)}
        self._lengths = lengths
        self._order = np.arange(n, dtype=np.int64)
        self._live = np.ones(n, dtype=bool)
        self._size = n  # slots in use
        self._count, self._total = n, int(lengths.sum())  # live documents and their total length
        self._dead = 0
        self._next = n  # the next document's place in the order
        self._norms: tuple[float, int, np.ndarray] | None = None  # average length, slots done, their length parts
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}  # term -> its shares, until a change
        self._cached = 0  # postings in the cache

    def add(self, id: str, terms: Sequence[str]) -> None:
        """Append a document (an id not here), after all the others in the order."""
        self._append(id, terms, self._next)
        self._next += 1

    def replace(self, id: str, terms: Sequence[str]) -> None:
        """Give a document here new terms; it keeps its place in the order."""
        order = int(self._order[self._slots[id]])
        self.remove(id)
        self._append(id, terms, order)

    def remove(self, id: str) -> None:
        """Mark a document deleted (an id not here is ignored)."""
        slot = self._slots.pop(id, None)
        if slot is None:
            return
        self._live[slot] = False
        self._cache, self._cached = {}, 0
        self._count -= 1
        self._total -= int(self._lengths[slot])
        self._dead += 1

    def _append(self, id: str, terms: Sequence[str], order: int) -> None:
        slot = self._size
        if slot == len(self._live):  # grow the per-slot arrays by half
            extra = max(16, slot // 2)
            self._lengths = np.concatenate([self._lengths, np.zeros(extra, dtype=np.int64)])
            self._order = np.concatenate([self._order, np.zeros(extra, dtype=np.int64)])
            self._live = np.concatenate([self._live, np.zeros(extra, dtype=bool)])
        self._size += 1
        self._ids.append(id)
        self._slots[id] = slot
        self._lengths[slot], self._order[slot], self._live[slot] = len(terms), order, True
        self._count += 1
        self._total += len(terms)
        self._cache, self._cached = {}, 0
        counts: dict[str, int] = {}
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        for term, count in counts.items():
            postings = self._tail.get(term)
            if postings is None:
                postings = self._tail[term] = (array("q"), array("d"))
            postings[0].append(slot)
            postings[1].append(count)

    def __contains__(self, id: object) -> bool:
        return id in self._slots

    def __len__(self) -> int:
        return self._count

    def crowded(self, coming: int = 0) -> bool:
        """Whether the tail and the marked documents (with ``coming`` more changes) pass
        :data:`COMPACT_FRACTION` of the main segment: then a rebuild costs less than keeping them."""
        return self._size - self._main + self._dead + coming > COMPACT_FRACTION * self._main

    # ------------------------------------------------------------------ scores

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live slots that hold ``term`` (main segment first, then the tail), and how often."""
        parts = []
        row = self._vocab.get(term)
        if row is not None:
            start, end = self._indptr[row], self._indptr[row + 1]
            parts.append((self._indices[start:end], self._tf[start:end]))
        tail = self._tail.get(term)
        if tail is not None:
            parts.append((np.frombuffer(tail[0], dtype=np.int64).copy(),
                          np.frombuffer(tail[1], dtype=np.float64).copy()))
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        slots, tf = parts[0] if len(parts) == 1 else (np.concatenate([p[0] for p in parts]),
                                                        np.concatenate([p[1] for p in parts]))
        if self._dead:
            live = self._live[slots]
            slots, tf = slots[live], tf[live]
        return slots, tf

    def _length_parts(self, average: float) -> np.ndarray:
        """Each slot's length part of bm25s's term-frequency formula, in its order of operations: BM25L's
        ``(1 - b) + b * length / average``, the others' ``k1`` times it. Computed again when the average length
        changes, else only for the slots added since."""
        size = self._size

        def part(lengths: np.ndarray) -> np.ndarray:
            norm = (1 - self.b) + self.b * lengths / average
            return norm if self.method == "bm25l" else self.k1 * norm

        if self._norms is None or self._norms[0] != average or len(self._norms[2]) < size:
            self._norms = (average, size, part(self._lengths))
        elif self._norms[1] < size:
            done, norms = self._norms[1], self._norms[2]
            norms[done:size] = part(self._lengths[done:size])
            self._norms = (average, size, norms)
        return self._norms[2]

    def _tfc(self, tf: np.ndarray, part: np.ndarray) -> np.ndarray:
        """bm25s's term-frequency part (:mod:`bm25s.scoring`'s ``_score_tfc_*``), with each document's length
        part computed beforehand (``part``: a fresh array, overwritten): the same operations on the same numbers,
        so the same bits."""
        k1, delta = self.k1, self.delta
        if self.method == "bm25l":
            c = tf / part
            return ((k1 + 1) * (c + delta)) / (k1 + c + delta)
        part += tf
        if self.method == "bm25+":
            return ((k1 + 1) * tf) / part + delta
        return np.divide(tf, part, out=part)  # Robertson's and Lucene's: tf / (k1 * norm + tf)

    def _parts(self, query: Sequence[str]) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
        """For each query term found in a live document (a repeated term repeats): its slots and each slot's
        share of the score; and the part every document gets for the query's terms (BM25L and BM25+: bm25s
        adds each term's non-occurrence score to all documents and takes it from those that hold the term).
        The arithmetic is bm25s's, in its order."""
        n = self._count
        if n == 0 or self._total == 0:
            return [], 0.0
        average = self._total / n
        norms = self._length_parts(average)
        found = self._cache  # each term's shares, kept until the next change
        parts, absent = [], []
        for term in query:
            if term not in found:
                slots, tf = self._postings(term)
                if self._cached + len(slots) > max(len(self._tf), 1 << 16):  # at most the main segment's size
                    found.clear()
                    self._cached = 0
                self._cached += len(slots)
                if len(slots) == 0:
                    found[term] = (slots, tf, 0.0)
                    continue
                idf = self._idf(len(slots), N=n)
                shares = self._tfc(tf, norms[slots])
                shares *= idf
                absent_part = 0.0
                if self.credits_absent_terms:
                    absent_part = idf * self._absent_tfc(tf_array=0, l_d=average, l_avg=average, k1=self.k1,
                                                         b=self.b, delta=self.delta)
                    shares -= absent_part
                found[term] = (slots, shares, absent_part)
            slots, shares, absent_part = found[term]
            if len(slots):
                parts.append((slots, shares))
                absent.append(absent_part)
        return parts, float(np.array(absent, dtype=np.float64).sum()) if self.credits_absent_terms else 0.0

    def search(self, query: Sequence[str], k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)``: documents that hold a query term and score above 0, best first,
        ties in the order the documents were added."""
        parts, absent = self._parts(query)
        if not parts or k == 0:
            return []
        # added up term after term, as bm25s does (bincount adds in the order given)
        scores = np.bincount(np.concatenate([slots for slots, _ in parts]),
                             np.concatenate([shares for _, shares in parts]), minlength=self._size)
        found = np.flatnonzero(scores > 0)  # each share of a found term is > 0, but Robertson's idf may be 0
        values = scores[found] + absent if self.credits_absent_terms else scores[found]
        if len(found) > k:
            kth = np.partition(values, len(found) - k)[len(found) - k]
            keep = values >= kth
            found, values = found[keep], values[keep]
        best = np.lexsort((self._order[found], -values))[:k]
        return [(self._ids[i], v) for i, v in zip(found[best].tolist(), values[best].tolist())]

    def score(self, query: Sequence[str], id: str) -> float:
        """Document ``id``'s score for ``query``, as bm25s gives it (0 for one that holds no query term, but
        for BM25L's and BM25+'s part for the terms it lacks)."""
        slot = self._slots[id]
        parts, absent = self._parts(query)
        total = 0.0
        for slots, shares in parts:
            where = np.flatnonzero(slots == slot)
            if len(where):
                total += shares[where[0]]
        return float(total + absent) if self.credits_absent_terms else float(total)

    def stats(self) -> dict[str, Any]:
        """Sizes, for tests and benchmarks: documents live, in the main segment, in the tail, marked deleted."""
        return {"live": self._count, "main": self._main, "tail": self._size - self._main, "dead": self._dead,
                "average_length": self._total / self._count if self._count else 0.0}
