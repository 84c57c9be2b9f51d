import csv
import json

import pytest

from nbrag.eval import EvalSet, Question, chunking, load_chroma_csv, load_hotpotqa
from nbrag.eval.chunking import intersection, merge, span_scores
from tests.chunking.test_semantic import TOPICS_EN
from tests.conftest import SHARED_DATA

HOTPOT = SHARED_DATA / "hotpotqa" / "hotpotqa_200.jsonl"
needs_hotpot = pytest.mark.skipif(not HOTPOT.exists(), reason=f"{HOTPOT} is not here")


def test_span_arithmetic():
    assert merge([(5, 8), (0, 3), (2, 4), (8, 9), (10, 10)]) == [(0, 4), (5, 9)]
    assert intersection([(0, 4), (6, 10)], [(2, 7), (9, 12)]) == [(2, 4), (6, 7), (9, 10)]
    scores = span_scores({"d": [(0, 10)]}, {"d": [(5, 15)], "e": [(0, 5)]})
    assert scores == {"recall": 0.5, "precision": 5 / 15, "iou": 5 / 20}
    assert span_scores({"d": [(0, 4)]}, {}) == {"recall": 0.0, "precision": 0.0, "iou": 0.0}


def topics_set() -> EvalSet:
    text = " ".join(TOPICS_EN)
    spot = "Its Great Red Spot is a storm larger than the Earth."
    start = text.index(spot)
    return EvalSet({"doc": text}, [Question("Which planet has a storm bigger than the Earth?",
                                            (("doc", start, start + len(spot)),))], name="topics")


def test_small_chunks_find_the_answer_and_a_whole_document_dilutes_it():
    data = topics_set()
    result = chunking(data, {"sentences": {"method": "recursive", "size": 16},
                             "whole": {"method": "fixed", "size": 500, "overlap": 0}}, k=1)
    rows = {row["chunker"]: row for row in result.table()}
    assert rows["sentences"]["recall"] == 1.0 and rows["sentences"]["precision"] > 0.9
    _, start, end = data.questions[0].references[0]
    reference = end - start
    assert rows["whole"]["recall"] == 1.0
    assert rows["whole"]["precision"] == pytest.approx(reference / len(data.documents["doc"]), abs=1e-4)
    assert rows["whole"]["iou"] == rows["whole"]["precision"]
    assert "<caption>chunk quality on topics (top 1 chunks per question)</caption>" in result._repr_html_()


@needs_hotpot
def test_hotpotqa_loader_turns_supporting_facts_into_spans():
    data = load_hotpotqa(HOTPOT, limit=5)
    assert len(data.questions) == 5
    first = json.loads(HOTPOT.open(encoding="utf-8").readline())
    titles = dict((t, s) for t, s in first["context"])
    doc = data.documents[first["_id"]]
    texts = [doc[a:b] for _, a, b in data.questions[0].references]
    assert texts == [titles[t][i].strip() for t, i in first["supporting_facts"]]


@needs_hotpot
def test_hotpotqa_eval_scores_are_fractions_and_full_retrieval_recalls_everything():
    data = load_hotpotqa(HOTPOT, limit=6)
    result = chunking(data, ["recursive"], k=3)
    row = result.table()[0]
    assert 0 < row["recall"] <= 1 and 0 < row["precision"] <= 1 and 0 < row["iou"] <= row["recall"]
    everything = chunking(data, {"all": {"method": "recursive", "size": 256}}, k=10_000)
    assert everything.table()[0]["recall"] == 1.0


def test_chroma_csv_loader(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = "# Title\n\nThe answer is forty-two. Other text follows."
    (corpus / "guide.md").write_text(text, encoding="utf-8")
    start = text.index("The answer")
    refs = [{"content": "The answer is forty-two.", "start_index": start, "end_index": start + 24}]
    path = tmp_path / "questions.csv"

    def write(references):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["question", "references", "corpus_id"])
            writer.writerow(["What is the answer?", json.dumps(references), "guide"])

    write(refs)
    data = load_chroma_csv(path, corpus)
    assert data.questions[0].references == (("guide", start, start + 24),)
    refs[0]["start_index"] += 1
    write(refs)
    with pytest.raises(ValueError, match="reference text does not match guide"):
        load_chroma_csv(path, corpus)


def test_bad_input():
    with pytest.raises(ValueError, match="refers to document 'nope'"):
        EvalSet({"doc": "text"}, [Question("q", (("nope", 0, 2),))])
    with pytest.raises(ValueError, match="lies outside document 'doc'"):
        EvalSet({"doc": "text"}, [Question("q", (("doc", 2, 99),))])
    with pytest.raises(ValueError, match="k=0 must be a whole number"):
        chunking(topics_set(), ["fixed"], k=0)
