"""What every view shares: the packaged front-end files."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def static(name: str) -> Path:
    """A file copied from the top-level ``widgets/`` into the package at build time."""
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(
            f"The widget file {name} is missing from {STATIC}. It is copied from widgets/ when nbrag is "
            "installed: reinstall with `pip install -e .` (or `make install`) from the source folder."
        )
    return path
