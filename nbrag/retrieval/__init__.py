"""Retrieval: a Chroma collection with BM25 beside it, fused rankings, HyDE and reranking."""

from nbrag.retrieval.base import MODES, Hit, RetrievalResult
from nbrag.retrieval.comparison import RetrievalComparison, compare
from nbrag.ranking.fusion import FUSIONS, fuse
from nbrag.retrieval.index import Index, IngestReport, check_name

__all__ = ["FUSIONS", "MODES", "Hit", "Index", "IngestReport", "RetrievalComparison", "RetrievalResult", "check_name",
           "compare", "fuse"]
