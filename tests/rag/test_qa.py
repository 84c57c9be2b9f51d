"""QA evaluation: SQuAD-style normalisation, exact match, token F1 (characters for Chinese), recall, the runner."""

import json

import pytest

from nbrag.errors import NbragError
from nbrag.eval import evaluate_qa, exact_match, f1_score, load_qa, normalize_answer, supporting_recall
from nbrag.eval.answers import contains_answer, strip_citations
from tests.conftest import SHARED_DATA

from .conftest import extractive
from .test_ask import QUESTION


def test_normalisation_follows_squad():
    assert normalize_answer("The  Cordouan Lighthouse!") == "cordouan lighthouse"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("《红楼梦》。") == "红楼梦"


@pytest.mark.parametrize("prediction, gold, em, f1", [
    ("The Cordouan lighthouse", "Cordouan lighthouse", 1.0, 1.0),
    ("Cordouan", "Cordouan lighthouse", 0.0, 2 / 3),
    ("Paris", ["Rome", "paris"], 1.0, 1.0),
    ("Stanley, North Dakota", "Stanley", 0.0, 0.5),
    ("绿茶", "绿茶", 1.0, 1.0),
    ("绿茶类", "绿茶", 0.0, 0.8),  # characters: 2 shared of 3 predicted and 2 expected
    ("nothing", "Stanley", 0.0, 0.0),
])
def test_exact_match_and_f1(prediction, gold, em, f1):
    assert exact_match(prediction, gold) == em
    assert f1_score(prediction, gold) == pytest.approx(f1)


def test_contains_recall_and_citations():
    assert contains_answer("It was installed at the Cordouan lighthouse in 1823.", "Cordouan lighthouse") == 1.0
    assert contains_answer("Stanleyville", "Stanley") == 0.0
    assert contains_answer("答案是绿茶。", "绿茶") == 1.0
    assert supporting_recall(["a", "b", "c"], ["a", "d"]) == 0.5 and supporting_recall(["a"], []) is None
    assert strip_citations("Paris [1][2], in France【3】.") == "Paris, in France."
    with pytest.raises(NbragError, match=r"^gold=\[\]: no gold answer given"):
        exact_match("x", [])


def test_the_runner_scores_each_method(english_index):
    questions = [{"id": "q1", "question": QUESTION, "answers": ["Cordouan lighthouse"], "supporting": ["lighthouses"]},
                 {"id": "q2", "question": "Why must a thermometer be kept inside a radiation shield?",
                  "answers": ["to keep direct sunlight off the sensor"], "supporting": ["weather_station"]}]
    rag = evaluate_qa(questions, english_index, method="rag", generator=extractive, progress=False)
    first = rag.rows[0]
    assert first["contains"] == 1.0 and 0 < first["f1"] < 1 and first["em"] == 0.0
    assert first["recall"] == 1.0 and first["retrieved"] >= 1 and "[" not in first["prediction"]
    assert rag.means["questions"] == 2.0 and rag.means["recall"] == 1.0
    assert rag.means["tokens"] == pytest.approx(rag.means["prompt_tokens"] + rag.means["completion_tokens"])
    none = evaluate_qa(questions, method="none", generator=lambda m: "The Cordouan lighthouse.", progress=False)
    assert none.rows[0]["em"] == 1.0 and none.rows[0]["recall"] is None and "recall" not in none.means
    agent = evaluate_qa(questions[:1], english_index, method="agent", generator=extractive, progress=False)
    assert agent.rows[0]["recall"] == 1.0 and agent.rows[0]["steps"] >= 4
    assert json.loads(json.dumps(agent.to_dict()))["method"] == "agent"
    with pytest.raises(NbragError, match=r"^method='both': unknown method: use one of none, rag, agent"):
        evaluate_qa(questions, english_index, method="both")
    with pytest.raises(NbragError, match=r"^method='rag': retrieves: give index="):
        evaluate_qa(questions, method="rag", generator=extractive)


@pytest.mark.parametrize("name", ["hotpotqa", "musique"])
def test_load_qa_reads_answers_and_supporting_passages(name):
    folder = SHARED_DATA / name
    if not folder.exists():
        pytest.skip(f"{folder} is not here (evaluation data lives beside the project)")
    questions = load_qa(folder, limit=5)
    assert len(questions) == 5
    for q in questions:
        assert q["question"] and q["answers"][0] and len(q["supporting"]) >= 2
    if name == "musique":
        assert questions[0]["answers"][0] == "Stanley" and questions[0]["decomposition"][1].startswith("#1")
