"""Chunk quality: retrieve the top-k chunks for each question and compare, character by character,
what was retrieved with the reference spans that answer it.

Per question (then averaged), over characters of the documents:
recall = |relevant ∩ retrieved| / |relevant|, precision = |relevant ∩ retrieved| / |retrieved|,
IoU = |relevant ∩ retrieved| / (|retrieved| + |relevant − retrieved|), as in Chroma's research
on chunking evaluation. Chunks and questions are embedded with the configured embedder and
ranked by cosine similarity over all chunks of all documents.
"""

from __future__ import annotations

import csv
import html
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Span = tuple[int, int]


@dataclass(frozen=True)
class Question:
    text: str
    references: tuple[tuple[str, int, int], ...]  # (document id, start, end)


@dataclass
class EvalSet:
    """Documents by id, and questions whose answers are character spans in them."""

    documents: dict[str, str]
    questions: list[Question]
    name: str = ""

    def __post_init__(self) -> None:
        for q in self.questions:
            for doc, start, end in q.references:
                if doc not in self.documents:
                    raise ValueError(f"Question {q.text[:60]!r} refers to document {doc!r}, which is not in the set.")
                if not 0 <= start < end <= len(self.documents[doc]):
                    raise ValueError(f"Reference [{start}:{end}] of {q.text[:60]!r} lies outside document {doc!r} "
                                     f"({len(self.documents[doc])} characters).")


# --------------------------------------------------------------------------- loaders


def load_chroma_csv(csv_path: str | Path, corpus_dir: str | Path, suffix: str = ".md") -> EvalSet:
    """Chroma's chunking-evaluation format: a CSV of ``question``, ``references`` (JSON list of
    ``{content, start_index, end_index}``) and ``corpus_id`` (a file name in ``corpus_dir``, without ``.md``)."""
    corpus_dir = Path(corpus_dir)
    documents: dict[str, str] = {}
    questions = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            missing = {"question", "references", "corpus_id"} - set(row)
            if missing:
                raise ValueError(f"{csv_path}: columns {sorted(missing)} are missing; the format needs "
                                 "question, references, corpus_id.")
            doc = row["corpus_id"]
            if doc not in documents:
                path = corpus_dir / f"{doc}{suffix}"
                if not path.exists():
                    raise ValueError(f"{csv_path} line {row_number}: corpus file {path} does not exist.")
                documents[doc] = path.read_text(encoding="utf-8")
            refs = []
            for ref in json.loads(row["references"]):
                start, end = int(ref["start_index"]), int(ref["end_index"])
                if documents[doc][start:end] != ref["content"]:
                    raise ValueError(f"{csv_path} line {row_number}: reference text does not match "
                                     f"{doc}[{start}:{end}]; is the corpus the one the questions were written for?")
                refs.append((doc, start, end))
            questions.append(Question(row["question"], tuple(refs)))
    return EvalSet(documents, questions, name=Path(csv_path).stem)


def load_hotpotqa(path: str | Path, limit: int | None = None) -> EvalSet:
    """HotpotQA (distractor setting): one document per question, its context paragraphs
    ("Title\\nsentences…") joined by blank lines; the supporting sentences are the references."""
    documents: dict[str, str] = {}
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(questions) >= limit:
                break
            record = json.loads(line)
            doc_id, parts, spans, cursor = record["_id"], [], {}, 0
            for title, sentences in record["context"]:
                paragraph = title + "\n"
                for i, sentence in enumerate(sentences):
                    start = cursor + len(paragraph)
                    paragraph += sentence
                    spans[(title, i)] = (start, cursor + len(paragraph))
                parts.append(paragraph)
                cursor += len(paragraph) + 2
            documents[doc_id] = "\n\n".join(parts)
            refs = []
            for title, i in record["supporting_facts"]:
                if (title, i) in spans:
                    a, b = spans[(title, i)]
                    while a < b and documents[doc_id][a].isspace():  # sentences carry a leading space
                        a += 1
                    refs.append((doc_id, a, b))
            if refs:
                questions.append(Question(record["question"], tuple(refs)))
    return EvalSet(documents, questions, name="hotpotqa")


# --------------------------------------------------------------------------- span arithmetic


def merge(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif b > a:
            out.append((a, b))
    return out


def length(spans: list[Span]) -> int:
    return sum(b - a for a, b in spans)


def intersection(x: list[Span], y: list[Span]) -> list[Span]:
    """Overlap of two merged span lists."""
    out, i, j = [], 0, 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def span_scores(relevant: dict[str, list[Span]], retrieved: dict[str, list[Span]]) -> dict[str, float]:
    """Character-level recall, precision and IoU of retrieved spans against relevant ones, per document."""
    rel = ret = both = 0
    for doc in set(relevant) | set(retrieved):
        r, t = merge(relevant.get(doc, [])), merge(retrieved.get(doc, []))
        rel, ret, both = rel + length(r), ret + length(t), both + length(intersection(r, t))
    return {"recall": both / rel if rel else 0.0, "precision": both / ret if ret else 0.0,
            "iou": both / (ret + rel - both) if ret + rel - both else 0.0}


# --------------------------------------------------------------------------- evaluation


@dataclass
class ChunkingEval:
    """Scores of each chunker: means over questions, and every question's scores."""

    name: str
    k: int
    rows: list[dict[str, Any]]
    per_question: dict[str, list[dict[str, float]]] = field(repr=False, default_factory=dict)

    def table(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "rows": self.table(), "per_question": self.per_question}

    def _repr_html_(self) -> str:
        keys = list(self.rows[0]) if self.rows else []
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(row[k]))}</td>" for k in keys) + "</tr>"
                       for row in self.rows)
        caption = html.escape(f"chunk quality on {self.name} (top {self.k} chunks per question)")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"


def chunking(data: EvalSet, chunkers: list[str] | dict[str, dict[str, Any]], k: int = 5,
             embedder: str | None = None) -> ChunkingEval:
    """Score chunkers on an :class:`EvalSet`.

    ``chunkers`` is a list of registered names (default options) or a dict of
    ``label -> {"method": name, **options}``, e.g.
    ``{"fixed 128": {"method": "fixed", "size": 128, "overlap": 0}}``.
    """
    import numpy as np

    from nbrag.chunking import chunk
    from nbrag.models import embed

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a whole number of at least 1 chunk.")
    if not data.questions:
        raise ValueError("The evaluation set has no questions.")
    configs = {name: {"method": name} for name in chunkers} if isinstance(chunkers, list) else dict(chunkers)
    question_vectors = embed([q.text for q in data.questions], name=embedder)
    rows, per_question = [], {}
    for label, options in configs.items():
        options = dict(options)
        method = options.pop("method", label)
        pieces = [(doc, c) for doc, text in data.documents.items() for c in chunk(text, method=method, **options)]
        if not pieces:
            raise ValueError(f"{label}: the chunker produced no chunks.")
        vectors = embed([c.text for _, c in pieces], name=embedder)
        top = np.argsort(-(question_vectors @ vectors.T), axis=1)[:, :k]
        scores = []
        for question, hits in zip(data.questions, top):
            relevant: dict[str, list[Span]] = {}
            for doc, a, b in question.references:
                relevant.setdefault(doc, []).append((a, b))
            retrieved: dict[str, list[Span]] = {}
            for i in hits:
                doc, c = pieces[i]
                retrieved.setdefault(doc, []).append((c.start, c.end))
            scores.append(span_scores(relevant, retrieved))
        per_question[label] = scores
        rows.append({"chunker": label, "chunks": len(pieces),
                     "mean_tokens": round(statistics.mean(c.tokens for _, c in pieces), 1),
                     **{m: round(statistics.mean(s[m] for s in scores), 4) for m in ("recall", "precision", "iou")}})
    return ChunkingEval(name=data.name, k=k, rows=rows, per_question=per_question)
