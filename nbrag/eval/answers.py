"""Question answering: exact match and token F1 of answers, and recall of the supporting passages.

The metrics follow SQuAD's evaluation script: answers are normalised (lower case, punctuation
and the articles a/an/the removed, whitespace collapsed) before they are compared, and each
prediction is scored against every gold answer (the answer and its aliases), keeping the best.
Chinese is tokenised into characters (each Han character one token, Latin words kept whole), so
F1 means the same on Chinese answers, and Chinese punctuation is removed too. ``contains`` says
whether the normalised gold answer occurs in the normalised prediction, which credits a right
answer in a long sentence that exact match cannot.

``recall`` is the share of a question's supporting passages among every passage retrieved for it
(all the agent's searches together; none without retrieval).

    questions = nbrag.eval.load_qa("../shared/data/musique", limit=20)
    scores = nbrag.eval.qa(questions, index, method="rag")       # or "none", "agent"
    scores.means, scores.rows[0]
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from nbrag.endpoints import DEFAULT_TIMEOUT
from nbrag.errors import NbragError
from nbrag.text import HAN

METHODS = ("none", "rag", "agent")
_PUNCTUATION = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】「」『』…—～·")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_TOKEN = regex.compile(rf"{HAN.pattern}|[^\s{HAN.pattern}]+")  # each Han character a token; other words whole
_CITATION = re.compile(r"\s*[\[【［]\s*\d+(?:\s*[-–,，、;；]\s*\d+)*\s*[\]】］]")

QA_SYSTEM = ("Answer the question using the numbered sources. Give the shortest answer: a name, a date, a number or a "
             "few words, followed by the source number in square brackets, like: Paris [2]")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation, with Chinese punctuation removed too."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """Tokens of a normalised answer: Latin words, and each Han character on its own."""
    return _TOKEN.findall(normalize_answer(text))


def _golds(gold: str | Iterable[str]) -> list[str]:
    golds = [gold] if isinstance(gold, str) else [g for g in gold if isinstance(g, str)]
    if not golds:
        raise NbragError("no gold answer given: pass the answer as text or a list of accepted answers.",
                         option="gold", value=gold)
    return golds


def exact_match(prediction: str, gold: str | Iterable[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in _golds(gold)))


def f1_score(prediction: str, gold: str | Iterable[str]) -> float:
    best = 0.0
    predicted = answer_tokens(prediction)
    for g in _golds(gold):
        expected = answer_tokens(g)
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, gold: str | Iterable[str]) -> float:
    said = f" {normalize_answer(prediction)} "
    for g in _golds(gold):
        g = normalize_answer(g)
        if g and (f" {g} " in said or (HAN.search(g) and g in said)):
            return 1.0
    return 0.0


def supporting_recall(retrieved: Iterable[str], supporting: Iterable[str]) -> float | None:
    supporting = set(supporting)
    if not supporting:
        return None
    return len(supporting & set(retrieved)) / len(supporting)


def strip_citations(text: str) -> str:
    return " ".join(_CITATION.sub("", text).split())


# --------------------------------------------------------------------------- data


def load_qa(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Questions with gold answers and supporting passage ids from a BEIR folder and its QA file.

    The folder holds ``queries.jsonl`` and ``qrels.tsv`` (the supporting passages, as
    :func:`nbrag.eval.load_beir` reads them) and one ``*.jsonl`` file of questions with answers
    (HotpotQA's ``_id``/``answer``, or MuSiQue's ``id``/``answer``/``answer_aliases``). Each question
    is a dict with ``id``, ``question``, ``answers`` (accepted answers) and ``supporting`` (passage ids),
    plus ``decomposition`` where the file has one.
    """
    from nbrag.eval.retrieval import load_beir

    folder = Path(path)
    data = load_beir(folder)
    files = [p for p in sorted(folder.glob("*.jsonl")) if p.name not in ("corpus.jsonl", "queries.jsonl")]
    if not files:
        raise NbragError(f"{folder} has no file of questions with answers (a *.jsonl beside corpus.jsonl with "
                         "id/_id, question and answer).", option="path")
    questions = []
    with files[0].open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            qid = str(row.get("_id") or row.get("id") or "")
            if "answer" not in row or not qid:
                raise NbragError(f"{files[0]} line {number} has no id and answer: each line needs _id (or id), "
                                 "question and answer.", option="path")
            if qid not in data.qrels:
                continue
            answers = [row["answer"], *row.get("answer_aliases", [])]
            item = {"id": qid, "question": row.get("question") or data.queries[qid], "answers": answers,
                    "supporting": sorted(d for d, s in data.qrels[qid].items() if s > 0)}
            if row.get("question_decomposition"):
                item["decomposition"] = [d["question"] for d in row["question_decomposition"]]
            questions.append(item)
            if limit is not None and len(questions) >= limit:
                break
    return questions


# --------------------------------------------------------------------------- the runner


@dataclass
class QAEval:
    """Per-question rows and their means for one method."""

    method: str
    rows: list[dict[str, Any]]
    means: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)

    def table(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "rows": self.table(), "means": dict(self.means), "params": dict(self.params)}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in self.means.items() if isinstance(v, float))
        return f"QAEval({self.method}, {len(self.rows)} questions: {shown})"


def evaluate_qa(questions: Iterable[Mapping[str, Any]], index: Any = None, method: str = "rag", *, k: int = 4,
                mode: str = "hybrid", generator: Any = None, endpoint: str | None = None, model: str | None = None,
                api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT, max_new_tokens: int = 32,
                template: Any = None, progress: bool = True, **options: Any) -> QAEval:
    """Answer every question with ``method`` and score it.

    ``method``: ``"none"`` (the generator alone, no retrieval), ``"rag"`` (:func:`nbrag.ask`) or
    ``"agent"`` (:func:`nbrag.agent`), each with the one model that ``generator`` (or ``endpoint`` and
    ``model``) names, as :func:`nbrag.llm.resolve` reads them. Each question is a mapping with
    ``question``, ``answers`` (or ``answer``), and optionally ``id`` and ``supporting`` (passage ids:
    documents of the index). The prediction is the answer with its citation markers removed.
    ``template`` defaults to a prompt that asks for the shortest answer; ``options`` go to ``ask`` or
    ``agent``.
    """
    from tqdm.auto import tqdm

    from nbrag import llm
    from nbrag.rag import DEFAULT_TEMPLATE, PromptTemplate, agent, ask

    if method not in METHODS:
        raise NbragError(f"unknown method: use one of {', '.join(METHODS)}.", option="method", value=method)
    if method != "none" and index is None:
        raise NbragError("retrieves: give index= (an nbrag.Index holding the passages).", option="method",
                         value=method)
    gen = llm.resolve(generator, endpoint=endpoint, model=model, api_key=api_key, timeout=timeout)
    if template is None and method != "none":
        template = PromptTemplate(system=QA_SYSTEM, user=DEFAULT_TEMPLATE.user, source=DEFAULT_TEMPLATE.source)
    questions = list(questions)
    rows = []
    for item in tqdm(questions, desc=f"QA ({method})", disable=not progress):
        golds = item.get("answers") or item.get("answer")
        started = time.perf_counter()
        retrieved: list[str] = []
        if method == "agent":
            result = agent(item["question"], index, k=k, mode=mode, generator=gen, max_new_tokens=max_new_tokens,
                           template=template, **options)
            text, tokens = result.answer, result.tokens
            retrieved = list(dict.fromkeys(h.document for s in result.steps for h in s.hits))
            extra = {"steps": len(result.steps), "verified": result.verified, "stopped": result.stopped,
                     "sub_questions": result.sub_questions}
        else:
            answer = ask(item["question"], index if method == "rag" else None, k=k, mode=mode, generator=gen,
                         max_new_tokens=max_new_tokens, template=template, **options)
            text, tokens = answer.text, answer.tokens
            if answer.retrieval is not None:
                retrieved = list(dict.fromkeys(h.document for h in answer.retrieval.hits))
            extra = {"cited": len(answer.citations)}
        prediction = strip_citations(text)
        supporting = item.get("supporting") or []
        rows.append({"id": item.get("id", str(len(rows))), "question": item["question"], "gold": _golds(golds)[0],
                     "prediction": prediction, "em": exact_match(prediction, golds), "f1": f1_score(prediction, golds),
                     "contains": contains_answer(prediction, golds),
                     "recall": supporting_recall(retrieved, supporting) if method != "none" and supporting else None,
                     "retrieved": len(retrieved), "seconds": time.perf_counter() - started,
                     "prompt_tokens": tokens.get("prompt", 0), "completion_tokens": tokens.get("completion", 0),
                     **extra})
    return QAEval(method=method, rows=rows, means=_means(rows), params={"k": k, "mode": mode, "generator": gen.name,
                                                                        "max_new_tokens": max_new_tokens})


def _means(rows: list[dict[str, Any]]) -> dict[str, float]:
    means: dict[str, float] = {"questions": float(len(rows))}
    for key in ("em", "f1", "contains", "recall", "seconds", "prompt_tokens", "completion_tokens"):
        values = [row[key] for row in rows if row.get(key) is not None]
        if values:
            means[key] = float(statistics.fmean(values))
    if rows:
        means["tokens"] = means.get("prompt_tokens", 0.0) + means.get("completion_tokens", 0.0)
    return means
