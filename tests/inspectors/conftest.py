"""Tiny random-weight models, built once per test session, and the real generator for the slow tests."""

from __future__ import annotations

import functools

import pytest

from nbrag.inspectors import families

DENSE = families(moe=False)
MOE = families(moe=True)
ALL = DENSE + MOE
TEXT = "The cat sat on the mat because it was tired, and then it slept."


@functools.cache
def tiny(family: str):
    """``(model, tokenizer)`` of a tiny family; the inspectors accept the pair as ``model=``."""
    from nbrag.inspectors import tiny_model

    model, tokenizer, _ = tiny_model(family)
    return model, tokenizer


@pytest.fixture(autouse=True)
def one_thread():
    """These models are small: one thread runs them faster, and never waits on a core that another process holds
    (two threads on a busy two-core machine made the directory 10x slower). Restored after each test."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smollm():
    from nbrag.models import load_generator

    return load_generator()
