"""%%chunk: engine bugs keep their traceback, a person's mistake is one line naming the flag, and
--generator takes a complete(messages) function from the notebook."""

import pytest
from IPython.core.error import UsageError

from nbrag.chunking import ChunkComparison, ChunkResult
from nbrag.chunking.fixed import FixedChunker
from tests.chunking.test_semantic import TOPICS_EN
from tests.magics.test_magics import run


def test_a_bug_inside_the_engine_keeps_its_traceback(ip, monkeypatch):
    def broken(self, text):
        raise RuntimeError("boom")

    monkeypatch.setattr(FixedChunker, "split", broken)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, "%%chunk --size 8\nSome text to chunk.")
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, "%%chunk --compare fixed,recursive --size 8\nSome text to chunk.")


@pytest.mark.parametrize("source, message", [
    ("%%chunk --size 0\ntext", "--size 0: must be a whole number of at least 1 (counted in tokens)."),
    ("%%chunk --size 8 --overlap 8\ntext",
     "--overlap 8: must be a whole number from 0 to 7 (smaller than size=8); lower the overlap or raise the size."),
    ("%%chunk -m semantic --max-size 8 --min-size 9\ntext", "--min-size 9: must be a whole number from 0 to "
                                                             "max_size=8."),
    ("%%chunk -m semantic --threshold 200\ntext",
     "--threshold 200.0: with the percentile threshold type, give a number from 0 to 100."),
    ("%%chunk -m semantik\ntext",
     "--method semantik: no such chunker; choose one of fixed, llm, recursive, semantic, structure."),
    ("%%chunk --compare fixed,rekursive\ntext",
     "--compare rekursive: no such chunker; choose one of fixed, llm, recursive, semantic, structure."),
    ("%%chunk -m fixed --format html\ntext",
     "--format html: not an option of the fixed chunker, which takes size, overlap, unit, tokenizer."),
    ("%%chunk -m recursive --overlap 4\ntext",
     "--overlap 4: not an option of the recursive chunker, which takes size, unit, tokenizer, levels."),
    ("%%chunk --generator reply\ntext",
     "--generator, --endpoint and --model are options of the llm chunker: add -m llm (or llm to --compare)."),
])
def test_a_bad_option_is_one_line_naming_the_flag(ip, source, message):
    ip.user_ns["reply"] = lambda messages: "2"
    with pytest.raises(UsageError) as info:
        run(ip, source)
    assert str(info.value) == message


def test_generator_takes_a_complete_function_from_the_notebook(ip):
    prompts = []

    def topics(messages):
        prompts.append(messages)
        return "4, 7"

    ip.user_ns.update(topics=topics, doc=" ".join(TOPICS_EN))
    result = run(ip, "%chunk --var doc -m llm --max-size 200 --generator topics -o parts")
    assert isinstance(result, ChunkResult) and ip.user_ns["parts"] is result
    assert [c.text for c in result] == TOPICS_EN and result.params["generator"] == "topics"
    assert len(prompts) == 1 and prompts[0][-1]["content"].startswith("1. Bread dough needs flour")
    both = run(ip, "%chunk --var doc --compare fixed,llm --size 200 --generator topics")
    assert isinstance(both, ChunkComparison) and [c.text for c in both.results["llm"]] == TOPICS_EN


def test_a_generator_that_returns_no_text_is_one_line(ip):
    ip.user_ns.update(silent=lambda messages: None, doc=" ".join(TOPICS_EN))
    with pytest.raises(UsageError, match=r"^--generator: the generator '<lambda>' returned NoneType, not text"):
        run(ip, "%chunk --var doc -m llm --generator silent")
