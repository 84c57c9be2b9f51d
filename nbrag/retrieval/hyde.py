"""HyDE (Gao et al., 2022): search with the embedding of an answer the generator imagines.

A question and its answer passage are worded differently; a hypothetical answer, even a
wrong one, is worded like the passages that hold the real one. The text is kept in the
result (``result.hyde``), so the user sees what was searched for.
"""

from __future__ import annotations

from typing import Any

from nbrag.llm import resolve

SYSTEM = ("Write one short paragraph that answers the question, as it would appear in a reference text. "
          "State facts plainly; do not repeat the question.")


def hypothetical_answer(query: str, generator: Any = None, max_new_tokens: int = 96) -> str:
    """The passage ``generator`` (anything :func:`nbrag.llm.resolve` takes) imagines for ``query``; the query
    itself where the reply is empty."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": query}]
    answer = resolve(generator).complete(messages, max_new_tokens=max_new_tokens).strip()
    return answer or query
