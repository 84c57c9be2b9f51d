"""Delta-LoRA against its rule, numerically, and saved so that the moved weights come back."""

from __future__ import annotations

import copy

import pytest
import torch

from nbrag import lora
from nbrag.errors import NbragError
from nbrag.lora.delta_lora import BASE_FILE, delta_weight, lora_layers
from tests.tiny import tiny

OPTIONS = {"batch_size": 2, "r": 4, "eval_fraction": 0.0, "progress": False, "lr": 5e-3}


def _base_weight(model, name: str):
    """The original model's weight of the layer that the PeftModel calls ``name``."""
    path = name.removeprefix("base_model.model.")
    return model.get_submodule(path).weight


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("start", [0, 2])
def test_each_adapted_weight_follows_the_rule(family, start, records):
    """The paper's "if t > K" (t from 0): after k steps W_k = W_0 + λ·(ΔW_k − ΔW_{K+1}), ΔW = scaling·B·A as peft
    applies it; W does not move during the first K+1 steps."""
    base, tokenizer = tiny(family)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    run = lora.train(records, "delta-lora", model=(base, tokenizer), steps=start + 1, delta_lambda=0.7,
                     delta_start=start, **OPTIONS)
    # ΔW after step K+1, from peft's own get_delta_weight; W has not moved yet
    at_start = {n: m.get_delta_weight("default").detach().clone() for n, m in lora_layers(run.model).items()}
    assert all(torch.equal(m.get_base_layer().weight, _base_weight(base, n)) for n, m in lora_layers(run.model).items())
    run.resume(5 - start - 1)
    layers = lora_layers(run.model)
    assert layers and run.options["dropout"] == 0.0 and "dropout off" in run.options["note"]
    for name, module in layers.items():
        w0 = _base_weight(base, name).detach()
        delta_k = module.get_delta_weight("default").detach()
        expected = w0 + 0.7 * (delta_k - at_start[name])
        moved = module.get_base_layer().weight.detach()
        assert at_start[name].abs().max() > 0 and not torch.equal(delta_k, at_start[name])
        torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-6)
        assert not torch.equal(moved, w0)
        torch.testing.assert_close(delta_weight(module, "default"), delta_k)
        weight = module.get_base_layer().weight
        assert weight.grad is None and not weight.requires_grad
        assert all(weight is not p for group in run._trainer.optimizer.param_groups for p in group["params"])
        assert not any(p is weight for p in run._trainer.optimizer.state)
    assert all(torch.equal(p, before[n]) for n, p in base.named_parameters())  # the caller's model never moves


def _logits(model, tokenizer, text="Why must a thermometer be kept inside a radiation shield?"):
    ids = tokenizer(text, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        return model(**ids).logits


def test_saving_keeps_the_moved_weights(tmp_path, records):
    from peft import PeftModel

    base, tokenizer = tiny("llama")
    run = lora.train(records, "delta-lora", model=(base, tokenizer), steps=4, **OPTIONS)
    trained = _logits(run.model, tokenizer)
    folder = run.save(tmp_path / "delta")
    assert (folder / BASE_FILE).exists() and (folder / "adapter_model.safetensors").exists()

    loaded = lora.load(folder, model=(base, tokenizer))
    assert loaded.variant == "delta-lora" and loaded.history == run.history
    torch.testing.assert_close(_logits(loaded.model, tokenizer), trained)

    adapter_only = PeftModel.from_pretrained(copy.deepcopy(base), str(folder))
    assert not torch.allclose(_logits(adapter_only, tokenizer), trained, atol=1e-4)
    with pytest.raises(NbragError, match="loaded from disk without its optimizer state, so it cannot resume"):
        loaded.resume(1)
