"""nbrag: a notebook-first workbench for retrieval-augmented generation and LLM internals.

The engine is plain Python (``nbrag.chunk``, ``nbrag.settings``); ``%load_ext nbrag``
adds the magics. Importing nbrag loads no model library: torch and transformers
are imported when a function first needs them.
"""

from __future__ import annotations

from typing import Any

from nbrag.config import Settings, configure, settings

__version__ = "0.1.0"
__all__ = ["Index", "Settings", "agent", "ask", "chunk", "configure", "load_ipython_extension", "settings"]


def chunk(text: str, method: str = "fixed", **options: Any):
    """Split ``text`` into chunks with exact character offsets: ``nbrag.chunk(text, size=64, overlap=8)``.

    See :func:`nbrag.chunking.chunk`; the chunking code loads on first use.
    """
    from nbrag.chunking import chunk as _chunk

    return _chunk(text, method=method, **options)


def __getattr__(name: str) -> Any:
    """``nbrag.Index``, ``nbrag.eval``, ``nbrag.ask`` and ``nbrag.agent`` load on first use (chromadb takes a second
    to import)."""
    if name == "Index":
        from nbrag.retrieval import Index

        return Index
    if name in ("ask", "agent"):
        from nbrag import rag

        return getattr(rag, name)
    if name == "eval":
        import importlib

        return importlib.import_module("nbrag.eval")
    raise AttributeError(f"module 'nbrag' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbrag``: register the magics (fast: no model library is imported)."""
    from nbrag.magics import load_ipython_extension as load

    load(ipython)
