"""GraphRAG: a knowledge graph of an index's chunks, its communities, and searches through it.

``index.build_graph()`` reads every chunk of an :class:`~nbrag.Index` with an extractor
(``offline`` by default, ``llm`` for a generator or an OpenAI-compatible endpoint) and
keeps the graph beside the index; ``index.search(query, mode="graph", graph="ppr")``
(or ``"local"``, ``"global"``, or ``mode="hybrid+graph"``) ranks chunks through it.
"""

from nbrag.graphrag.base import EXTRACTORS, Extraction, Link, Mention, get_extractor
from nbrag.graphrag.communities import Community
from nbrag.graphrag.graph import GraphUpdate, KnowledgeGraph
from nbrag.graphrag.search import SEARCHES, link_query

__all__ = ["EXTRACTORS", "SEARCHES", "Community", "Extraction", "GraphUpdate", "KnowledgeGraph", "Link", "Mention",
           "get_extractor", "link_query"]
