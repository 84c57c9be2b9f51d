import itertools

import pytest

import nbrag
from nbrag.chunking import available, get_chunker
from nbrag.chunking.text import TokenCounter
from nbrag.errors import NbragError, NbragTypeError
from nbrag.models import load_tokenizer


def token_offsets(text):
    return [o for o in load_tokenizer("all-MiniLM-L6-v2").encode(text, add_special_tokens=False).offsets if o[1] > o[0]]


def check_invariants(text, result, size, overlap):
    assert result.chunks, "a non-empty text gives chunks"
    for i, c in enumerate(result):
        assert c.index == i
        assert text[c.start:c.end] == c.text
        assert 0 < c.tokens <= size
        assert c.text == c.text.strip() or not c.text.strip(), "a token window starts and ends on a token"
    starts = [c.start for c in result]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # Together the chunks cover every token of the text.
    offsets = token_offsets(text)
    assert result[0].start == offsets[0][0] and result[-1].end == offsets[-1][1]
    for a, b in itertools.pairwise(result):
        assert b.start <= a.end or overlap == 0
        assert text[a.end:b.start].strip() == "" if overlap == 0 else True


@pytest.mark.parametrize("size, overlap", [(64, 8), (16, 0), (32, 31), (1, 0), (500, 100)])
def test_windows_on_a_real_document(python_doc, size, overlap):
    result = nbrag.chunk(python_doc, size=size, overlap=overlap)
    check_invariants(python_doc, result, size, overlap)
    n = len(token_offsets(python_doc))
    assert sum(c.tokens for c in result) - overlap * (len(result) - 1) == n
    assert all(c.tokens == size for c in result[:-1])


def test_neighbours_share_exactly_overlap_tokens(python_doc):
    result = nbrag.chunk(python_doc, size=40, overlap=10)
    offsets = token_offsets(python_doc)
    starts = {s: i for i, (s, _) in enumerate(offsets)}
    first_token = [starts[c.start] for c in result]
    assert all(b - a == 30 for a, b in itertools.pairwise(first_token))
    for a, b in itertools.pairwise(result):
        shared = [o for o in offsets if a.start <= o[0] and o[1] <= a.end and b.start <= o[0] and o[1] <= b.end]
        assert len(shared) == 10


def test_chinese_keeps_exact_slices_and_invents_no_spaces(chinese):
    result = nbrag.chunk(chinese, size=12, overlap=3)
    check_invariants(chinese, result, 12, 3)
    assert all(" " not in c.text for c in result)
    # Each CJK character and full-width mark is one word piece in MiniLM's vocabulary; "RAG" is one.
    assert result[0].text == chinese[:14] == "检索增强生成（RAG）先从文"


def test_case_and_accents_survive_because_offsets_come_from_the_tokenizer():
    text = "Café CRÈME Brûlée, naïve façade. ÜBER Straße — 東京 🙂 emoji."
    result = nbrag.chunk(text, size=5, overlap=1)
    check_invariants(text, result, 5, 1)
    assert result[0].text.startswith("Café CRÈME")
    assert "🙂" in "".join(c.text for c in result)


def test_hotpotqa_passages(hotpot_passages):
    for text in hotpot_passages[:100]:
        if text.strip():
            check_invariants(text, nbrag.chunk(text, size=32, overlap=4), 32, 4)


def test_characters_as_unit():
    text = "abcdefghijklmnopqrstuvwxyz"
    result = nbrag.chunk(text, size=10, overlap=3, unit="char")
    assert [c.text for c in result] == ["abcdefghij", "hijklmnopq", "opqrstuvwx", "vwxyz"]
    assert [c.tokens for c in result] == [10, 10, 10, 5]
    assert result.params == {"size": 10, "overlap": 3, "unit": "char"}


@pytest.mark.parametrize("n, size, overlap, expected", [
    (0, 4, 1, []), (3, 4, 1, [(0, 3)]), (4, 4, 1, [(0, 4)]), (5, 4, 1, [(0, 4), (3, 5)]),
    (10, 4, 0, [(0, 4), (4, 8), (8, 10)]),
])
def test_window_arithmetic(n, size, overlap, expected):
    assert TokenCounter("x" * n, None).sliding_windows(size, overlap) == expected


def test_empty_and_blank_text_give_no_chunks():
    assert len(nbrag.chunk("", size=8, overlap=0)) == 0
    assert len(nbrag.chunk("  \n\t ", size=8, overlap=0)) == 0


def test_defaults_come_from_settings(settings_guard, python_doc):
    nbrag.configure(chunk_size=20, chunk_overlap=5)
    result = nbrag.chunk(python_doc)
    assert result.params["size"] == 20 and result.params["overlap"] == 5


@pytest.mark.parametrize("options, option, message", [
    ({"size": 0}, "size", "size=0: must be a whole number of at least 1 (counted in tokens)."),
    ({"size": 4.5}, "size", "size=4.5: must be a whole number of at least 1"),
    ({"size": 8, "overlap": 8}, "overlap",
     "overlap=8: must be a whole number from 0 to 7 (smaller than size=8); lower the overlap or raise the size."),
    ({"size": 8, "overlap": -1}, "overlap", "overlap=-1: must be a whole number from 0 to 7"),
    ({"size": 8, "overlap": 0, "unit": "word"}, "unit", "unit='word': choose one of token, char."),
    ({"sise": 8}, "sise", "sise=8: not an option of the fixed chunker, which takes size, overlap, unit, tokenizer."),
])
def test_bad_options_name_the_problem(options, option, message):
    with pytest.raises(NbragError) as info:
        nbrag.chunk("some text", **options)
    assert str(info.value).startswith(message) and info.value.option == option


def test_an_unknown_option_is_also_a_type_error():
    with pytest.raises(TypeError, match="sise=8: not an option of the fixed chunker"):
        nbrag.chunk("some text", sise=8)


def test_registry_lists_what_exists():
    assert "fixed" in available()
    assert get_chunker("token") is get_chunker("fixed")
    with pytest.raises(NbragError, match=r"^method='fixd': no such chunker; choose one of fixed, llm, recursive, "
                                         r"semantic, structure\.$"):
        get_chunker("fixd")


def test_non_text_input_is_refused():
    with pytest.raises(NbragTypeError, match=r"^text: needs a str, got bytes; read files first or pass their text\.$"):
        nbrag.chunk(b"bytes")


def test_chunks_the_embedder_would_truncate_are_reported(python_doc):
    result = nbrag.chunk(python_doc, size=300, overlap=0)
    assert result.warnings and "exceed the 256 tokens" in result.warnings[0]
    assert not nbrag.chunk(python_doc, size=64, overlap=8).warnings


def test_to_dict_round_trips(python_doc):
    result = nbrag.chunk(python_doc, size=64, overlap=8)
    data = result.to_dict()
    assert data["method"] == "fixed" and len(data["chunks"]) == len(result)
    assert data["chunks"][0]["start"] == result[0].start


def test_default_overlap_shrinks_for_small_sizes(settings_guard):
    assert nbrag.settings.chunk_overlap == 32
    assert nbrag.chunk("word " * 100, size=16).params["overlap"] == 2
    assert nbrag.chunk("word " * 100, size=64).params["overlap"] == 32
