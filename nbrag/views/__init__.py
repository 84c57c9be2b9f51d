"""Views: how each result draws itself in a notebook.

A result never names its view: it mixes in :class:`nbrag.display.Shown`, which imports this
package on the first display and asks the registry below for the view of the result's type.
Each entry is imported only when a result of its type is first shown (plotly and anywidget
load then, not with the engine).

Shared pieces: :mod:`nbrag.views.shared` (escaping, styles, static figures, the packaged widget
files); the widgets' JavaScript and CSS live in the top-level ``widgets/`` folder, with the
helpers every widget uses in ``widgets/_shared.js``.
"""

from __future__ import annotations

from nbrag.display import register

# (result type, kind of drawing, view): a view is called as view(result, **options)
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("nbrag.chunking.base.ChunkResult", "view", "nbrag.views.chunks:ChunkView"),
    ("nbrag.chunking.comparison.ChunkComparison", "view", "nbrag.views.chunk_comparison:ChunkComparisonView.of"),
    ("nbrag.eval.chunk_quality.ChunkingEval", "view", "nbrag.views.scores:scores_table"),
    ("nbrag.eval.chunk_quality.ChunkingEval", "plot", "nbrag.views.scores:scores_figure"),
    ("nbrag.eval.chunk_quality.ChunkingEval", "question", "nbrag.views.scores:question_view"),
    ("nbrag.eval.retrieval.BeirEval", "view", "nbrag.views.beir:beir_table"),
    ("nbrag.eval.retrieval.BeirEval", "plot", "nbrag.views.beir:beir_figure"),
    ("nbrag.retrieval.base.RetrievalResult", "view", "nbrag.views.retrieval:result_view"),
    ("nbrag.retrieval.comparison.RetrievalComparison", "view",
     "nbrag.views.retrieval:RetrievalComparisonView.of"),
    ("nbrag.graphrag.graph.KnowledgeGraph", "view", "nbrag.views.graph:GraphView.of"),
    ("nbrag.rag.base.Answer", "view", "nbrag.views.rag:AnswerView"),
    ("nbrag.rag.base.AgentResult", "view", "nbrag.views.rag:TraceView"),
    ("nbrag.lora.base.LoraRun", "view", "nbrag.views.lora:RunView"),
    ("nbrag.lora.base.LoraComparison", "view", "nbrag.views.lora:LoraComparisonView"),
    ("nbrag.inspectors.attention_map.AttentionMap", "view", "nbrag.views.attention:AttentionView"),
    ("nbrag.inspectors.kvcache.CacheReport", "view", "nbrag.views.kvcache:CacheView"),
    ("nbrag.inspectors.kvcache.SpeedReport", "view", "nbrag.views.kvcache:SpeedView"),
    ("nbrag.inspectors.moe.RoutingTrace", "view", "nbrag.views.moe:RoutingView"),
    ("nbrag.inspectors.moe.RoutingComparison", "view", "nbrag.views.moe:RoutingComparisonView"),
)

for _type, _kind, _view in VIEWS:
    register(_type, _view, kind=_kind)
