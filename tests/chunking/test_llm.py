import pytest

import nbrag
from nbrag import errors
from nbrag.chunking.llm import numbered, parse_boundaries, prompt
from nbrag.errors import NbragError
from nbrag.llm import CallableGenerator
from tests.chunking.test_semantic import TOPICS_EN, TOPICS_ZH


@pytest.mark.parametrize("reply, n, expected", [
    ("4, 7", 9, [4, 7]),
    (" 7,4,4 ", 9, [4, 7]),
    ("Sections start at 4 and 7.", 9, [4, 7]),
    ("[4] [7]", 9, [4, 7]),
    ("1, 12, 5", 9, [5]),          # 1 and numbers past the last sentence are ignored
    ("1", 9, []),                  # one section
    ("", 9, None),
    ("no boundaries here", 9, None),
    ("1. Bread dough needs flour, water, salt and yeast.\n2. Knead it", 9, None),  # repeats the input
    ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", 9, None),                            # counts instead of choosing
])
def test_parse_boundaries(reply, n, expected):
    assert parse_boundaries(reply, n) == expected


def test_prompt_numbers_the_sentences_after_a_worked_example():
    messages = prompt(["First one.", "Second\n one."])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "1. First one.\n2. Second one."
    assert numbered(["a"]) == "1. a"


def answers(reply):
    """A client that answers every prompt with ``reply`` and records the prompts."""
    def complete(messages):
        complete.prompts.append(messages[-1]["content"])
        return reply
    complete.prompts = []
    return complete


def test_boundaries_from_a_good_answer():
    text = " ".join(TOPICS_EN)
    result = nbrag.chunk(text, method="llm", max_size=200, generator=answers("4, 7"))
    assert [c.text for c in result] == TOPICS_EN
    assert result.details["boundaries"] == [0, 3, 6] and result.details["replies"] == ["4, 7"]
    assert result.params == {"max_size": 200, "window": 30, "generator": "complete", "unit": "token"}
    assert not result.warnings


def test_any_generator_that_nbrag_llm_resolves_drives_it():
    text = " ".join(TOPICS_EN)
    client = answers("4, 7")
    result = nbrag.chunk(text, method="llm", max_size=200, generator=CallableGenerator(client))
    assert [c.text for c in result] == TOPICS_EN and result.params["generator"] == "complete"
    assert client.prompts[0].startswith("1. Bread dough")


def test_complete_is_the_old_name_of_generator(monkeypatch):
    monkeypatch.setattr(errors, "_warned", set())
    text = " ".join(TOPICS_EN)
    with pytest.warns(FutureWarning, match="complete= is now generator="):
        result = nbrag.chunk(text, method="llm", max_size=200, complete=answers("4, 7"))
    assert [c.text for c in result] == TOPICS_EN and result.params["generator"] == "complete"
    with pytest.raises(NbragError, match=r"^complete: give generator= only \(complete= is its old name\)\.$"):
        nbrag.chunk(text, method="llm", complete=answers("2"), generator=answers("2"))


def test_windows_map_local_numbers_to_the_whole_text():
    text = " ".join(TOPICS_EN)
    client = answers("3")
    result = nbrag.chunk(text, method="llm", max_size=200, window=4, generator=client)
    assert len(client.prompts) == 3 and client.prompts[1].startswith("1. It is a gas giant")
    assert result.details["boundaries"] == [0, 2, 4, 6, 8]


def test_max_size_cuts_long_sections(python_doc):
    result = nbrag.chunk(python_doc, method="llm", max_size=40, generator=answers("1"))
    assert len(result) > 5 and all(c.tokens <= 40 for c in result)
    assert all(python_doc[c.start:c.end] == c.text for c in result)


def test_a_reply_that_is_not_an_answer_falls_back_to_semantic_with_a_note():
    text = "".join(TOPICS_ZH)
    result = nbrag.chunk(text, method="llm", max_size=200, generator=answers("我不知道。"))
    assert result.method == "llm" and result.params["fallback"] == "semantic"
    assert result.warnings[0].startswith("The model complete gave no usable list of sentence numbers ('我不知道。')")
    assert result.details["replies"] == ["我不知道。"] and "similarities" in result.details
    assert "".join(c.text for c in result) == text


@pytest.mark.slow
def test_the_offline_default_generator_never_breaks_the_chunker():
    text = " ".join(TOPICS_EN)
    result = nbrag.chunk(text, method="llm", max_size=64)
    assert result.details["replies"] and result.chunks
    assert all(text[c.start:c.end] == c.text and c.tokens <= 64 for c in result)
    if result.params.get("fallback"):
        assert "semantic chunker instead" in result.warnings[0]


def test_bad_window():
    with pytest.raises(NbragError, match=r"^window=1: must be a whole number of at least 2 sentences\.$"):
        nbrag.chunk("text", method="llm", window=1, generator=answers("2"))
    with pytest.raises(NbragError, match=r"^generator=42: not a generator: give None"):
        nbrag.chunk("Some text. More text.", method="llm", generator=42)
