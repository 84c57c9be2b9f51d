from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def multihop():
    """The shipped MuSiQue sample: its BEIR set, an in-memory index of it, and the index's offline graph."""
    from nbrag.data import sample_multihop
    from nbrag.eval import load_beir

    data = load_beir(sample_multihop())
    index = data.index()
    graph = index.graph or index.build_graph(progress=False)
    return data, index, graph
