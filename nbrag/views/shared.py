"""What every view shares: the packaged front-end files, escaping, styles and static figures.

* :func:`static` finds a widget's module or stylesheet, copied from the top-level ``widgets/``
  into the package at build time; :func:`style` inlines stylesheets for a static drawing;
* :func:`e` escapes text for HTML (every piece of document text goes through it), :func:`plain`
  for plotly's labels and hover boxes, which read a little HTML;
* :func:`figure_bundle` / :func:`show_figure` put a plotly figure in an output without plotly's
  renderer machinery;
* :class:`WithStaticHTML` puts a static drawing beside a live widget, for exported notebooks, with
  ipywidgets 7 (Google Colab's) as with 8; :class:`BundleDisplay` shows a widget through its mime
  bundle on both.
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
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


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


class BundleDisplay:
    """Shows a widget through its mime bundle alone, with ipywidgets 7 as with 8.

    IPython asks an object's ``_ipython_display_`` before its ``_repr_mimebundle_``. ipywidgets 7's
    widgets show themselves through ``_ipython_display_`` (8's have only the bundle): it publishes the
    widget view by itself, so nothing added to the bundle reaches the output, and it is called without
    ``display(..., display_id=True)``'s id, so the output cannot be updated later. Without it, IPython
    takes the bundle on both versions.
    """

    _ipython_display_ = None


class WithStaticHTML(BundleDisplay):
    """Puts a static ``text/html`` drawing (``to_html()``) beside a widget's live view.

    JupyterLab shows the live widget; an exported notebook (nbconvert, GitHub)
    has no kernel and shows the static drawing instead.
    """

    def to_html(self) -> str:  # pragma: no cover - each view draws itself
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None):
        if getattr(self, "comm", None) is None:  # closed: the repr alone, as ipywidgets does
            return None
        widget = getattr(super(), "_repr_mimebundle_", None)
        if widget is not None:  # ipywidgets 8, and anywidget's widgets on 7 too
            bundle = widget(include=include, exclude=exclude)
            data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        else:  # ipywidgets 7
            data, meta = widget_view(self), {}
        return {**(data or {}), "text/html": self.to_html()}, meta


def widget_view(widget: ipywidgets.Widget) -> dict[str, Any]:
    """What ``Widget._ipython_display_`` of ipywidgets 7 publishes (8 returns the same from
    ``_repr_mimebundle_``): the widget's repr, cut at 110 characters, and the view of its model."""
    text = repr(widget)
    data: dict[str, Any] = {"text/plain": text if len(text) <= 110 else text[:110] + "…"}
    if widget._view_name is not None:
        data[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": widget._model_id}
    return data
