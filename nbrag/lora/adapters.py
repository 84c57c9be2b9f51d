"""Adapters on disk and on one base model: save, load, switch, merge, generate side by side.

A saved run is a folder: peft's ``adapter_config.json`` and ``adapter_model.safetensors``,
``nbrag_run.json`` (variant, options, history, counts) and, for Delta-LoRA, the moved base
weights of the adapted layers (``delta_lora_base.safetensors``): Delta-LoRA changes W itself,
so its adapter alone on the original base model does not give the trained model.

:class:`Adapters` keeps several adapters on one copy of a base model (peft's
``load_adapter`` / ``set_adapter`` / ``disable_adapter``): one per task, switched without
reloading the base. A Delta-LoRA run cannot join them, since its moved weights would change
the base every other adapter shares; load it on its own with :func:`load`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nbrag.errors import NbragError, NbragTypeError
from nbrag.lora.base import LoraRun

RUN_FILE = "nbrag_run.json"
ACTIVE = object()  # Adapters.generate's default: the adapter chosen by use()


def complete(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 64) -> str:
    """Greedy generation through :class:`nbrag.llm.LocalGenerator` (the chat template applied when the tokenizer
    has one), with dropout off: the model is put in eval mode for the call and given back as it was."""
    from nbrag.llm import LocalGenerator

    was_training = model.training
    model.eval()
    try:
        return LocalGenerator(model, tokenizer).complete(prompt, max_new_tokens=max_new_tokens)
    finally:
        model.train(was_training)


def folder_of(path: Any, option: str, also: str = "") -> Path:
    """``path`` (a str or a :class:`~pathlib.Path`, ``~`` expanded) as a Path; an :class:`NbragTypeError` naming
    ``option`` for another type (``also``: what else the option takes, e.g. ``" or a LoraRun"``)."""
    if not isinstance(path, str | os.PathLike):
        raise NbragTypeError(f"give a folder (a str or a pathlib.Path){also}.", option=option, value=path)
    if "\x00" in str(path):  # the OS refuses it with a ValueError, not an OSError
        raise NbragError("holds a NUL character ('\\x00'), which no file name can: give a folder's name.",
                         option=option, value=path)
    return Path(path).expanduser()


def check_writable(path: str | Path, option: str = "save") -> Path:
    """Refuse a folder that cannot be created or written to, before any training (nothing is left behind)."""
    folder = folder_of(path, option)
    if folder.exists() and not folder.is_dir():
        raise NbragError("a file, not a folder: give a folder to save the adapter in.", option=option, value=str(path))
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    made = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise NbragError(f"cannot write there ({reason}{': ' + str(existing) if existing != folder else ''}); give a "
                         "folder that can be created and written to.", option=option, value=str(path)) from None
    finally:
        for created in made:  # the check leaves no empty folder behind
            with contextlib.suppress(OSError):
                created.rmdir()
    return folder


def save_run(run: LoraRun, path: str | Path) -> Path:
    """Write the run's adapter (safetensors), its record and, for Delta-LoRA, the moved base weights."""
    folder = folder_of(path, "path")
    folder.mkdir(parents=True, exist_ok=True)
    run.model.save_pretrained(str(folder), safe_serialization=True)
    if run.variant == "delta-lora":
        from nbrag.lora.delta_lora import save_base

        save_base(run.model, folder)
    record = run.to_dict()
    (folder / RUN_FILE).write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    return folder


def _record(folder: Path) -> dict[str, Any]:
    path = folder / RUN_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _check_folder(folder: Path, option: str, given: Any) -> None:
    if not (folder / "adapter_config.json").exists():
        raise NbragError("no adapter there (no adapter_config.json): give a folder written by run.save(path) or "
                         "peft's save_pretrained.", option=option, value=str(given))


def load(path: str | Path, model: Any = None) -> LoraRun:
    """A saved run back on a copy of its base model (``model``: None for the configured generator, a name, a pair).

    The result has the run's record (history, counts) but no optimizer state, so it cannot resume.
    """
    from nbrag.lora.training import quiet_peft, require_peft, resolve_model

    require_peft()
    from peft import PeftModel

    folder = folder_of(path, "path")
    _check_folder(folder, "path", path)
    base, tokenizer = resolve_model(model)
    record = _record(folder)
    with quiet_peft():
        peft_model = PeftModel.from_pretrained(copy.deepcopy(base), str(folder))
    variant = record.get("variant", "lora")
    if variant == "delta-lora":
        from nbrag.lora.delta_lora import load_base

        load_base(peft_model, folder)
    run = LoraRun(variant=variant, options=record.get("options", {}), model=peft_model, tokenizer=tokenizer,
                  history=record.get("history", []), evals=record.get("evals", []),
                  target_modules=record.get("target_modules", []),
                  trainable_params=record.get("trainable_params", 0), total_params=record.get("total_params", 0),
                  formula_params=record.get("formula_params", 0), formula=record.get("formula", ""),
                  memory=record.get("memory", {}), interrupted=record.get("interrupted", False))
    return run


class Adapters:
    """Several adapters on one copy of a base model, switched by name (``None``: the base model)."""

    def __init__(self, model: Any = None):
        from nbrag.lora.training import require_peft, resolve_model

        require_peft()
        base, self.tokenizer = resolve_model(model)
        self._base = copy.deepcopy(base)  # the caller's (or the cached) model stays as it was
        self.model: Any = None  # the PeftModel, once an adapter is added
        self.variants: dict[str, str] = {}
        self._active: str | None = None
        self._tmp: list[tempfile.TemporaryDirectory] = []

    @property
    def names(self) -> list[str]:
        return list(self.variants)

    @property
    def active(self) -> str | None:
        """The adapter ``generate`` uses when none is named (None: the base model)."""
        return self._active

    def add(self, name: str, path_or_run: str | Path | LoraRun) -> Adapters:
        """Load an adapter from a saved folder or a trained run, under ``name``."""
        from peft import PeftModel

        from nbrag.lora.training import quiet_peft

        if name in self.variants:
            raise NbragError(f"an adapter of that name is already loaded; pick another name (loaded: "
                             f"{', '.join(self.names)}).", option="name", value=name)
        if isinstance(path_or_run, LoraRun):
            tmp = tempfile.TemporaryDirectory(prefix="nbrag-adapter-")
            self._tmp.append(tmp)
            folder = save_run(path_or_run, tmp.name)
        else:
            folder = folder_of(path_or_run, "path_or_run", " or a LoraRun")
            _check_folder(folder, "path_or_run", path_or_run)
        variant = _record(folder).get("variant", "lora")
        if variant == "delta-lora":
            raise NbragError("a Delta-LoRA adapter: it also moved the base weights, so it cannot share a base model "
                             "with other adapters; load it alone with nbrag.lora.load(path).", option="name",
                             value=name)
        if self.model is None:
            with quiet_peft():
                self.model = PeftModel.from_pretrained(self._base, str(folder), adapter_name=name)
        else:
            try:
                with quiet_peft():
                    self.model.load_adapter(str(folder), adapter_name=name)
            except ValueError as error:  # peft cannot mix tuner types (LoRA and VeRA) on one model
                loaded = ", ".join(f"{n} ({v})" for n, v in self.variants.items())
                raise NbragError(f"a {variant} adapter cannot join the loaded ones ({loaded}): {error} LoRA, DoRA, "
                                 "LoRA+ and LoRA-FA adapters share a base model; keep VeRA adapters in an Adapters of "
                                 "their own.", option="name", value=name) from error
        self.model.eval()
        self.variants[name] = variant
        if self._active is None and len(self.variants) == 1:
            self._active = name  # peft makes the first adapter active
        return self

    def _check(self, name: str | None, option: str) -> None:
        if name is not None and name not in self.variants:
            raise NbragError(f"no adapter of that name. Loaded: {', '.join(self.names) or 'none'} (None for the base "
                             "model).", option=option, value=name)

    def use(self, name: str | None) -> Adapters:
        """Make ``name`` the active adapter (``None``: generate with the base model)."""
        self._check(name, "name")
        if name is not None:
            self.model.set_adapter(name)
        self._active = name
        return self

    def generate(self, prompt: str, adapter: Any = ACTIVE, max_new_tokens: int = 64) -> str:
        """Generate with ``adapter`` (``None``: the base model, adapters off; left out: the one chosen by ``use``)."""
        return self._complete(prompt, self._active if adapter is ACTIVE else adapter, max_new_tokens)

    def _complete(self, prompt: str, adapter: str | None, max_new_tokens: int) -> str:
        self._check(adapter, "adapter")
        if self.model is None:
            return complete(self._base, self.tokenizer, prompt, max_new_tokens)
        if adapter is None:
            with self.model.disable_adapter():
                return complete(self.model, self.tokenizer, prompt, max_new_tokens)
        self.model.set_adapter(adapter)
        return complete(self.model, self.tokenizer, prompt, max_new_tokens)

    def side_by_side(self, prompts: str | list[str], adapters: list[str] | None = None,
                     max_new_tokens: int = 64) -> list[dict[str, str]]:
        """One row per prompt: ``{"prompt", "base", <adapter>: ...}`` for each adapter (all loaded ones by default)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        names = self.names if adapters is None else list(adapters)
        for name in names:
            self._check(name, "adapters")
        rows = []
        for prompt in prompts:
            row = {"prompt": prompt, "base": self._complete(prompt, None, max_new_tokens)}
            for name in names:
                row[name] = self._complete(prompt, name, max_new_tokens)
            rows.append(row)
        return rows

    def merge(self, name: str) -> Any:
        """A new model with adapter ``name`` merged into a copy of the base weights (the loaded adapters stay)."""
        self._check(name, "name")
        if name is None:
            raise NbragError("give an adapter's name: the base model has nothing to merge.", option="name", value=None)
        merged = copy.deepcopy(self.model)
        merged.set_adapter(name)
        for other in [n for n in self.names if n != name]:
            merged.delete_adapter(other)
        return merged.merge_and_unload()

    def __repr__(self) -> str:
        return f"Adapters({', '.join(f'{n} ({v})' for n, v in self.variants.items()) or 'none'})"
