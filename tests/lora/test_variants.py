"""Every variant on tiny models: counted parameters equal the method's formula; targets; bad options."""

from __future__ import annotations

import pytest

from nbrag import lora
from nbrag.errors import NbragError, NbragTypeError
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
    with pytest.raises(NbragError, match=r"^target_modules='q_proj,qkv': qkv not found in LlamaForCausalLM; its linear "
                                         r"layers are: down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, "
                                         r"v_proj\.$"):
        lora.train(records, "lora", model=llama, target_modules="q_proj,qkv", **FAST)
    assert "c_attn" in linear_names(tiny("gpt2")[0])


def test_bad_options_get_one_clear_error_each(llama, records):
    with pytest.raises(NbragError, match=r"^variant='lora-xl': unknown LoRA variant\. Available: lora, dora, vera, "
                                         r"lora-plus, lora-fa, delta-lora\.$"):
        lora.train(records, "lora-xl", model=llama, **FAST)
    with pytest.raises(NbragError, match=r"^r=64: larger than the smaller dimension of .*v_proj \(64→32\).*give a rank "
                                         r"of at most 32\.$"):
        lora.train(records, "lora", model=llama, **{**FAST, "r": 64})
    lora.train(records, "vera", model=llama, **{**FAST, "r": 64})  # VeRA's projections may be wider than a layer
    with pytest.raises(ValueError, match="No training examples"):
        lora.train("", "lora", model=llama, **FAST)


@pytest.mark.parametrize("option, value, message", [
    ("r", 0, "r=0: give a whole number of at least 1 (the adapters' rank, e.g. 8)."),
    ("steps", -1, "steps=-1: give a whole number of at least 0 (optimizer steps, e.g. 30)."),
    ("batch_size", 0, "batch_size=0: give a whole number of at least 1 (examples per batch, e.g. 4)."),
    ("grad_accum", 0, "grad_accum=0: give a whole number of at least 1 (forward passes per optimizer step; 1: no "
                      "accumulation)."),
    ("max_length", 1, "max_length=1: give a whole number of at least 2 (tokens of the longest example, e.g. 256)."),
    ("eval_every", 0, "eval_every=0: give a whole number of at least 1 (steps between evaluations, e.g. 10)."),
    ("alpha", float("nan"), "alpha=nan: give a finite number greater than 0 (e.g. 16)."),
    ("lr", -1.0, "lr=-1.0: give a number greater than 0 (e.g. 2e-4)."),
    ("lr", float("inf"), "lr=inf: give a finite number greater than 0 (e.g. 2e-4)."),
    ("loraplus_ratio", 0, "loraplus_ratio=0: give a number greater than 0 (e.g. 16)."),
    ("delta_lambda", float("nan"), "delta_lambda=nan: give a finite number of at least 0 (e.g. 0.5)."),
    ("eval_fraction", 1,
     "eval_fraction=1: give a number of at least 0 and less than 1 (the share held out; 0: no evaluation set)."),
    ("dropout", 1.5, "dropout=1.5: give a number of at least 0 and less than 1 (a probability, e.g. 0.05)."),
    ("delta_start", -2, "delta_start=-2: give a whole number of at least 0 (the step Delta-LoRA starts moving the "
                        "weights after)."),
    ("seed", -1, "seed=-1: give a whole number of at least 0."),
])
def test_each_bad_number_is_named_before_a_model_loads(monkeypatch, records, option, value, message):
    import nbrag.lora.training

    def no_model(model):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(nbrag.lora.training, "resolve_model", no_model)
    with pytest.raises(NbragError) as caught:
        lora.train(records, "lora", model=None, **{**FAST, option: value})
    assert str(caught.value) == message and caught.value.option == option


@pytest.mark.parametrize("option, value, message", [
    ("r", "8", "r='8': give a whole number of at least 1 (the adapters' rank, e.g. 8)."),
    ("steps", True, "steps=True: give a whole number of at least 0 (optimizer steps, e.g. 30)."),
    ("batch_size", 4.0, "batch_size=4.0: give a whole number of at least 1 (examples per batch, e.g. 4)."),
    ("seed", 1.5, "seed=1.5: give a whole number of at least 0."),
    ("lr", "2e-4", "lr='2e-4': give a number greater than 0 (e.g. 2e-4)."),
    ("dropout", True, "dropout=True: give a number of at least 0 and less than 1 (a probability, e.g. 0.05)."),
    ("target_modules", 3, "target_modules=3: give module names: a list of str, or one str with commas (e.g. "
                          "'q_proj,v_proj'); None finds them for the architecture."),
    ("target_modules", ["q_proj", None], "target_modules=['q_proj', None]: give module names"),
    ("callbacks", print, "callbacks=<built-in function print>: give a list of functions, each taking one event "
                         "dict."),
    ("callbacks", ["not callable"], "callbacks=['not callable']: give a list of functions"),
    ("save", ["out"], "save=['out']: give a folder (a str or a pathlib.Path)."),
    ("variant", ["lora"], "variant=['lora']: give one variant's name: lora, dora, vera, lora-plus, lora-fa, "
                          "delta-lora (compare several with nbrag.lora.compare)."),
])
def test_a_wrong_type_is_one_line_naming_the_option_before_a_model_loads(monkeypatch, records, option, value,
                                                                         message):
    import nbrag.lora.training

    monkeypatch.setattr(nbrag.lora.training, "resolve_model", lambda model: pytest.fail("loaded before the check"))
    with pytest.raises(NbragTypeError) as caught:
        lora.train(records, **{**FAST, option: value})
    assert str(caught.value).startswith(message) and caught.value.option == option
    with pytest.raises(NbragTypeError, match=r"^variants=3: give variants' names: a list of str or one str with "):
        lora.compare(records, 3, **FAST)


def test_an_unwritable_save_folder_is_refused_before_training(monkeypatch, tmp_path, records):
    import nbrag.lora.training

    monkeypatch.setattr(nbrag.lora.training, "resolve_model", lambda model: pytest.fail("trained before the check"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(NbragError, match=r"^save='.*a-file/out': cannot write there \(Not a directory"):
        lora.train(records, "lora", save=str(blocker / "out"), **FAST)
    with pytest.raises(NbragError, match=r"^save='.*a-file': a file, not a folder"):
        lora.compare(records, "lora,vera", save=blocker, **FAST)
    with pytest.raises(NbragError, match=r"^variants='lora,vera,lora': lora named twice; name each variant once\.$"):
        lora.compare(records, "lora,vera,lora", **FAST)
    fresh = tmp_path / "new" / "deeper"
    with pytest.raises(pytest.fail.Exception):  # the check passes and training goes on to load the model
        lora.train(records, "lora", save=str(fresh), **FAST)
    assert not (tmp_path / "new").exists()  # the check left no empty folder behind
