"""The variants as presets over peft: each one's adapter config, optimizer and parameter formula.

=============  ==============================================  ==============================================
variant        what it trains                                  trainable parameters per adapted matrix
=============  ==============================================  ==============================================
``lora``       A (r×d_in) and B (d_out×r); ΔW = (α/r)·B·A       r·(d_in + d_out)
``dora``       LoRA plus a magnitude per output (peft           r·(d_in + d_out) + d_out
               ``use_dora=True``)
``vera``       two vectors b (d_out) and d (r) per layer; A    d_out + r (A and B shared, frozen, not counted)
               and B are random, frozen and shared (peft
               ``VeraConfig``)
``lora-plus``  LoRA with B's learning rate ``loraplus_ratio``  r·(d_in + d_out)
               times A's (peft ``create_loraplus_optimizer``)
``lora-fa``    only B; A stays at its random init (peft        r·d_out
               ``create_lorafa_optimizer``)
``delta-lora`` LoRA, and W moves by λ·(ΔW_t+1 − ΔW_t) after    r·(d_in + d_out) (W also moves, without
               each step (:mod:`nbrag.lora.delta_lora`)        gradients or optimizer state)
=============  ==============================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbrag.lora.targets import Adapted, shape_groups

# Learning rates used when lr=None: higher than fine-tuning defaults so that few steps show a change;
# VeRA trains only scaling vectors and its paper uses learning rates around 10x LoRA's.
VERA_KEY = 0  # peft's projection_prng_key for VeRA's shared random A and B
DEFAULT_LR = {"lora": 1e-3, "dora": 1e-3, "vera": 1e-2, "lora-plus": 5e-4, "lora-fa": 1e-3, "delta-lora": 1e-3}


@dataclass(frozen=True)
class Variant:
    name: str
    about: str
    per_matrix: Callable[[int, int, int], int]  # (r, d_in, d_out) -> trainable parameters
    per_matrix_text: str
    dropout: bool = True  # False: LoRA dropout forced off


VARIANT_SPECS: dict[str, Variant] = {v.name: v for v in [
    Variant("lora", "low-rank update B·A", lambda r, i, o: r * (i + o), "r·(d_in+d_out)"),
    Variant("dora", "LoRA on the direction, a trained magnitude per output", lambda r, i, o: r * (i + o) + o,
            "r·(d_in+d_out)+d_out"),
    Variant("vera", "frozen shared random A, B; trained vectors b and d", lambda r, i, o: o + r, "d_out+r"),
    Variant("lora-plus", "LoRA with B's learning rate ratio× A's", lambda r, i, o: r * (i + o), "r·(d_in+d_out)"),
    Variant("lora-fa", "LoRA with A frozen at init, only B trained", lambda r, i, o: r * o, "r·d_out"),
    Variant("delta-lora", "LoRA, and W moved by λ·(ΔW_t+1 − ΔW_t)", lambda r, i, o: r * (i + o), "r·(d_in+d_out)",
            dropout=False),
]}


def formula(variant: str, layers: list[Adapted], r: int) -> tuple[int, str]:
    """The trainable parameter count from the method's formula, and the formula written out."""
    spec = VARIANT_SPECS[variant]
    groups = shape_groups(layers)
    total = sum(spec.per_matrix(r, d_in, d_out) * n for d_in, d_out, n in groups)
    terms = " + ".join(f"{n}×({spec.per_matrix(r, d_in, d_out):,} for {d_in}→{d_out})" for d_in, d_out, n in groups)
    text = f"{spec.per_matrix_text} per adapted matrix, r={r}: {terms} = {total:,}"
    if variant == "vera":
        d_out = max((a.d_out for a in layers), default=0)
        d_in = max((a.d_in for a in layers), default=0)
        text += f"; shared frozen A ({r}×{d_in}) and B ({d_out}×{r}) are buffers, not trained"
    if variant == "delta-lora":
        moved = sum(a.d_in * a.d_out for a in layers)
        text += f"; the adapted W ({moved:,} weights) also move, with no gradient or optimizer state"
    return total, text


def peft_config(variant: str, targets: list[str], r: int, alpha: float, dropout: float,
                fan_in_fan_out: bool) -> Any:
    """The peft config of a variant."""
    import peft

    if variant == "vera":
        # one fixed key: VeRA adapters trained with any seed share their random projections and can be loaded together
        return peft.VeraConfig(r=r, target_modules=targets, vera_dropout=dropout, projection_prng_key=VERA_KEY,
                               save_projection=True, fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM")
    return peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                           lora_dropout=dropout if VARIANT_SPECS[variant].dropout else 0.0,
                           use_dora=variant == "dora", fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM")


def optimizer(variant: str, model: Any, lr: float, r: int, alpha: float, loraplus_ratio: float) -> Any:
    """The variant's optimizer: AdamW (no weight decay), or peft's LoRA+ / LoRA-FA optimizers."""
    import torch

    if variant == "lora-plus":
        from peft.optimizers import create_loraplus_optimizer

        return create_loraplus_optimizer(model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=loraplus_ratio,
                                         weight_decay=0.0)
    if variant == "lora-fa":
        from peft.optimizers import create_lorafa_optimizer

        return create_lorafa_optimizer(model, r=r, lora_alpha=alpha, lr=lr, weight_decay=0.0)
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
