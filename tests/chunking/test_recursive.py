import itertools

import pytest

import nbrag
from nbrag.errors import NbragError, NbragTypeError
from nbrag.models import load_tokenizer
from nbrag.text import sentence_spans

MARKDOWN = """Guide
=====

Intro paragraph about the tool. It has two sentences.

## Install

Run the installer. Then restart the machine, and check the logs.
Another line of the same paragraph.

## Use

Open the notebook.
"""


def check(text, result, size):
    for i, c in enumerate(result):
        assert c.index == i and text[c.start:c.end] == c.text and c.text == c.text.strip()
        assert 1 <= c.tokens <= size
        parent = c.meta["parent"]
        if parent is not None:
            assert parent["start"] <= c.start and c.end <= parent["end"]
    for a, b in itertools.pairwise(result):
        assert a.end <= b.start, "recursive chunks do not overlap"
        assert text[a.end:b.start].strip() == "", "nothing between two chunks but whitespace"


@pytest.mark.parametrize("size", [8, 16, 64, 256])
def test_real_document(python_doc, size):
    result = nbrag.chunk(python_doc, method="recursive", size=size)
    check(python_doc, result, size)
    levels = {c.meta["level"] for c in result}
    assert levels <= {"document", "section", "paragraph", "line", "sentence", "clause", "word", "window", "characters"}


def test_paragraphs_are_kept_whole_when_they_fit(python_doc):
    result = nbrag.chunk(python_doc, method="recursive", size=64)
    tokenizer = load_tokenizer()
    paragraphs = [p.strip() for p in python_doc.split("\n\n") if p.strip()]
    small = [p for p in paragraphs if len(tokenizer.encode(p, add_special_tokens=False).ids) <= 64]
    assert len(small) > 10
    assert all(any(p in c.text for c in result) for p in small)


def test_markdown_sections_and_parents():
    result = nbrag.chunk(MARKDOWN, method="recursive", size=24)
    check(MARKDOWN, result, 24)
    texts = [c.text for c in result]
    assert any(t.startswith("## Install") for t in texts) and any(t.startswith("## Use") for t in texts)
    assert not any("## Install" in t and "## Use" in t for t in texts)
    # A chunk made below section level can be expanded to the span it was split from.
    inner = next(c for c in result if c.meta["level"] in {"paragraph", "line", "sentence"})
    parent = MARKDOWN[inner.meta["parent"]["start"]:inner.meta["parent"]["end"]]
    assert inner.text in parent and len(parent) > len(inner.text)


def test_chinese_splits_at_sentences_and_clauses(chinese):
    result = nbrag.chunk(chinese, method="recursive", size=20)
    check(chinese, result, 20)
    assert all(" " not in c.text for c in result)
    ends = [c.text[-1] for c in result]
    assert sum(e in "。！？；，：…" for e in ends) >= len(result) - 2, ends


def test_a_word_longer_than_size_is_cut_into_even_windows():
    result = nbrag.chunk("a" * 100, method="recursive", size=30, unit="char")
    assert [c.tokens for c in result] == [25, 25, 25, 25]
    assert {c.meta["level"] for c in result} == {"window"}


def test_the_whole_text_is_one_chunk_when_it_fits():
    result = nbrag.chunk("  Short text.  ", method="recursive", size=50)
    assert [(c.text, c.start, c.meta["level"], c.meta["parent"]) for c in result] == [
        ("Short text.", 2, "document", None)]


def test_levels_can_be_chosen_and_are_checked():
    text = "One. Two. Three. Four."
    result = nbrag.chunk(text, method="recursive", size=3, levels=("sentence",))
    assert [(c.text, c.tokens) for c in result] == [("One.", 2), ("Two.", 2), ("Three.", 2), ("Four.", 2)]
    assert [c.text for c in nbrag.chunk(text, method="recursive", size=4, levels=("sentence",))] == [
        "One. Two.", "Three. Four."]
    with pytest.raises(NbragError, match="levels=\\['chapter'\\]: choose one or more of section, paragraph"):
        nbrag.chunk(text, method="recursive", levels=("chapter",))
    with pytest.raises(NbragTypeError, match=r"^overlap=4: not an option of the recursive chunker, which takes "
                                             r"size, unit, tokenizer, levels\.$"):
        nbrag.chunk(text, method="recursive", overlap=4)


@pytest.mark.parametrize("text, sentences", [
    ("Hello world. This is Dr. Smith! Is it? Yes.", ["Hello world. ", "This is Dr. Smith! ", "Is it? ", "Yes."]),
    ("J. K. Rowling wrote it, e.g. here. End", ["J. K. Rowling wrote it, e.g. here. ", "End"]),
    ("你好，世界。这是测试！真的吗？是的……好。“引号。”结束",
     ["你好，世界。", "这是测试！", "真的吗？", "是的……", "好。", "“引号。”", "结束"]),
    ("", []),
])
def test_sentence_spans_tile_the_text(text, sentences):
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == sentences
    assert "".join(text[a:b] for a, b in spans) == text


def test_hotpotqa_passages(hotpot_passages):
    for text in hotpot_passages[:100]:
        check(text, nbrag.chunk(text, method="recursive", size=32), 32)


def test_a_heading_opens_the_section_it_titles():
    body = " ".join(["The gauge sits on open ground away from trees."] * 6)
    doc = f"# Guide\n\nShort intro.\n\n## Instruments\n\n### Rain gauges\n\n{body}\n\n{body}\n"
    result = nbrag.chunk(doc, method="recursive", size=90)
    check(doc, result, 90)
    assert not any(c.text.strip() in {"## Instruments", "### Rain gauges"} for c in result)
    opening = next(c for c in result if "## Instruments" in c.text)
    assert opening.text.startswith("## Instruments\n\n### Rain gauges\n\nThe gauge")
    assert "Short intro." not in opening.text
