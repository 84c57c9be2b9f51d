"""Tiny random-weight models, one per family, to see each architecture's mechanism in a second.

``tiny_model("mixtral")`` builds a 2-layer model with hidden size 64 from the family's
transformers config (``AutoModelForCausalLM.from_config``): nothing is downloaded, and the
weights are random (seeded). Attention maps, caches and routing are real computations of that
architecture (grouped-query heads, sliding windows, latent caches, top-k routers, shared
experts, dense first layers), but with random weights they show how the mechanism works,
not what a trained model attends to or how its experts specialise.

Tokens come from the packaged MiniLM WordPiece vocabulary (30,522 ids, no download): the
tiny model's vocabulary is that tokenizer's, so text goes in with exact character offsets
and generated ids decode to words. ``[CLS]`` opens every text, as a BOS token would.
Weights are drawn with standard deviation 0.2 (``initializer_range``): at transformers'
default of 0.02 every head of so small a model attends almost uniformly and every router
gives its experts almost equal probability, which shows nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from nbrag.errors import NbragError

TOKENIZER = "all-MiniLM-L6-v2"
BOS, EOS, PAD = 101, 102, 0  # [CLS], [SEP], [PAD] in MiniLM's vocabulary
SIZE: dict[str, Any] = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128,
                        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
                        "tie_word_embeddings": True, "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD,
                        "initializer_range": 0.2}
MLA: dict[str, Any] = {"kv_lora_rank": 32, "q_lora_rank": None, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
                       "v_head_dim": 16, "num_key_value_heads": 4, "n_shared_experts": 1, "moe_intermediate_size": 32,
                       "first_k_dense_replace": 1}


@dataclass(frozen=True)
class Family:
    """How to build one tiny family: its transformers config class and what differs from :data:`SIZE`."""

    name: str
    config: str  # class name in transformers
    overrides: dict[str, Any] = field(default_factory=dict)
    moe: bool = False
    about: str = ""
    sized: bool = True  # False: the config names its sizes its own way; only the overrides set them


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("llama", "LlamaConfig", about="grouped-query attention: 4 query heads share 2 KV heads"),
    Family("qwen2", "Qwen2Config", about="Llama-like, with biases on q, k, v"),
    Family("mistral", "MistralConfig", {"sliding_window": 16},
           about="sliding-window attention (16 tokens): its cache stops growing"),
    Family("gemma", "GemmaConfig", {"head_dim": 16}, about="head_dim read from the config, not hidden / heads"),
    Family("gpt2", "GPT2Config", {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_inner": 128, "n_positions": 512},
           about="no num_key_value_heads, no head_dim: one KV head per query head, head_dim = 64 / 4", sized=False),
    Family("mixtral", "MixtralConfig", {"num_local_experts": 4, "num_experts_per_tok": 2}, moe=True,
           about="4 experts, top-2, weights renormalised over the chosen two"),
    Family("qwen2_moe", "Qwen2MoeConfig", {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                                           "shared_expert_intermediate_size": 64}, moe=True,
           about="4 experts, top-2, plus a gated shared expert; top-k weights not renormalised (norm_topk_prob=False)"),
    Family("qwen3_moe", "Qwen3MoeConfig", {"num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                                           "head_dim": 16, "norm_topk_prob": True}, moe=True,
           about="8 experts, top-2, renormalised (norm_topk_prob=True, as Qwen3-30B-A3B)"),
    Family("olmoe", "OlmoeConfig", {"num_experts": 8, "num_experts_per_tok": 2}, moe=True,
           about="8 experts, top-2, softmax weights not renormalised"),
    Family("deepseek_v3", "DeepseekV3Config", {**MLA, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 2,
                                               "topk_group": 1}, moe=True,
           about="sigmoid router with group-limited top-2 (2 groups of 4, one group kept), weights renormalised "
                 "and scaled by routed_scaling_factor; a shared expert; layer 0 dense; latent (MLA) KV cache"),
    Family("deepseek_v2", "DeepseekV2Config", {**MLA, "n_routed_experts": 8, "num_experts_per_tok": 2}, moe=True,
           about="softmax router, greedy top-2, a shared expert; layer 0 dense; latent (MLA) KV cache"),
    Family("granitemoe", "GraniteMoeConfig", {"num_local_experts": 4, "num_experts_per_tok": 2}, moe=True,
           about="4 experts, top-2, softmax over the two chosen logits"),
    Family("phimoe", "PhimoeConfig", {"num_local_experts": 4, "num_experts_per_tok": 2}, moe=True,
           about="4 experts, top-2 chosen and weighted by sparsemixer"),
    Family("gpt_oss", "GptOssConfig", {"num_local_experts": 4, "num_experts_per_tok": 2, "head_dim": 16,
                                       "sliding_window": 8, "max_position_embeddings": 131072},  # YaRN: 32 × 4096
           moe=True,
           about="4 experts, top-2, softmax over the chosen logits; sliding and full attention layers alternate; "
                 "a learned sink per head takes a share of attention, so rows sum to less than 1"),
    Family("dbrx", "DbrxConfig", {"d_model": 64, "n_heads": 4, "n_layers": 2, "max_seq_len": 512,
                                  "tie_word_embeddings": False,
                                  # DBRX's attention (transformers 5.24) reads rope_theta from attn_config, which does
                                  # not default it, and clamps with clip_qkv, which defaults to None: both set here
                                  "attn_config": {"kv_n_heads": 2, "rope_theta": 500000.0, "clip_qkv": 8.0},
                                  "ffn_config": {"ffn_hidden_size": 128, "moe_num_experts": 4, "moe_top_k": 2}},
           moe=True, sized=False,
           about="4 experts, top-2, weights divided by their p-norm; the router returns logits only"),
    Family("glm4_moe", "Glm4MoeConfig", {"n_routed_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                                         "n_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 1,
                                         "topk_group": 1}, moe=True,
           about="DeepSeek-V3's sigmoid router with a bias, 8 experts, top-2, a shared expert; layer 0 dense"),
    Family("flex_olmo", "FlexOlmoConfig", {"num_experts": 8, "num_experts_per_tok": 2}, moe=True,
           about="8 experts, top-2, softmax weights not renormalised"),
]}


def families(moe: bool | None = None) -> list[str]:
    """The tiny families the installed transformers can build (``moe=True``: only mixture-of-experts ones)."""
    import transformers

    return [f.name for f in FAMILIES.values()
            if hasattr(transformers, f.config) and (moe is None or f.moe == moe)]


def missing_families() -> list[str]:
    """Families listed here that the installed transformers lacks (an older version)."""
    import transformers

    return [f.name for f in FAMILIES.values() if not hasattr(transformers, f.config)]


def tiny_config(family: str) -> Any:
    """The family's transformers config at the tiny size, with MiniLM's vocabulary size."""
    import transformers

    if family not in FAMILIES:
        raise NbragError(f"no tiny family of that name; available: {', '.join(families())}.", option="family",
                         value=family)
    spec = FAMILIES[family]
    if not hasattr(transformers, spec.config):
        raise NbragError(f"the installed transformers {transformers.__version__} has no {spec.config}, so this tiny "
                         f"family cannot be built; upgrade transformers or pick one of {', '.join(families())}.",
                         option="family", value=family)
    options = dict(SIZE, vocab_size=tokenizer().vocab_size, **spec.overrides)
    if not spec.sized:  # GPT-2 and DBRX name their sizes their own way: the generic names would be ignored or clash
        options = {k: v for k, v in options.items() if k not in ("num_hidden_layers", "hidden_size",
                   "intermediate_size", "num_attention_heads", "num_key_value_heads", "max_position_embeddings")
                   or k in spec.overrides}
    return getattr(transformers, spec.config)(**options)


def tiny_model(family: str, seed: int = 0) -> tuple[Any, Any, str]:
    """``(model, tokenizer, note)``: a tiny random-weight model of ``family``, in eval mode, on the CPU.

    The note says what the model is and is not; inspectors show it beside their results.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_config(family)
    with torch.random.fork_rng(devices=[]):  # seeded weights, and the caller's random state left untouched
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.eval()
    model.config.name_or_path = f"tiny-{family}"  # the name inspectors show
    spec = FAMILIES[family]
    return model, tokenizer(), (f"tiny {family} with random weights (seed {seed}, {spec.about}): it shows the "
                                "mechanism, not a trained model's attention or expert specialisation; tokens from "
                                f"{TOKENIZER}'s WordPiece vocabulary.")


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    """MiniLM's WordPiece tokenizer as a transformers fast tokenizer: ``[CLS]`` first, ``[SEP]`` as EOS."""
    import tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    from nbrag.models import load_tokenizer

    tok = tokenizers.Tokenizer.from_str(load_tokenizer(TOKENIZER).to_str())  # a copy: the shared one stays as it is
    tok.post_processor = TemplateProcessing(single="[CLS] $A", pair="[CLS] $A $B", special_tokens=[("[CLS]", BOS)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="[CLS]", eos_token="[SEP]", pad_token="[PAD]",
                                   unk_token="[UNK]")
