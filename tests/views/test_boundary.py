import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbrag
from nbrag.views.boundary import PAGE_CHARS, BoundaryView, outline, page_starts, segments, title
from nbrag.views.shared import STATIC

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
    assert all(title(p, view.chunks).startswith("overlap: chunk") for p in overlaps)
    assert title(view.segments[0], view.chunks).startswith("chunk 0 · 64 tokens · chars 0–")
    assert view.pages == 1 and {p["page"] for p in view.segments} == {0}
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
    widgets = ROOT / "widgets"
    assert (STATIC / "boundary.css").read_text() == (widgets / "boundary.css").read_text()
    js = (STATIC / "boundary.js").read_text()
    shared, own = (widgets / "_shared.js").read_text(), (widgets / "boundary.js").read_text()
    assert js.startswith(shared) and js.endswith(own), "the shared helpers, then the widget's own module"
    assert "function el(" not in own, "el() comes from _shared.js"
    assert "innerHTML" not in js and "http" not in js, "text goes in as text; nothing loads from the network"


def test_segments_agree_with_a_direct_count_on_random_spans():
    import random

    rng = random.Random(7)
    text = "".join(rng.choice("ab \n。😀") for _ in range(500))
    spans = sorted((a, rng.randint(a + 1, 500)) for a in rng.sample(range(499), 40))
    refs = [(10, 60), (50, 90), (300, 310)]
    pieces = segments(text, spans, refs, page_chars=120)
    assert "".join(p["text"] for p in pieces) == text
    for p in pieces:
        assert p["chunks"] == [i for i, (s, e) in enumerate(spans) if s <= p["start"] and p["end"] <= e]
        assert p["ref"] == any(s <= p["start"] and p["end"] <= e for s, e in refs)
        assert p["starts"] == [i for i, (s, _) in enumerate(spans) if s == p["start"]]
    starts = page_starts(text, 120)
    assert [p["page"] for p in pieces] == [sum(s <= p["start"] for s in starts) - 1 for p in pieces]


def test_a_megabyte_is_drawn_in_pages_that_end_at_line_breaks(python_doc):
    big = (python_doc + "\n\n") * 330  # about 1 MB
    view = BoundaryView.of(nbrag.chunk(big, size=256, overlap=32))
    assert view.pages == len(page_starts(big)) > 40
    assert all(big[s - 1] == "\n" for s in page_starts(big)[1:])
    for page in range(view.pages):
        size = sum(len(p["text"]) for p in view.segments if p["page"] == page)
        assert 0 < size <= PAGE_CHARS * 1.1
    static_html = view.to_html()
    assert len(static_html) < 100_000 and f"page 1 of {view.pages}" in static_html


def test_reference_spans_and_retrieved_chunks_are_marked(python_doc):
    result = nbrag.chunk(python_doc, size=64, overlap=0)
    view = BoundaryView.of(result, references=[(100, 180)], hits={3: 1, 0: 2})
    boxed = "".join(p["text"] for p in view.segments if p["ref"])
    assert boxed == python_doc[100:180]
    assert [c["hit"] for c in view.chunks][:4] == [2, 0, 0, 1]
    assert "★1" in view.to_html() and "nbrag-ref" in view.to_html() and "reference answer" in view.legend


def test_outline_follows_headings_and_parent_spans(python_doc):
    doc = "# Guide\n\nIntro text here.\n\n## Install\n\n### Linux\n\nRun apt.\n\n## Use\n\nCall it.\n"
    tree = outline(nbrag.chunk(doc, method="structure", size=8))
    assert tree[0]["label"] == "Guide"
    assert [n["label"] for n in tree[0]["children"]] == ["Install", "Use"]
    assert tree[0]["children"][0]["children"][0]["label"] == "Linux"
    result = nbrag.chunk(python_doc, method="recursive", size=48)
    tree = outline(result)

    def walk(nodes):
        for node in nodes:
            yield from node["chunks"]
            yield from walk(node["children"])

    assert sorted(walk(tree)) == list(range(len(result)))  # every chunk once
    assert outline(nbrag.chunk(python_doc, size=64, overlap=0)) == []


def test_clicked_chunk_metadata_is_sent_as_json(python_doc):
    view = BoundaryView.of(nbrag.chunk(python_doc, method="recursive", size=48))
    assert view.chunks[1]["meta"]["level"] and "parent" in view.chunks[1]["meta"]
    json.dumps(view.get_state())
