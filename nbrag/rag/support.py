"""Citations and the support check.

Citations: a number in brackets after the text it backs: ``[1]``, ``[1, 2]``, ``[1][3]``,
``[1-3]``, and the Chinese forms ``【1】``, ``［1］``, ``[1，2]`` and ``[1、2]``. A marker with one
number is one :class:`Citation` spanning the whole marker; a marker with several gives one
citation per number, each spanning its own digits, so that spans never overlap.

Support: the answer is split into sentences (:func:`nbrag.text.sentence_spans`: ``.``, ``!``, ``?``,
``。``, ``！``, ``？``, ``；`` and line breaks; a sentence made only of citation markers joins the one
before it). Each sentence,
its markers removed, is embedded with the embedder (MiniLM by default) and compared with the
sentences of the sources it cites and with each of those sources whole; its score is the best
cosine similarity. A sentence that cites nothing is compared with every source and flagged
``uncited``. ``supported = score >= threshold``.

The default threshold, :data:`SUPPORT_THRESHOLD` = 0.60, was measured on HotpotQA questions from
``../shared/data/hotpotqa`` (``python bench/run.py --only rag-calibrate``): an answer-like sentence
(the question followed by its gold answer) scored against each supporting passage of the question
and against each non-supporting passage given with it (same topic: hard negatives). On the first 20
questions (40 supporting and 160 non-supporting pairs) supporting passages scored median 0.67 and
non-supporting ones 0.53; 0.60 kept 82% of the supporting pairs and let 29% of the non-supporting
pairs through, the best balanced accuracy (0.77) of the thresholds 0.30-0.80 in steps of 0.05
(0.55: 90% and 42%, 0.74). It is a screen, not a proof: a sentence can be close to a passage and
still misstate it, and a short answer ("Paris [1].") scores low however right it is.
"""

from __future__ import annotations

import re
from typing import Any

from nbrag.errors import number as real_number
from nbrag.rag.base import Citation, Source, Support
from nbrag.text import sentence_spans, strip_span

SUPPORT_THRESHOLD = 0.60

_OPEN, _CLOSE, _SEP = r"[\[【［]", r"[\]】］]", r"[,，、;；]"
_NUMBER = r"\d+(?:\s*[-–~～]\s*\d+)?"
MARKER = re.compile(rf"{_OPEN}\s*(?:source\s*|来源\s*)?({_NUMBER}(?:\s*{_SEP}\s*{_NUMBER})*)\s*{_CLOSE}",
                    re.IGNORECASE)
_ITEM = re.compile(_NUMBER)
_LEADING_MARKERS = re.compile(rf"(?:\s*{MARKER.pattern})+[.,;。，；]?", re.IGNORECASE)
MAX_RANGE = 20  # [1-300] is not a range of citations


def _numbers(item: str) -> list[int]:
    parts = [int(x) for x in re.findall(r"\d+", item)]
    if len(parts) == 2 and 0 < parts[1] - parts[0] <= MAX_RANGE:
        return list(range(parts[0], parts[1] + 1))
    return parts


def parse_citations(text: str, sources: list[Source]) -> tuple[list[Citation], list[str]]:
    """The citations in ``text`` and warnings: numbers that cite no source, or no citation at all."""
    by_number = {s.number: i for i, s in enumerate(sources) if not s.dropped}
    citations: list[Citation] = []
    for marker in MARKER.finditer(text):
        items = list(_ITEM.finditer(marker.group(1)))
        offset = marker.start(1)
        for item in items:
            start, end = ((marker.start(), marker.end()) if len(items) == 1
                          else (offset + item.start(), offset + item.end()))
            for number in _numbers(item.group()):
                citations.append(Citation(number=number, start=start, end=end, source=by_number.get(number)))
    warnings = []
    unknown = sorted({c.number for c in citations if c.source is None})
    if unknown:
        have = ", ".join(f"[{s.number}]" for s in sources if not s.dropped) or "none"
        warnings.append(f"The answer cites {', '.join(f'[{n}]' for n in unknown)}, but the prompt had no such "
                        f"source (it had {have}); those citations link to nothing.")
    if text.strip() and not citations and sources:
        warnings.append("The answer cites no source: the generator did not follow the citation format. The answer "
                        "is kept; check it against the sources (a larger instruction model usually cites as asked).")
    return citations, warnings


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (:func:`nbrag.text.sentence_spans`, a line break ending one too), trimmed; the
    citation markers that open a sentence belong to the one before it, and a markers-only sentence joins it."""
    out: list[tuple[int, int]] = []
    for start, end in sentence_spans(text, lines=True):
        a, b = strip_span(text, start, end)
        lead = _LEADING_MARKERS.match(text, a, b)
        if out and lead and lead.end() > a:  # "…sentence. [1] Next": the marker belongs to the sentence before it
            out[-1] = (out[-1][0], lead.end())
            a, b = strip_span(text, lead.end(), b)
        if a >= b:
            continue
        if out and not MARKER.sub("", text[a:b]).strip(" \t.,;:。，；"):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def source_similarity(sentences: list[str], sources: list[str], embedder: str | None = None) -> Any:
    """``[sentence, source]``: the best cosine similarity of each sentence with each source, whole or any of its
    sentences (a numpy array)."""
    import numpy as np

    from nbrag.models import embed

    pieces: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(sources):
        parts = [text] + [text[a:b] for a, b in split_sentences(text)]
        for part in dict.fromkeys(p for p in parts if p.strip()):
            pieces.append(part)
            owner.append(i)
    scores = np.full((len(sentences), len(sources)), -1.0, dtype=np.float32)
    if not sentences or not pieces:
        return scores
    vectors = embed(sentences + pieces, name=embedder)
    similarity = vectors[:len(sentences)] @ vectors[len(sentences):].T
    for column, i in enumerate(owner):
        scores[:, i] = np.maximum(scores[:, i], similarity[:, column])
    return scores


def support_check(text: str, sources: list[Source], citations: list[Citation],
                  threshold: float = SUPPORT_THRESHOLD, embedder: str | None = None) -> list[Support]:
    """Each sentence of ``text`` scored against the sources it cites (or all of them, when it cites none)."""
    import numpy as np

    usable = [s for s in sources if not s.dropped and s.text.strip()]
    spans = split_sentences(text)
    if not spans or not usable:
        return [Support(sentence=text[a:b], start=a, end=b, cited=[], score=0.0, supported=False,
                        uncited=True) for a, b in spans]
    sentences = [MARKER.sub("", text[a:b]).strip() or text[a:b] for a, b in spans]
    scores = source_similarity(sentences, [s.text for s in usable], embedder)
    numbers = np.array([s.number for s in usable])
    checks = []
    for row, (a, b) in enumerate(spans):
        cited = sorted({c.number for c in citations if c.source is not None and a <= c.start < b})
        mask = np.isin(numbers, cited) if cited else np.ones(len(usable), dtype=bool)
        if not mask.any():  # it cites only sources that were left out of the prompt
            mask = np.ones(len(usable), dtype=bool)
        best = int(np.argmax(np.where(mask, scores[row], -np.inf)))
        score = float(scores[row, best])
        checks.append(Support(sentence=text[a:b], start=a, end=b, cited=cited, score=round(score, 4),
                              supported=score >= threshold, uncited=not cited, best=int(numbers[best])))
    return checks


def support_warning(checks: list[Support], threshold: float) -> list[str]:
    weak = [c for c in checks if not c.supported]
    if not weak:
        return []
    return [f"{len(weak)} of {len(checks)} answer sentences are not supported by the sources they cite (similarity "
            f"below {threshold:g}): {', '.join(repr(c.sentence[:60]) for c in weak[:3])}."]


def check_threshold(threshold: Any) -> float:
    if threshold is None:
        return SUPPORT_THRESHOLD
    return real_number(threshold, "support_threshold", -1, 1,
                       hint=f" (a cosine similarity; default {SUPPORT_THRESHOLD})")
