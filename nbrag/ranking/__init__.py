"""Ranking primitives shared by retrieval and GraphRAG: BM25 over a changing set of texts
(:mod:`nbrag.ranking.bm25`, on bm25s), and the fusion of several rankings into one
(:mod:`nbrag.ranking.fusion`: reciprocal rank, min-max, z-score)."""

from nbrag.ranking.bm25 import BM25
from nbrag.ranking.fusion import FUSIONS, check_weights, contributions, fuse

__all__ = ["BM25", "FUSIONS", "check_weights", "contributions", "fuse"]
