"""A few steps of real training on SmolLM2-135M-Instruct (the packaged generator) with the shipped instructions."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_a_few_lora_steps_lower_the_eval_loss_of_smollm2(smollm):
    from nbrag import lora
    from nbrag.data import sample_instructions

    data = sample_instructions("documents")  # English and Chinese questions about the sample documents
    run = lora.train(data, "lora", model=smollm, steps=0, batch_size=2, eval_fraction=0.15, progress=False)
    before = run._trainer.evaluate()
    run.resume(6)
    assert run.steps == 6 and run.evals[-1]["step"] == 6
    assert run.eval_loss < before - 0.05, (before, run.evals)
    assert run.target_modules == ["q_proj", "v_proj"] and run.trainable_params == run.formula_params == 460_800
    assert run.options["model"] and run.memory["weights"] > 500e6  # 135M float32 parameters


@pytest.mark.slow
def test_every_shipped_instruction_fits_the_default_max_length(smollm):
    from nbrag.data import sample_instructions
    from nbrag.lora.data import read_examples
    from nbrag.lora.training import encode_all

    items = encode_all(read_examples(sample_instructions()), smollm[1], 256)  # raises on one that does not fit
    assert len(items) == 73 and max(len(t) for t in items) > 150
