"""Tiny random-weight models for the inspector tests, built once per process."""

from __future__ import annotations

import functools


@functools.cache
def tiny(family: str):
    """``(model, tokenizer)`` of a tiny family; the inspectors accept the pair as ``model=``."""
    from nbrag.inspectors import tiny_model

    model, tokenizer, _ = tiny_model(family)
    return model, tokenizer
