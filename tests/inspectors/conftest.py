"""Tiny random-weight models, built once per test session, and the real generator for the slow tests."""

from __future__ import annotations

import pytest

from nbrag.inspectors import families
from tests.tiny import tiny  # noqa: F401  (the test modules import it from here)

DENSE = families(moe=False)
MOE = families(moe=True)
ALL = DENSE + MOE
TEXT = "The cat sat on the mat because it was tired, and then it slept."


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every inspector test runs torch on one thread (tests/conftest.py says why)."""
    yield


@pytest.fixture(scope="session")
def smollm():
    from nbrag.models import load_generator

    return load_generator()
