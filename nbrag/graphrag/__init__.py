"""GraphRAG: a knowledge graph of an index's chunks, its communities, and searches through it.

``index.build_graph()`` reads every chunk of an :class:`~nbrag.Index` with an extractor
(``offline`` by default, ``llm`` for a generator or an OpenAI-compatible endpoint) and
keeps the graph beside the index; ``index.search(query, mode="graph", graph="ppr")``
(or ``"local"``, ``"global"``, or ``mode="hybrid+graph"``) ranks chunks through it.

Its libraries are the ``graph`` extra (``pip install "nbrag[graph]"``): without one of them,
importing this package raises :class:`~nbrag.errors.MissingExtraError`, which says so.
"""

from nbrag.errors import require

for _module in ("networkx", "igraph", "leidenalg", "yake", "jieba"):
    require(_module, "graph", "GraphRAG")

from nbrag.graphrag.base import EXTRACTORS, Extraction, Link, Mention, get_extractor  # noqa: E402
from nbrag.graphrag.communities import Community  # noqa: E402
from nbrag.graphrag.graph import GraphUpdate, KnowledgeGraph  # noqa: E402
from nbrag.graphrag.search import SEARCHES, link_query  # noqa: E402

__all__ = ["EXTRACTORS", "SEARCHES", "Community", "Extraction", "GraphUpdate", "KnowledgeGraph", "Link", "Mention",
           "get_extractor", "link_query"]
