"""nbrag.agent: the plan, retrieval per sub-question with #n answers put in, rewrites, the calculator, the draft,
the check, and the limits that stop it; each step recorded."""

import json
import re

import pytest

import nbrag
from nbrag.errors import NbragError
from nbrag.rag import ACTIONS, AgentResult
from nbrag.rag.agentic import CANNOT, heuristic_plan, parse_plan
from tests.tiny import tiny

from .conftest import extractive
from .servers import serving

BRIDGE = "What is the mouth of the estuary where the first lighthouse lens of Fresnel's design was installed?"


@pytest.mark.parametrize("question, plan", [
    ("What is the seat of the county where Van Hook Township is located?",
     ["What is the county where Van Hook Township is located?", "What is the seat of #1?"]),
    ("Who is the spouse of the father of the director of Titanic?",
     ["What is the director of Titanic?", "What is the father of #1?", "Who is the spouse of #2?"]),
    ("When was the Fresnel lens installed?", ["When was the Fresnel lens installed?"]),
])
def test_the_heuristic_plan_splits_bridge_questions(question, plan):
    assert heuristic_plan(question) == plan


def test_a_model_plan_is_read_only_when_it_is_one():
    question = "What is the capital of the country where the Cordouan lighthouse stands?"
    plan = ["In which country does the Cordouan lighthouse stand?", "What is the capital of #1?"]
    assert parse_plan(f"1. {plan[0]}\n2. {plan[1]}", question) == plan
    looping = "The lighthouse stands in the country where the lighthouse stands in the country where the lighthouse"
    assert parse_plan(looping, question) is None  # repeats itself
    assert parse_plan("In which country does the Cordouan lighthouse stand?", question) is None  # one line: no split
    assert parse_plan("In which country does the Eiffel Tower stand?\nWhat is the capital of #1?", question) is None
    assert parse_plan("What is the capital of #2?\nWhere does the Cordouan lighthouse stand?", question) is None


def test_a_two_hop_question_retrieves_per_sub_question_with_the_first_answer_put_in(english_index):
    result = nbrag.agent(BRIDGE, english_index, generator=extractive, k=3, graph=False)
    assert isinstance(result, AgentResult) and result.stopped is None
    actions = [s.action for s in result.steps]
    assert actions[0] == "plan" and set(actions) <= set(ACTIONS)
    plan = result.steps[0]
    assert "not a usable list" in plan.note and plan.raw is not None
    assert result.sub_questions == ["What is the estuary where the first lighthouse lens of Fresnel's design was "
                                    "installed?", "What is the mouth of #1?"]
    first_answer = result.sub_answers[0]
    (short,) = [s for s in result.steps if s.action == "answer" and s.arguments.get("sub_question") == 1]
    assert short.observation == f"#1 = {first_answer}" and short.raw.split()[:10] == first_answer.split()
    queries = [s.arguments["query"] for s in result.steps if s.action == "retrieve"]
    assert queries[0] == result.sub_questions[0]
    assert f"What is the mouth of {first_answer}?" in queries  # #1 replaced by the first answer
    for step in result.steps:
        assert step.number == result.steps.index(step) + 1 and step.seconds >= 0 and step.thought
        if step.action == "retrieve":
            assert step.hits and step.observation.startswith(step.hits[0].document)
    judged = [s for s in result.steps if s.action == "verify" and s.arguments.get("target") == "evidence"]
    assert judged and all("lexical overlap" in s.note for s in judged)  # the extractive replies are not yes/no
    assert "Cordouan" in result.answer or "Gironde" in result.answer
    assert result.citations and all(c.source is not None for c in result.citations)
    assert result.verified is True and result.steps[-1].action == "verify"
    assert result.tokens["prompt"] == sum(s.prompt_tokens for s in result.steps) > 0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["steps"][0]["action"] == "plan" and data["sub_answers"][0] == first_answer


def test_an_arithmetic_sub_question_goes_to_the_calculator(english_index):
    result = nbrag.agent("What is (1912 - 1869) * 2?", english_index, generator=extractive)
    calc = [s for s in result.steps if s.action == "calculate"]
    assert calc[0].arguments == {"expression": "(1912 - 1869) * 2"} and calc[0].observation.endswith("= 86")
    assert result.answer == "86" and result.verified is True and result.steps[-1].action == "finish"


def test_an_answer_that_fails_the_check_twice_says_it_cannot_answer(english_index):
    result = nbrag.agent("Where was the first lens of Fresnel's design installed?", english_index,
                         generator=extractive, support_threshold=0.99, rewrites=0)
    assert result.answer.startswith(f"{CANNOT}: the answer is not close enough")
    assert result.verified is False and result.steps[-1].action == "finish"
    retries = [s for s in result.steps if s.action == "retrieve" and s.arguments.get("k") == 8]
    assert len(retries) == 1  # one retry with twice k
    assert result.citations == [] and result.draft is not None


def test_max_steps_stops_the_loop_with_a_clear_message(english_index):
    result = nbrag.agent(BRIDGE, english_index, generator=extractive, max_steps=3)
    assert len(result.steps) == 3 and result.stopped.startswith("max_steps=3 reached before the step")
    assert result.answer.startswith(CANNOT) and any(w.startswith("Stopped: max_steps=3") for w in result.warnings)


def test_the_token_budget_stops_the_loop(english_index):
    result = nbrag.agent(BRIDGE, english_index, generator=extractive, token_budget=60)
    assert result.stopped.startswith("token_budget=60 spent") and result.tokens["prompt"] >= 60
    assert "raise token_budget" in result.stopped


def test_graph_search_joins_when_the_index_has_a_graph():
    from nbrag.data import sample_documents

    index = nbrag.Index("rag-tests-graph", memory=True)
    index.add({"lighthouses": sample_documents()["lighthouses"]}, chunker="recursive", size=128, progress=False)
    with pytest.raises(NbragError, match=r"^graph=True: asks for graph search, but the index 'rag-tests-graph' has "
                                         r"no knowledge graph: build it with index\.build_graph\(\)"):
        nbrag.agent(BRIDGE, index, generator=extractive, graph=True)
    index.build_graph(progress=False)
    result = nbrag.agent("Where was the first lens of Fresnel's design installed?", index, generator=extractive)
    (graph_step,) = [s for s in result.steps if s.action == "graph_search"]
    assert graph_step.arguments["graph"] == "ppr" and graph_step.hits
    off = nbrag.agent("Where was the first lens of Fresnel's design installed?", index, generator=extractive,
                      graph=False)
    assert not any(s.action == "graph_search" for s in off.steps)


def test_the_agent_works_through_an_endpoint(english_index, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with serving(lambda body: (extractive(body["messages"]), {})) as server:
        result = nbrag.agent(BRIDGE, english_index, endpoint=server.url, model="extractive", k=3, graph=False)
    local = nbrag.agent(BRIDGE, english_index, generator=extractive, k=3, graph=False)
    assert result.answer == local.answer and result.sub_questions == local.sub_questions
    assert [s.action for s in result.steps] == [s.action for s in local.steps]
    asked = [s for s in result.steps if s.raw is not None]
    assert len(server.requests) == len(asked) and all(r["model"] == "extractive" for r in server.requests)
    assert result.generator == f"extractive at {server.url}"


@pytest.mark.parametrize("options, message", [
    ({"max_steps": 0}, "max_steps=0: give a whole number of at least 1."),
    ({"token_budget": -1}, "token_budget=-1: give a whole number of at least 1."),
    ({"rewrites": -1}, "rewrites=-1: give a whole number of at least 0."),
    ({"max_new_tokens": 0}, "max_new_tokens=0: give a whole number of at least 1."),
    ({"graph": "pagerank"}, "graph='pagerank': use None (graph search when the index has a graph), True, False"),
    ({"support_threshold": "high"}, "support_threshold='high': give a number from -1 to 1 (a cosine similarity"),
    ({"template": "{question}"}, "template='{question}': not a PromptTemplate"),
])
def test_bad_options_are_named(english_index, options, message):
    with pytest.raises(NbragError, match=re.escape(message)) as error:
        nbrag.agent(BRIDGE, english_index, generator=extractive, **options)
    assert error.value.option == next(iter(options))


def test_the_agent_needs_an_index():
    with pytest.raises(NbragError, match=r"^index: the agent retrieves from an index: give index="):
        nbrag.agent(BRIDGE, generator=extractive)


def judging(says):
    """A complete(messages) model that answers every yes/no question with ``says`` and the rest extractively."""
    def complete(messages):
        return says if "Yes or No" in messages[0]["content"] else extractive(messages)

    return complete


def test_a_model_judges_the_evidence_in_words(english_index):
    question = "Where was the first lens of Fresnel's design installed?"
    yes = nbrag.agent(question, english_index, generator=judging("Yes."), k=3, graph=False)
    judged = [s for s in yes.steps if s.action == "verify"]
    assert len(judged) == 2 and all(s.raw == "Yes." and s.note == "" for s in judged)  # the evidence, the draft
    assert all(s.prompt_tokens > 0 and s.completion_tokens > 0 for s in judged)
    assert judged[0].observation.startswith("enough evidence (model)") and "model: yes" in judged[1].observation
    assert yes.verified is True and not any(s.action == "rewrite" for s in yes.steps)

    no = nbrag.agent(question, english_index, generator=judging("No, they do not."), k=3, graph=False, max_steps=20)
    assert no.steps[2].action == "verify" and no.steps[2].observation.startswith("not enough evidence (model)")
    assert no.steps[3].action == "rewrite"  # evidence judged insufficient: rewrite the query
    assert no.verified is False and no.answer == f"{CANNOT}: the model judged that the passages do not support it."


def test_a_local_model_judges_with_its_next_token_logits(english_index, one_thread):
    model, tokenizer = tiny("llama")  # random weights: "Yes" and "No" are single tokens, so the logits decide
    result = nbrag.agent("Where was the first lens of Fresnel's design installed?", english_index,
                         generator=(model, tokenizer), k=2, graph=False, max_steps=3, max_new_tokens=8)
    plan, retrieve, judge = result.steps
    assert (plan.action, retrieve.action, judge.action) == ("plan", "retrieve", "verify")
    assert judge.raw.startswith("logit(Yes) - logit(No) = ") and judge.completion_tokens == 0
    assert judge.prompt_tokens > 100 and result.tokens["completion"] == plan.completion_tokens
    assert result.stopped.startswith("max_steps=3 reached before the step")
