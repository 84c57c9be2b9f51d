"""Shared spans: token offsets of long texts, encoded in pieces, equal those of one encoding."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

import nbrag
from nbrag.chunking import text as spans
from nbrag.chunking.text import reads_words_apart, token_offsets
from nbrag.models import load_tokenizer
from tests.chunking.test_properties import ALPHABET


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of a few characters, so that short texts are cut in many places."""
    monkeypatch.setattr(spans, "PIECE_CHARS", 3)


@pytest.mark.usefixtures("small_pieces")
@settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", 200)), deadline=None,
          derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)
@given(text=st.lists(ALPHABET | st.sampled_from(["\u0301", "e\u0301", " \u0301", "\x1c", "\u3000", "\r\n"]),
                     max_size=300).map("".join) | st.text(max_size=200))
def test_pieces_give_the_offsets_of_one_encoding(text):
    tok = load_tokenizer()
    assert token_offsets(tok, text) == tok.encode(text, add_special_tokens=False).offsets


def test_real_document_in_pieces(python_doc, small_pieces):
    tok = load_tokenizer()
    assert len(python_doc) > 1000
    assert token_offsets(tok, python_doc) == tok.encode(python_doc, add_special_tokens=False).offsets


def word_level(pre_tokenizer, normalizer=None) -> Tokenizer:
    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tok.normalizer = normalizer
    return tok


def test_only_tokenizers_that_read_words_apart_are_encoded_in_pieces(small_pieces):
    assert reads_words_apart(load_tokenizer())
    assert reads_words_apart(word_level(pre_tokenizers.WhitespaceSplit(), normalizers.Lowercase()))
    # SentencePiece and byte-level BPE mark word starts with the space before them.
    assert not reads_words_apart(word_level(pre_tokenizers.Metaspace()))
    assert not reads_words_apart(word_level(pre_tokenizers.ByteLevel()))
    assert not reads_words_apart(word_level(pre_tokenizers.WhitespaceSplit(), normalizers.Replace(" ", "")))
    stripping = word_level(pre_tokenizers.WhitespaceSplit())
    stripping.add_special_tokens([AddedToken("<mask>", lstrip=True)])
    assert not reads_words_apart(stripping)
    metaspace = word_level(pre_tokenizers.Metaspace())
    text = "a a  a\na " * 5
    assert token_offsets(metaspace, text) == metaspace.encode(text, add_special_tokens=False).offsets


# ------------------------------------------------------------------ counts from pieces encoded without offsets

PIECE_TEXT = st.lists(ALPHABET | st.sampled_from(["\u0301", "e\u0301", " \u0301", "\x1c", "\x0c", "\u3000", "\xa0",
                                                  "\r\n", "\n \t\n", "  ", "telecommunications", "a" * 40]),
                      max_size=200).map("".join) | st.text(max_size=200)


def assert_same_answers(tok, text, size):
    """A PieceCounter answers every question as a TokenCounter over one encoding does."""
    whole = spans.TokenCounter(text, tok.encode(text, add_special_tokens=False).offsets, 16)
    pieces = spans.PieceCounter(text, tok, 16, size)
    n = len(text)
    assert pieces(0, n) == whole(0, n) == len(whole.offsets)
    for p in range(n + 1):
        assert pieces(0, p) == whole(0, p), p
        assert pieces.inside_token(p) == whole.inside_token(p), p
        assert pieces.touching(p, n) == whole.touching(p, n), p
        assert pieces.touching(p, min(n, p + 3)) == whole.touching(p, min(n, p + 3)), p
    for a, b in [(0, n), (n // 3, 2 * n // 3), (1, n - 1)]:
        if a < b:
            mine, theirs = pieces.units(a, b), whole.units(a, b)
            assert (list(mine.starts), list(mine.ends)) == (list(theirs.starts), list(theirs.ends))
            assert pieces.even_windows(a, b, 3) == whole.even_windows(a, b, 3)
    assert pieces.offsets == whole.offsets and pieces.widest == whole.widest


@pytest.mark.usefixtures("small_pieces")
@settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", 200)), deadline=None,
          derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)
@given(text=PIECE_TEXT, size=st.sampled_from([None, 1, 4]))
def test_piece_counts_are_those_of_one_encoding(text, size):
    assert_same_answers(load_tokenizer(), text, size)


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("tok", [word_level(pre_tokenizers.WhitespaceSplit(), normalizers.Lowercase()),
                                 word_level(pre_tokenizers.Whitespace())], ids=["whitespace-split", "whitespace"])
def test_piece_counts_of_other_tokenizers_that_read_words_apart(tok):
    assert reads_words_apart(tok)
    assert_same_answers(tok, "A a\x1c a\x0ca\n\n\ta\u3000a, a\r\n  A.a\xa0a \x85a", None)


def test_piece_cuts_fall_after_line_breaks_and_spaces(small_pieces):
    text = "ab cd\n\n \nef\rgh ij\nkl"
    cuts = spans.piece_cuts(text)
    assert cuts[0] == 0 and cuts[-1] == len(text) and cuts == sorted(set(cuts))
    assert all(text[c - 1] in " \n" for c in cuts[1:-1])  # no token of such tokenizers holds either
    assert {9, 18} <= set(cuts)  # after each run of line breaks (with the blanks among them)
    assert 6 in cuts and 3 not in cuts  # and in a long line (over PIECE_CHARS, 3 here), after a space past it
    assert spans.piece_cuts("") == [0] and spans.piece_cuts("a\n") == [0, 2]


def test_a_piece_that_fits_is_never_encoded_with_offsets(hotpot_passages):
    """The recursive chunker asks about places inside a line only where the line is too long: the lines that fit
    are counted without offsets."""
    from nbrag.chunking.recursive import RecursiveConfig, split_span

    text = "\n\n".join(hotpot_passages[:40])
    assert isinstance(spans.token_counter(text, "token", "all-MiniLM-L6-v2", pieces=64), spans.PieceCounter)
    counter = spans.PieceCounter(text, load_tokenizer("all-MiniLM-L6-v2"), 16)  # no line read with offsets at once
    for (a, b), _, _ in split_span(text, (0, len(text)), counter, 64, RecursiveConfig().levels):
        counter.touching(*counter.strip(a, b))
    lines = range(len(counter.cuts) - 1)
    too_long = {k for k in lines if counter.before[k + 1] - counter.before[k] > 64}
    assert 10 < len(too_long) < len(lines) - 10
    assert set(counter._offsets) == too_long


def one_encoding_counter(text, unit, tokenizer, pieces=None):
    """The counter the recursive chunker used before lines were encoded apart: one encoding, every offset."""
    return spans.TokenCounter(text, load_tokenizer(tokenizer).encode(text, add_special_tokens=False).offsets,
                              spans.token_chars(tokenizer))


def recursive_spans(text, size, **options):
    result = nbrag.chunk(text, method="recursive", size=size, **options)
    return [(c.start, c.end, c.tokens, c.meta["level"], c.meta["parent"]) for c in result], result.notes


EDGE_TEXTS = [
    "日本語の文章です。これはテストです、そして長い文が続きます。" * 30,
    "中文句子很长，没有空格，逗号分隔，继续写下去，直到很长很长。" * 30,
    "👨‍👩‍👧‍👦 family 🇫🇷🇩🇪 flags e\u0301\u0301 ñ\n" * 60,
    "a" * 5000 + " " + "supercalifragilistic" * 100,
    "line one\n\n\n\nline two\n\n\n" * 40 + "\n" * 50,
    "# Title\n\n## Sub\n\nPara " * 40 + "\nTitle\n=====\n\nSome text.",
    "zero\u200bwidth\u200b" * 200 + "form\x0cfeed \x0c" * 200 + "\u3000".join(["全角"] * 200),
    "한국어 문장입니다. " * 60 + "\u1100\u1161\u11a8" * 100 + " \u0301" * 100,
    "Tabs\tand\r\nCRLF,\r\n  with: commas; " * 80,
]


@pytest.mark.parametrize("size", [256, 16, 3])
def test_recursive_chunks_are_those_of_one_encoding(hotpot_passages, monkeypatch, size):
    """Counting lines encoded apart changes no chunk: real passages (joined as the benchmark joins them) and
    edge texts give the same spans, token counts, levels, parents and notes."""
    from nbrag.chunking import recursive

    texts = ["\n\n".join(hotpot_passages[i:i + 20]) for i in range(0, 60 if size > 3 else 20, 20)] + EDGE_TEXTS
    pieces = [recursive_spans(text, size) for text in texts]
    monkeypatch.setattr(recursive, "token_counter", one_encoding_counter)
    assert [recursive_spans(text, size) for text in texts] == pieces


@settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", 100)), deadline=None,
          derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)
@given(text=PIECE_TEXT, size=st.sampled_from([1, 2, 5, 12]))
def test_recursive_chunks_of_any_text_are_those_of_one_encoding(text, size):
    from nbrag.chunking import recursive

    pieces = recursive_spans(text, size)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recursive, "token_counter", one_encoding_counter)
        assert recursive_spans(text, size) == pieces


def test_lines_likely_too_long_are_encoded_with_offsets_at_once():
    """A line of ideographs holds about a token a character: one too long for a chunk is read with offsets at once
    (not counted, then encoded again), as a long English line is; lines that fit are counted without offsets."""
    zh = "北京是中华人民共和国的首都，也是全国的政治、文化中心。"  # 27 characters, 27 MiniLM tokens
    en = "Beijing is the capital of the People's Republic of China. "
    text = "\n".join([zh * 12, zh * 2, en * 20, en * 2, "é" * 300, zh * 12])
    counter = spans.PieceCounter(text, load_tokenizer(), 16, size=256)
    counts = [counter.before[k + 1] - counter.before[k] for k in range(len(counter.cuts) - 1)]
    assert [count > 256 for count in counts] == [True, False, True, False, False, True]
    assert set(counter._offsets) == {0, 2, 5}
    assert spans.english_chars(en) == len(en) and spans.english_chars(zh) == 4 * len(zh)
