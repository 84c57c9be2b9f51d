import numpy as np
import pytest

from nbrag.errors import NbragError
from nbrag.inspectors import NoExpertsError
from nbrag.inspectors import moe as moe_module
from nbrag.inspectors.moe import balance, routing

from .conftest import DENSE, MOE, TEXT, tiny

SIGMOID = {"deepseek_v3", "glm4_moe"}  # sigmoid scores plus a bias (e_score_correction_bias)
OWN_RULE = {"phimoe"}  # sparsemixer: weights by its own rule


def expected_weights(config, logits, experts):
    """The family's mixing weights recomputed from its logits: softmax (sigmoid for DeepSeek-V3) at the chosen
    experts, renormalised where the family does, times routed_scaling_factor where it has one."""
    if config.model_type in SIGMOID:
        scores = 1 / (1 + np.exp(-logits))
    else:
        scores = np.exp(logits - logits.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
    chosen = np.take_along_axis(scores, experts, axis=-1)
    if getattr(config, "norm_topk_prob", True):
        chosen = chosen / chosen.sum(-1, keepdims=True)
    return chosen * getattr(config, "routed_scaling_factor", 1.0)


@pytest.mark.parametrize("family", MOE)
def test_routing_of_every_tiny_moe_family(family):
    model, tokenizer = tiny(family)
    trace = routing(TEXT, model=(model, tokenizer))
    config = model.config
    k = getattr(config, "num_experts_per_tok", None) or config.ffn_config.moe_top_k  # DBRX keeps it in ffn_config
    layers, tokens = len(trace.layers), trace.num_tokens
    first_moe = getattr(config, "first_k_dense_replace", 0)
    assert trace.layers == list(range(first_moe, config.num_hidden_layers))
    assert trace.top_k == k and trace.experts.shape == trace.weights.shape == (layers, tokens, k)
    assert trace.logits.shape == (layers, tokens, trace.num_experts)
    assert np.all(trace.load.sum(axis=-1) == tokens * k)  # every token counted top_k times
    assert all(len(set(row)) == k for row in trace.experts.reshape(-1, k))  # k distinct experts per token
    if family not in OWN_RULE:
        np.testing.assert_allclose(trace.weights, expected_weights(config, trace.logits, trace.experts), rtol=1e-5,
                                   atol=1e-6)
    if getattr(config, "norm_topk_prob", True) and family not in OWN_RULE:
        sums = trace.weights.sum(axis=-1)
        np.testing.assert_allclose(sums, getattr(config, "routed_scaling_factor", 1.0), rtol=1e-5)
    assert np.all(np.diff(trace.weights, axis=-1) <= 0)  # heaviest first
    if config.model_type != "deepseek_v3":  # softmax top-k: the chosen experts are the k largest logits
        top = np.sort(np.argsort(-trace.logits, axis=-1)[..., :k], axis=-1)
        np.testing.assert_array_equal(np.sort(trace.experts, axis=-1), top)
    else:  # group-limited: all chosen experts lie in one group of the kept topk_group
        group = trace.num_experts // config.n_group
        assert np.all((trace.experts // group).min(-1) == (trace.experts // group).max(-1))
    if family in SIGMOID:
        assert any("e_score_correction_bias" in note for note in trace.notes)
    co = trace.coactivation
    assert np.array_equal(co, co.transpose(0, 2, 1)) and np.array_equal(np.diagonal(co, axis1=1, axis2=2), trace.load)
    assert np.all(co.sum(axis=(1, 2)) - trace.load.sum(axis=-1) == tokens * k * (k - 1))
    if trace.reference_aux_loss is not None:
        assert trace.aux_loss_total == pytest.approx(trace.reference_aux_loss, rel=1e-5)
    if trace.model_aux_loss is not None:
        assert trace.aux_loss_total == pytest.approx(trace.model_aux_loss, rel=1e-5)
    assert trace.source.startswith("logits from output_router_logits")
    assert trace.to_dict()["num_experts"] == trace.num_experts


def test_aux_loss_compared_with_transformers_where_it_has_one():
    traces = {f: routing(TEXT, model=tiny(f)) for f in MOE}
    compared = {f for f, t in traces.items() if t.reference_aux_loss is not None and t.model_aux_loss is not None}
    assert {"mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "granitemoe"} & set(MOE) <= compared
    assert all(traces[f].reference_aux_loss is None for f in {"deepseek_v2", "deepseek_v3", "glm4_moe"} & set(MOE))


def test_decisions_read_from_the_experts_when_the_router_gives_logits_only():
    trace = routing(TEXT, model=tiny("dbrx"))
    assert "as the experts module received them" in trace.source
    np.testing.assert_allclose(trace.weights.sum(axis=-1), 1.0, rtol=1e-5)  # p-norm with p = 1


def test_logits_equal_what_the_model_returns():
    model, tokenizer = tiny("mixtral")
    trace = routing(TEXT, model=(model, tokenizer))
    out = model(**tokenizer(TEXT, return_tensors="pt"), output_router_logits=True)
    for mine, theirs in zip(trace.logits, out.router_logits):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("family", DENSE)
def test_a_dense_model_has_no_experts(family):
    with pytest.raises(NoExpertsError, match=rf"^model='tiny-{family}': has no experts: .* sends every token through "
                                             r"the same feed-forward layer.*Try a mixture-of-experts model: .*mixtral"
                                             r".*\(e\.g\. tiny:mixtral\)") as info:
        routing(TEXT, model=tiny(family))
    assert isinstance(info.value, NbragError)


def test_gates_found_by_name_when_no_recorder_is_declared(monkeypatch):
    model, tokenizer = tiny("olmoe")
    declared = routing(TEXT, model=(model, tokenizer))
    monkeypatch.setattr(moe_module, "_router_recorder", lambda model: None)
    by_name = routing(TEXT, model=(model, tokenizer))
    assert by_name.layers == declared.layers
    np.testing.assert_array_equal(by_name.experts, declared.experts)


def test_balance_of_known_routings():
    even = balance(np.zeros((1, 4, 4), np.float32), np.array([[[0, 1], [2, 3], [0, 2], [1, 3]]]))
    assert even["cv"][0] == 0 and even["entropy"][0] == pytest.approx(1)
    assert even["aux_loss"][0] == pytest.approx(2)  # an even router gives top_k
    skewed = balance(np.zeros((1, 4, 4), np.float32), np.array([[[0, 1]] * 4]))
    assert skewed["cv"][0] == pytest.approx(1) and skewed["entropy"][0] == pytest.approx(0.5)
    assert skewed["coactivation"][0, 0, 1] == 4


def test_token_and_expert_views():
    trace = routing(TEXT, model=tiny("qwen3_moe"))
    route = trace.token(3)
    assert [r["layer"] for r in route] == trace.layers and len(route[0]["experts"]) == trace.top_k
    expert = route[0]["experts"][0]
    assert 3 in trace.routed_to(trace.layers[0], expert)
    with pytest.raises(NbragError, match=r"^expert=8: out of range: this model has 8 experts per layer; give 0 to 7"):
        trace.routed_to(trace.layers[0], 8)
    with pytest.raises(NbragError, match=r"^layer=5: no router in this layer: the MoE layers of this model are "
                                         r"\[0, 1\]\.$"):
        trace.routed_to(5, 0)
    with pytest.raises(NbragError, match=r"^index=99: out of range: this text has \d+ tokens"):
        trace.token(99)


def test_repeated_routing_reads_no_vocabulary_logits_and_follows_a_swapped_router():
    import copy

    import torch

    from nbrag.inspectors import tiny_model

    model, tokenizer, _ = tiny_model("mixtral")  # a model of its own: this test changes it
    rows = []
    hook = model.lm_head.register_forward_hook(lambda module, args, output: rows.append(output.shape[1]))
    try:
        first, second = routing(TEXT, model=(model, tokenizer)), routing(TEXT, model=(model, tokenizer))
    finally:
        hook.remove()
    assert rows == [1, 1] and first.num_tokens > 1  # the last position's next-token logits only
    assert first.to_dict() == second.to_dict()  # the setup kept from the first call gives the same trace
    assert first.to_dict()["reference_aux_loss"] == pytest.approx(first.aux_loss_total, rel=1e-5)
    mlp = model.model.layers[1].mlp
    mlp.gate = copy.deepcopy(mlp.gate)  # a new router module: the kept setup would hook the old one
    with torch.no_grad():
        mlp.gate.weight.mul_(-1)
    swapped = routing(TEXT, model=(model, tokenizer))
    np.testing.assert_array_equal(swapped.experts[0], first.experts[0])
    assert not np.array_equal(swapped.logits[1], first.logits[1])
