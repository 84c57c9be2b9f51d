"""HyDE and reranking with the offline generator (SmolLM2-135M): real model calls, so marked slow."""

import pytest

from nbrag.data import sample_documents
from nbrag.retrieval import Index
from nbrag.retrieval.rerank import generator_scores, rerank

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index():
    idx = Index("hyde-rerank", memory=True)
    idx.add(sample_documents(), chunker="recursive", size=128, progress=False)
    return idx


def test_the_generator_prefers_the_passage_that_answers():
    passages = ["The Eiffel Tower is in Paris, the capital of France.",
                "Bananas are rich in potassium and grow in the tropics.",
                "Sourdough rises because wild yeast ferments the dough."]
    scores = generator_scores("Where is the Eiffel Tower?", passages)
    assert len(scores) == 3 and scores[0] == max(scores)
    assert rerank("anything", []) == []
    with pytest.raises(ValueError, match="use True"):
        rerank("q", ["p"], how="")


def test_hyde_searches_with_a_hypothetical_answer_and_shows_it(index):
    plain = index.search("Why put a thermometer in a radiation shield?", k=5, mode="dense")
    hyde = index.search("Why put a thermometer in a radiation shield?", k=5, mode="dense", hyde=True)
    assert plain.hyde is None and isinstance(hyde.hyde, str) and len(hyde.hyde) > 20
    assert hyde.params["hyde"] is True and len(hyde) == 5 and "dense" in hyde.timings
    replaced = index.search("Why put a thermometer in a radiation shield?", k=5, mode="dense", hyde="replace")
    assert replaced.hyde and all(h.document in sample_documents() for h in replaced)
    with pytest.raises(ValueError, match="hyde='sometimes'"):
        index.search("q", hyde="sometimes")


def test_rerank_orders_the_best_candidates_by_the_reranker(index):
    result = index.search("How does a Fresnel lens concentrate light?", k=5, rerank=True)
    scores = [h.scores["rerank"] for h in result]
    assert scores == sorted(scores, reverse=True) and [h.score for h in result] == scores
    assert {"bm25", "dense"} & set(result[0].scores) and "rerank" in result.timings
