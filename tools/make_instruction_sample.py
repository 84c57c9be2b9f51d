"""Write nbrag/data/samples/instructions/: instruction examples built from the samples nbrag ships.

    python tools/make_instruction_sample.py

Two JSON-lines files of ``{"instruction", "input", "output"}`` records, for fine-tuning demos
(:func:`nbrag.data.sample_instructions`):

* ``documents.jsonl``: each sample question about the three sample documents (weather station,
  lighthouses, Chinese tea; nbrag's own texts, Apache-2.0) as an instruction with no input,
  answered by its reference spans of the document joined by a space (closed-book: the model
  learns the documents' facts);
* ``musique.jsonl``: the single-hop sub-questions of the MuSiQue sample (Trivedi et al., 2022;
  CC BY 4.0), ``#1``, ``#2`` replaced by the earlier hops' answers, each with its supporting
  Wikipedia paragraph as input and its answer as output. Wikidata-style sub-questions
  (``subject >> relation``) are asked as "According to the passage, what is the <relation> of
  <subject>?". A paragraph longer than ``MAX_PASSAGE`` characters is cut to the sentences
  around the one that holds the answer. A sub-question asked twice with the same answer is kept
  once.

The output is the same bytes on every run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbrag.data import sample_multihop, sample_multihop_questions, sample_questions, samples_dir

OUT = samples_dir() / "instructions"
MAX_PASSAGE = 600  # characters: keeps every example within 256 SmolLM2 tokens with the chat template

README = """# Instruction samples

Instruction examples (`{{"instruction", "input", "output"}}`, one JSON object a line) built from
the data nbrag ships, for the LoRA notebook and tests (`nbrag.data.sample_instructions()`).

| file | records | from | licence |
|---|---|---|---|
| `documents.jsonl` | {documents} | the sample questions about nbrag's three sample documents (`../corpus`, English and Chinese): the question as instruction, no input, the reference spans as output | Apache-2.0 (nbrag's own texts) |
| `musique.jsonl` | {musique} | the single-hop sub-questions of the MuSiQue sample (`../musique`), earlier answers filled in, the supporting Wikipedia paragraph as input (cut to at most {max_passage} characters around the answer), the answer as output | CC BY 4.0 (MuSiQue, Trivedi et al., 2022, "MuSiQue: Multihop Questions via Single-hop Question Composition", TACL; paragraphs from Wikipedia, CC BY-SA) |

Made by `python tools/make_instruction_sample.py`; the output is the same on every run.
"""


def documents() -> list[dict]:
    data = sample_questions()
    records = []
    for question in data.questions:
        spans = [data.documents[doc][start:end].strip() for doc, start, end in question.references]
        joiner = "" if any("\u4e00" <= ch <= "\u9fff" for ch in question.text) else " "
        records.append({"instruction": question.text, "input": "", "output": joiner.join(spans)})
    return records


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def cut(text: str, answer: str, limit: int = MAX_PASSAGE) -> str:
    """The passage, or the sentences around the one holding ``answer`` when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    sentences = _sentences(text)
    hit = next((i for i, s in enumerate(sentences) if answer.lower() in s.lower()), 0)
    lo = hi = hit
    size = len(sentences[hit])
    while True:
        grew = False
        if hi + 1 < len(sentences) and size + 1 + len(sentences[hi + 1]) <= limit:
            hi += 1
            size += 1 + len(sentences[hi])
            grew = True
        if lo > 0 and size + 1 + len(sentences[lo - 1]) <= limit:
            lo -= 1
            size += 1 + len(sentences[lo])
            grew = True
        if not grew:
            break
    return " ".join(sentences[lo:hi + 1])


def ask(question: str) -> str:
    if " >> " in question:
        subject, relation = (part.strip() for part in question.split(" >> ", 1))
        return f"According to the passage, what is the {relation} of {subject}?"
    question = " ".join(question.split()).rstrip(" ?")
    return question[0].upper() + question[1:] + "?"


def musique() -> list[dict]:
    with open(sample_multihop() / "corpus.jsonl", encoding="utf-8") as f:
        passages = {p["_id"]: p for p in map(json.loads, f)}
    records, seen = [], set()
    for item in sample_multihop_questions():
        answers: list[str] = []
        for hop in item["decomposition"]:
            question = re.sub(r"#(\d)", lambda m, known=answers: known[int(m.group(1)) - 1], hop["question"])
            answers.append(hop["answer"])
            if (question, hop["answer"]) in seen:
                continue
            seen.add((question, hop["answer"]))
            passage = passages[hop["supporting"]]
            text = f"{passage['title']}\n{cut(passage['text'], hop['answer'])}"
            records.append({"instruction": ask(question), "input": text, "output": hop["answer"]})
    return records


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    sets = {"documents": documents(), "musique": musique()}
    for name, records in sets.items():
        with open(OUT / f"{name}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            f.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    (OUT / "README.md").write_text(README.format(documents=len(sets["documents"]), musique=len(sets["musique"]),
                                                 max_passage=MAX_PASSAGE), encoding="utf-8")
    print(", ".join(f"{name}: {len(r)} records" for name, r in sets.items()), f"written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
