"""Tiny random-weight models for the LoRA engine's logic, the real generator for the slow tests."""

from __future__ import annotations

import copy

import pytest

from tests.tiny import tiny

# Real examples from the instruction sample nbrag ships (English and Chinese, from its documents).
DATA_SIZE = 12


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every LoRA test runs torch on one thread (tests/conftest.py says why)."""
    yield


@pytest.fixture(scope="session")
def records() -> list[dict]:
    from nbrag.data import sample_instructions

    return sample_instructions("documents")[:DATA_SIZE]


@pytest.fixture(scope="session")
def llama():
    return tiny("llama")


@pytest.fixture(scope="session")
def gpt2():
    return tiny("gpt2")


CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} [SEP] {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|> {% endif %}")


@pytest.fixture(scope="session")
def chat_llama(llama):
    """The tiny Llama with a tokenizer that has a chat template (a copy: the shared one keeps none)."""
    model, tokenizer = llama
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = CHAT_TEMPLATE
    return model, tokenizer


@pytest.fixture(scope="session")
def smollm():
    from nbrag.models import load_generator

    return load_generator()
