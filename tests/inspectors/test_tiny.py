import pytest
import torch

from nbrag.errors import NbragError
from nbrag.inspectors import families, missing_families, tiny_model
from nbrag.inspectors.tiny import FAMILIES

REQUIRED = {"llama", "qwen2", "mistral", "gemma", "gpt2", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3",
            "granitemoe"}


def test_the_installed_transformers_builds_every_listed_family():
    assert set(families()) >= REQUIRED and missing_families() == []
    assert set(families(moe=True)) | set(families(moe=False)) == set(FAMILIES)


def test_seeded_random_weights_leave_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, tokenizer, note = tiny_model("llama", seed=1)
    assert torch.equal(torch.rand(3), expected)
    b, _, _ = tiny_model("llama", seed=1)
    c, _, _ = tiny_model("llama", seed=2)
    weight = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(a.state_dict()[weight], b.state_dict()[weight])
    assert not torch.equal(a.state_dict()[weight], c.state_dict()[weight])
    assert "random weights" in note and not a.training
    assert a.config.vocab_size == tokenizer.vocab_size and tokenizer("hello")["input_ids"][0] == tokenizer.bos_token_id


def test_unknown_family_lists_the_available_ones():
    with pytest.raises(NbragError, match=r"^family='mixtrl': no tiny family of that name; available: llama, qwen2"):
        tiny_model("mixtrl")
