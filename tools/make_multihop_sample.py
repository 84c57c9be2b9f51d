"""Write nbrag/data/samples/musique/: 20 MuSiQue multi-hop questions with their passages.

    python tools/make_multihop_sample.py                                  # from ../shared/data/musique
    python tools/make_multihop_sample.py path/to/musique_200.jsonl        # from another copy
    python tools/make_multihop_sample.py SOURCE --out some/folder         # somewhere else

The source is MuSiQue in its original JSON-lines form (one answerable question a line, with
``paragraphs``, their ``is_supporting`` flags and the ``question_decomposition``). The sample
takes, in file order, the first 10 two-hop, 6 three-hop and 4 four-hop questions whose
paragraphs hold at most 15,000 characters in all, and writes:

* ``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``: a retrieval set in the BEIR layout. The
  corpus holds every paragraph of the chosen questions, supporting and distractor; a passage
  is relevant (score 1) to a question when MuSiQue marks it supporting.
* ``questions.jsonl``: each question with its answer, aliases, hop count, decomposition into
  single-hop sub-questions and the supporting passage ids.
* ``README.md``: what the folder holds, where it comes from and its licence.

Passage ids are those of the full retrieval set built from the same source file: the
source's paragraphs, read question after question, with identical (title, text) pairs
merged, are numbered ``mu00000``, ``mu00001``, ... in order of first appearance. Query ids are
MuSiQue's question ids. Texts are copied unchanged, and the output is the same bytes on
every run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "musique" / "musique_200.jsonl"
OUT = ROOT / "nbrag" / "data" / "samples" / "musique"

PER_HOPS = {2: 10, 3: 6, 4: 4}  # how many questions of each hop count, in this order
MAX_CHARS = 15_000  # skip a question whose paragraphs hold more text than this in all


def passage_ids(questions: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Number the distinct (title, text) paragraphs in order of first appearance."""
    ids: dict[tuple[str, str], str] = {}
    for question in questions:
        for paragraph in question["paragraphs"]:
            key = (paragraph["title"], paragraph["paragraph_text"])
            if key not in ids:
                ids[key] = f"mu{len(ids):05d}"
    return ids


def select(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first questions of each hop count, in file order, leaving out long ones."""
    wanted = dict(PER_HOPS)
    chosen = []
    for question in questions:
        hops = len(question["question_decomposition"])
        if not question.get("answerable", True) or wanted.get(hops, 0) == 0:
            continue
        if sum(len(p["paragraph_text"]) for p in question["paragraphs"]) > MAX_CHARS:
            continue
        chosen.append(question)
        wanted[hops] -= 1
    short = {hops: n for hops, n in wanted.items() if n}
    if short:
        raise SystemExit(f"The source lacks questions for the sample: still wanted (hops: count) {short}.")
    return chosen


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


README = """\
# MuSiQue sample: {questions} multi-hop questions

{questions} questions from MuSiQue, each answered only by chaining facts from two to four
Wikipedia paragraphs ({by_hops}), with all {passages} paragraphs
given to them in MuSiQue: the supporting ones and the distractors. It ships with nbrag so
that the notebooks can show multi-hop retrieval and question answering offline.

| file | what |
|---|---|
| `corpus.jsonl` | {passages} passages: `_id`, `title`, `text` |
| `queries.jsonl` | {questions} questions: `_id`, `text` |
| `qrels.tsv` | {qrels} rows `query-id`, `corpus-id`, `score`: the supporting passages of each question, score 1 |
| `questions.jsonl` | per question: `id`, `question`, `answer`, `answer_aliases`, `hops`, `decomposition` (the single-hop sub-questions in order, each with its `answer` and `supporting` passage id; `#1`, `#2` stand for earlier answers), `supporting` (passage ids, in hop order) |

The first three files are a retrieval set in the BEIR layout:

```python
from nbrag.data import sample_multihop, sample_multihop_questions
from nbrag.eval import beir, load_beir

data = load_beir(sample_multihop())          # passages, queries and relevance judgements
result = beir(sample_multihop(), k=10)       # bm25, dense and hybrid search, scored
questions = sample_multihop_questions()      # answers and decompositions, for generation
```

## How it was made

```
python tools/make_multihop_sample.py
```

reads a file of 200 answerable MuSiQue questions in MuSiQue's own JSON-lines format
(`musique_200.jsonl`; give another path as its first argument) and takes, in file order, the
first {by_hops} questions whose paragraphs hold at most {max_chars:,}
characters in all. Passage ids (`mu00000`, ...) number the distinct paragraphs of all the
questions in that file in order of first appearance; query ids are MuSiQue's question ids.

## Source and licence

MuSiQue: Harsh Trivedi, Niranjan Balasubramanian, Tushar Khot and Ashish Sabharwal,
"MuSiQue: Multihop Questions via Single-hop Question Composition", Transactions of the
Association for Computational Linguistics 10 (2022). <https://github.com/StonyBrookNLP/musique>

The data is licensed under CC BY 4.0 (<https://creativecommons.org/licenses/by/4.0/>). The
questions, answers and paragraph texts here are unchanged excerpts of it; this folder only
selects and rearranges them.
"""


def write(source: Path, out: Path) -> dict[str, int]:
    """Write the sample from ``source`` into ``out``; return the counts."""
    with open(source, encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    ids = passage_ids(questions)
    chosen = select(questions)

    corpus: dict[str, dict[str, str]] = {}
    queries, qrels, records = [], [], []
    for question in chosen:
        pids = [ids[(p["title"], p["paragraph_text"])] for p in question["paragraphs"]]
        for pid, paragraph in zip(pids, question["paragraphs"]):
            corpus[pid] = {"_id": pid, "title": paragraph["title"], "text": paragraph["paragraph_text"]}
        queries.append({"_id": question["id"], "text": question["question"]})
        relevant = [pid for pid, p in zip(pids, question["paragraphs"]) if p["is_supporting"]]
        qrels.extend(f"{question['id']}\t{pid}\t1\n" for pid in dict.fromkeys(relevant))
        steps = [{"id": step["id"], "question": step["question"], "answer": step["answer"],
                  "supporting": pids[step["paragraph_support_idx"]]}
                 for step in question["question_decomposition"]]
        records.append({
            "id": question["id"],
            "question": question["question"],
            "answer": question["answer"],
            "answer_aliases": list(question.get("answer_aliases") or []),
            "hops": len(steps),
            "decomposition": steps,
            "supporting": list(dict.fromkeys(step["supporting"] for step in steps)),
        })

    counts = {"questions": len(chosen), "passages": len(corpus), "qrels": len(qrels)}
    parts = [f"{n} {['two', 'three', 'four'][hops - 2]}-hop" for hops, n in PER_HOPS.items()]
    by_hops = ", ".join(parts[:-1]) + " and " + parts[-1]
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "corpus.jsonl": jsonl([corpus[pid] for pid in sorted(corpus)]),
        "queries.jsonl": jsonl(queries),
        "qrels.tsv": "query-id\tcorpus-id\tscore\n" + "".join(qrels),
        "questions.jsonl": jsonl(records),
        "README.md": README.format(by_hops=by_hops, max_chars=MAX_CHARS, **counts),
    }
    for name, text in files.items():
        with open(out / name, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=SOURCE,
                        help=f"MuSiQue questions, one JSON object a line (default: {SOURCE})")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder to write (default: {OUT})")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source} does not exist; give the path of musique_200.jsonl.")
    counts = write(args.source, args.out)
    print(f"{args.out}: {counts['questions']} questions, {counts['passages']} passages, {counts['qrels']} qrels rows")


if __name__ == "__main__":
    main()
