"""Retrieval: a Chroma collection with BM25 beside it, fused rankings, HyDE and reranking.

BM25 and the fusions live in :mod:`nbrag.ranking` (shared with GraphRAG); ``FUSIONS`` and
``fuse`` are here too, for users of earlier releases.
"""

from nbrag.ranking.fusion import FUSIONS, fuse
from nbrag.retrieval.base import MODES, Hit, RetrievalResult
from nbrag.retrieval.comparison import RetrievalComparison, compare
from nbrag.retrieval.documents import IngestReport
from nbrag.retrieval.index import Index, check_name

__all__ = ["FUSIONS", "MODES", "Hit", "Index", "IngestReport", "RetrievalComparison", "RetrievalResult", "check_name",
           "compare", "fuse"]
