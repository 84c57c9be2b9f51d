import pytest

from nbrag.errors import NbragError
from nbrag.inspectors.kvcache import Geometry, cache_bytes, kv_cache, output_field, speed

from .conftest import ALL, tiny

PROMPT = "The cat sat on the mat."


@pytest.mark.parametrize("family", ALL)
def test_measured_bytes_equal_the_formula(family):
    model, tokenizer = tiny(family)
    report = kv_cache(PROMPT, model=(model, tokenizer), max_new_tokens=20)
    assert report.new_tokens == 20 and report.tokens == report.prompt_tokens + 19
    assert report.agrees and report.total_bytes == report.formula_bytes
    assert [p for p, _, _ in report.growth] == list(range(report.prompt_tokens, report.tokens + 1))
    assert report.output_field in ("cache", "past_key_values") and report.cache_class == "DynamicCache"
    g = report.geometry
    if not g.sliding_layers:
        assert report.total_bytes == 2 * g.num_layers * g.kv_heads * g.key_dim * report.tokens * 4 or g.latent
    for layer in report.layers:
        assert layer.bytes == layer.formula_bytes
        assert layer.key_shape[:2] == (1, g.kv_heads) and layer.key_shape[-1] == g.key_dim
        assert layer.value_shape[-1] == g.value_dim
    assert report.to_dict()["agrees"] is True


def test_grouped_query_heads_and_head_dim_from_the_config():
    assert Geometry.of(tiny("llama")[0]).kv_heads == 2  # 4 query heads share 2
    gpt2 = Geometry.of(tiny("gpt2")[0])  # no num_key_value_heads, no head_dim in GPT-2's config
    assert (gpt2.query_heads, gpt2.kv_heads, gpt2.key_dim) == (4, 4, 16)
    gemma = Geometry.of(tiny("gemma")[0])
    assert gemma.key_dim == 16 == tiny("gemma")[0].config.head_dim


def test_latent_cache_of_deepseek():
    model, tokenizer = tiny("deepseek_v3")
    report = kv_cache(PROMPT, model=(model, tokenizer), max_new_tokens=4)
    c = model.config
    assert report.geometry.latent
    assert report.layers[0].key_shape == (1, 1, report.tokens, c.kv_lora_rank)
    assert report.layers[0].value_shape == (1, 1, report.tokens, c.qk_rope_head_dim)
    assert report.total_bytes == c.num_hidden_layers * (c.kv_lora_rank + c.qk_rope_head_dim) * report.tokens * 4


def test_sliding_window_bounds_the_cache():
    model, tokenizer = tiny("mistral")
    window = model.config.sliding_window
    report = kv_cache(PROMPT, model=(model, tokenizer), max_new_tokens=24)
    assert report.tokens > window and all(layer.tokens == window - 1 for layer in report.layers)
    assert report.total_bytes < report.geometry.unbounded_bytes(report.tokens)
    plateau = [m for p, m, _ in report.growth if p >= window - 1]
    assert len(set(plateau)) == 1  # the cache stops growing once the window is full
    saving = next(s for s in report.savings if s.name.startswith("sliding window"))
    assert saving.bytes == report.total_bytes and saving.how.startswith("in use")


def test_a_window_asked_for_on_a_full_attention_model():
    report = kv_cache(PROMPT, model=tiny("llama"), max_new_tokens=16, window=8)
    saving = next(s for s in report.savings if s.name == "sliding window of 8")
    assert saving.bytes == report.geometry.unbounded_bytes(7) and saving.saved > 0


def test_fp8_estimate_equals_a_real_fp8_cache():
    model, tokenizer = tiny("llama")
    report = kv_cache(PROMPT, model=(model, tokenizer), max_new_tokens=6)
    estimate = next(s for s in report.savings if s.name == "fp8 quantized cache")
    assert estimate.available
    ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    out = model.generate(input_ids=ids, max_new_tokens=6, min_new_tokens=6, do_sample=False,
                         return_dict_in_generate=True, cache_implementation="quantized",
                         cache_config={"backend": "fp8"}, pad_token_id=tokenizer.pad_token_id)
    assert type(out[output_field(out)]).__name__ == "QuantizedCache"
    assert cache_bytes(out[output_field(out)]) == estimate.bytes


def test_int_quantized_caches_say_why_they_are_unavailable():
    from transformers.utils import is_hqq_available, is_optimum_quanto_available

    report = kv_cache(PROMPT, model=tiny("llama"), max_new_tokens=4)
    int4 = next(s for s in report.savings if s.name == "int4 quantized cache")
    assert int4.available == (is_optimum_quanto_available() or is_hqq_available())
    if not int4.available:
        assert "pip install optimum-quanto" in int4.how


def test_output_field_of_the_installed_transformers():
    model, tokenizer = tiny("qwen2")
    out = model(**tokenizer(PROMPT, return_tensors="pt"), use_cache=True)
    assert output_field(out) == ("cache" if "cache" in out else "past_key_values")
    assert output_field({"logits": 1}) is None


def test_speed_rows_and_greedy_agreement():
    report = speed(PROMPT, model=tiny("llama"), lengths=(4, 8))
    assert [r.new_tokens for r in report.rows] == [4, 8]
    assert all(r.same_tokens and r.cached_tokens_per_second > 0 for r in report.rows)
    with pytest.raises(NbragError, match=r"^lengths=\(0,\): give one or more numbers of new tokens, each at least "
                                         r"1\.$"):
        speed(PROMPT, model=tiny("llama"), lengths=(0,))


def test_options_out_of_range_are_named():
    with pytest.raises(NbragError, match=r"^max_new_tokens=0: generate at least one token\.$"):
        kv_cache(PROMPT, model=tiny("llama"), max_new_tokens=0)
    with pytest.raises(NbragError, match=r"^window=1: a sliding window holds at least 2 tokens\.$"):
        kv_cache(PROMPT, model=tiny("llama"), window=1)
    with pytest.raises(NbragError, match=r"^prompt='': empty: give at least one word"):
        kv_cache("", model=tiny("llama"))


@pytest.mark.slow
def test_smollm2_cache(smollm):
    model, _ = smollm
    report = kv_cache("Explain what a key-value cache is.", model=smollm, max_new_tokens=4)
    g = report.geometry
    assert (g.query_heads, g.kv_heads, g.key_dim, g.num_layers) == (9, 3, 64, 30)
    assert report.agrees and report.bytes_per_token == 2 * 30 * 3 * 64 * model.dtype.itemsize
    assert report.layers[0].key_shape == (1, 3, report.tokens, 64)
    timing = speed("Explain what a key-value cache is.", model=smollm, lengths=(4,))
    assert timing.rows[0].same_tokens  # cached and uncached greedy decoding give the same tokens


def test_an_encoder_builds_no_cache():
    with pytest.raises(NbragError, match=r"^model='all-MiniLM-L6-v2': does not generate text, so it builds no KV "
                                         r"cache \(BertModel reads the whole text at once\)\. Give a causal language "
                                         r"model, such as tiny:llama"):
        kv_cache(PROMPT, model="all-MiniLM-L6-v2")


def test_savings_of_a_sliding_model_start_from_the_window_it_keeps():
    report = kv_cache(PROMPT, model=tiny("mistral"), max_new_tokens=24)
    rows = {s.name: s for s in report.savings}
    assert report.total_bytes < report.geometry.unbounded_bytes(report.tokens)  # the window bounds it
    assert rows["16-bit (bfloat16 or float16) cache"].bytes == report.total_bytes // 2
    for bits in (4, 2):
        row = rows[f"int{bits} quantized cache"]
        assert row.bytes < report.total_bytes and not row.available and "full-attention layers only" in row.how
