"""Property tests over every registered chunker: exact slices that cover every token."""

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbrag
from nbrag.chunking import available
from nbrag.models import load_tokenizer

# Letters and digits of several scripts, CJK, emoji, punctuation (full-width too),
# whitespace, blank lines, control characters, and Markdown and HTML structure (well formed or not).
ALPHABET = st.sampled_from(
    list("abcXYZ019éßøЖжαβ") + list("中文检索增强。！？；，…") + ["🙂", "👍🏽", "\u200b", "\x00", "\x07", "\ufffd"]
    + list(" \t\n\r.,;:!?\"'()[]<>&") + ["\n\n", "\n# ", ". ", "\n```\n", "\n| a | b |\n|---|---|\n", "\n- "]
    + ["<h2>", "</h2>", "<pre>", "</pre>", "<ul><li>", "</li></ul>", "<table>", "</table>", "<p>"]
)
TEXT = st.lists(ALPHABET, max_size=300).map("".join) | st.text(max_size=200)


def dropped_by_tokenizer(ch: str) -> bool:
    """Whitespace, control and format characters, and (MiniLM strips accents) combining marks."""
    return ch.isspace() or unicodedata.category(ch) in {"Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me"} or ch == "\ufffd"


def options_for(method: str, size: int, overlap_fraction: float, unit: str) -> dict:
    """The size options each strategy takes."""
    if method == "semantic":
        return {"max_size": size, "unit": unit}
    if method == "llm":  # a client that always names sentence 2; the real model is tested in test_llm.py
        return {"max_size": size, "unit": unit, "generator": lambda messages: "2"}
    options = {"size": size, "unit": unit}
    if method == "fixed":
        options["overlap"] = min(int(size * overlap_fraction), size - 1)
    return options


@pytest.mark.parametrize("method", available())
# Fixed examples by default, so a CI run is repeatable; NBRAG_HYPOTHESIS_EXAMPLES=N explores N fresh ones.
@settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", 150)), deadline=None,
          derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)
@given(text=TEXT, size=st.integers(1, 40), overlap_fraction=st.floats(0, 0.95), unit=st.sampled_from(["token", "char"]))
def test_offsets_and_coverage(method, text, size, overlap_fraction, unit):
    result = nbrag.chunk(text, method=method, **options_for(method, size, overlap_fraction, unit))
    covered = set()
    for i, c in enumerate(result):
        assert c.index == i and text[c.start:c.end] == c.text
        assert 1 <= c.tokens <= size
        covered.update(range(c.start, c.end))
    starts = [c.start for c in result]
    assert starts == sorted(starts)
    if unit == "char":
        assert all(text[i].isspace() for i in set(range(len(text))) - covered)
    else:
        # Every character the tokenizer keeps is in a chunk; what no chunk holds is whitespace or
        # control marks that the tokenizer drops (a token may span a dropped form feed).
        enc = load_tokenizer().encode(text, add_special_tokens=False)
        kept = {i for s, e in enc.offsets for i in range(s, e) if not dropped_by_tokenizer(text[i])}
        assert kept <= covered
        assert all(dropped_by_tokenizer(text[i]) for i in set(range(len(text))) - covered)
