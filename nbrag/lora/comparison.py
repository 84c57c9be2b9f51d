"""``compare``: several variants trained from the same base weights, seed and data, side by side.

The base model is loaded once; every run adapts its own copy of it (Delta-LoRA moves its
copy's weights, never the base), with the same seed, data split and batch order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nbrag.lora.base import DEFAULT_COMPARE, LoraComparison, variant_list


def compare(data: Any, variants: Iterable[str] | str = DEFAULT_COMPARE, *,
            callbacks: Iterable[Callable[[dict], Any]] = (), model: Any = None, save: str | None = None,
            **options: Any) -> LoraComparison:
    """Train each of ``variants`` with the same options (those of :func:`nbrag.lora.train`) and compare them.

    ``variants`` may be a comma-separated string (``"lora,vera"``); each is named once. ``save``: a
    folder that gets one sub-folder per variant. ``lr`` given here applies to every variant; left out,
    each variant takes its own default. Ctrl-C stops the comparison: it holds the runs trained so far,
    the interrupted one last (``comparison.interrupted``; that run can ``resume``).
    """
    from nbrag.lora.training import listed, prepare, resolve_model, train

    names = variant_list(variants)
    callbacks = listed(callbacks)
    # read once; every variant trains on the same examples
    examples = prepare(data, save=save, callbacks=callbacks, **options)
    pair = resolve_model(model)  # loaded once; train() copies it for each variant
    runs = {}
    for variant in names:
        runs[variant] = train(examples, variant, model=pair, callbacks=callbacks,
                              save=str(Path(save) / variant) if save else None, **options)
        if runs[variant].interrupted:  # Ctrl-C stops the comparison, not only the variant being trained
            break
    return LoraComparison(runs=runs, options={"variants": names, **options})
