"""Shared test setup: no test may reach a model hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    import torch

    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    skip_net = pytest.mark.skip(reason="needs a model hub; set NBRAG_NETWORK_TESTS=1 where one is reachable")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "network" in item.keywords and os.environ.get("NBRAG_NETWORK_TESTS") != "1":
            item.add_marker(skip_net)


@pytest.fixture(scope="session")
def ip():
    """IPython's test shell (one per process) with nbrag's extension loaded."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "nbrag")
    return shell


@pytest.fixture
def settings_guard():
    """Restore nbrag.settings after a test that changes them."""
    import nbrag

    saved = nbrag.settings.to_dict()
    yield nbrag.settings
    nbrag.settings.update(**saved)


@pytest.fixture(scope="session")
def python_doc() -> str:
    """A real English document that ships with Python: the reference section on `with`."""
    from pydoc_data.topics import topics

    return topics["with"]


CHINESE = (
    "检索增强生成（RAG）先从文档库中找出与问题相关的段落，再让语言模型依据这些段落作答。"
    "切分文档是第一步：块太大，检索会混入无关内容；块太小，答案所需的上下文就被切断了。"
    "相邻的块保留一些重叠，可以减少句子被拦腰截断的损失！这是真的吗？是的……"
)


@pytest.fixture(scope="session")
def chinese() -> str:
    return CHINESE


@pytest.fixture(scope="session")
def hotpot_passages() -> list[str]:
    """Real passages from HotpotQA, where the shared evaluation data is present."""
    import json

    corpus = SHARED_DATA / "hotpotqa" / "corpus.jsonl"
    if not corpus.exists():
        pytest.skip(f"{corpus} is not here (evaluation data lives beside the project)")
    with corpus.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(200), handle)]


@pytest.fixture
def one_thread():
    """Torch on one thread for the test, restored after: tiny models run faster so, and never wait for a core
    that another process holds (two threads on a busy two-core machine made the inspector tests 10x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
