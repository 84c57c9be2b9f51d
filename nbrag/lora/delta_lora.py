"""Delta-LoRA (Zi et al., 2023, arXiv:2309.02411): the frozen weight follows the adapter's delta.

The paper's Algorithm 1 counts iterations t from 0 and moves W at iteration t only when t > K
(the update start step): after the optimizer has computed A₍ₜ₊₁₎, B₍ₜ₊₁₎,

    W₍ₜ₊₁₎ ← W₍ₜ₎ + λ·(α/r)·(A₍ₜ₊₁₎B₍ₜ₊₁₎ − A₍ₜ₎B₍ₜ₎)

(the paper writes the product A·B with A of shape d_in×r; peft's ΔW = scaling·B·A, scaling = α/r,
is the same update in W's layout). With optimizer steps numbered from 1 (step k gives A_k, B_k),
W stays put for steps 1 … K+1 and moves from step K+2 on, so after k > K+1 steps

    W_k = W_0 + λ·(ΔW_k − ΔW_{K+1}).

``delta_start`` is the paper's K (0: W moves from the second step on). W gets no gradient and no
optimizer state: the update is computed from A and B alone, which is why the method costs about
what LoRA costs. The paper removes LoRA's dropout so that the gradient of A·B matches the
gradient W would get; nbrag turns dropout off for this variant (the run's options say
``dropout: 0.0``).

Because W moves, the adapter's A and B alone do not reproduce the trained model: a saved
delta-lora run holds the adapter and the moved weights of the adapted layers
(``delta_lora_base.safetensors``), and loading puts both back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbrag.errors import NbragError

BASE_FILE = "delta_lora_base.safetensors"


def lora_layers(model: Any, adapter: str = "default") -> dict[str, Any]:
    """peft LoRA layers carrying ``adapter``, by module path."""
    from peft.tuners.lora import LoraLayer

    return {name: module for name, module in model.named_modules()
            if isinstance(module, LoraLayer) and adapter in getattr(module, "lora_A", {})}


def delta_weight(module: Any, adapter: str, a: Any = None, b: Any = None) -> Any:
    """scaling·B·A in W's layout (transposed for GPT-2's Conv1D), from the module's or the given A and B."""
    a = module.lora_A[adapter].weight if a is None else a
    b = module.lora_B[adapter].weight if b is None else b
    delta = (b @ a) * module.scaling[adapter]
    return delta.T if module.fan_in_fan_out else delta


class DeltaLoRA:
    """Applies the Delta-LoRA rule after each optimizer step of a peft LoRA model."""

    def __init__(self, model: Any, lam: float, start: int = 0, adapter: str = "default"):
        self.lam, self.start, self.adapter = float(lam), int(start), adapter
        self.layers = lora_layers(model, adapter)
        self.steps = 0  # optimizer steps seen
        self._previous: dict[str, tuple[Any, Any]] = {}

    def _snapshot(self) -> None:
        self._previous = {name: (m.lora_A[self.adapter].weight.detach().clone(),
                                 m.lora_B[self.adapter].weight.detach().clone()) for name, m in self.layers.items()}

    def after_step(self) -> None:
        """Call once after each ``optimizer.step()``."""
        import torch

        t = self.steps  # the paper's iteration index, from 0
        self.steps += 1
        if t < self.start:
            return
        if t == self.start:  # A₍K+1₎, B₍K+1₎: the reference the first move starts from
            self._snapshot()
            return
        with torch.no_grad():
            for name, module in self.layers.items():
                old_a, old_b = self._previous[name]
                new_a, new_b = module.lora_A[self.adapter].weight, module.lora_B[self.adapter].weight
                change = delta_weight(module, self.adapter) - delta_weight(module, self.adapter, old_a, old_b)
                weight = module.get_base_layer().weight
                weight.add_(change.to(weight.dtype), alpha=self.lam)
                old_a.copy_(new_a)
                old_b.copy_(new_b)

    def state(self) -> dict[str, Any]:
        return {"lambda": self.lam, "start": self.start, "steps": self.steps}


def base_weights(model: Any, adapter: str = "default") -> dict[str, Any]:
    """The (moved) base weights of the adapted layers, keyed by module path."""
    return {f"{name}.weight": module.get_base_layer().weight.detach().contiguous().cpu()
            for name, module in lora_layers(model, adapter).items()}


def save_base(model: Any, folder: Path, adapter: str = "default") -> Path:
    from safetensors.torch import save_file

    path = Path(folder) / BASE_FILE
    save_file(base_weights(model, adapter), str(path))
    return path


def load_base(model: Any, folder: Path, adapter: str = "default") -> int:
    """Copy saved moved weights into the base layers of ``model``'s adapted modules; returns how many."""
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(Path(folder) / BASE_FILE))
    layers = lora_layers(model, adapter)
    missing = [key for key in saved if key.removesuffix(".weight") not in layers]
    if missing:
        raise NbragError(f"{len(missing)} saved Delta-LoRA weights have no adapted layer in this model (first: "
                         f"{missing[0]}); load them into the base model they were trained on.", option="model")
    with torch.no_grad():
        for key, value in saved.items():
            weight = layers[key.removesuffix(".weight")].get_base_layer().weight
            if weight.shape != value.shape:
                raise NbragError(f"{key} was saved with shape {tuple(value.shape)} but this model's is "
                                 f"{tuple(weight.shape)}; load it into the base model it was trained on.",
                                 option="model")
            weight.copy_(value.to(weight.dtype))
    return len(saved)
