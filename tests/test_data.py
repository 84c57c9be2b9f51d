"""The sample corpus and questions that ship in nbrag/data/samples."""

import re
import subprocess
import sys
from collections import Counter

import pytest
from markdown_it import MarkdownIt

import nbrag
from nbrag.data import sample_documents, sample_questions, samples_dir
from tests.conftest import ROOT

DOCS = ("lighthouses", "tea", "weather_station")
CJK = r"[\u3400-\u9fff\uf900-\ufaff]"


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return sample_documents()


def test_the_loader_returns_every_document_and_question(documents):
    assert tuple(documents) == DOCS
    data = sample_questions()  # load_chroma_csv checks that each reference is its exact slice
    assert data.documents == documents
    per_doc = Counter(q.references[0][0] for q in data.questions)
    assert per_doc == {"weather_station": 12, "lighthouses": 12, "tea": 10}
    for q in data.questions:
        assert 1 <= len(q.references) <= 3
        assert len({doc for doc, _, _ in q.references}) == 1
        for doc, start, end in q.references:
            span = documents[doc][start:end]
            assert span == span.strip() and len(span) >= 20, (q.text, span)
    assert all(re.search(CJK, q.text) for q in data.questions if q.references[0][0] == "tea")


def test_the_questions_csv_is_what_the_script_writes():
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_sample_questions.py"), "--check"],
                   check=True, capture_output=True)


@pytest.mark.parametrize("doc, low, high", [("weather_station", 6000, 9000), ("lighthouses", 6000, 9000),
                                            ("tea", 4000, 6000)])
def test_document_sizes(documents, doc, low, high):
    assert low <= len(documents[doc]) <= high


def test_the_chinese_document_reads_as_chinese(documents):
    text = documents["tea"]
    assert not re.search(f"{CJK} +{CJK}", text), "ASCII spaces between Chinese characters"
    assert not re.search(f"{CJK}[,.;:!?]", text), "ASCII punctuation after a Chinese character"
    assert all(mark in text for mark in "。，；：？！“”（）《》")
    assert len(re.findall(CJK, text)) > 0.7 * len(text)


@pytest.mark.parametrize("doc", DOCS)
def test_each_document_has_the_structures_chunkers_care_about(documents, doc):
    tokens = MarkdownIt("commonmark").enable("table").parse(documents[doc])
    headings = [t for t in tokens if t.type == "heading_open"]
    assert {t.tag for t in headings} >= {"h1", "h2", "h3"}
    assert sum(t.markup in ("=", "-") for t in headings) == 1, "one Setext heading"
    assert any(t.type == "fence" and t.info == "python" for t in tokens)
    assert any(t.type == "table_open" for t in tokens)
    assert any(t.type == "bullet_list_open" for t in tokens)
    assert any(t.type == "ordered_list_open" for t in tokens)
    paragraphs = [len(tokens[i + 1].content) for i, t in enumerate(tokens)
                  if t.type == "paragraph_open" and t.level == 0]
    assert len(paragraphs) >= 15 and max(paragraphs) > 4 * min(paragraphs), "paragraphs of varying length"


@pytest.mark.parametrize("doc", DOCS)
def test_structure_chunks_carry_heading_paths(documents, doc):
    text = documents[doc]
    title = text.splitlines()[0].removeprefix("# ")
    result = nbrag.chunk(text, method="structure")
    assert len(result) > 3
    for chunk in result:
        assert text[chunk.start:chunk.end] == chunk.text
        assert chunk.meta["heading_path"].startswith(title)
    assert any(len(chunk.meta["headings"]) == 3 for chunk in result)


def test_samples_dir_holds_only_what_the_accessor_reads():
    names = sorted(p.relative_to(samples_dir()).as_posix() for p in samples_dir().rglob("*") if p.is_file())
    multihop = [f"musique/{n}" for n in ("README.md", "corpus.jsonl", "qrels.tsv", "queries.jsonl", "questions.jsonl")]
    instructions = [f"instructions/{n}" for n in ("README.md", "documents.jsonl", "musique.jsonl")]
    assert names == [f"corpus/{d}.md" for d in DOCS] + instructions + multihop + ["questions.csv"]


def test_sample_beir_layout(tmp_path):
    import json

    from nbrag.data import sample_beir, sample_questions

    folder = sample_beir(tmp_path / "beir")
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    qrels = [line.split("\t") for line in (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines()]
    assert qrels[0] == ["query-id", "corpus-id", "score"] and len(queries) == len(sample_questions().questions)
    texts = {p["_id"]: p["text"] for p in corpus}
    assert not any(t.startswith("#") and "\n" not in t for t in texts.values())  # no heading-only passage
    data = sample_questions()
    for qid, pid, score in qrels[1:]:
        question = data.questions[int(qid[1:])]
        assert score == "1" and any(data.documents[doc][a:b][:20] in texts[pid]
                                    or texts[pid] in data.documents[doc][a:b]
                                    for doc, a, b in question.references if pid.startswith(doc))
    assert {q for q, _, _ in qrels[1:]} == {q["_id"] for q in queries}  # every question has a relevant passage


def test_an_unknown_instruction_sample_names_the_ones_there_are():
    from nbrag.data import sample_instructions
    from nbrag.errors import NbragError

    with pytest.raises(NbragError, match=r"^source='recipes': no such instruction sample; choose one of documents, "
                                         r"musique, or None for all\.$"):
        sample_instructions("recipes")
    assert sample_instructions("documents") and all(set(r) == {"instruction", "input", "output"}
                                                    for r in sample_instructions("documents"))
