"""Retrieval types: a ``Hit`` keeps every score that placed it; a ``RetrievalResult`` the ranked hits.

Scores are kept per retriever (``bm25``, ``dense``, later ``rerank``, ``graph``) next to
the fused score, with each retriever's rank, so a view can show why a passage ranked
where it did. The retrievers' full candidate lists stay in the result, so a hybrid
result can be fused again with other weights without searching again (``fuse``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nbrag.display import Shown
from nbrag.errors import NbragError, renamed
from nbrag.ranking.fusion import check_weights, contributions, settle

MODES = ("bm25", "dense", "hybrid", "graph", "hybrid+graph")
RETRIEVERS = ("bm25", "dense", "graph")
GRAPH_SEARCHES = ("ppr", "local", "global")


@dataclass
class Hit:
    """One retrieved chunk: where it lies in its document, and every score and rank it got."""

    id: str
    text: str
    document: str
    start: int
    end: int
    score: float  # the score that ranked it: fused in hybrid mode, else the retriever's (or the reranker's)
    rank: int  # 1-based
    scores: dict[str, float] = field(default_factory=dict)  # per retriever, raw (bm25, dense cosine, rerank)
    ranks: dict[str, int] = field(default_factory=dict)  # per retriever, 1-based; absent: not in its candidates
    terms: dict[str, float] = field(default_factory=dict)  # BM25: matched query terms -> their contribution
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        parts = " ".join(f"{k}={v:.3f}" for k, v in self.scores.items())
        preview = " ".join(self.text[:50].split())
        return f"Hit(#{self.rank} {self.score:.4f} [{parts}] {self.document}[{self.start}:{self.end}] {preview!r}…)"


@dataclass
class RetrievalResult(Shown):
    """The ranked hits of one query, how they were found, and each retriever's candidates.

    In a notebook it shows its hits with every score (a graph search: the subgraph around
    the query above them).
    """

    query: str
    mode: str
    hits: list[Hit]
    params: dict[str, Any]
    candidates: dict[str, list[tuple[str, float]]] = field(default_factory=dict, repr=False)
    hyde: str | None = None  # the hypothetical answer that was embedded, when HyDE was used
    timings: dict[str, float] = field(default_factory=dict, repr=False)
    index: Any = field(default=None, repr=False, compare=False)  # the Index searched, to re-fuse or show documents
    graph: dict[str, Any] | None = field(default=None, repr=False)  # graph search: its entities, paths, communities
    generator: Any = field(default=None, repr=False, compare=False)  # what wrote HyDE's answer and reranks again

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "params": dict(self.params), "hyde": self.hyde,
                "timings": dict(self.timings), "hits": [h.to_dict() for h in self.hits], "graph": self.graph,
                "candidates": {name: [list(pair) for pair in pairs] for name, pairs in self.candidates.items()}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"RetrievalResult({len(self.hits)} hits for {self.query[:40]!r}, {self.mode}({args}))"

    def weights(self) -> dict[str, float]:
        """The retrievers' weights as fused (normalised to sum to 1; the defaults of
        :data:`nbrag.ranking.fusion.DEFAULTS` when none were given)."""
        names = list(self.candidates)
        return check_weights(settle(names, self.params.get("fusion"), self.params.get("weights")).weights, names)

    def parts(self) -> dict[str, dict[str, float]]:
        """Per hit id, each retriever's part of the score that fused it: the parts sum to the fused score (see
        :func:`nbrag.ranking.fusion.contributions`). One retriever: its own score."""
        names = list(self.candidates)
        if len(names) < 2:
            name = names[0] if names else self.mode
            return {h.id: {name: h.scores.get(name, h.score)} for h in self.hits}
        fused = settle(names, self.params.get("fusion"), self.params.get("weights"), self.params.get("rrf_k"))
        every = contributions(self.candidates, fused.fusion, self.weights(), fused.rrf_k)
        return {h.id: every.get(h.id, dict.fromkeys(names, 0.0)) for h in self.hits}

    def fuse(self, **changes: Any) -> RetrievalResult:
        """The same candidates fused again with other options (``weights``, ``fusion``, ``rrf_k``, ``k``,
        ``rerank``, ``generator``), without searching again."""
        if self.index is None:
            raise NbragError("this result does not know its index: search again with the new options.")
        return self.index.fuse(self, **changes)

    def refuse(self, **changes: Any) -> RetrievalResult:
        """Deprecated: :meth:`fuse`."""
        renamed("RetrievalResult.refuse", "RetrievalResult.fuse")
        return self.fuse(**changes)
