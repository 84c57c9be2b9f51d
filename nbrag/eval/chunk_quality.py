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
import json
import operator
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbrag.chunking import Chunk, ChunkResult, chunk
from nbrag.config import settings
from nbrag.display import Shown, show
from nbrag.errors import NbragError, NbragTypeError

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
                    raise NbragError(f"the question {q.text[:60]!r} refers to document {doc!r}, which is not in the "
                                     "set.", option="questions")
                if not 0 <= start < end <= len(self.documents[doc]):
                    raise NbragError(f"the reference [{start}:{end}] of {q.text[:60]!r} lies outside document "
                                     f"{doc!r} ({len(self.documents[doc])} characters).", option="questions")


# --------------------------------------------------------------------------- loaders


def load_chroma_csv(csv_path: str | Path, corpus_dir: str | Path, suffix: str = ".md") -> EvalSet:
    """Chroma's chunking-evaluation format: a CSV of ``question``, ``references`` (JSON list of
    ``{content, start_index, end_index}``) and ``corpus_id`` (a file name in ``corpus_dir``, without ``.md``)."""
    corpus_dir = Path(corpus_dir)
    if not Path(csv_path).is_file():
        raise NbragError("no such file.", option="csv_path", value=str(csv_path))
    if not corpus_dir.is_dir():
        raise NbragError("no such folder: give the folder of the corpus files.", option="corpus_dir",
                         value=str(corpus_dir))
    documents: dict[str, str] = {}
    questions = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            missing = {"question", "references", "corpus_id"} - set(row)
            if missing:
                raise NbragError(f"columns {sorted(missing)} are missing; the format needs question, references, "
                                 "corpus_id.", option="csv_path", value=str(csv_path))
            doc = row["corpus_id"]
            if doc not in documents:
                path = corpus_dir / f"{doc}{suffix}"
                if not path.exists():
                    raise NbragError(f"line {row_number} names the corpus file {path}, which does not exist.",
                                     option="csv_path", value=str(csv_path))
                documents[doc] = path.read_text(encoding="utf-8")
            refs = []
            for ref in json.loads(row["references"]):
                start, end = int(ref["start_index"]), int(ref["end_index"])
                if documents[doc][start:end] != ref["content"]:
                    raise NbragError(f"line {row_number}: the reference text does not match {doc}[{start}:{end}]; is "
                                     "the corpus the one the questions were written for?", option="csv_path",
                                     value=str(csv_path))
                refs.append((doc, start, end))
            questions.append(Question(row["question"], tuple(refs)))
    return EvalSet(documents, questions, name=Path(csv_path).stem)


def load_hotpotqa(path: str | Path, limit: int | None = None) -> EvalSet:
    """HotpotQA (distractor setting): one document per question, its context paragraphs
    ("Title\\nsentences…") joined by blank lines; the supporting sentences are the references."""
    if not Path(path).is_file():
        raise NbragError("no such file: give a HotpotQA JSON-lines file.", option="path", value=str(path))
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
class ChunkingEval(Shown):
    """Scores of each chunker: means over questions, and every question's scores.

    ``per_question[label]`` holds, for each question in order, its ``recall``,
    ``precision`` and ``iou`` and the top-k chunks it retrieved, best first, as
    ``retrieved: [[document id, start, end], ...]``. The notebook shows the table of
    scores; ``plot()`` draws them; ``view(question, chunker)`` shows a question's
    answer spans and retrieved chunks.
    """

    name: str
    k: int
    rows: list[dict[str, Any]]
    per_question: dict[str, list[dict[str, Any]]] = field(repr=False, default_factory=dict)
    data: EvalSet | None = field(repr=False, default=None)
    chunkers: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def questions(self) -> list[Question]:
        return self.data.questions if self.data else []

    @property
    def caption(self) -> str:
        return f"chunk quality on {self.name} (top {self.k} chunks per question)"

    def plot(self) -> Any:
        """Recall, precision and IoU of each chunker, side by side (a plotly figure)."""
        return show(self, "plot")

    def chunks(self, chunker: str, document: str) -> ChunkResult:
        """``chunker``'s chunks of one document, as a ChunkResult (chunked again: chunkers are deterministic)."""
        if chunker not in self.per_question:
            raise NbragError(f"not a chunker of this evaluation, which scored {', '.join(self.per_question)}.",
                             option="chunker", value=chunker)
        if self.data is None or document not in self.data.documents:
            raise NbragError("not a document of the evaluation set.", option="document", value=document)
        return _result(chunker, self.chunkers[chunker], self.data.documents[document])

    def hits(self, question: int, chunker: str, result: ChunkResult, document: str) -> dict[int, int]:
        """The chunks of ``result`` (one document's) that ``question`` retrieved: chunk index -> best rank."""
        index = {(c.start, c.end): c.index for c in result.chunks}
        ranks: dict[int, int] = {}
        for rank, (doc, a, b) in enumerate(self.per_question[chunker][question]["retrieved"], start=1):
            if doc == document and (a, b) in index:
                ranks.setdefault(index[(a, b)], rank)
        return ranks

    def view(self, question: int, chunker: str | None = None, document: str | None = None) -> Any:  # type: ignore[override]
        """One question's document chunked by ``chunker`` (default: the first scored), with its reference
        answer boxed and the retrieved chunks starred by rank; ``document`` picks another referenced document."""
        if not isinstance(question, int) or isinstance(question, bool) or not 0 <= question < len(self.questions):
            raise NbragError(f"give a question number from 0 to {len(self.questions) - 1}.", option="question",
                             value=question)
        chunker = chunker if chunker is not None else next(iter(self.per_question))
        referenced = list(dict.fromkeys(doc for doc, _, _ in self.questions[question].references))
        document = document if document is not None else referenced[0]
        chunks = self.chunks(chunker, document)
        return show(self, "question", question=question, chunker=chunker, chunks=chunks, document=document)

    def table(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "rows": self.table(), "per_question": self.per_question}


ChunkerEntry = str | dict[str, Any] | Callable[[str], Iterable[Any]]


def _entries(chunkers: list[Any] | dict[str, Any]) -> dict[str, Any]:
    """``label -> options dict or callable``, from either form of ``chunkers``."""
    if isinstance(chunkers, dict):
        return dict(chunkers)
    entries: dict[str, Any] = {}
    for entry in chunkers:
        if isinstance(entry, str):
            label, value = entry, {"method": entry}
        elif callable(entry):
            label, value = getattr(entry, "__name__", type(entry).__name__), entry
        else:
            raise NbragTypeError(f"{entry!r} is neither a registered name nor a callable; give a name such as "
                                 "'recursive', or a function text -> spans.", option="chunkers")
        if label in entries:
            raise NbragError(f"two chunkers are labelled {label!r}; pass a dict of label -> chunker instead.",
                             option="chunkers")
        entries[label] = value
    return entries


def _spans_of(label: str, splitter: Callable[[str], Iterable[Any]], doc: str, text: str) -> list[Span]:
    """The spans a callable chunker gives for one document, checked against the document."""
    spans = []
    for i, item in enumerate(splitter(text)):
        pair = (item.start, item.end) if isinstance(item, Chunk) else item
        try:
            start, end = (operator.index(x) for x in pair)
        except (TypeError, ValueError):
            raise NbragTypeError(f"{label}: item {i} for document {doc!r} is {item!r}; a chunker callable returns "
                                 "(start, end) pairs of whole numbers, or nbrag Chunk objects.") from None
        if not 0 <= start < end <= len(text):
            raise NbragError(f"{label}: span {i} ({start}, {end}) of document {doc!r} does not lie in its "
                             f"{len(text)} characters; spans need 0 <= start < end <= len(text).")
        if isinstance(item, Chunk) and text[start:end] != item.text:
            raise NbragError(f"{label}: chunk {i} of document {doc!r} says [{start}:{end}], but its text is not "
                             "that slice of the document; a Chunk's offsets must index the text it was given.")
        spans.append((start, end))
    return spans


def chunking(data: EvalSet, chunkers: list[ChunkerEntry] | dict[str, ChunkerEntry], k: int = 5,
             embedder: str | None = None) -> ChunkingEval:
    """Score chunkers on an :class:`EvalSet`.

    ``chunkers`` is a list of registered names (default options) or a dict of
    ``label -> {"method": name, **options}``, e.g.
    ``{"fixed 128": {"method": "fixed", "size": 128, "overlap": 0}}``.

    An entry may also be any callable that takes a document's text and returns its
    chunks, as ``(start, end)`` character spans into that text or as :class:`Chunk`
    objects, so other libraries' splitters can be scored on the same questions:
    ``{"mine": lambda text: [(0, len(text))]}`` (in a list, a callable is labelled by its
    ``__name__``). Spans must lie in the text (``0 <= start < end <= len(text)``), else
    ``ValueError``. ``mean_tokens`` of a callable counts each chunk's tokens with the
    chunk tokenizer (``nbrag.settings.chunk_tokenizer``).

    An entry's ``context`` option (``{"method": "recursive", "size": 64, "context": "title"}``)
    changes what is embedded for each chunk (:attr:`~nbrag.chunking.Chunk.embedded`), never the
    spans that are scored.

    ``per_question`` keeps each question's scores and its retrieved chunks as
    ``[document id, start, end]`` lists, best first (JSON-serialisable).
    """
    import numpy as np

    from nbrag.models import embed

    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise NbragError("must be a whole number of at least 1 chunk.", option="k", value=k)
    if not isinstance(data, EvalSet):
        raise NbragTypeError(f"needs an nbrag.eval.EvalSet, got {type(data).__name__}: load one with "
                             "load_chroma_csv() or load_hotpotqa(), or build EvalSet(documents, questions).",
                             option="data")
    if not data.questions:
        raise NbragError("the evaluation set has no questions.", option="data")
    configs = _entries(chunkers)
    question_vectors = embed([q.text for q in data.questions], name=embedder)
    rows, per_question = [], {}
    for label, entry in configs.items():
        pieces, tokens, embedded = _pieces(label, entry, data.documents)
        if not pieces:
            raise NbragError(f"{label}: the chunker produced no chunks.")
        vectors = embed(embedded, name=embedder)
        top = np.argsort(-(question_vectors @ vectors.T), axis=1)[:, :k]
        scores = []
        for question, hits in zip(data.questions, top):
            relevant: dict[str, list[Span]] = {}
            for doc, a, b in question.references:
                relevant.setdefault(doc, []).append((a, b))
            retrieved: dict[str, list[Span]] = {}
            for i in hits:
                doc, a, b = pieces[i]
                retrieved.setdefault(doc, []).append((a, b))
            scores.append({**span_scores(relevant, retrieved), "retrieved": [list(pieces[i]) for i in hits]})
        per_question[label] = scores
        rows.append({"chunker": label, "chunks": len(pieces), "mean_tokens": round(statistics.mean(tokens), 1),
                     **{m: round(statistics.mean(s[m] for s in scores), 4) for m in ("recall", "precision", "iou")}})
    return ChunkingEval(name=data.name, k=k, rows=rows, per_question=per_question, data=data, chunkers=configs)


def _result(label: str, entry: Any, text: str) -> ChunkResult:
    """One document's chunks from one entry, as a ChunkResult."""
    if callable(entry):
        spans = _spans_of(label, entry, label, text)
        from nbrag.models import load_tokenizer

        counts = [len(e.ids) for e in load_tokenizer(settings.chunk_tokenizer).encode_batch(
            [text[a:b] for a, b in spans], add_special_tokens=False)] if spans else []
        chunks = [Chunk(text=text[a:b], start=a, end=b, tokens=n, index=i)
                  for i, ((a, b), n) in enumerate(zip(spans, counts))]
        return ChunkResult(source=text, chunks=chunks, method=label, params={})
    options = dict(entry)
    return chunk(text, method=options.pop("method", label), **options)


def _pieces(label: str, entry: Any,
            documents: dict[str, str]) -> tuple[list[tuple[str, int, int]], list[int], list[str]]:
    """Every chunk of every document as ``(document id, start, end)``, each chunk's token count, and what is
    embedded for it: its text, or its text with the context that ``context=`` adds (``Chunk.embedded``)."""
    if callable(entry):
        pieces = [(doc, a, b) for doc, text in documents.items() for a, b in _spans_of(label, entry, doc, text)]
        if not pieces:
            return [], [], []
        from nbrag.models import load_tokenizer

        texts = [documents[doc][a:b] for doc, a, b in pieces]
        encodings = load_tokenizer(settings.chunk_tokenizer).encode_batch(texts, add_special_tokens=False)
        return pieces, [len(e.ids) for e in encodings], texts
    if not isinstance(entry, dict):
        raise NbragTypeError(f"the chunker {label!r} is {entry!r}; give options such as {{'method': 'recursive', "
                             "'size': 256}} or a callable text -> spans.", option="chunkers")
    options = dict(entry)
    method = options.pop("method", label)
    chunks = [(doc, c) for doc, text in documents.items() for c in chunk(text, method=method, **options)]
    return [(doc, c.start, c.end) for doc, c in chunks], [c.tokens for _, c in chunks], [c.embedded for _, c in chunks]
