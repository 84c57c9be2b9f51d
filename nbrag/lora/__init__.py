"""LoRA and its variants, trained from a notebook: LoRA, DoRA, VeRA, LoRA+, LoRA-FA and Delta-LoRA.

    from nbrag import lora

    run = lora.train(sample_instructions(), variant="lora-fa", steps=30)   # a LoraRun
    run.history, run.eval_loss, run.trainable_params, run.formula, run.memory
    run.save("adapters/fa")
    table = lora.compare(data, variants=("lora", "vera", "delta-lora"))     # a LoraComparison
    ad = lora.Adapters(); ad.add("fa", "adapters/fa"); ad.side_by_side(["Who ...?"])

Every variant is a preset over Hugging Face peft where peft has the method (``lora``,
``dora``, ``vera``, ``lora-plus``, ``lora-fa``); ``delta-lora`` is nbrag's own code
(:mod:`nbrag.lora.delta_lora`). torch, transformers and peft load on first use.
"""

from nbrag.lora.adapters import Adapters, load
from nbrag.lora.base import DEFAULT_COMPARE, VARIANTS, Event, LoraComparison, LoraRun, SaveWarning
from nbrag.lora.comparison import compare
from nbrag.lora.training import train

__all__ = ["DEFAULT_COMPARE", "VARIANTS", "Adapters", "Event", "LoraComparison", "LoraRun", "SaveWarning", "compare",
           "load", "train"]
