"""nbrag.text: scripts, the stop list, sentences and search terms, shared by every part of nbrag."""

from __future__ import annotations

from nbrag import text


def test_han_and_cjk_classes():
    assert text.has_han("Python的with语句") and not text.has_han("Python with")
    assert not text.has_han("。、「」"), "CJK punctuation is not a Chinese character"
    assert text.CJK.match("か") and text.CJK.match("한") and not text.CJK.match("a")
    assert text.script_share("绿茶 tea") == {"han": 4 / 7, "latin": 3 / 7}
    assert text.script_share("1234 !?") == {"han": 0.0, "latin": 0.0}


def test_sentences_tile_the_text_and_respect_abbreviations():
    doc = "Dr. Smith came with J. R. Doe and left. He said: “Go!” Then 好的。我们走吧！"
    spans = text.sentence_spans(doc)
    assert "".join(doc[a:b] for a, b in spans) == doc
    assert [doc[a:b].strip() for a, b in spans] == ["Dr. Smith came with J. R. Doe and left.", "He said: “Go!”",
                                                    "Then 好的。", "我们走吧！"]


def test_lines_end_sentences_when_asked():
    doc = "Title\nFirst point\n\nSecond point. More."
    assert [doc[a:b].strip() for a, b in text.sentence_spans(doc)] == ["Title\nFirst point\n\nSecond point.", "More."]
    assert [doc[a:b].strip() for a, b in text.sentence_spans(doc, lines=True)] == [
        "Title", "First point", "Second point.", "More."]


def test_terms_and_their_spans_agree():
    doc = "Ｐｙ３ and the 绿茶储存 of Python"
    assert text.terms(doc) == ["py3", "绿茶", "茶储", "储存", "python"]
    spans = text.term_spans(doc)
    assert [t for t, _, _ in spans if t not in text.STOP_WORDS] == text.terms(doc)
    assert all(doc[a:b].casefold() == t or t.isascii() for t, a, b in spans)


def test_content_words_leave_out_the_stop_words():
    assert text.content_words("Who built the first lens of the Cordouan lighthouse?") == [
        "built", "first", "lens", "cordouan", "lighthouse"]
    assert text.content_words("谁建造了灯塔") == ["谁", "建", "造", "了", "灯", "塔"]
