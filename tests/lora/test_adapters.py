"""Several adapters on one base: saved as safetensors, loaded, switched, merged, generating side by side."""

from __future__ import annotations

import pytest
import torch

from nbrag import lora
from nbrag.errors import NbragError, NbragTypeError

OPTIONS = {"batch_size": 2, "r": 4, "progress": False, "eval_fraction": 0.0, "steps": 3, "lr": 1e-2}
TEXT = "Why must a thermometer be kept inside a radiation shield?"


def _logits(model, tokenizer):
    model.eval()
    with torch.no_grad():
        return model(**tokenizer(TEXT, return_tensors="pt")).logits


def test_adapters_switch_merge_and_compare(tmp_path, llama, records):
    from nbrag.data import sample_instructions

    model, tokenizer = llama
    base_logits = _logits(model, tokenizer)
    docs = lora.train(records, "lora", model=llama, **OPTIONS)
    wiki = lora.train(sample_instructions("musique")[:8], "dora", model=llama, max_length=512, **OPTIONS)
    folder = wiki.save(tmp_path / "wiki")
    assert (folder / "adapter_model.safetensors").exists() and (folder / "nbrag_run.json").exists()

    ad = lora.Adapters(model=llama).add("docs", docs).add("wiki", folder)
    assert ad.names == ["docs", "wiki"]
    ad.use("docs")
    torch.testing.assert_close(_logits(ad.model, tokenizer), _logits(docs.model, tokenizer))
    ad.use("wiki")
    torch.testing.assert_close(_logits(ad.model, tokenizer), _logits(wiki.model, tokenizer))
    with ad.model.disable_adapter():
        torch.testing.assert_close(_logits(ad.model, tokenizer), base_logits)

    merged = ad.merge("docs")
    assert not any("lora" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(_logits(merged, tokenizer), _logits(docs.model, tokenizer), rtol=1e-4, atol=1e-4)
    ad.use("docs")  # merging worked on a copy: the adapters are still there and the base unchanged
    torch.testing.assert_close(_logits(ad.model, tokenizer), _logits(docs.model, tokenizer))
    torch.testing.assert_close(_logits(model, tokenizer), base_logits)

    rows = ad.side_by_side([TEXT, "茶树适合生长在什么样的土壤中？"], max_new_tokens=4)
    assert [list(r) for r in rows] == [["prompt", "base", "docs", "wiki"]] * 2
    assert rows[0]["docs"] == docs.generate(TEXT, max_new_tokens=4)
    assert rows[0]["base"] == ad.generate(TEXT, adapter=None, max_new_tokens=4)
    assert ad.side_by_side(TEXT, adapters=["wiki"], max_new_tokens=2)[0].keys() == {"prompt", "base", "wiki"}
    ad.use("wiki")
    assert ad.active == "wiki" and ad.generate(TEXT, max_new_tokens=4) == wiki.generate(TEXT, max_new_tokens=4)
    assert ad.use(None).generate(TEXT, max_new_tokens=4) == rows[0]["base"]

    with pytest.raises(NbragError, match=r"^name='news': no adapter of that name\. Loaded: docs, wiki \(None for the "
                                         r"base model\)\.$"):
        ad.use("news")
    with pytest.raises(NbragError, match=r"^adapters='news': no adapter of that name"):
        ad.side_by_side(TEXT, adapters=["news"])
    with pytest.raises(NbragError, match=r"^name='docs': an adapter of that name is already loaded; pick another "
                                         r"name \(loaded: docs, wiki\)\.$"):
        ad.add("docs", docs)
    with pytest.raises(NbragError, match=r"^path_or_run='.*': no adapter there \(no adapter_config.json\)"):
        ad.add("empty", tmp_path)
    with pytest.raises(NbragTypeError, match=r"^path_or_run=\['x'\]: give a folder \(a str or a pathlib\.Path\) or a "
                                             r"LoraRun\.$"):
        ad.add("listed", ["x"])
    for call in (lambda: docs.save(["x"]), lambda: lora.load(["x"], model=llama)):
        with pytest.raises(NbragTypeError, match=r"^path=\['x'\]: give a folder \(a str or a pathlib\.Path\)\.$"):
            call()
    with pytest.raises(NbragError, match=r"^name=None: give an adapter's name: the base model has nothing to merge\."):
        ad.merge(None)
    delta = lora.train(records, "delta-lora", model=llama, **OPTIONS)
    with pytest.raises(NbragError, match=r"^name='delta': a Delta-LoRA adapter: it also moved the base weights"):
        ad.add("delta", delta)


def test_vera_adapters_share_their_projections_and_do_not_mix_with_lora(tmp_path, llama, records):
    one = lora.train(records, "vera", model=llama, **OPTIONS)
    two = lora.train(records, "vera", model=llama, **{**OPTIONS, "seed": 1})
    ad = lora.Adapters(model=llama).add("first", one).add("second", two)  # one projection key for every seed
    _, tokenizer = llama
    ad.use("second")
    torch.testing.assert_close(_logits(ad.model, tokenizer), _logits(two.model, tokenizer))
    with pytest.raises(NbragError, match=r"^name='plain': a lora adapter cannot join the loaded ones \(first \(vera\), "
                                         r"second \(vera\)\).*keep VeRA adapters in an Adapters of their own"):
        ad.add("plain", lora.train(records, "lora", model=llama, **OPTIONS))
    loaded = lora.load(one.save(tmp_path / "vera"), model=llama)
    assert loaded.variant == "vera" and loaded.trainable_params == one.trainable_params
    torch.testing.assert_close(_logits(loaded.model, tokenizer), _logits(one.model, tokenizer))


def test_generation_goes_through_the_model_interface_with_dropout_off(monkeypatch, llama, records):
    """Adapters and runs generate through nbrag.llm.LocalGenerator (greedy, the chat template applied there), the
    model in eval mode for the call and given back in the mode it was in."""
    from nbrag.llm import LocalGenerator

    run = lora.train(records, "lora", model=llama, **OPTIONS)
    assert run.model.training  # as training left it
    seen = []

    def fake(self, messages, *, max_new_tokens=200):
        seen.append((self.model, messages, max_new_tokens, self.model.training))
        return f"reply {len(seen)}"

    monkeypatch.setattr(LocalGenerator, "complete", fake)
    assert run.generate(TEXT, max_new_tokens=5) == "reply 1"
    assert seen[-1] == (run.model, TEXT, 5, False) and run.model.training
    ad = lora.Adapters(model=llama).add("docs", run)
    assert ad.side_by_side([TEXT], max_new_tokens=3) == [{"prompt": TEXT, "base": "reply 2", "docs": "reply 3"}]
    assert all(model is ad.model and not training for model, _, _, training in seen[1:])


def test_without_peft_the_entry_points_name_the_extra(monkeypatch, llama, records):
    import sys

    from nbrag.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    for call in (lambda: lora.train(records, model=llama, **OPTIONS), lambda: lora.compare(records, model=llama),
                 lambda: lora.Adapters(model=llama), lambda: lora.load("adapters/none", model=llama)):
        with pytest.raises(MissingExtraError, match=r"LoRA fine-tuning needs the package 'peft', which is not "
                                                    r"installed: run pip install \"nbrag\[lora\]\"\."):
            call()
