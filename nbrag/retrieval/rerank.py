"""Reranking: score each (query, passage) pair on its own and reorder the best candidates.

``rerank=True`` asks the configured generator, offline: the passage and the question go in,
and the score is how much more the model expects "Yes" than "No" as the answer to "does
the passage help answer the question?" (the difference of the two next-token logits).
``rerank="<cross-encoder id or folder>"`` uses a sentence-transformers ``CrossEncoder``
instead (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``, where a hub is reachable).
"""

from __future__ import annotations

SYSTEM = "You judge search results. Answer with Yes or No only."
PROMPT = "Passage:\n{passage}\n\nQuestion: {query}\n\nDoes the passage help answer the question?"


def rerank(query: str, passages: list[str], how: bool | str = True, batch_size: int = 8) -> list[float]:
    """One relevance score per passage (higher is more relevant)."""
    if not passages:
        return []
    if how is True or how == "generator":
        return generator_scores(query, passages, batch_size=batch_size)
    if not isinstance(how, str) or not how.strip():
        raise ValueError(f"rerank={how!r}: use True (the generator) or a cross-encoder's id or folder.")
    from sentence_transformers import CrossEncoder

    return [float(s) for s in CrossEncoder(how).predict([(query, p) for p in passages])]


def generator_scores(query: str, passages: list[str], generator: str | None = None, batch_size: int = 8,
                     max_passage_tokens: int = 384) -> list[float]:
    import torch

    from nbrag.models import load_generator

    model, tokenizer = load_generator(generator)
    yes = tokenizer.encode("Yes", add_special_tokens=False)[0]
    no = tokenizer.encode("No", add_special_tokens=False)[0]
    prompts = []
    for passage in passages:
        ids = tokenizer.encode(passage, add_special_tokens=False)[:max_passage_tokens]
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": PROMPT.format(passage=tokenizer.decode(ids), query=query)}]
        prompts.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # the next token sits at the end of every row
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    scores: list[float] = []
    try:
        for first in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[first:first + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.inference_mode():
                logits = model(**batch).logits[:, -1, :].float()
            scores += (logits[:, yes] - logits[:, no]).tolist()
    finally:
        tokenizer.padding_side = side
    return scores
