"""``train``: one adapter variant trained on a copy of a base model by a small loop of nbrag's own.

The loop: a seeded shuffle of the training examples, ``grad_accum`` micro-batches of
``batch_size`` per optimizer step, the variant's optimizer (AdamW, or peft's LoRA+ and LoRA-FA
optimizers), bf16 autocast on CUDA devices that support it and float32 on the CPU, an evaluation
every ``eval_every`` steps and at the end, a tqdm bar. Ctrl-C (KeyboardInterrupt) stops after
the current step and returns the run with ``interrupted=True``, its adapter and history kept;
``run.resume(steps)`` continues with the same optimizer state and data order.

The base model is copied before the adapter goes on, so the model passed in (or the cached
generator) is never changed; Delta-LoRA moves only the copy's weights.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nbrag.errors import NbragError, NbragTypeError, number, require, whole_number
from nbrag.lora.base import LoraRun, SaveWarning, check_variant
from nbrag.lora.data import Example, Tokenized

FEATURE = "LoRA fine-tuning"
MAX_SEED = 2**64 - 1  # torch.manual_seed takes no larger seed


def require_peft() -> None:
    """peft, or a :class:`~nbrag.errors.MissingExtraError` naming ``pip install "nbrag[lora]"``."""
    require("peft", "lora", FEATURE)


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 reads transformers' deprecated ``is_gradient_checkpointing``: not the user's to fix, so not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def resolve_model(model: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from ``None`` (the configured generator), a name, or a pair."""
    if model is None or isinstance(model, str):
        from nbrag.models import load_generator

        return load_generator(model)
    if isinstance(model, tuple) and len(model) == 2:
        net, tokenizer = model
        if not hasattr(net, "config") or not callable(net) or not callable(tokenizer):
            raise NbragTypeError(f"({type(net).__name__}, {type(tokenizer).__name__}) is not a (model, tokenizer) "
                                 "pair: give a transformers model and its tokenizer, None (the configured generator), "
                                 "or a Hugging Face id or local folder.", option="model")
        return model
    raise NbragTypeError(f"a {type(model).__name__} is not a model: give None (the configured generator), a Hugging "
                         "Face id or local folder, or a (model, tokenizer) pair.", option="model")


def check_options(*, r: int = 8, alpha: float = 16, lr: float | None = None, steps: int = 0, batch_size: int = 4,
                  grad_accum: int = 1, max_length: int = 256, target_modules: str | list[str] | None = None,
                  eval_fraction: float = 0.1, eval_every: int = 10, seed: int = 0, dropout: float = 0.05,
                  loraplus_ratio: float = 16.0, delta_lambda: float = 0.5, delta_start: int = 0,
                  callbacks: Iterable[Callable[[dict], Any]] = (), **_: Any) -> None:
    """The options of :func:`train` checked before any model loads (a :class:`NbragError` names the one that is
    wrong, through :func:`nbrag.errors.whole_number` and :func:`nbrag.errors.number` as the magic's flags are);
    options it does not know are left to ``train``."""
    whole_number(r, "r", 1, " (the adapters' rank, e.g. 8)")
    whole_number(steps, "steps", 0, " (optimizer steps, e.g. 30)")
    whole_number(batch_size, "batch_size", 1, " (examples per batch, e.g. 4)")
    whole_number(grad_accum, "grad_accum", 1, " (forward passes per optimizer step; 1: no accumulation)")
    whole_number(max_length, "max_length", 2, " (tokens of the longest example, e.g. 256)")
    whole_number(eval_every, "eval_every", 1, " (steps between evaluations, e.g. 10)")
    if whole_number(seed, "seed", 0) > MAX_SEED:
        raise NbragError(f"give a whole number from 0 to {MAX_SEED} (torch's seeds have 64 bits).", option="seed",
                         value=seed)
    whole_number(delta_start, "delta_start", 0, " (the step Delta-LoRA starts moving the weights after)")
    number(alpha, "alpha", above=0, hint=" (e.g. 16)")
    if lr is not None:
        number(lr, "lr", above=0, hint=" (e.g. 2e-4)")
    number(loraplus_ratio, "loraplus_ratio", above=0, hint=" (e.g. 16)")
    number(delta_lambda, "delta_lambda", least=0, hint=" (e.g. 0.5)")
    number(eval_fraction, "eval_fraction", least=0, below=1, hint=" (the share held out; 0: no evaluation set)")
    number(dropout, "dropout", least=0, below=1, hint=" (a probability, e.g. 0.05)")
    if not (target_modules is None or isinstance(target_modules, str)
            or (isinstance(target_modules, list | tuple) and all(isinstance(m, str) for m in target_modules))):
        raise NbragTypeError("give module names: a list of str, or one str with commas (e.g. 'q_proj,v_proj'); "
                             "None finds them for the architecture.", option="target_modules", value=target_modules)
    if callable(callbacks) or not isinstance(callbacks, Iterable) or isinstance(callbacks, Iterator) \
            or not all(callable(c) for c in callbacks):
        raise NbragTypeError("give a list of functions, each taking one event dict.", option="callbacks",
                             value=callbacks)


def listed(callbacks: Any) -> Any:
    """``callbacks`` as a list when it is an iterator (a generator expression), so that it is checked whole and
    every run of a comparison gets every callback; anything else as given, for :func:`check_options` to judge."""
    return list(callbacks) if isinstance(callbacks, Iterator) else callbacks


def prepare(data: Any, *, save: str | Path | None = None, **options: Any) -> list[Example]:
    """What :func:`train` checks before a model loads: peft is there, the options (:func:`check_options`), that
    ``save`` can be written (so a finished run is never lost), the data; returns the examples read."""
    from nbrag.lora.adapters import check_writable
    from nbrag.lora.data import read_examples

    require_peft()
    check_options(**options)
    if save not in (None, ""):  # "" saves nowhere, as None
        check_writable(save)
    return read_examples(data)


# ---------------------------------------------------------------------- examples as tokens


def tokenize(example: Example, tokenizer: Any) -> Tokenized:
    """Token ids and labels: the chat template for instruction examples where the tokenizer has one."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if example.prompt is None:
        ids = tokenizer(example.answer, add_special_tokens=True)["input_ids"] + eos
        return Tokenized(ids, list(ids))
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": example.prompt}]
        prompt = _ids(tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True))
        full = _ids(tokenizer.apply_chat_template([*user, {"role": "assistant", "content": example.answer}],
                                                  tokenize=True))
        cut = len(prompt) if full[:len(prompt)] == prompt else _common_prefix(prompt, full)
        return Tokenized(full, [-100] * cut + full[cut:])
    prompt = tokenizer(example.prompt + "\n", add_special_tokens=True)["input_ids"]
    answer = tokenizer(example.answer, add_special_tokens=False)["input_ids"] + eos
    return Tokenized(prompt + answer, [-100] * len(prompt) + answer)


def _ids(out: Any) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding-like dict in newer transformers."""
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def encode_all(examples: list[Example], tokenizer: Any, max_length: int) -> list[Tokenized]:
    """Every example tokenized; one longer than ``max_length`` is refused with its number and length."""
    out = []
    for n, example in enumerate(examples, 1):
        tok = tokenize(example, tokenizer)
        if len(tok) > max_length:
            preview = " ".join(example.text.split())[:60]
            raise NbragError(f"example {n} ({preview!r}…) has {len(tok)} tokens, more than that allows; it is "
                             f"refused rather than truncated: raise it to at least {len(tok)} or shorten that "
                             "example.", option="max_length", value=max_length)
        if not any(label != -100 for label in tok.labels[1:]):
            raise NbragError(f"Example {n} leaves no answer token to learn from; give it a non-empty output.")
        out.append(tok)
    return out


# ---------------------------------------------------------------------- train


def train(data: Any, variant: str = "lora", *, model: Any = None, r: int = 8, alpha: float = 16,
          lr: float | None = None, steps: int = 30, batch_size: int = 4, grad_accum: int = 1, max_length: int = 256,
          target_modules: str | list[str] | None = None, eval_fraction: float = 0.1, eval_every: int = 10,
          seed: int = 0, dropout: float = 0.05, loraplus_ratio: float = 16.0, delta_lambda: float = 0.5,
          delta_start: int = 0, callbacks: Iterable[Callable[[dict], Any]] = (), save: str | None = None,
          progress: bool = True) -> LoraRun:
    """Train one adapter ``variant`` (see :data:`nbrag.lora.VARIANTS`) on ``data`` for ``steps`` optimizer steps.

    ``data``: cell text, a file path, a DataFrame or a list (:mod:`nbrag.lora.data`). ``model``: None
    (the configured generator), a Hugging Face id or local folder, or a ``(model, tokenizer)`` pair;
    it is copied, never changed. ``lr=None`` takes the variant's default
    (:data:`nbrag.lora.variants.DEFAULT_LR`). ``delta_lambda`` and ``delta_start`` are Delta-LoRA's
    update ratio λ and update start step K (the paper's "if t > K", t counted from 0: W moves from
    optimizer step K+2 on; see :mod:`nbrag.lora.delta_lora`); ``loraplus_ratio`` is LoRA+'s ηB/ηA.
    ``callbacks`` receive a dict per step and per evaluation (:class:`nbrag.lora.Event`);
    ``save`` a folder to save the adapter to at the end (checked to be writable before training starts; if
    saving fails after all, the run is returned with the reason in ``run.warnings`` and a warning says it).
    """
    check_variant(variant)
    callbacks = listed(callbacks)
    examples = prepare(data, save=save, r=r, alpha=alpha, lr=lr, steps=steps, batch_size=batch_size,
                       grad_accum=grad_accum, max_length=max_length, target_modules=target_modules,
                       eval_fraction=eval_fraction, eval_every=eval_every, seed=seed, dropout=dropout,
                       loraplus_ratio=loraplus_ratio, delta_lambda=delta_lambda, delta_start=delta_start,
                       callbacks=callbacks)
    base, tokenizer = resolve_model(model)
    trainer = Trainer.build(examples, variant, base, tokenizer, r=r, alpha=alpha, lr=lr, steps=steps,
                            batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
                            target_modules=target_modules, eval_fraction=eval_fraction, eval_every=eval_every,
                            seed=seed, dropout=dropout, loraplus_ratio=loraplus_ratio, delta_lambda=delta_lambda,
                            delta_start=delta_start, callbacks=callbacks, progress=progress)
    run = trainer.run(steps)
    if save:
        save_finished(run, save)
    return run


def save_finished(run: LoraRun, save: str | Path) -> None:
    """Save a finished run; if that fails after all (a full disk, a permission changed during training), the run
    keeps the reason in ``run.warnings`` and a :class:`~nbrag.lora.base.SaveWarning` says it, so no run is lost."""
    try:
        run.save(save)
    except Exception as error:  # whatever stops the writing, the trained adapter stays in memory
        folder = Path(save).expanduser().absolute()
        note = (f"The {run.variant} run finished but was not saved to {folder} ({type(error).__name__}: {error}); it "
                "is kept in memory: free space or fix the folder, then call run.save(folder).")
        run.warnings.append(note)
        warnings.warn(note, SaveWarning, stacklevel=3)


class Trainer:
    """The state a run needs to go on: model, optimizer, data position, clocks."""

    @classmethod
    def build(cls, examples: list[Example], variant: str, base: Any, tokenizer: Any, *, r: int, alpha: float,
              lr: float | None, steps: int, batch_size: int, grad_accum: int, max_length: int, target_modules: Any,
              eval_fraction: float, eval_every: int, seed: int, dropout: float, loraplus_ratio: float,
              delta_lambda: float, delta_start: int, callbacks: Iterable[Callable[[dict], Any]],
              progress: bool) -> Trainer:
        import torch
        from peft import get_peft_model

        from nbrag.lora import data as data_mod
        from nbrag.lora import targets as tg
        from nbrag.lora import variants as vr
        from nbrag.models import model_name

        lr = vr.DEFAULT_LR[variant] if lr is None else float(lr)
        tokenized = encode_all(examples, tokenizer, max_length)
        train_set, eval_set = data_mod.split(tokenized, eval_fraction, seed)

        targets = tg.resolve_targets(base, target_modules, variant)
        layers = tg.adapted(base, targets)
        tg.check_rank(layers, r, variant)
        formula_params, formula = vr.formula(variant, layers, r)
        fan_in_fan_out = any(type(m).__name__ == "Conv1D" for n, m in base.named_modules()
                             if n.rsplit(".", 1)[-1] in targets)

        work = copy.deepcopy(base)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            config = vr.peft_config(variant, targets, r, alpha, dropout, fan_in_fan_out)
            with quiet_peft():
                model = get_peft_model(work, config)
        model.train()
        optimizer = vr.optimizer(variant, model, lr, r, alpha, loraplus_ratio)
        delta = None
        if variant == "delta-lora":
            from nbrag.lora.delta_lora import DeltaLoRA

            delta = DeltaLoRA(model, delta_lambda, delta_start)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        device = str(next(model.parameters()).device)
        options = {"r": r, "alpha": alpha, "lr": lr, "steps": steps, "batch_size": batch_size,
                   "grad_accum": grad_accum, "max_length": max_length, "eval_fraction": eval_fraction,
                   "eval_every": eval_every, "seed": seed,
                   "dropout": dropout if vr.VARIANT_SPECS[variant].dropout else 0.0, "model": model_name(base),
                   "device": device, "train_examples": len(train_set), "eval_examples": len(eval_set)}
        if variant == "lora-plus":
            options["loraplus_ratio"] = loraplus_ratio
        if variant == "delta-lora":
            options.update(delta_lambda=delta_lambda, delta_start=delta_start,
                           note="LoRA dropout off, as in the Delta-LoRA paper")
        run = LoraRun(variant=variant, options=options, model=model, tokenizer=tokenizer,
                      target_modules=targets, trainable_params=trainable, total_params=total,
                      formula_params=formula_params, formula=formula)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        batches = data_mod.Batches(train_set, batch_size, seed, pad if pad is not None else 0)
        trainer = cls(run, optimizer, batches, eval_set, pad if pad is not None else 0, device, grad_accum,
                      eval_every, batch_size, list(callbacks), progress, delta, seed)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        run._trainer = trainer
        return trainer

    def __init__(self, run: LoraRun, optimizer: Any, batches: Any, eval_set: list, pad_id: int, device: str,
                 grad_accum: int, eval_every: int, batch_size: int, callbacks: list, progress: bool, delta: Any,
                 seed: int = 0):
        self.run_, self.optimizer, self.batches, self.eval_set = run, optimizer, batches, eval_set
        self.pad_id, self.device, self.grad_accum, self.eval_every = pad_id, device, grad_accum, eval_every
        self.batch_size, self.callbacks, self.progress, self.delta = batch_size, callbacks, progress, delta
        self.seconds = 0.0  # training time so far, evaluations excluded
        self.measured = False
        self.seed = seed
        self.rng_state: Any = None  # torch's random state between calls of run(): dropout draws continue on resume

    # ------------------------------------------------------------------ pieces

    def _autocast(self):
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _emit(self, event: dict) -> None:
        for callback in self.callbacks:
            callback(event)

    def _event(self, loss: float | None, eval_loss: float | None, done: bool, total: int) -> dict:
        run = self.run_
        return {"variant": run.variant, "step": run.steps, "steps": total, "loss": loss, "eval_loss": eval_loss,
                "seconds": self.seconds, "steps_per_second": run.steps / self.seconds if self.seconds else 0.0,
                "memory_bytes": int(run.memory.get("peak", 0)), "done": done}

    def evaluate(self) -> float | None:
        """Mean loss over the evaluation examples' answer tokens (None without an evaluation set)."""
        import torch

        from nbrag.lora.data import collate

        if not self.eval_set:
            return None
        model = self.run_.model
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), self._autocast():
            for i in range(0, len(self.eval_set), self.batch_size):
                batch = collate(self.eval_set[i:i + self.batch_size], self.pad_id, self.device)
                tokens = int((batch["labels"][:, 1:] != -100).sum())
                total += float(model(**batch).loss) * tokens
                count += tokens
        model.train()
        return total / count if count else None

    def _step(self) -> tuple[float, int]:
        """One optimizer step over ``grad_accum`` micro-batches: (mean loss, tokens)."""
        from nbrag.lora import memory

        model, optimizer = self.run_.model, self.optimizer
        loss_sum, tokens = 0.0, 0
        saved = memory.SavedTensors(model) if not self.measured else None
        for micro in range(self.grad_accum):
            batch = self.batches.next(self.device)
            tokens += int(batch["attention_mask"].sum())
            with self._autocast():
                if saved is not None and micro == 0:
                    with saved.hooks():
                        loss = model(**batch).loss
                else:
                    loss = model(**batch).loss
            (loss / self.grad_accum).backward()
            loss_sum += float(loss.detach())
        optimizer.step()
        if self.delta is not None:
            self.delta.after_step()
        if saved is not None:
            self.run_.memory = memory.breakdown(model, optimizer, saved.bytes, self.device)
            self.measured = True
        optimizer.zero_grad(set_to_none=True)
        return loss_sum / self.grad_accum, tokens

    # ------------------------------------------------------------------ the loop

    def run(self, steps: int) -> LoraRun:
        """Train ``steps`` more optimizer steps; evaluate every ``eval_every`` and at the end."""
        run = self.run_
        whole_number(steps, "steps", 0, " (optimizer steps, e.g. 30)")
        total = run.steps + steps
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=run.steps, desc=run.variant, unit="step", leave=False)
        run.interrupted = False
        import torch

        cuda = self.device.startswith("cuda")
        rng = torch.random.fork_rng(devices=[torch.device(self.device)] if cuda else [])
        rng.__enter__()  # the caller's random state is left as it was
        if self.rng_state is None:
            torch.manual_seed(self.seed)
        else:
            torch.set_rng_state(self.rng_state[0])
            if cuda:
                torch.cuda.set_rng_state(self.rng_state[1], torch.device(self.device))
        try:
            for _ in range(steps):
                t0 = time.perf_counter()
                loss, tokens = self._step()
                elapsed = time.perf_counter() - t0
                self.seconds += elapsed
                lr = self.optimizer.param_groups[0]["lr"]
                run.history.append({"step": run.steps + 1, "loss": loss, "lr": lr, "seconds": self.seconds,
                                    "step_seconds": elapsed, "tokens": tokens})
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                last = run.steps == total
                self._emit(self._event(loss, None, last and not self.eval_set, total))
                if self.eval_set and (run.steps % self.eval_every == 0 or last):
                    self._evaluate_and_emit(total, last)
        except KeyboardInterrupt:
            self.optimizer.zero_grad(set_to_none=True)
            run.interrupted = True
            if self.eval_set and (not run.evals or run.evals[-1]["step"] != run.steps) and run.steps:
                with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C skips the closing evaluation
                    self._evaluate_and_emit(total, True)
        finally:
            self.rng_state = (torch.get_rng_state(),
                              torch.cuda.get_rng_state(torch.device(self.device)) if cuda else None)
            rng.__exit__(None, None, None)
            if bar is not None:
                bar.close()
        return run

    def _evaluate_and_emit(self, total: int, done: bool) -> None:
        run = self.run_
        loss = self.evaluate()
        run.evals.append({"step": run.steps, "loss": loss})
        self._emit(self._event(None, loss, done, total))
