"""Every variant on tiny models: counted parameters equal the method's formula; targets; bad options."""

from __future__ import annotations

import pytest

from nbrag import lora
from nbrag.lora.targets import adapted, default_targets, linear_names, resolve_targets
from tests.tiny import tiny

FAST = {"steps": 2, "batch_size": 2, "r": 4, "eval_fraction": 0.0, "progress": False}


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("variant", lora.VARIANTS)
def test_counted_parameters_equal_the_formula(family, variant, records):
    pair = tiny(family)
    run = lora.train(records, variant, model=pair, **FAST)
    assert run.trainable_params == run.formula_params > 0
    assert str(f"{run.formula_params:,}") in run.formula
    layers = adapted(pair[0], run.target_modules)
    r = 4
    by_hand = {"lora": sum(r * (a.d_in + a.d_out) for a in layers),
               "dora": sum(r * (a.d_in + a.d_out) + a.d_out for a in layers),
               "vera": sum(a.d_out + r for a in layers),
               "lora-plus": sum(r * (a.d_in + a.d_out) for a in layers),
               "lora-fa": sum(r * a.d_out for a in layers),
               "delta-lora": sum(r * (a.d_in + a.d_out) for a in layers)}[variant]
    assert run.formula_params == by_hand
    assert run.total_params > run.trainable_params and 0 < run.share < 0.01
    assert len(run.history) == 2 and all(h["loss"] > 0 for h in run.history)


def test_vera_shares_frozen_projections_across_unequal_shapes(llama, records):
    """q_proj is 64→64 and v_proj 64→32 in the tiny Llama: VeRA's shared A and B take the largest sizes."""
    run = lora.train(records, "vera", model=llama, **FAST)
    shapes = {(a.d_in, a.d_out) for a in adapted(llama[0], run.target_modules)}
    assert shapes == {(64, 64), (64, 32)}
    buffers = dict(run.model.named_buffers())
    vera_a = next(v for k, v in buffers.items() if "vera_A" in k)
    assert tuple(vera_a.shape) == (4, 64) and not vera_a.requires_grad


def test_lora_fa_freezes_a_and_keeps_fewer_activations(llama, records):
    full = lora.train(records, "lora", model=llama, **FAST)
    fa = lora.train(records, "lora-fa", model=llama, **FAST)
    assert all(not p.requires_grad for n, p in fa.model.named_parameters() if "lora_A" in n)
    a_before = {n: p.detach().clone() for n, p in lora.train(records, "lora-fa", model=llama, **{**FAST, "steps": 0})
                .model.named_parameters() if "lora_A" in n}
    assert all((p == a_before[n]).all() for n, p in fa.model.named_parameters() if "lora_A" in n)
    assert fa.memory["activations"] < full.memory["activations"]
    assert fa.memory["optimizer"] < full.memory["optimizer"] and fa.memory["gradients"] < full.memory["gradients"]
    assert fa.memory["weights"] == full.memory["weights"]


@pytest.mark.parametrize("family,expected", [("llama", ["q_proj", "v_proj"]), ("qwen2", ["q_proj", "v_proj"]),
                                             ("mistral", ["q_proj", "v_proj"]), ("gemma", ["q_proj", "v_proj"]),
                                             ("gpt2", ["c_attn"])])
def test_targets_found_for_common_architectures(family, expected):
    model, _ = tiny(family)
    assert default_targets(model) == expected
    assert adapted(model, expected)


def test_targets_of_a_bert_like_encoder():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64))
    assert default_targets(model) == ["query", "value"]
    assert resolve_targets(model, "query,key") == ["query", "key"]


def test_targets_overridable_and_a_missing_one_lists_what_exists(llama, records):
    run = lora.train(records, "lora", model=llama, target_modules=["q_proj", "k_proj", "o_proj"], **FAST)
    assert run.target_modules == ["q_proj", "k_proj", "o_proj"]
    with pytest.raises(ValueError, match=r"'qkv' not found in LlamaForCausalLM; its linear layers are: down_proj, "
                                         r"gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj\."):
        lora.train(records, "lora", model=llama, target_modules="q_proj,qkv", **FAST)
    assert "c_attn" in linear_names(tiny("gpt2")[0])


def test_bad_options_get_one_clear_error_each(llama, records):
    with pytest.raises(ValueError, match=r"Unknown LoRA variant 'lora-xl'\. Available: lora, dora, vera, lora-plus, "
                                         r"lora-fa, delta-lora\."):
        lora.train(records, "lora-xl", model=llama, **FAST)
    with pytest.raises(ValueError, match=r"r=64 is larger than the smaller dimension of .*v_proj \(64→32\).*use r <= 32"):
        lora.train(records, "lora", model=llama, **{**FAST, "r": 64})
    lora.train(records, "vera", model=llama, **{**FAST, "r": 64})  # VeRA's projections may be wider than a layer
    with pytest.raises(ValueError, match="No training examples"):
        lora.train("", "lora", model=llama, **FAST)
