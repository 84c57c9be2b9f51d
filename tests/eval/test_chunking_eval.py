import csv
import json

import pytest

import nbrag
from nbrag.chunking import Chunk
from nbrag.display import show
from nbrag.errors import NbragError, NbragTypeError
from nbrag.eval import EvalSet, Question, chunking, load_chroma_csv, load_hotpotqa
from nbrag.eval.chunk_quality import intersection, merge, span_scores
from nbrag.views.scores import ScoresTable
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


def test_the_evaluation_shows_its_table_of_scores():
    result = chunking(topics_set(), {"sentences": {"method": "recursive", "size": 16},
                                     "<b>whole</b>": {"method": "fixed", "size": 500, "overlap": 0}}, k=1)
    bundle = result._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.startswith("<table><caption>chunk quality on topics (top 1 chunks per question)</caption>")
    assert html.count("<tr>") == 3 and "&lt;b&gt;whole&lt;/b&gt;" in html and "<b>" not in html
    table = show(result)
    assert isinstance(table, ScoresTable) and table.rows == result.table()
    lines = bundle["text/plain"].splitlines()
    assert lines[0] == "chunk quality on topics (top 1 chunks per question)"
    assert lines[1].split() == ["chunker", "chunks", "mean_tokens", "recall", "precision", "iou"]
    assert lines[2].split()[0] == "sentences" and len(lines) == 4


def test_callable_chunkers_spans_or_chunks_score_like_the_registered_one():
    data = topics_set()
    text = data.documents["doc"]

    def sentences(text):
        return [(c.start, c.end) for c in nbrag.chunk(text, method="recursive", size=16)]

    result = chunking(data, {"registered": {"method": "recursive", "size": 16},
                             "spans": sentences,
                             "chunks": lambda text: nbrag.chunk(text, method="recursive", size=16).chunks}, k=2)
    rows = {row.pop("chunker"): row for row in result.table()}
    assert rows["spans"] == rows["registered"] == rows["chunks"]
    spot = data.questions[0].references[0]
    for label in ("registered", "spans", "chunks"):
        (question,) = result.per_question[label]
        assert set(question) == {"recall", "precision", "iou", "retrieved"}
        assert len(question["retrieved"]) == 2
        doc, start, end = question["retrieved"][0]
        assert doc == "doc" and start <= spot[1] and spot[2] <= end  # the best chunk holds the answer
        assert text[start:end].strip() == text[start:end]
    assert result.per_question["spans"] == result.per_question["registered"]
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()
    # In a list, a callable is labelled by its name.
    assert [row["chunker"] for row in chunking(data, ["fixed", sentences], k=1).table()] == ["fixed", "sentences"]


def test_callable_chunker_errors_name_the_chunker_and_the_span():
    data = topics_set()
    n = len(data.documents["doc"])
    with pytest.raises(ValueError, match=rf"past: span 1 \(10, {n + 5}\) of document 'doc' does not lie in its {n} "):
        chunking(data, {"past": lambda text: [(0, 10), (10, len(text) + 5)]}, k=1)
    with pytest.raises(ValueError, match=r"empty: span 0 \(3, 3\)"):
        chunking(data, {"empty": lambda text: [(3, 3)]}, k=1)
    with pytest.raises(TypeError, match=r"words: item 0 for document 'doc' is 'Bread'; a chunker callable returns"):
        chunking(data, {"words": lambda text: text.split()}, k=1)
    moved = Chunk(text="Jupiter", start=1, end=8, tokens=1, index=0)
    with pytest.raises(ValueError, match=r"moved: chunk 0 of document 'doc' says \[1:8\], but its text is not"):
        chunking(data, {"moved": lambda text: [moved]}, k=1)
    with pytest.raises(ValueError, match="nothing: the chunker produced no chunks"):
        chunking(data, {"nothing": lambda text: []}, k=1)
    with pytest.raises(NbragTypeError, match=r"^chunkers: 42 is neither a registered name nor a callable;"):
        chunking(data, [42], k=1)
    with pytest.raises(NbragError, match=r"^chunkers: two chunkers are labelled '<lambda>'; pass a dict"):
        chunking(data, [lambda t: [(0, 1)], lambda t: [(0, 2)]], k=1)


@needs_hotpot
def test_hotpotqa_loader_turns_supporting_facts_into_spans():
    data = load_hotpotqa(HOTPOT, limit=5)
    assert len(data.questions) == 5
    first = json.loads(HOTPOT.open(encoding="utf-8").readline())
    titles = dict(first["context"])
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
    with pytest.raises(NbragError, match=r"^csv_path='.*questions\.csv': line 2: the reference text does not match "
                                         rf"guide\[{start + 1}:{start + 24}\]; is the corpus"):
        load_chroma_csv(path, corpus)
    with pytest.raises(NbragError, match=r"^csv_path='.*nowhere\.csv': no such file\.$"):
        load_chroma_csv(tmp_path / "nowhere.csv", corpus)
    with pytest.raises(NbragError, match=r"^corpus_dir='.*nowhere': no such folder"):
        load_chroma_csv(path, tmp_path / "nowhere")


def test_bad_input():
    with pytest.raises(NbragError, match=r"^questions: the question 'q' refers to document 'nope', which is not in"):
        EvalSet({"doc": "text"}, [Question("q", (("nope", 0, 2),))])
    with pytest.raises(NbragError, match=r"^questions: the reference \[2:99\] of 'q' lies outside document 'doc' "
                                         r"\(4 characters\)\.$"):
        EvalSet({"doc": "text"}, [Question("q", (("doc", 2, 99),))])
    with pytest.raises(NbragError, match=r"^k=0: must be a whole number of at least 1 chunk\.$"):
        chunking(topics_set(), ["fixed"], k=0)
    with pytest.raises(NbragTypeError, match=r"^data: needs an nbrag\.eval\.EvalSet, got dict"):
        chunking({"doc": "text"}, ["fixed"])
    with pytest.raises(NbragError, match=r"^data: the evaluation set has no questions\.$"):
        chunking(EvalSet({"doc": "text"}, []), ["fixed"])
    with pytest.raises(NbragError, match=r"^path='nowhere\.jsonl': no such file"):
        load_hotpotqa("nowhere.jsonl")


def test_plot_and_question_view_show_the_answer_and_what_was_retrieved():
    data = topics_set()
    result = chunking(data, {"sentences": {"method": "recursive", "size": 16},
                             "halves": lambda text: [(0, len(text) // 2), (len(text) // 2, len(text))]}, k=2)
    fig = result.plot()
    assert [trace.name for trace in fig.data] == ["recall", "precision", "iou"]
    assert list(fig.data[0].x) == ["sentences", "halves"]
    assert list(fig.data[2].y) == [row["iou"] for row in result.table()]

    view = result.view(0, "sentences")
    _, start, end = data.questions[0].references[0]
    assert "".join(p["text"] for p in view.segments if p["ref"]) == data.documents["doc"][start:end]
    hits = {c["index"]: c["hit"] for c in view.chunks if c["hit"]}
    assert sorted(hits.values()) == [1, 2]
    best = view.chunks[next(i for i, rank in hits.items() if rank == 1)]
    assert best["start"] <= start and end <= best["end"]  # the best hit holds the whole answer
    assert view.title.startswith("Which planet has a storm bigger than the Earth? · sentences · recall 1.00")
    assert len(result.view(0, "halves").chunks) == 2
    with pytest.raises(NbragError, match=r"^question=5: give a question number from 0 to 0\.$"):
        result.view(5)
    with pytest.raises(NbragError, match=r"^chunker='nope': not a chunker of this evaluation, which scored "
                                         r"sentences, halves\.$"):
        result.view(0, "nope")
    with pytest.raises(NbragError, match=r"^document='nope': not a document of the evaluation set\.$"):
        result.view(0, "sentences", document="nope")


TIMETABLES = """# Island travel notes

## Zanzibar ferry

The first boat leaves the harbour at seven in the morning. It takes two hours to cross. The last one leaves at nine in \
the evening.

## Mountain railway

The first train leaves the valley station at eight in the morning. It takes one hour to climb. The last one leaves at \
ten in the evening.

## City tram

The first tram leaves the depot at six in the morning. It runs every ten minutes. The last one leaves at midnight.
"""


def test_a_context_changes_what_is_embedded_never_the_spans_scored():
    """The answers never name what they are about ("the last one leaves at nine"): only their section's heading
    does, so only chunks embedded with their title are found."""
    questions = []
    for question, section in (("When does the last Zanzibar ferry leave?", "## Zanzibar ferry"),
                              ("When does the last mountain railway train leave?", "## Mountain railway"),
                              ("When does the last city tram leave?", "## City tram")):
        start = TIMETABLES.index("The last one", TIMETABLES.index(section))
        questions.append(Question(question, (("notes", start, TIMETABLES.index(".", start) + 1),)))
    data = EvalSet({"notes": TIMETABLES}, questions)
    result = chunking(data, {"own text": {"method": "recursive", "size": 12},
                             "with title": {"method": "recursive", "size": 12, "context": "title"}}, k=1)
    rows = {row["chunker"]: row for row in result.table()}
    assert rows["with title"]["recall"] == 1.0 and rows["with title"]["iou"] == 1.0
    assert rows["own text"]["recall"] < 1.0
    assert rows["own text"]["chunks"] == rows["with title"]["chunks"]
    spans = {tuple(span) for record in result.per_question["with title"] for span in record["retrieved"]}
    assert spans == {("notes", *q.references[0][1:]) for q in questions}
