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
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbrag.eval.chunking import EvalSet

__all__ = ["sample_documents", "sample_questions", "samples_dir"]


def samples_dir() -> Path:
    """The folder that holds ``corpus/*.md`` and ``questions.csv``."""
    return Path(__file__).resolve().parent / "samples"


def sample_documents() -> dict[str, str]:
    """The sample documents by id (the file name without ``.md``), in name order.

    Read as ``load_chroma_csv`` reads them, so that question offsets index into these strings.
    """
    corpus = samples_dir() / "corpus"
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(corpus.glob("*.md"))}


def sample_questions() -> EvalSet:
    """The sample questions, each answered by 1 to 3 exact spans of the sample documents."""
    from nbrag.eval.chunking import load_chroma_csv

    root = samples_dir()
    data = load_chroma_csv(root / "questions.csv", root / "corpus")
    data.name = "nbrag samples"
    return data
