"""Reranking: score each (query, passage) pair on its own and reorder the best candidates.

``rerank=True`` asks the generator (:meth:`nbrag.llm.Generator.judge_many`) whether the
passage helps answer the question: a local model's score is how much more it expects "Yes"
than "No" as the next token (the difference of the two logits); a model behind an endpoint
or a ``complete(messages)`` function answers in words, +1 for yes and -1 for no (a reply
that says neither counts 0, between them). Passages are cut to the model's first 384 tokens
where a token ends. ``rerank="<cross-encoder id or folder>"`` uses a sentence-transformers
``CrossEncoder`` instead (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``, where a hub is reachable).
"""

from __future__ import annotations

from typing import Any

from nbrag.errors import ModelUnavailableError, NbragError
from nbrag.llm import resolve


def check_rerank(how: Any) -> bool | str:
    """``rerank`` if it is False, True (the generator; also ``"generator"``) or a cross-encoder's id or folder."""
    if how == "generator":
        return True
    if how is False or how is True or (isinstance(how, str) and how.strip()):
        return how
    raise NbragError("give True (the generator judges each passage), a cross-encoder's id or folder, or False.",
                     option="rerank", value=how)


def rerank(query: str, passages: list[str], how: bool | str = True, generator: Any = None,
           batch_size: int = 8) -> list[float]:
    """One relevance score per passage (higher is more relevant); ``generator`` judges with ``how=True``."""
    how = check_rerank(how)
    if not passages or how is False:
        return [0.0] * len(passages)
    if how is True:
        scores = resolve(generator).judge_many(query, passages, batch_size=batch_size)
        return [0.0 if score is None else float(score) for score in scores]
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(how)
    except OSError as error:  # not a folder, and no hub to fetch it from
        raise ModelUnavailableError(f"cannot load this cross-encoder ({error}); give a local folder that holds one, "
                                    "or True to rerank with the generator.", option="rerank", value=how) from error
    return [float(s) for s in model.predict([(query, p) for p in passages])]
