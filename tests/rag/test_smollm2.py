"""The real offline generator (SmolLM2-135M-Instruct) end to end: ask and the agent on the sample documents."""

import pytest

import nbrag
from nbrag.models import load_generator

from .test_agent import BRIDGE
from .test_ask import QUESTION


@pytest.mark.slow
def test_smollm2_answers_a_sample_question_from_the_passages(english_index):
    pieces = []
    answer = nbrag.ask(QUESTION, english_index, k=3, max_new_tokens=48, stream=pieces.append)
    assert "Cordouan" in answer.text  # greedy, so the same reply every run
    assert "".join(pieces).strip() == answer.text
    tokenizer = load_generator()[1]
    assert answer.prompt == tokenizer.apply_chat_template(answer.messages, tokenize=False, add_generation_prompt=True)
    assert answer.prompt.startswith("<|im_start|>system\n") and answer.sources[0].text in answer.prompt
    assert answer.tokens["prompt"] == len(tokenizer(answer.prompt, add_special_tokens=False)["input_ids"])
    # The 135M model answers from the passages but does not write the citation markers it was asked for:
    # the answer is kept, the warning says so, and the support check names the passage closest to it.
    cited = [answer.sources[c.source] for c in answer.citations if c.source is not None]
    if cited:
        assert any("Cordouan" in s.text for s in cited)
    else:
        assert any("cites no source" in w for w in answer.warnings)
    best = {check.best for check in answer.support if check.supported}
    assert any("Cordouan" in answer.sources[n - 1].text for n in best)


@pytest.mark.slow
def test_smollm2_runs_the_agent_and_every_step_is_recorded(english_index):
    result = nbrag.agent(BRIDGE, english_index, k=2, max_new_tokens=32, max_steps=8, graph=False)
    assert result.steps[0].action == "plan" and result.steps[0].raw  # the model's own plan reply is kept
    assert len(result.sub_questions) >= 1 and any(s.action == "retrieve" and s.hits for s in result.steps)
    asked = [s for s in result.steps if s.raw is not None]
    assert all(s.prompt_tokens > 0 for s in asked)
    assert result.tokens["prompt"] == sum(s.prompt_tokens for s in result.steps)
    assert result.answer and (result.stopped is None or result.stopped.startswith("max_steps=8"))


@pytest.mark.slow
def test_an_answer_prefix_makes_smollm2_cite_and_the_prompt_shows_it(english_index):
    import dataclasses

    template = dataclasses.replace(nbrag.rag.DEFAULT_TEMPLATE, answer_prefix="According to source [")
    pieces = []
    answer = nbrag.ask(QUESTION, english_index, k=3, max_new_tokens=48, template=template, stream=pieces.append)
    assert answer.messages[-1] == {"role": "assistant", "content": "According to source ["}
    tokenizer = load_generator()[1]
    assert answer.prompt == tokenizer.apply_chat_template(answer.messages, tokenize=False,
                                                          continue_final_message=True)
    assert answer.prompt.endswith("<|im_start|>assistant\nAccording to source [")
    assert answer.text.startswith("According to source [") and "".join(pieces).strip() == answer.text
    # the number is the model's own choice, and it names a source that was given
    assert answer.citations and all(c.source is not None for c in answer.citations)
    assert "Cordouan" in answer.sources[answer.citations[0].source].text
