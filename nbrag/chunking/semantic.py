"""Semantic chunking: cut where neighbouring sentences stop being about the same thing.

Sentences (and paragraph breaks) are embedded with the configured embedder; the
similarity between each sentence (or window of sentences) and the next is
compared to a threshold, chosen as

* ``absolute``: cut where similarity < ``threshold`` (e.g. 0.3);
* ``percentile``: cut at the ``threshold`` percent least similar neighbours (e.g. 10);
* ``std``: cut where similarity < mean − ``threshold`` × standard deviation (e.g. 1.0).

Sizes are enforced: a chunk never exceeds ``max_size``, in tokens and in characters
(``max_size`` times the tokenizer's longest token; an overlong sentence is split by the
recursive chunker's clause, word, window and character levels) and a cut is
skipped while the chunk is below ``min_size``. ``details`` keeps the similarity
curve, the threshold value and the cuts, for the view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nbrag.chunking.base import (
    Chunk,
    Chunker,
    ChunkResult,
    check_size_and_unit,
    chunker,
    size_field,
    tokenizer_field,
    unit_field,
    whole,
)
from nbrag.chunking.recursive import LEVELS, split_span
from nbrag.chunking.text import TokenCounter, token_counter
from nbrag.config import settings
from nbrag.errors import NbragError, NbragTypeError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

THRESHOLD_TYPES = ("percentile", "absolute", "std")
THRESHOLD_RANGES = {"percentile": (0, 100, "with the percentile threshold type, give a number from 0 to 100."),
                    "absolute": (-1, 1, "with the absolute threshold type (a cosine similarity), give a number from "
                                        "-1 to 1."),
                    "std": (-math.inf, math.inf, "with the std threshold type, give a finite number of standard "
                                                 "deviations.")}


@dataclass
class SemanticConfig:
    threshold: float = field(default=10.0, metadata={"help": "Cut threshold; its meaning depends on threshold_type."})
    threshold_type: str = field(default="percentile", metadata={"help": f"One of {', '.join(THRESHOLD_TYPES)}."})
    window: int = field(default=1, metadata={"help": "Sentences on each side averaged before comparing."})
    max_size: int = size_field()
    min_size: int = field(default=0, metadata={"help": "Smallest chunk a similarity cut may leave behind."})
    unit: str = unit_field()
    tokenizer: str = tokenizer_field()
    embedder: str = field(default_factory=lambda: settings.embedder,
                          metadata={"help": "Embedder that compares sentences."})

    def __post_init__(self) -> None:
        if self.threshold_type not in THRESHOLD_TYPES:
            raise NbragError(f"choose one of {', '.join(THRESHOLD_TYPES)}.", option="threshold_type",
                             value=self.threshold_type)
        if not isinstance(self.threshold, int | float) or isinstance(self.threshold, bool):
            raise NbragTypeError("give a number.", option="threshold", value=self.threshold)
        low, high, message = THRESHOLD_RANGES[self.threshold_type]
        if not (math.isfinite(self.threshold) and low <= self.threshold <= high):
            raise NbragError(message, option="threshold", value=self.threshold)
        if not whole(self.window) or self.window < 1:
            raise NbragError("must be a whole number of at least 1 sentence.", option="window", value=self.window)
        check_size_and_unit("max_size", self.max_size, self.unit)
        if not whole(self.min_size) or not 0 <= self.min_size <= self.max_size:
            raise NbragError(f"must be a whole number from 0 to max_size={self.max_size}.", option="min_size",
                             value=self.min_size)


def sentence_units(text: str, count: TokenCounter, max_size: int) -> list[tuple[int, int]]:
    """Sentences (never across a paragraph break), each at most ``max_size``, with whitespace stripped."""
    units = []
    for para in count.snap(LEVELS["paragraph"](text, 0, len(text))):
        for sent in count.snap(LEVELS["sentence"](text, *para)):
            a, b = count.strip(*sent)
            if count.touching(a, b) == 0:
                continue
            units.extend(_fit(text, (a, b), count, max_size))
    return units


def _fit(text: str, span: tuple[int, int], count: TokenCounter, max_size: int) -> list[tuple[int, int]]:
    """A sentence longer than ``max_size`` split by clauses, words and token windows."""
    if count.fits(*span, max_size):
        return [span]
    pieces = split_span(text, span, count, max_size, ("clause", "word"))
    return [s for s in (count.strip(*p) for p, _, _ in pieces) if count.touching(*s) > 0]


def neighbour_similarities(vectors: np.ndarray, window: int) -> np.ndarray:
    """Cosine similarity across each gap: mean of ``window`` units before against ``window`` after."""
    import numpy as np

    sims = []
    for gap in range(1, len(vectors)):
        before = vectors[max(0, gap - window):gap].mean(axis=0)
        after = vectors[gap:gap + window].mean(axis=0)
        sims.append(float(before @ after / (np.linalg.norm(before) * np.linalg.norm(after) + 1e-12)))
    return np.asarray(sims, dtype=np.float64)


def threshold_value(sims: np.ndarray, kind: str, threshold: float) -> float:
    import numpy as np

    if len(sims) == 0:
        return float("nan")
    if kind == "absolute":
        return threshold
    if kind == "percentile":
        return float(np.percentile(sims, threshold))
    return float(sims.mean() - threshold * sims.std())


_last: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}


def _embed(embedder: str, sentences: tuple[str, ...]) -> np.ndarray:
    """Embed sentences, keeping the last text's vectors: moving a threshold slider does not embed again."""
    from nbrag.models import embed

    key = (embedder, sentences)
    if key not in _last:
        _last.clear()
        _last[key] = embed(list(sentences), name=embedder)
    return _last[key]


@chunker("semantic")
class SemanticChunker(Chunker):
    Config = SemanticConfig

    def split(self, text: str) -> ChunkResult:
        cfg: SemanticConfig = self.config
        count = token_counter(text, cfg.unit, cfg.tokenizer)
        units = sentence_units(text, count, cfg.max_size)
        params = {"threshold": cfg.threshold, "threshold_type": cfg.threshold_type, "window": cfg.window,
                  "max_size": cfg.max_size, "min_size": cfg.min_size, "unit": cfg.unit, "embedder": cfg.embedder}
        if not units:
            return ChunkResult(source=text, chunks=[], method=self.name, params=params)
        sims = neighbour_similarities(_embed(cfg.embedder, tuple(text[a:b] for a, b in units)), cfg.window)
        limit = threshold_value(sims, cfg.threshold_type, cfg.threshold)
        groups, cuts = self._group(units, sims, limit, count)
        chunks = []
        for first, last in groups:
            a, b = units[first][0], units[last][1]
            meta = {"sentences": last - first + 1,
                    "similarity_before": None if first == 0 else round(float(sims[first - 1]), 4)}
            chunks.append(Chunk(text=text[a:b], start=a, end=b, tokens=count.touching(a, b), index=len(chunks),
                                meta=meta))
        details = {"units": [list(u) for u in units], "similarities": [round(float(s), 4) for s in sims],
                   "threshold_value": round(limit, 4) if len(sims) else None, "cuts": cuts}
        return ChunkResult(source=text, chunks=chunks, method=self.name, params=params, details=details,
                           notes=count.note(cfg.max_size))

    def _group(self, units, sims, limit, count) -> tuple[list[tuple[int, int]], list[dict]]:
        """Consecutive unit groups: cut below the threshold once min_size is reached; never pass max_size."""
        cfg: SemanticConfig = self.config
        groups, cuts, first = [], [], 0
        for gap, sim in enumerate(sims, start=1):  # the gap before unit `gap`
            size_so_far = count.touching(units[first][0], units[gap - 1][1])
            reason = None
            if not count.fits(units[first][0], units[gap][1], cfg.max_size):
                reason = "max_size"
            elif sim < limit and size_so_far >= cfg.min_size:
                reason = "similarity"
            if reason:
                groups.append((first, gap - 1))
                cuts.append({"unit": gap, "similarity": round(float(sim), 4), "reason": reason})
                first = gap
        groups.append((first, len(units) - 1))
        # A short tail joins the chunk before it when both fit together.
        if len(groups) > 1 and count.touching(units[groups[-1][0]][0], units[-1][1]) < cfg.min_size:
            prev = groups[-2]
            if count.fits(units[prev[0]][0], units[-1][1], cfg.max_size):
                groups[-2:] = [(prev[0], len(units) - 1)]
                cuts.pop()
        return groups, cuts
