import numpy as np
import pytest

from nbrag.errors import ModelUnavailableError, NbragError, NbragTypeError
from nbrag.inspectors import NoAttentionWeightsError, attention, load
from nbrag.inspectors.attention_map import head_metrics

from .conftest import ALL, TEXT, tiny


@pytest.mark.parametrize("family", ALL)
def test_weights_of_every_tiny_family(family):
    model, tokenizer = tiny(family)
    before = model.config._attn_implementation
    result = attention(TEXT, model=(model, tokenizer))
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    n = len(result.tokens)
    assert result.weights.shape == (layers, heads, n, n) and result.weights.dtype == np.float32
    rows = result.weights.sum(axis=-1)
    if family == "gpt_oss":  # a learned sink logit per head takes a share of every row
        assert np.all((rows > 0) & (rows <= 1 + 1e-5)) and rows.min() < 0.99
    else:
        np.testing.assert_allclose(rows, 1.0, atol=1e-5)  # every query row is a distribution
    assert result.causal and result.implementation == "eager"
    assert model.config._attn_implementation == before  # switched for the call, and back
    assert any(f"Switched attention from '{before}'" in note for note in result.notes) == (before != "eager")
    for token, (start, end) in zip(result.tokens[1:], result.offsets[1:]):
        assert TEXT[start:end].lower() == token.removeprefix("##")  # MiniLM's WordPiece lower-cases
    assert result.entropy.shape == result.distance.shape == result.sink.shape == (layers, heads)


def test_sliding_window_masks_distant_tokens():
    model, tokenizer = tiny("mistral")
    window = model.config.sliding_window
    result = attention(" ".join(["word"] * 30), model=(model, tokenizer))
    i, j = np.indices(result.weights.shape[-2:])
    assert np.all(result.weights[..., i - j >= window] == 0)
    assert np.all(result.weights[..., (i - j < window) & (i >= j)] > 0)


def test_head_metrics_on_known_patterns():
    n = 5
    uniform = np.tril(np.ones((n, n), np.float32))
    uniform /= uniform.sum(axis=1, keepdims=True)
    to_first = np.zeros((n, n), np.float32)
    to_first[:, 0] = 1
    entropy, distance, sink = head_metrics(np.stack([uniform, to_first])[None])
    assert entropy[0, 0] == pytest.approx(np.mean(np.log(np.arange(1, n + 1))), rel=1e-6)
    assert entropy[0, 1] == 0 and sink[0, 1] == 1
    assert distance[0, 1] == pytest.approx(np.mean(np.arange(n)))
    assert sink[0, 0] == pytest.approx(np.mean(1 / np.arange(2, n + 1)), rel=1e-6)


def test_layer_subset_head_access_and_aggregates():
    model, tokenizer = tiny("llama")
    result = attention(TEXT, model=(model, tokenizer), layers=[-1])
    assert result.layers == [1] and result.weights.shape[0] == 1
    np.testing.assert_array_equal(result.head(1, 3), result.weights[0, 3])
    assert result.mean("heads").shape == (1, len(result.tokens), len(result.tokens))
    assert result.summary("layers")["entropy"].shape == (4,)
    assert set(result.summary("all")) == {"entropy", "distance", "sink"}
    with pytest.raises(NbragError, match=r"^layer=0: not kept: this map holds layers \[1\]"):
        result.head(0, 0)
    with pytest.raises(NbragError, match=r"^head=4: out of range: this model has 4 heads per layer; give 0 to 3, or "
                                         r"-4 to -1 from the end\.$"):
        result.head(1, 4)
    with pytest.raises(NbragError, match=r"^layers=7: out of range: this model has 2 layers; give 0 to 1"):
        attention(TEXT, model=(model, tokenizer), layers=[7])
    with pytest.raises(NbragError, match=r"^layers=\[\]: keeps nothing"):
        attention(TEXT, model=(model, tokenizer), layers=[])
    with pytest.raises(NbragError, match=r"^over='rows': use one of heads, layers, all\.$"):
        result.mean("rows")
    assert result.to_dict(weights=False)["layers"] == [1]


def test_errors_name_the_problem():
    model, tokenizer = tiny("llama")
    with pytest.raises(NbragError, match=r"^text='  ': empty: give at least one word for the model to read\.$"):
        attention("  ", model=(model, tokenizer))
    with pytest.raises(NbragError, match=r"^max_tokens=4: the text is (\d+) tokens long, over this limit\. Raise it "
                                         r"to \1 if memory allows, or give a window of the text \(its first 4 tokens "
                                         r"end at character \d+\)\.$"):
        attention(TEXT, model=(model, tokenizer), max_tokens=4)
    with pytest.raises(NbragError, match=r"^max_tokens=0: the text needs room for at least one token\.$"):
        attention(TEXT, model=(model, tokenizer), max_tokens=0)
    with pytest.raises(NbragTypeError, match=r"^model: LlamaForCausalLM was given without its tokenizer"):
        attention(TEXT, model=model)
    with pytest.raises(NbragTypeError, match=r"^model: a tuple of 3 items: give \(model, tokenizer\)\.$"):
        attention(TEXT, model=(model, tokenizer, None))
    with pytest.raises(NbragTypeError, match=r"^tokenizer: goes with a model object"):
        attention(TEXT, model="tiny:llama", tokenizer=tokenizer)


def test_a_model_name_that_loads_nothing_is_named():
    with pytest.raises(NbragError, match=r"^model='tiny:nope': no tiny family of that name; available: llama, "):
        load("tiny:nope")
    with pytest.raises(ModelUnavailableError, match=r"^model='no-such-model': The generator 'no-such-model' is not "
                                                    r"available here: .* try tiny:llama \(tiny:<family>"):
        load("no-such-model")


def test_a_model_that_returns_no_weights():
    model, tokenizer = tiny("qwen2")

    class NoWeights:  # a stand-in for a model whose attention cannot give weights (e.g. flash only)
        config = model.config
        training = False

        def eval(self):
            return self

        def parameters(self):
            return model.parameters()

        def __call__(self, **inputs):
            inputs.pop("output_attentions")
            return model(**inputs)

    with pytest.raises(NoAttentionWeightsError, match="returned no attention weights") as info:
        attention(TEXT, model=(NoWeights(), tokenizer))
    assert isinstance(info.value, NbragError) and isinstance(info.value, RuntimeError)
    assert info.value.option == "model"


def test_encoder_model_by_name():
    result = attention(TEXT, model="all-MiniLM-L6-v2")
    assert not result.causal and result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.weights.shape[:2] == (6, 12)
    np.testing.assert_allclose(result.weights.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_smollm2(smollm):
    result = attention(TEXT, model=smollm)
    assert result.weights.shape[:2] == (30, 9)
    np.testing.assert_allclose(result.weights.sum(axis=-1), 1.0, atol=1e-4)
    assert smollm[0].config._attn_implementation == "sdpa"
    assert "".join(TEXT[a:b] for a, b in result.offsets) == TEXT  # byte-level BPE: spans tile the text
