"""nbrag.display: a result finds its view through the registry, never by naming it."""

from __future__ import annotations

import pytest

from nbrag import display


class Report(display.Shown):
    def __init__(self, text: str) -> None:
        self.text = text


class DetailedReport(Report):
    pass


class Drawing:
    def __init__(self, result, **options):
        self.result, self.options = result, options

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": f"<b>{self.result.text}</b>", "text/plain": self.result.text}


@pytest.fixture
def registered():
    saved = dict(display._registry)
    display.register(Report, Drawing)
    display.register(f"{__name__}.Report", f"{__name__}:table", kind="table")
    yield
    display._registry.clear()
    display._registry.update(saved)


def table(result, **options):
    class Table:
        def _repr_html_(self):
            return f"<table><tr><td>{result.text}</td></tr></table>"

    return Table()


def test_a_result_shows_the_view_registered_for_its_type(registered):
    report = Report("hello")
    view = report.view(layer=2)
    assert isinstance(view, Drawing) and view.result is report and view.options == {"layer": 2}
    assert report._repr_mimebundle_()["text/html"] == "<b>hello</b>"


def test_a_subclass_uses_its_base_class_view(registered):
    assert isinstance(DetailedReport("x").view(), Drawing)


def test_other_drawings_are_named_by_kind_and_imported_by_name(registered):
    drawing = display.show(Report("cells"), "table")
    assert display.mimebundle(drawing)["text/html"] == "<table><tr><td>cells</td></tr></table>"


def test_a_type_without_a_view_says_which_kinds_it_has(registered):
    with pytest.raises(LookupError, match=r"No 'plot' view is registered for Report\. It has: table, view\."):
        display.show(Report("x"), "plot")


def test_the_views_package_registers_on_first_display_only():
    import subprocess
    import sys

    code = ("import sys, nbrag.chunking; from nbrag import display; print('nbrag.views' in sys.modules); "
            "r = nbrag.chunk('One sentence. Two sentences.', size=4, overlap=0); r._repr_mimebundle_(); "
            "print('nbrag.views' in sys.modules, 'nbrag.views.chunks' in sys.modules, "
            "'nbrag.views.lora' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True", "False"]
