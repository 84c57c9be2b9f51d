"""LoRA types: the variants' names, a training run, a comparison of runs, and the callback event.

A :class:`LoraRun` is what :func:`nbrag.lora.train` returns: the adapted model (a peft
``PeftModel``), its loss history, its parameter counts (counted, and from the method's
formula) and the memory training held. :class:`LoraComparison` holds one run per variant,
trained by :func:`nbrag.lora.compare` from the same base weights, seed and data.

Each callback receives one :data:`Event`-shaped dict after every optimizer step and after
every evaluation::

    {"variant": "lora", "step": 3, "steps": 30, "loss": 2.41, "eval_loss": None,
     "seconds": 1.9, "steps_per_second": 1.6, "memory_bytes": 51234816, "done": False}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from nbrag.display import Shown
from nbrag.errors import NbragError, NbragTypeError

if TYPE_CHECKING:  # pragma: no cover
    from nbrag.lora.training import Trainer

VARIANTS = ("lora", "dora", "vera", "lora-plus", "lora-fa", "delta-lora")
DEFAULT_COMPARE = ("lora", "lora-fa", "vera", "delta-lora", "lora-plus")


class SaveWarning(UserWarning):
    """A finished run's adapter could not be saved; the run is returned and keeps the message in ``run.warnings``."""


class Event(TypedDict):
    """What a callback receives after each optimizer step and each evaluation."""

    variant: str
    step: int
    steps: int
    loss: float | None  # the step's training loss; None for an evaluation event
    eval_loss: float | None  # the evaluation's loss; None for a training step
    seconds: float  # training time so far (evaluations excluded)
    steps_per_second: float
    memory_bytes: int  # peak memory measured so far (see LoraRun.memory)
    done: bool  # the last event of the run


def check_variant(variant: str) -> str:
    """``variant`` if nbrag knows it; an :class:`NbragError` listing the variants otherwise."""
    if not isinstance(variant, str):
        raise NbragTypeError(f"give one variant's name: {', '.join(VARIANTS)} (compare several with "
                             "nbrag.lora.compare).", option="variant", value=variant)
    if variant not in VARIANTS:
        raise NbragError(f"unknown LoRA variant. Available: {', '.join(VARIANTS)}.", option="variant", value=variant)
    return variant


def variant_list(variants: Iterable[str] | str) -> list[str]:
    """``variants`` (a list, or a comma-separated string ``"lora,vera"``) checked: known, each named once."""
    names = [v.strip() for v in variants.split(",")] if isinstance(variants, str) else \
        list(variants) if isinstance(variants, Iterable) else None
    if names is None or not all(isinstance(v, str) for v in names):
        raise NbragTypeError(f"give variants' names: a list of str or one str with commas (e.g. 'lora,vera'); "
                             f"available: {', '.join(VARIANTS)}.", option="variants", value=variants)
    names = [v for v in names if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise NbragError(f"unknown variant{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))}. "
                         f"Available: {', '.join(VARIANTS)}.", option="variants", value=variants)
    twice = sorted({v for v in names if names.count(v) > 1})
    if twice:
        raise NbragError(f"{', '.join(twice)} named twice; name each variant once.", option="variants",
                         value=variants)
    if not names:
        raise NbragError(f"give at least one variant (available: {', '.join(VARIANTS)}).", option="variants",
                         value=variants)
    return names


@dataclass
class LoraRun(Shown):
    """One training run: the adapted model, its history, parameter counts and memory.

    ``history`` has one dict per optimizer step (``step``, ``loss``, ``lr``, ``seconds``: time
    since the start, ``step_seconds``, ``tokens``: tokens in the step's batches); ``evals`` one
    per evaluation (``step``, ``loss``). ``memory`` holds bytes: ``weights`` (all parameters),
    ``trainable``, ``gradients``, ``optimizer`` (state tensors), ``activations`` (tensors saved
    for backward, parameters excluded, measured on the first step) and ``peak`` (on CUDA
    ``torch.cuda.max_memory_allocated``; on the CPU the sum of the others). ``warnings`` holds what
    went wrong once training was done (a ``save=`` folder that could not be written after all): the
    run is returned all the same, and each warning is also issued as a :class:`SaveWarning`.
    """

    variant: str
    options: dict[str, Any]
    model: Any = field(repr=False)
    tokenizer: Any = field(repr=False)
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    evals: list[dict[str, Any]] = field(default_factory=list, repr=False)
    target_modules: list[str] = field(default_factory=list)
    trainable_params: int = 0
    total_params: int = 0
    formula_params: int = 0
    formula: str = ""
    memory: dict[str, int] = field(default_factory=dict, repr=False)
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list, repr=False)  # what went wrong after training, e.g. saving
    _trainer: Trainer | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ numbers

    @property
    def steps(self) -> int:
        """Optimizer steps done so far."""
        return self.history[-1]["step"] if self.history else 0

    @property
    def seconds_per_step(self) -> float | None:
        """Median seconds per optimizer step (the first step, which measures memory, left out when others exist)."""
        import statistics

        times = [h["step_seconds"] for h in self.history]
        if len(times) > 1:
            times = times[1:]
        return statistics.median(times) if times else None

    @property
    def train_loss(self) -> float | None:
        """The mean training loss of the last (up to) 5 steps."""
        losses = [h["loss"] for h in self.history[-5:]]
        return sum(losses) / len(losses) if losses else None

    @property
    def eval_loss(self) -> float | None:
        """The last evaluation's loss (None without an evaluation set)."""
        return self.evals[-1]["loss"] if self.evals else None

    @property
    def share(self) -> float:
        """Trainable parameters as a share of all the model's parameters."""
        return self.trainable_params / self.total_params if self.total_params else 0.0

    # ------------------------------------------------------------------ actions

    def resume(self, steps: int, callbacks: Iterable[Callable[[dict], Any]] | None = None) -> LoraRun:
        """Train ``steps`` more optimizer steps from where the run stopped (same optimizer state and data order).

        ``callbacks``: new callbacks for this and later calls, in place of the run's (None keeps them).
        """
        if self._trainer is None:
            raise NbragError(f"This {self.variant} run was loaded from disk without its optimizer state, so it "
                             "cannot resume; train a new run with nbrag.lora.train(...) instead.")
        if callbacks is not None:
            from nbrag.lora.training import check_options, listed

            callbacks = listed(callbacks)
            check_options(callbacks=callbacks)
            self._trainer.callbacks = list(callbacks)
        return self._trainer.run(steps)

    def save(self, path: str | Path) -> Path:
        """Save the adapter as safetensors (and, for delta-lora, the moved base weights); returns the folder."""
        from nbrag.lora.adapters import save_run

        return save_run(self, path)

    def generate(self, prompt: str, max_new_tokens: int = 64) -> str:
        """Greedy generation with the adapter on (the chat template applied when the tokenizer has one)."""
        from nbrag.lora.adapters import complete

        return complete(self.model, self.tokenizer, prompt, max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "options": dict(self.options), "history": list(self.history),
                "evals": list(self.evals), "target_modules": list(self.target_modules),
                "trainable_params": self.trainable_params, "total_params": self.total_params,
                "share": self.share, "formula_params": self.formula_params, "formula": self.formula,
                "memory": dict(self.memory), "seconds_per_step": self.seconds_per_step,
                "train_loss": self.train_loss, "eval_loss": self.eval_loss, "steps": self.steps,
                "interrupted": self.interrupted, "warnings": list(self.warnings)}

    def __repr__(self) -> str:
        loss = f"{self.train_loss:.4f}" if self.train_loss is not None else "-"
        ev = f"{self.eval_loss:.4f}" if self.eval_loss is not None else "-"
        stopped = ", interrupted" if self.interrupted else ""
        stopped += f", {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}" if self.warnings else ""
        return (f"LoraRun({self.variant}, {self.steps} steps{stopped}, trainable {self.trainable_params:,} "
                f"({self.share:.3%}), train loss {loss}, eval loss {ev})")


@dataclass
class LoraComparison(Shown):
    """One run per variant, all from the same base weights, seed and data."""

    runs: dict[str, LoraRun]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped a run: the comparison holds the runs up to that one (which can ``resume``)."""
        return any(run.interrupted for run in self.runs.values())

    def rows(self) -> list[dict[str, Any]]:
        """One row per variant: trainable and formula parameters, share, peak memory, s/step, losses."""
        return [{"variant": name, "trainable_params": run.trainable_params, "share": run.share,
                 "formula_params": run.formula_params, "peak_memory_bytes": run.memory.get("peak", 0),
                 "seconds_per_step": run.seconds_per_step, "train_loss": run.train_loss,
                 "eval_loss": run.eval_loss} for name, run in self.runs.items()]

    def to_dict(self) -> dict[str, Any]:
        return {"options": dict(self.options), "rows": self.rows(), "interrupted": self.interrupted,
                "runs": {name: run.to_dict() for name, run in self.runs.items()}}

    def __repr__(self) -> str:
        lines = [f"LoraComparison({len(self.runs)} variants)"]
        for row in self.rows():
            ev = f"{row['eval_loss']:.4f}" if row["eval_loss"] is not None else "-"
            lines.append(f"  {row['variant']:<11} trainable {row['trainable_params']:>10,} ({row['share']:.3%})  "
                         f"formula {row['formula_params']:>10,}  eval loss {ev}")
        return "\n".join(lines)
