"""What every view shares: the packaged front-end files, escaping, styles and static figures.

* :func:`static` finds a widget's module or stylesheet, copied from the top-level ``widgets/``
  into the package at build time; :func:`style` inlines stylesheets for a static drawing;
* :func:`e` escapes text for HTML (every piece of document text goes through it), :func:`plain`
  for plotly's labels and hover boxes, which read a little HTML;
* :func:`figure_bundle` / :func:`show_figure` put a plotly figure in an output without plotly's
  renderer machinery;
* :class:`WithStaticHTML` puts a static drawing beside a live widget, for exported notebooks.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import ipywidgets
    import plotly.graph_objects as go

STATIC = Path(__file__).parent / "static"
PLOTLY_JSON = "application/vnd.plotly.v1+json"


def static(name: str) -> Path:
    """A file copied from the top-level ``widgets/`` into the package at build time."""
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(
            f"The widget file {name} is missing from {STATIC}. It is copied from widgets/ when nbrag is "
            "installed: reinstall with `pip install -e .` (or `make install`) from the source folder."
        )
    return path


def style(*names: str) -> str:
    """The stylesheets ``names`` (e.g. ``"tokens.css"``) as one ``<style>`` element, for static HTML."""
    return "<style>" + "".join(static(name).read_text(encoding="utf-8") for name in names) + "</style>"


def e(value: Any) -> str:
    """``value`` as text for HTML: markup in it shows as text."""
    return html.escape(str(value))


def plain(value: Any) -> str:
    """Text for plotly's labels and hover boxes, which read a little HTML: markup shows as text."""
    return html.escape(str(value), quote=False)


def count(n: int, word: str) -> str:
    """``1 chunk``, ``2,048 chunks``."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def figure_bundle(fig: go.Figure) -> dict[str, Any]:
    """A figure as plotly's JSON mimetype, which JupyterLab, Notebook 7 and VS Code draw (plotly ships the
    JupyterLab renderer). Colab gets plotly's own renderer (HTML). Going around ``plotly.io.renderers``
    saves about a second on the first plot: the renderers import nbformat and jsonschema; the JSON is the same."""
    if "google.colab" in sys.modules:
        return fig._repr_mimebundle_()
    return {PLOTLY_JSON: json.loads(fig.to_json())}


def show_figure(area: ipywidgets.Output, fig: go.Figure | None) -> None:
    """Draw ``fig`` in an ``Output`` widget (or empty it)."""
    area.outputs = () if fig is None else ({"output_type": "display_data", "data": figure_bundle(fig), "metadata": {}},)


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
