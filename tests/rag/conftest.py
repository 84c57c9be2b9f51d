"""Shared fixtures of the RAG tests: an index of nbrag's English sample documents, and an extractive generator.

``extractive`` is a real generator a user can pass as ``complete(messages) -> str``: it reads the
numbered sources in the prompt and answers with the source sentence that shares the most words
with the question, cited by its number. It is deterministic, so the tests can check citations,
control flow and bookkeeping exactly; the slow tests run the real SmolLM2.
"""

from __future__ import annotations

import re

import pytest

from nbrag.data import sample_documents

_WORD = re.compile(r"\w+")
STOP = {"the", "a", "an", "of", "in", "on", "is", "was", "what", "which", "who", "when", "how", "to", "and", "did",
        "does", "do", "by", "for", "it", "its", "with", "at", "from", "that", "this", "are", "were"}


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP}


def extractive(messages: list[dict[str, str]]) -> str:
    """The source sentence closest to the question in words, cited: 'Sentence [n].'"""
    user = messages[-1]["content"]
    question = re.search(r"Question:\s*(.+)", user)
    asked = words(question.group(1) if question else user)
    best, best_score = None, 0
    for number, text in re.findall(r"^\[(\d+)\] (.+?)(?=^\[\d+\] |\n\nQuestion:|\Z)", user, re.S | re.M):
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            score = len(asked & words(sentence))
            if score > best_score:
                best, best_score = (sentence.rstrip("."), number), score
    if best is None:
        return "I cannot answer from the sources."
    return f"{best[0]} [{best[1]}]."


@pytest.fixture(scope="session")
def english_index():
    """An in-memory index of the two English sample documents (recursive chunks of 128 tokens)."""
    import nbrag

    index = nbrag.Index("rag-tests-english", memory=True)
    docs = {k: v for k, v in sample_documents().items() if k != "tea"}
    index.add(docs, chunker="recursive", size=128, progress=False)
    return index


@pytest.fixture(scope="session")
def chinese_index():
    import nbrag

    index = nbrag.Index("rag-tests-chinese", memory=True)
    index.add({"tea": sample_documents()["tea"]}, chunker="recursive", size=128, progress=False)
    return index


def plain_extractive(messages: list[dict[str, str]]) -> str:
    """The extractive generator's answer without its citation: a generator that ignores the format."""
    return re.sub(r"\s*\[\d+\]", "", extractive(messages))
