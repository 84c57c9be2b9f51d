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


class WithStaticHTML:
    """Puts a static ``text/html`` drawing (``to_html()``) beside a widget's live view.

    JupyterLab shows the live widget; an exported notebook (nbconvert, GitHub)
    has no kernel and shows the static drawing instead.
    """

    def to_html(self) -> str:  # pragma: no cover - each view draws itself
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = super()._repr_mimebundle_(include=include, exclude=exclude)  # type: ignore[misc]
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        return {**(data or {}), "text/html": self.to_html()}, meta
