"""The MuSiQue multi-hop sample that ships in nbrag/data/samples/musique."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from nbrag.data import sample_multihop, sample_multihop_questions
from nbrag.eval import load_beir

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "musique"
FILES = ("README.md", "corpus.jsonl", "qrels.tsv", "queries.jsonl", "questions.jsonl")


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_the_folder_is_a_beir_set_with_every_judged_passage():
    folder = sample_multihop()
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    data = load_beir(folder)
    assert len(data.queries) == 20 and data.unjudged == 0
    assert len(data.corpus) == len(_jsonl(folder / "corpus.jsonl"))  # no empty passage dropped
    for qid, judged in data.qrels.items():
        assert judged and set(judged) <= set(data.corpus), qid
        assert set(judged.values()) == {1}


def test_the_questions_match_the_queries_and_qrels():
    folder = sample_multihop()
    questions = sample_multihop_questions()
    data = load_beir(folder)
    assert [q["id"] for q in questions] == [q["_id"] for q in _jsonl(folder / "queries.jsonl")]
    assert Counter(q["hops"] for q in questions) == {2: 10, 3: 6, 4: 4}
    for q in questions:
        assert data.queries[q["id"]] == q["question"]
        assert q["answer"].strip() and all(alias.strip() for alias in q["answer_aliases"])
        assert len(q["decomposition"]) == q["hops"]
        assert all(step["question"].strip() and step["answer"].strip() for step in q["decomposition"])
        assert q["decomposition"][-1]["answer"] == q["answer"]
        assert q["supporting"] == list(dict.fromkeys(step["supporting"] for step in q["decomposition"]))
        assert set(q["supporting"]) <= set(data.corpus)
        assert set(q["supporting"]) == set(data.qrels[q["id"]])


def test_the_readme_names_the_source_and_licence():
    text = (sample_multihop() / "README.md").read_text(encoding="utf-8")
    assert "MuSiQue: Multihop Questions via Single-hop Question Composition" in text
    assert "CC BY 4.0" in text and "unchanged" in text
    assert "python tools/make_multihop_sample.py" in text


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not there")
def test_every_passage_and_query_is_the_shared_sets():
    shared = {row["_id"]: row for row in _jsonl(SHARED / "corpus.jsonl")}
    for row in _jsonl(sample_multihop() / "corpus.jsonl"):
        assert row == shared[row["_id"]]
    queries = {row["_id"]: row for row in _jsonl(SHARED / "queries.jsonl")}
    for row in _jsonl(sample_multihop() / "queries.jsonl"):
        assert row == queries[row["_id"]]
    with open(SHARED / "qrels.tsv", encoding="utf-8") as f:
        shared_qrels = set(f.read().splitlines()[1:])
    with open(sample_multihop() / "qrels.tsv", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    assert set(lines[1:]) <= shared_qrels


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not there")
def test_the_tool_reproduces_the_shipped_files(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_multihop_sample.py"),
                    str(SHARED / "musique_200.jsonl"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (sample_multihop() / name).read_bytes(), name
