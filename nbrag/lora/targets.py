"""Which layers an adapter goes on: found from the architecture, overridable, checked.

By default the attention projections peft itself picks for the architecture
(``peft.utils.constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING``: ``q_proj`` and
``v_proj`` for Llama, Qwen2, Mistral and Gemma, ``c_attn`` for GPT-2, ``query`` and ``value``
for BERT-like encoders). An architecture peft does not list gets the linear layers whose
names look like attention projections. A target given by hand must name linear layers that
exist: otherwise the error lists the names that do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from nbrag.errors import NbragError

# Linear-layer names that hold attention projections, for architectures peft does not list.
ATTENTION_NAMES = ("q_proj", "k_proj", "v_proj", "query", "key", "value", "c_attn", "qkv_proj", "Wqkv",
                   "query_key_value", "q_lin", "v_lin", "in_proj")


@dataclass(frozen=True)
class Adapted:
    """One weight matrix an adapter goes on: its module path and its input and output sizes."""

    name: str
    d_in: int
    d_out: int


def _is_linear(module: Any) -> bool:
    import torch

    if isinstance(module, torch.nn.Linear):
        return True
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")  # GPT-2's transposed linear


def _shape(module: Any) -> tuple[int, int]:
    """``(d_in, d_out)`` of a linear layer (GPT-2's Conv1D stores its weight as ``[d_in, d_out]``)."""
    if type(module).__name__ == "Conv1D":
        d_in, d_out = module.weight.shape
    else:
        d_out, d_in = module.weight.shape
    return int(d_in), int(d_out)


def linear_names(model: Any) -> list[str]:
    """The distinct last names of the model's linear layers (``q_proj``, ``c_attn``, ``lm_head`` ...), sorted."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if name and _is_linear(module)})


def model_type(model: Any) -> str:
    return str(getattr(getattr(model, "config", None), "model_type", "") or "")


def default_targets(model: Any, variant: str = "lora") -> list[str]:
    """peft's default targets for the architecture, else the attention-looking linear layers."""
    from peft.utils import constants

    table = (constants.TRANSFORMERS_MODELS_TO_VERA_TARGET_MODULES_MAPPING if variant == "vera"
             else constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING)
    names = linear_names(model)
    known = table.get(model_type(model))
    if known and all(t in names for t in known):
        return list(known)
    found = [n for n in ATTENTION_NAMES if n in names]
    if not found:
        kind = model_type(model) or "no model type"
        raise NbragError(f"no attention projections found in {type(model).__name__} ({kind}) to adapt by default; "
                         f"name some of its linear layers: {', '.join(names)}.", option="target_modules")
    return found


def resolve_targets(model: Any, target_modules: str | list[str] | tuple[str, ...] | None,
                    variant: str = "lora") -> list[str]:
    """The target names to adapt: the defaults, or ``target_modules`` checked against the model's linear layers.

    A string is read as comma-separated names (``"q_proj,v_proj"``).
    """
    given = target_modules
    if target_modules is None or target_modules == "" or target_modules == []:
        return default_targets(model, variant)
    if isinstance(target_modules, str):
        target_modules = [t.strip() for t in target_modules.split(",") if t.strip()]
        if not target_modules:
            raise NbragError("name modules separated by commas (e.g. q_proj,v_proj).", option="target_modules",
                             value=given)
    names = linear_names(model)
    missing = [t for t in target_modules if t not in names]
    if missing:
        raise NbragError(f"{', '.join(map(str, missing))} not found in {type(model).__name__}; its linear layers "
                         f"are: {', '.join(names)}.", option="target_modules", value=given)
    return list(target_modules)


def adapted(model: Any, targets: list[str]) -> list[Adapted]:
    """Every linear layer of ``model`` whose last name is one of ``targets``, in model order."""
    wanted = set(targets)
    return [Adapted(name, *_shape(module)) for name, module in model.named_modules()
            if name and name.rsplit(".", 1)[-1] in wanted and _is_linear(module)]


def check_rank(layers: list[Adapted], r: int, variant: str) -> None:
    """A rank above a layer's smaller dimension adds nothing a full update would not: refuse it. VeRA's rank may
    pass a layer's dimensions, but not the largest dimension of every adapted layer."""
    if variant == "vera":  # VeRA's shared random projections may be wider than a layer (the paper uses r=256 and up)
        widest = max((max(a.d_in, a.d_out) for a in layers), default=r)
        if r > widest:
            raise NbragError(f"larger than every dimension of the adapted layers (the largest is {widest}): VeRA's "
                             "shared random projections would hold more directions than any layer can use; give a "
                             f"rank of at most {widest}.", option="r", value=r)
        return
    too_small = [a for a in layers if r > min(a.d_in, a.d_out)]
    if too_small:
        a = min(too_small, key=lambda x: min(x.d_in, x.d_out))
        raise NbragError(f"larger than the smaller dimension of {a.name} ({a.d_in}→{a.d_out}), so the low-rank "
                         f"update would be no smaller than the matrix; give a rank of at most {min(a.d_in, a.d_out)}.",
                         option="r", value=r)


def shape_groups(layers: list[Adapted]) -> list[tuple[int, int, int]]:
    """``(d_in, d_out, count)`` for each distinct shape, in first-seen order."""
    counts = Counter((a.d_in, a.d_out) for a in layers)
    return [(d_in, d_out, n) for (d_in, d_out), n in counts.items()]
