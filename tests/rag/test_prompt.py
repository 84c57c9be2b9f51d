"""The prompt template and the token budget: what does not fit is cut or left out, and a warning says so."""

import pytest

from nbrag.errors import NbragError, NbragTypeError
from nbrag.llm import CallableGenerator
from nbrag.rag import DEFAULT_TEMPLATE, PromptTemplate
from nbrag.rag.prompt import ELLIPSIS, assemble
from nbrag.retrieval import Hit

from .test_support import FRESNEL, RAIN


def hit(i, text):
    return Hit(id=f"c{i}", text=text, document=f"doc{i}", start=0, end=len(text), score=1.0, rank=i)


GEN = CallableGenerator(lambda messages: "")
HITS = [hit(1, FRESNEL), hit(2, RAIN), hit(3, FRESNEL + " " + RAIN)]


def test_every_source_fits_a_large_budget_and_is_numbered_in_rank_order():
    messages, sources, warnings = assemble(DEFAULT_TEMPLATE, "Who made the lens?", HITS, GEN, 2000)
    assert warnings == [] and [s.number for s in sources] == [1, 2, 3]
    assert messages[0]["role"] == "system" and messages[1]["role"] == "user"
    user = messages[1]["content"]
    assert user.index("[1] " + FRESNEL) < user.index("[2] " + RAIN) < user.index("[3] ") < user.index("Who made")
    assert all(s.text == s.hit.text and not s.truncated and not s.dropped for s in sources)


def test_a_tight_budget_cuts_one_source_drops_the_rest_and_says_so():
    hits = [hit(1, FRESNEL), hit(2, FRESNEL + " " + RAIN + " " + FRESNEL), hit(3, RAIN)]
    fixed = GEN.count_messages(DEFAULT_TEMPLATE.messages("Who made the lens?", ""))
    budget = fixed + GEN.count_tokens(f"[1] {FRESNEL}") + 60
    messages, sources, warnings = assemble(DEFAULT_TEMPLATE, "Who made the lens?", hits, GEN, budget)
    first, second, third = sources
    assert first.text == FRESNEL and not first.truncated and not first.dropped
    assert second.truncated and second.text.endswith(ELLIPSIS)
    assert second.hit.text.startswith(second.text[:-len(ELLIPSIS)]) and len(second.text) < len(second.hit.text)
    assert second.tokens == GEN.count_tokens(second.text)
    assert third.dropped and third.text == "" and "[3] " not in messages[1]["content"]
    assert "[2] " + second.text in messages[1]["content"]
    assert f"context_tokens={budget}" in warnings[0] and "source [2] was cut" in warnings[0]
    assert "[3] was left out" in warnings[0]
    assert GEN.count_messages(messages) <= budget + 4  # separators are counted one by one


def test_no_room_at_all_drops_every_source():
    _, sources, warnings = assemble(DEFAULT_TEMPLATE, "Who made the lens?", HITS, GEN, 10)
    assert all(s.dropped for s in sources) and "[1], [2], [3] were left out" in warnings[0]


def test_the_template_is_editable_and_checked():
    template = PromptTemplate(system="", user="Q: {question}\n{sources}", source="<{number}|{title}> {text}")
    messages, _, _ = assemble(template, "Who?", HITS[:1], GEN, 1000)
    assert messages == [{"role": "user", "content": f"Q: Who?\n<1|doc1> {FRESNEL}"}]
    with pytest.raises(NbragError, match=r"^PromptTemplate\.user has no \{question\} placeholder"):
        PromptTemplate(system="", user="{sources}")
    with pytest.raises(NbragError, match=r"^PromptTemplate\.source has no \{text\} placeholder"):
        PromptTemplate(system="", user="{question}", source="[{number}]")
    with pytest.raises(NbragError, match="cannot fill"):
        PromptTemplate(system="", user="{question} {context}")
    assert DEFAULT_TEMPLATE.to_dict()["source"] == "[{number}] {text}"


def test_an_answer_prefix_ends_the_messages_as_the_assistant_turn_and_starts_the_answer(english_index):
    import dataclasses

    import nbrag
    from nbrag.rag import DEFAULT_TEMPLATE

    template = dataclasses.replace(DEFAULT_TEMPLATE, answer_prefix="According to source [")
    messages = template.messages("Why?", "[1] Because.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    seen = []

    def complete(messages):
        seen.append(messages)
        return "1] the lamp was lit."

    answer = nbrag.ask("Who lit the lamp?", english_index, k=2, generator=complete, template=template)
    assert seen[0][-1] == {"role": "assistant", "content": "According to source ["}
    assert answer.text == "According to source [1] the lamp was lit."
    assert [c.number for c in answer.citations] == [1]
    with pytest.raises(NbragTypeError, match=r"^PromptTemplate\.answer_prefix must be text, not NoneType"):
        dataclasses.replace(DEFAULT_TEMPLATE, answer_prefix=None)
