"""HyDE and reranking through nbrag.llm: with plain complete(messages) functions, and (marked slow) with the
offline generator SmolLM2-135M."""

import pytest

from nbrag.data import sample_documents
from nbrag.errors import NbragError
from nbrag.llm import resolve
from nbrag.retrieval import Index, compare
from nbrag.retrieval.rerank import rerank

QUESTION = "Why put a thermometer in a radiation shield?"


@pytest.fixture(scope="module")
def index():
    idx = Index("hyde-rerank", memory=True)
    idx.add(sample_documents(), chunker="recursive", size=128, progress=False)
    return idx


# ------------------------------------------------------------------ with complete(messages) functions


def test_hyde_embeds_what_the_generator_imagines(index):
    passage = next(h for h in index.search("Fresnel lens orders", k=5, mode="bm25") if "Fresnel" in h.text)
    asked = []

    def imagine(messages):
        asked.append(messages)
        return f"  {passage.text}  "

    replaced = index.search(QUESTION, k=3, mode="dense", hyde="replace", generator=imagine)
    assert replaced.hyde == passage.text.strip() and replaced.params["hyde"] == "replace"
    assert replaced[0].id == passage.id and replaced[0].scores["dense"] == pytest.approx(1.0, abs=1e-3)
    assert [m["role"] for m in asked[0]] == ["system", "user"] and asked[0][1]["content"] == QUESTION
    averaged = index.search(QUESTION, k=3, mode="dense", hyde=True, generator=imagine)
    plain = index.search(QUESTION, k=3, mode="dense")
    assert averaged.hyde == replaced.hyde and plain.hyde is None
    # the average of the two embeddings lies between them: the passage's cosine rises, short of 1
    assert plain.candidates["dense"] != averaged.candidates["dense"]
    by_id = dict(averaged.candidates["dense"])
    assert dict(plain.candidates["dense"]).get(passage.id, 0) < by_id[passage.id] < 0.999


def test_an_empty_hypothetical_answer_searches_with_the_query(index):
    result = index.search(QUESTION, k=3, mode="dense", hyde="replace", generator=lambda messages: "   ")
    assert result.hyde == QUESTION
    assert result.ids == index.search(QUESTION, k=3, mode="dense").ids


def lens_judge(seen):
    """Yes for a passage that names the Fresnel lens, no otherwise, in words."""

    def judge(messages):
        passage = messages[-1]["content"].split("\n\nQuestion:")[0].removeprefix("Passage:\n")
        seen.append(passage)
        return "Yes." if "Fresnel" in passage else "No, it does not."

    return judge


def test_rerank_orders_the_best_candidates_by_the_generators_yes_and_no(index):
    seen = []
    query = "How did lighthouses make their light visible far out at sea?"
    result = index.search(query, k=8, rerank=True, generator=lens_judge(seen))
    fused = result.fuse(k=20, rerank=False)  # the same candidates in their fused order
    assert len(seen) == 20 and sorted(seen) == sorted(h.text for h in fused)  # each passage whole, never decoded
    scores = [h.scores["rerank"] for h in result]
    assert scores == sorted(scores, reverse=True) and [h.score for h in result] == scores
    assert set(scores) <= {1.0, -1.0} and scores[0] == 1.0
    lens = [h.id for h in fused if "Fresnel" in h.text]
    assert lens and result.ids[:len(lens)] == lens[:8]  # the yes passages first, in their fused order
    assert "rerank" in result.timings and {"bm25", "dense"} & set(result[0].scores)
    # fused again with another k: the same generator judges, without a new search
    seen.clear()
    again = result.fuse(k=3)
    assert again.ids == result.ids[:3] and len(seen) == 20


def test_a_reply_that_is_neither_yes_nor_no_ranks_between_them():
    answers = {"a": "Yes", "b": "Perhaps", "c": "No"}

    def judge(messages):
        return answers[messages[-1]["content"].split("\n")[1]]

    assert rerank("q", ["c", "b", "a"], True, generator=judge) == [-1.0, 0.0, 1.0]
    assert rerank("q", [], True, generator=judge) == []
    with pytest.raises(NbragError, match=r"^rerank='': give True"):
        rerank("q", ["p"], how="")


def test_compare_hands_one_generator_to_every_mode(index):
    calls = []

    def imagine(messages):
        calls.append(messages[-1]["content"])
        return "A radiation shield keeps sunlight off the thermometer, so it reads the air's temperature."

    comparison = compare(index, QUESTION, ["dense", "hybrid"], k=3, hyde=True, generator=imagine)
    assert calls == [QUESTION, QUESTION]
    assert all(r.hyde.startswith("A radiation shield") for r in comparison.results.values())


def test_a_generator_that_is_not_one_is_named(index):
    with pytest.raises(NbragError, match=r"^generator=42: not a generator"):
        index.search(QUESTION, hyde=True, generator=42)
    with pytest.raises(TypeError, match="returned int, not text"):
        index.search(QUESTION, hyde=True, generator=lambda messages: 42)


# ------------------------------------------------------------------ the offline generator


@pytest.mark.slow
def test_the_generator_prefers_the_passage_that_answers():
    passages = ["The Eiffel Tower is in Paris, the capital of France.",
                "Bananas are rich in potassium and grow in the tropics.",
                "Sourdough rises because wild yeast ferments the dough."]
    scores = rerank("Where is the Eiffel Tower?", passages, True, generator=resolve())
    assert len(scores) == 3 and scores[0] == max(scores)


@pytest.mark.slow
def test_hyde_searches_with_a_hypothetical_answer_and_shows_it(index):
    plain = index.search(QUESTION, k=5, mode="dense")
    hyde = index.search(QUESTION, k=5, mode="dense", hyde=True)
    assert plain.hyde is None and isinstance(hyde.hyde, str) and len(hyde.hyde) > 20
    assert hyde.params["hyde"] is True and len(hyde) == 5 and "dense" in hyde.timings
    replaced = index.search(QUESTION, k=5, mode="dense", hyde="replace")
    assert replaced.hyde and all(h.document in sample_documents() for h in replaced)


@pytest.mark.slow
def test_rerank_orders_the_best_candidates_by_the_reranker(index):
    result = index.search("How does a Fresnel lens concentrate light?", k=5, rerank=True)
    scores = [h.scores["rerank"] for h in result]
    assert scores == sorted(scores, reverse=True) and [h.score for h in result] == scores
    assert {"bm25", "dense"} & set(result[0].scores) and "rerank" in result.timings
