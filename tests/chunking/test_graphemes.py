"""Grapheme clusters stay whole, a chunk's characters are bounded, and lone surrogates are refused."""

import itertools
import os

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models

import nbrag
from nbrag.chunking.text import MIN_TOKEN_CHARS, TokenCounter, longest_token, token_chars
from nbrag.errors import NbragError
from nbrag.models import load_tokenizer
from nbrag.text import at_grapheme_boundary, grapheme_ceil, grapheme_cuts, grapheme_floor
from tests.chunking.test_properties import CLUSTERS

PIECES = st.lists(st.sampled_from([*CLUSTERS, *"ab \r\n", "\u200d", "\ufe0f", "🏽", "\u094d", "\u11a8"]),
                  max_size=40).map("".join)


def boundaries(text):
    return {0, *(m.end() for m in regex.finditer(r"\X", text))}


@settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", 300)), deadline=None,
          derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)
@given(text=PIECES, most=st.integers(1, 12))
def test_boundaries_read_near_a_position_agree_with_segmenting_the_whole_text(text, most):
    cuts = boundaries(text)
    for p in range(len(text) + 1):
        assert at_grapheme_boundary(text, p) == (p in cuts)
        assert grapheme_floor(text, p) == max(c for c in cuts if c <= p)
        assert grapheme_ceil(text, p) == min(c for c in cuts if c >= p)
    pieces = list(zip([0, *grapheme_cuts(text, 0, len(text), most)], [*grapheme_cuts(text, 0, len(text), most),
                                                                        len(text)]))
    assert all(b in cuts for _, b in pieces) and "".join(text[a:b] for a, b in pieces) == text
    assert all(b - a <= most or regex.fullmatch(r"\X", text[a:b]) for a, b in pieces)


def test_a_run_of_flags_is_cut_between_pairs():
    flags = "🇫🇷🇩🇪🇯🇵" * 20  # regional indicators, two to a flag, 120 in a row
    assert grapheme_floor(flags, 61) == 60 and grapheme_ceil(flags, 61) == 62
    assert not at_grapheme_boundary(flags, 119) and at_grapheme_boundary(flags, 118)
    assert grapheme_cuts(flags, 0, len(flags), 7) == list(range(6, 120, 6))


def test_the_longest_token_of_a_vocabulary():
    assert longest_token(load_tokenizer()) == 18  # "telecommunications"
    assert token_chars(nbrag.settings.chunk_tokenizer) == 18
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "ab": 1, "##abcdefg": 2}, unk_token="[UNK]"))
    assert longest_token(wordpiece) == 7  # the continuation prefix is not text
    assert MIN_TOKEN_CHARS == 16


def test_combining_marks_stay_with_their_letter():
    text = "cafe\u0301 noir"  # MiniLM drops the accent: its token "cafe" ends before it
    for method in ("fixed", "recursive", "structure"):
        result = nbrag.chunk(text, method=method, size=1, **({"overlap": 0} if method == "fixed" else {}))
        assert [c.text for c in result] == ["cafe\u0301", "noir"], method


def test_a_cluster_of_several_tokens_is_one_chunk_even_when_larger_than_size():
    syllables = "\u1100\u1161\u11a8\u1112\u1161\u11ab"  # two Hangul syllables written as jamo: three tokens each
    result = nbrag.chunk(syllables, size=2, overlap=0)
    assert [(c.text, c.tokens) for c in result] == [("\u1100\u1161\u11a8", 3), ("\u1112\u1161\u11ab", 3)]
    flags = nbrag.chunk("🇫🇷🇩🇪", size=1, overlap=0, unit="char")
    assert [(c.text, c.tokens) for c in flags] == [("🇫🇷", 2), ("🇩🇪", 2)]


def test_a_long_unknown_word_is_cut_by_characters_with_its_overlap():
    text = "It is " + "a" * 1000 + " here."
    result = nbrag.chunk(text, size=4, overlap=1)
    assert all(len(c.text) <= 4 * 18 and c.tokens <= 4 for c in result)
    word = [c for c in result if c.text.strip(".") and set(c.text) == {"a"}]
    assert len(word) > 10 and all(b.start == a.end - 18 for a, b in itertools.pairwise(word))  # one unit of overlap
    assert "".join(c.text for c in result).count("a") >= 1000
    assert result.warnings == ["1 stretch of text (such as a long word, URL or base64 that the tokenizer reads as one "
                               "token) ran past the 72 characters a chunk of 4 tokens may hold (18 a token) and was "
                               "cut by characters, at grapheme boundaries."]
    recursive = nbrag.chunk(text, method="recursive", size=4)
    assert [c.meta["level"] for c in recursive] == ["word", *["characters"] * 14, "word"]
    pieces = recursive.chunks[1:-1]
    assert all(len(c.text) <= 72 and c.tokens == 1 and c.meta["parent"] == {"start": 6, "end": 1007} for c in pieces)
    assert "".join(c.text for c in pieces) == "a" * 1000
    assert not nbrag.chunk("It is a short text.", size=4, overlap=1).warnings


def test_characters_between_tokens_count_too():
    """Four tokens with thousands of zero-width spaces between them (the tokenizer drops those) are cut."""
    text = "one" + "\u200b" * 3000 + "two three four"
    result = nbrag.chunk(text, method="recursive", size=4)
    assert [(c.text.strip("\u200b"), c.meta["level"]) for c in result] == [
        ("one", "characters"), ("two", "characters"), ("three four", "word")]
    assert all(len(c.text) <= 72 for c in result)


def test_counting_characters_never_cuts_by_characters():
    counter = TokenCounter("a" * 100, None)
    assert counter.bound(8) == 8 and counter.cut_long([(0, 100)], 100) == [(0, 100)] and counter.note(8) == []


@pytest.mark.parametrize("method", ["fixed", "recursive", "semantic", "structure", "llm"])
@pytest.mark.parametrize("text, where", [("ab\ud800cd", 2), ("smile \ud83d\ude00", 6), ("\udcff", 0)])
def test_a_lone_surrogate_is_refused_with_the_fix(method, text, where):
    with pytest.raises(NbragError) as info:
        nbrag.chunk(text, method=method)
    assert info.value.option == "text"
    assert str(info.value) == (f"text: holds a lone surrogate {text[where]!r} at character {where}, which is not "
                               "text; decode the source with errors='replace'.")


@pytest.mark.parametrize("method", ["fixed", "recursive", "semantic", "structure", "llm"])
def test_a_long_run_of_what_the_tokenizer_drops_is_left_out_without_a_warning(method):
    text = "a. " + "\u200b" * 3000 + " b"
    options = {"size": 4} if method in {"fixed", "recursive", "structure"} else {"max_size": 4}
    if method == "llm":
        options["generator"] = lambda messages: "2"
    result = nbrag.chunk(text, method=method, **options)
    assert [c.text for c in result] == ["a.", "b"] and not result.warnings
