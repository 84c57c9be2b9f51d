"""Property tests over every registered chunker: exact slices that cover every token, keep every grapheme
cluster whole, and hold at most ``size`` tokens and ``size`` times the longest token in characters."""

import bisect
import os
import unicodedata

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

import nbrag
from nbrag.chunking import available
from nbrag.chunking.text import token_chars
from nbrag.models import load_tokenizer

# Letters and digits of several scripts, CJK, emoji, punctuation (full-width too),
# whitespace, blank lines, control characters, and Markdown and HTML structure (well formed or not).
ALPHABET = st.sampled_from(
    list("abcXYZ019éßøЖжαβ") + list("中文检索增强。！？；，…") + ["🙂", "👍🏽", "\u200b", "\x00", "\x07", "\ufffd"]
    + list(" \t\n\r.,;:!?\"'()[]<>&") + ["\n\n", "\n# ", ". ", "\n```\n", "\n| a | b |\n|---|---|\n", "\n- "]
    + ["<h2>", "</h2>", "<pre>", "</pre>", "<ul><li>", "</li></ul>", "<table>", "</table>", "<p>"]
)
TEXT = st.lists(ALPHABET, max_size=300).map("".join) | st.text(max_size=200)

# Characters as people see them that are several code points (grapheme clusters).
CLUSTERS = [
    "e\u0301", "a\u0308\u0301", "n\u0303", " \u0301", "\u0301",  # combining marks (one on a space, one on nothing)
    "👍🏽", "👋🏿", "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "❤\ufe0f", "#\ufe0f\u20e3",  # emoji sequences
    "🇫🇷", "🇩🇪", "🇯🇵", "🇺",  # flags (regional indicator pairs), and one indicator alone
    "\u1100\u1161\u11a8", "\u1112\u1161\u11ab", "\u1100\u1161",  # Hangul syllables written as jamo
    "क्ष", "नमस्ते", "स्त्री", "हिन्दी",  # Devanagari with viramas
]
# Long runs without a space: mixed letters and clusters, or one of them (or a zero-width space) repeated.
RUNS = (st.lists(st.sampled_from([*"abcxyz019", *CLUSTERS[:4], "🇫🇷", "\u1100\u1161\u11a8", "क्ष"]),
                 min_size=30, max_size=300).map("".join)
        | st.tuples(st.sampled_from(["a", "e\u0301", "🇫🇷", "👍🏽", "\u1100\u1161\u11a8", "स्त", "\u200b"]),
                    st.integers(20, 400)).map(lambda pair: pair[0] * pair[1]))
UNICODE_TEXT = st.lists(ALPHABET | st.sampled_from(CLUSTERS) | RUNS, max_size=40).map("".join)

_CLUSTER = regex.compile(r"\X")


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


def check_chunks(text: str, result, size: int, unit: str) -> None:
    """Exact slices in order; every character kept in a chunk; whole grapheme clusters; sizes that hold."""
    boundaries = {0, *(m.end() for m in _CLUSTER.finditer(text))}
    offsets = ([(i, i + 1) for i in range(len(text))] if unit == "char" else
               [o for o in load_tokenizer().encode(text, add_special_tokens=False).offsets if o[1] > o[0]])
    inside_token = {i for s, e in offsets for i in range(s + 1, e)}
    token_starts = [s for s, _ in offsets]
    bound = size * (1 if unit == "char" else token_chars(nbrag.settings.chunk_tokenizer))
    covered = set()
    for i, c in enumerate(result):
        assert c.index == i and text[c.start:c.end] == c.text
        assert c.start in boundaries and c.end in boundaries, f"chunk {i} splits a grapheme cluster"
        first, last = bisect.bisect_left(token_starts, c.start), bisect.bisect_left(token_starts, c.end)
        crossing = first > 0 and offsets[first - 1][1] > c.start
        assert c.tokens == last - first + crossing >= 1  # the tokens it touches
        if c.tokens > size:  # only where no cut between its tokens keeps both tokens and clusters whole
            low = c.start if crossing else token_starts[first]
            cuts = [p for p in range(low + 1, token_starts[last - 1] + 1)
                    if p in boundaries and p not in inside_token]
            assert not cuts, (c, cuts)
        # More characters than the bound only where the chunk is one grapheme cluster.
        assert len(c.text) <= bound or len(c.text) == len(regex.match(r"\X", c.text).group()), (c, bound)
        covered.update(range(c.start, c.end))
    starts = [c.start for c in result]
    assert starts == sorted(starts)
    if unit == "char":
        assert all(text[i].isspace() for i in set(range(len(text))) - covered)
    else:
        # Every character the tokenizer keeps is in a chunk; what no chunk holds is whitespace or
        # control marks that the tokenizer drops (a token may span a dropped form feed).
        kept = {i for s, e in offsets for i in range(s, e) if not dropped_by_tokenizer(text[i])}
        assert kept <= covered
        assert all(dropped_by_tokenizer(text[i]) for i in set(range(len(text))) - covered)


def chunk_and_check(method: str, text: str, size: int, overlap_fraction: float, unit: str) -> None:
    result = nbrag.chunk(text, method=method, **options_for(method, size, overlap_fraction, unit))
    check_chunks(text, result, size, unit)


# Fixed examples by default, so a CI run is repeatable; NBRAG_HYPOTHESIS_EXAMPLES=N explores N fresh ones.
def examples(default: int):
    return settings(max_examples=int(os.environ.get("NBRAG_HYPOTHESIS_EXAMPLES", default)), deadline=None,
                    derandomize="NBRAG_HYPOTHESIS_EXAMPLES" not in os.environ)


@pytest.mark.parametrize("method", available())
@examples(150)
@given(text=TEXT, size=st.integers(1, 40), overlap_fraction=st.floats(0, 0.95), unit=st.sampled_from(["token", "char"]))
def test_offsets_and_coverage(method, text, size, overlap_fraction, unit):
    chunk_and_check(method, text, size, overlap_fraction, unit)


SIZES = {"size": st.integers(1, 24), "overlap_fraction": st.floats(0, 0.95), "unit": st.sampled_from(["token", "char"])}


@pytest.mark.parametrize("method", [m for m in available() if m != "semantic"])
@examples(80)
@given(text=UNICODE_TEXT, **SIZES)
def test_grapheme_clusters_stay_whole(method, text, size, overlap_fraction, unit):
    chunk_and_check(method, text, size, overlap_fraction, unit)


@examples(20)  # fewer: it embeds every sentence; its spans come from the same code as the llm chunker's
@given(text=UNICODE_TEXT, **SIZES)
def test_grapheme_clusters_stay_whole_in_semantic_chunks(text, size, overlap_fraction, unit):
    chunk_and_check("semantic", text, size, overlap_fraction, unit)


@pytest.mark.parametrize("method", available())
@pytest.mark.parametrize("unit, size", [("token", 64), ("char", 4000)])
def test_a_100_kb_run_of_one_letter(method, unit, size):
    text = "It starts here. " + "a" * 100_000 + " And it ends here."
    result = nbrag.chunk(text, method=method, **options_for(method, size, 0.1, unit))
    check_chunks(text, result, size, unit)
    cut = [w for w in result.warnings if "cut by characters" in w]
    if unit == "token":  # MiniLM reads the run as one unknown token
        assert len(cut) == 1 and cut[0].startswith("1 stretch of text") and f"{64 * 18} characters" in cut[0]
    else:
        assert not cut
