"""Shared spans: token offsets of long texts, encoded in pieces, equal those of one encoding."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

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
