"""Sample data that ships with nbrag, so that the demo notebooks run offline.

Three original Markdown documents (a field guide to a community weather station and a
history of lighthouse optics in English, a guide to Chinese tea in Chinese), with
questions whose answers are exact character spans in them, in Chroma's
chunking-evaluation format::

    from nbrag.data import sample_documents, sample_questions

    docs = sample_documents()            # {"lighthouses": "# Lighthouses ...", ...}
    evalset = sample_questions()         # an nbrag.eval.EvalSet over the same documents

To change a document or a question, edit it and run ``python tools/make_sample_questions.py``,
which recomputes the offsets in ``questions.csv``.

And 20 real multi-hop questions from MuSiQue (Trivedi et al., 2022; CC BY 4.0), 10 two-hop,
6 three-hop and 4 four-hop, with all 326 Wikipedia paragraphs given to them (supporting and
distractor), as a retrieval set in the BEIR layout::

    from nbrag.data import sample_multihop, sample_multihop_questions
    from nbrag.eval import beir, load_beir

    data = load_beir(sample_multihop())  # 326 passages, 20 queries, their supporting passages
    questions = sample_multihop_questions()  # answers, hop counts, decompositions

``python tools/make_multihop_sample.py`` writes that folder from MuSiQue's JSON-lines file.

And instruction examples for fine-tuning demos, built from both (``instructions/README.md``
tells how and under which licences)::

    from nbrag.data import sample_instructions

    records = sample_instructions()      # [{"instruction", "input", "output"}, ...]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nbrag.errors import NbragError

if TYPE_CHECKING:
    from nbrag.eval.chunk_quality import EvalSet

__all__ = ["sample_beir", "sample_documents", "sample_instructions", "sample_multihop", "sample_multihop_questions",
           "sample_questions", "samples_dir"]

INSTRUCTION_SETS = ("documents", "musique")


def samples_dir() -> Path:
    """The folder that holds ``corpus/*.md``, ``questions.csv`` and the ``musique`` sample."""
    return Path(__file__).resolve().parent / "samples"


def sample_documents() -> dict[str, str]:
    """The sample documents by id (the file name without ``.md``), in name order.

    Read as ``load_chroma_csv`` reads them, so that question offsets index into these strings.
    """
    corpus = samples_dir() / "corpus"
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(corpus.glob("*.md"))}


def sample_questions() -> EvalSet:
    """The sample questions, each answered by 1 to 3 exact spans of the sample documents."""
    from nbrag.eval.chunk_quality import load_chroma_csv

    root = samples_dir()
    data = load_chroma_csv(root / "questions.csv", root / "corpus")
    data.name = "nbrag samples"
    return data


def sample_multihop() -> Path:
    """The folder of the MuSiQue sample: 20 multi-hop questions and the 326 passages given to them.

    A BEIR-layout folder (``corpus.jsonl`` with ``_id``, ``title``, ``text``; ``queries.jsonl``;
    ``qrels.tsv``, the supporting passages of each question with score 1), to pass to
    :func:`nbrag.eval.load_beir` or :func:`nbrag.eval.retrieval`. Passage and query ids are those of
    the full MuSiQue retrieval set the sample was drawn from; ``README.md`` there tells the
    source and licence (MuSiQue, CC BY 4.0).
    """
    return samples_dir() / "musique"


def sample_multihop_questions() -> list[dict]:
    """The MuSiQue sample's questions, in file order: 10 two-hop, then 6 three-hop, then 4 four-hop.

    Each is a dict with ``id`` (the query id in :func:`sample_multihop`), ``question``,
    ``answer``, ``answer_aliases``, ``hops``, ``decomposition`` (the single-hop sub-questions in
    order, each a dict with ``id``, ``question``, ``answer`` and the ``supporting`` passage id;
    ``#1``, ``#2`` in a sub-question stand for earlier answers) and ``supporting`` (the passage
    ids that answer it, in hop order).
    """
    import json

    with open(sample_multihop() / "questions.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sample_instructions(source: str | None = None) -> list[dict]:
    """Instruction examples ``{"instruction", "input", "output"}`` built from the shipped samples.

    ``source``: ``"documents"`` (the sample questions about the three sample documents, English
    and Chinese, answered by their reference spans, no input), ``"musique"`` (the MuSiQue sample's
    single-hop sub-questions with their supporting Wikipedia paragraph as input; CC BY 4.0), or
    None for both, documents first. Written by ``python tools/make_instruction_sample.py``.
    """
    import json

    if source is not None and source not in INSTRUCTION_SETS:
        raise NbragError(f"no such instruction sample; choose one of {', '.join(INSTRUCTION_SETS)}, or None for all.",
                         option="source", value=source)
    records: list[dict] = []
    for name in INSTRUCTION_SETS if source is None else (source,):
        with open(samples_dir() / "instructions" / f"{name}.jsonl", encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def sample_beir(folder: str | Path) -> Path:
    """Write the samples as a retrieval set in the BEIR layout and return ``folder``.

    Passages are the documents' paragraphs (blocks between blank lines, a heading joined to
    the block after it; ``_id`` is ``<document>-<n>``, ``title`` the document's first line); queries are the sample
    questions; a passage is relevant (score 1) to a question when it overlaps one of the
    question's reference spans.
    """
    import json
    import re

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = sample_questions()
    passages: list[tuple[str, str, int, int]] = []  # (id, document, start, end)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for doc, text in data.documents.items():
            title = text.splitlines()[0].lstrip("# ").strip()
            blocks, opening = [], None
            for m in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", text, re.S):
                if re.fullmatch(r"#{1,6} [^\n]*", m.group()):  # a heading alone opens the next paragraph
                    opening = m.start() if opening is None else opening
                    continue
                blocks.append((m.start() if opening is None else opening, m.end()))
                opening = None
            for n, (start, end) in enumerate(blocks):
                passages.append((f"{doc}-{n}", doc, start, end))
                corpus.write(json.dumps({"_id": f"{doc}-{n}", "title": title, "text": text[start:end]},
                                        ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as queries, \
            open(folder / "qrels.tsv", "w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for i, question in enumerate(data.questions):
            queries.write(json.dumps({"_id": f"q{i}", "text": question.text}, ensure_ascii=False) + "\n")
            relevant = {pid for doc, a, b in question.references for pid, d, s, e in passages
                        if d == doc and s < b and a < e}
            for pid in sorted(relevant):
                qrels.write(f"q{i}\t{pid}\t1\n")
    return folder
