"""Where a widget cannot be drawn (an exported notebook, GitHub, a front end without the widget's
JavaScript), a view still shows: every view widget puts a static ``text/html`` drawing beside its
widget view in the mime bundle, and the front end picks what it can render. This holds with ipywidgets 7
(what Google Colab preinstalls), whose widgets have no ``_repr_mimebundle_`` and show themselves through
``_ipython_display_``, as with 8."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import ipywidgets
from IPython.display import display
from IPython.utils.capture import capture_output

import nbrag
import nbrag.views
from nbrag.display import mimebundle, show
from nbrag.views.shared import WithStaticHTML

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
DRAWING = "<p>the static drawing</p>"

# Shown only while a reply streams; it is then closed and the answer's view, which has a drawing, replaces it.
LIVE_ONLY = ["nbrag.views.rag.StreamWidget"]


def view_widget_classes() -> list[type]:
    classes = []
    for info in pkgutil.iter_modules(nbrag.views.__path__):
        module = importlib.import_module(f"nbrag.views.{info.name}")
        classes += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                    if cls.__module__ == module.__name__ and issubclass(cls, ipywidgets.DOMWidget)]
    return classes


def test_every_view_widget_carries_a_static_drawing():
    classes = view_widget_classes()
    assert len(classes) > 10  # the views' modules were found
    names = {cls: f"{cls.__module__}.{cls.__qualname__}" for cls in classes}
    assert sorted(names[cls] for cls in classes if not issubclass(cls, WithStaticHTML)) == LIVE_ONLY
    # the mixin comes first, so its _repr_mimebundle_ (widget view + text/html) is the one Jupyter calls
    late = [names[cls] for cls in classes if issubclass(cls, WithStaticHTML)
            and cls.__mro__.index(WithStaticHTML) > cls.__mro__.index(ipywidgets.DOMWidget)]
    assert late == []
    # IPython asks _ipython_display_ first; ipywidgets 7's would publish the widget view alone
    assert [names[cls] for cls in classes if getattr(cls, "_ipython_display_", None) is not None] == []


class Widget7(ipywidgets.VBox):
    """A widget as ipywidgets 7 makes them: no ``_repr_mimebundle_``; ``_ipython_display_`` publishes its view."""

    _repr_mimebundle_ = None

    def _ipython_display_(self, **kwargs):
        display({"text/plain": repr(self), WIDGET_VIEW: self.get_view_spec()}, raw=True)

    def close(self):
        super().close()
        if "_repr_mimebundle_" in self.__dict__:  # put there by ipywidgets 8's close; 7's sets this one:
            del self._repr_mimebundle_
        self._ipython_display_ = None


class View7(WithStaticHTML, Widget7):
    def to_html(self) -> str:
        return DRAWING


def test_an_ipywidgets_7_widget_shows_its_view_and_its_static_html(ip):
    view = View7()
    with capture_output() as captured:
        display(view, display_id="nbrag-view")
    (output,) = captured.outputs
    assert output.data[WIDGET_VIEW] == {"version_major": 2, "version_minor": 0, "model_id": view.model_id}
    assert output.data["text/html"] == DRAWING
    assert output.data["text/plain"].startswith("View7(")
    # the output keeps its id, so that a magic can replace it later (the live loss curves, a streamed reply)
    assert output.transient == {"display_id": "nbrag-view"}


def test_a_closed_widget_shows_its_repr_alone(ip):
    view = View7()
    view.close()
    data, _ = ip.display_formatter.format(view)
    assert set(data) == {"text/plain"}


def test_a_result_shows_as_a_widget_view_and_its_static_html():
    result = nbrag.chunk("Chunks of a short text, counted in characters. " * 4, size=40, overlap=0, unit="char")
    data, _ = mimebundle(show(result, "view"))
    assert WIDGET_VIEW in data
    assert 'class="nbrag-boundary"' in data["text/html"]
