import json
from html.parser import HTMLParser
import re
from pathlib import Path

import nbrag
from nbrag.views.base import STATIC
from nbrag.views.boundary import BoundaryView, segments

ROOT = Path(__file__).resolve().parents[2]


def test_segments_cut_at_every_boundary_and_mark_overlaps():
    text = "0123456789"
    pieces = segments(text, [(0, 6), (4, 10)])
    assert [(p["text"], p["chunks"], p["starts"]) for p in pieces] == [
        ("0123", [0], [0]), ("45", [0, 1], [1]), ("6789", [1], []),
    ]
    assert "".join(p["text"] for p in pieces) == text


def test_gaps_between_chunks_are_kept_as_text():
    pieces = segments("ab  cd", [(0, 2), (4, 6)])
    assert [(p["text"], p["chunks"]) for p in pieces] == [("ab", [0]), ("  ", []), ("cd", [1])]


def test_view_traits_describe_every_chunk(python_doc):
    result = nbrag.chunk(python_doc, size=64, overlap=8)
    view = BoundaryView.of(result)
    assert len(view.chunks) == len(result)
    assert "".join(p["text"] for p in view.segments) == python_doc
    overlaps = [p for p in view.segments if len(p["chunks"]) > 1]
    assert len(overlaps) == len(result) - 1
    assert all(p["title"].startswith("overlap: chunk") for p in overlaps)
    assert view.segments[0]["title"].startswith("chunk 0 · 64 tokens · chars 0–")
    json.dumps(view.get_state())  # every synced trait is JSON-able


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.segment_text, self._in_seg = set(), set(), [], False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        self._in_seg = tag == "span" and "nbrag-seg" in dict(attrs).get("class", "")

    def handle_endtag(self, tag):
        self._in_seg = False

    def handle_data(self, data):
        if self._in_seg:
            self.segment_text.append(data)


def test_static_html_escapes_document_text():
    evil = '<script>alert(1)</script> <img src=x onerror="alert(2)"> & "quotes" <b>bold</b>'
    parsed = Elements()
    parsed.feed(BoundaryView.of(nbrag.chunk(evil, size=4, overlap=1)).to_html())
    assert parsed.tags == {"style", "div", "span"}
    assert parsed.attrs == {"class", "style", "title", "data-chunks"}
    assert "".join(parsed.segment_text) == evil


def test_warnings_are_shown(python_doc):
    html = BoundaryView.of(nbrag.chunk(python_doc, size=300, overlap=0)).to_html()
    assert re.search(r'class="nbrag-warning">\d+ chunk\(s\) exceed the 256 tokens', html)


def test_front_end_files_ship_inside_the_package():
    for name in ("boundary.js", "boundary.css"):
        assert (STATIC / name).read_text() == (ROOT / "widgets" / name).read_text()
    js = (STATIC / "boundary.js").read_text()
    assert "innerHTML" not in js and "http" not in js, "text goes in as text; nothing loads from the network"
