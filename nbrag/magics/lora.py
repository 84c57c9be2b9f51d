"""``%%lora``: train a LoRA variant (or compare several) from a cell, with live loss curves.

The magic reads the training data, the model and the options, has the engine check them
(:func:`nbrag.lora.training.prepare`, before any model loads), and makes one call to
:func:`nbrag.lora.train`, :func:`nbrag.lora.compare` or ``run.resume``; the result is stored and
returned. What the engine refuses is one line naming the flag; anything else keeps its traceback.

The data is the cell (one example per line, or JSONL), a file (``--data PATH``: JSON/JSONL in
instruction format, plain text, CSV) or a variable (``--var NAME``: a DataFrame, a list or a str).
``--model`` is resolved as for the inspector magics: ``tiny:<family>`` (random weights), a
variable holding ``(model, tokenizer)``, a packaged or Hugging Face model's name; none means the
configured generator. The engine trains a copy of it. The live view's status line is the progress
(no tqdm bar beside it). A :class:`nbrag.views.lora.LossView` is shown before training starts and
follows it; when the run ends the live view gives its place to the run's own view (curves and
table) or the comparison's.

The result is stored in ``-o NAME`` (by default ``lora_run``, or ``lora_comparison`` with
``--compare``; a default name that holds something else is left alone and the next free
``lora_run_2``, ... is used). Nothing is stored when training fails; a run that finished is stored
even if ``--save`` could not write it after all, and the magic prints why. A run stopped with the
kernel's interrupt is kept (``run.interrupted``) and the magic says how to continue it:
``%lora --resume NAME --steps N``.

Like the rest of the magics, this module imports neither torch nor peft: the engine loads them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from nbrag.magics.base import AreaMagics, flag_of, unquote

DEFAULT_NAMES = {"run": "lora_run", "comparison": "lora_comparison"}
RESUME_KEEPS = ("r", "alpha", "lr", "batch_size", "grad_accum", "max_length", "target_modules", "eval_fraction")


@magics_class
class LoraMagics(AreaMagics):
    """``%%lora`` / ``%lora``."""

    @magic_arguments()
    @argument("--variant", default="lora", metavar="NAME",
              help="lora (default), dora, vera, lora-plus, lora-fa or delta-lora.")
    @argument("--compare", dest="variants", default=None, metavar="A,B,...",
              help="Train these variants on the same data and model, side by side (e.g. lora,lora-fa,vera,"
                   "delta-lora,lora-plus).")
    @argument("--r", type=int, default=None, help="The adapters' rank (default 8).")
    @argument("--alpha", type=float, default=None, help="The scaling numerator: updates are scaled by alpha / r "
                                                         "(default 16).")
    @argument("--lr", type=float, default=None, help="The learning rate (default: the variant's own).")
    @argument("--steps", type=int, default=None,
              help="Optimizer steps (default 30); with --resume, the steps to add (default: those left).")
    @argument("--batch-size", type=int, default=None, help="Examples per forward pass (default 4).")
    @argument("--grad-accum", type=int, default=None, help="Forward passes per optimizer step (default 1).")
    @argument("--max-length", type=int, default=None, help="The longest example in tokens (default 256).")
    @argument("--target-modules", default=None, metavar="A,B,...",
              help="The modules to adapt (default: found for the architecture, e.g. q_proj,v_proj).")
    @argument("--eval-fraction", type=float, default=None,
              help="The share of examples held out for the eval loss (default 0.1; 0: none).")
    @argument("--eval-every", type=int, default=None,
              help="Evaluate every N optimizer steps, and at the end (default 10).")
    @argument("--model", default=None, metavar="NAME",
              help="The model: tiny:<family> (random weights, e.g. tiny:llama), a packaged or Hugging Face model's "
                   "name, or a variable holding (model, tokenizer) (default: the configured generator).")
    @argument("--data", default=None, metavar="PATH",
              help="Train on this file (JSON/JSONL of {instruction, input, output}, CSV, or one example per line).")
    @argument("--var", default=None, help="Train on the DataFrame, list or str held by this variable.")
    @argument("--save", default=None, metavar="DIR", help="Save the adapter (safetensors) to this folder.")
    @argument("--resume", default=None, metavar="NAME",
              help="Continue the LoraRun held by this variable (interrupted, or to train longer), or the "
                   "interrupted run of a comparison.")
    @argument("-o", "--output", default=None,
              help="Store the LoraRun (with --compare: the LoraComparison) in this variable (default: lora_run, "
                   "or lora_comparison).")
    @line_cell_magic
    def lora(self, line: str, cell: str | None = None) -> Any:
        """Fine-tune with a LoRA variant, or compare several, with live loss curves.

        %%lora --model tiny:llama --steps 20 -o run      (training examples in the cell, one per line or JSONL)
        %lora --data train.jsonl --compare lora,vera,lora-fa
        %lora --resume run --steps 20                     (continue a stored run)
        """
        args = self.parse(self.lora, line)
        if args.resume:
            return self._resume(args, cell)
        from nbrag import lora as engine
        from nbrag.lora.base import check_variant, variant_list
        from nbrag.lora.training import prepare

        if args.variants is not None and args.variant != "lora":
            raise UsageError("--variant and --compare both name what to train: keep --compare A,B,... alone.")
        data = self._data(cell or "", args.data, args.var)
        options = _options(args)
        with self.engine(self.lora):  # every mistake the engine can name, before a model loads
            variants = variant_list(args.variants) if args.variants is not None else [check_variant(args.variant)]
            examples = prepare(data, **options)
        if args.variants is not None and len(variants) < 2:
            raise UsageError(f"--compare {args.variants}: name at least two variants separated by commas (e.g. "
                             "--compare lora,vera), or train one with --variant NAME.")
        model = self._model(args.model)
        if args.variants is not None:
            result = self._train(lambda callbacks: engine.compare(examples, variants, model=model, callbacks=callbacks,
                                                                  progress=False, **options))
        else:
            result = self._train(lambda callbacks: engine.train(examples, args.variant, model=model,
                                                                callbacks=callbacks, progress=False, **options))
        name = args.output or self._free_name(DEFAULT_NAMES["comparison" if args.variants is not None else "run"])
        self.store(name, result)
        _say_if_not_saved(result, name)
        _say_if_interrupted(result, name)
        return result

    def _resume(self, args: Any, cell: str | None) -> Any:
        """``--resume NAME --steps N``: continue the stored run (its data, model and options) for N more steps."""
        given = [flag for flag, value in (("training data in the cell", (cell or "").strip()), ("--data", args.data),
                                          ("--var", args.var), ("--compare", args.variants), ("--model", args.model),
                                          ("--save", args.save)) if value]
        given += [flag_of(self.lora, k) for k in RESUME_KEEPS if getattr(args, k) is not None]
        if args.variant != "lora":
            given.append("--variant")
        if given:
            raise UsageError(f"--resume {args.resume} continues that run with its own data, model and options: leave "
                             f"out {', '.join(given)} (give --steps N for the number of steps to add).")
        value = self.shell.user_ns.get(args.resume)
        run = _interrupted_run(value)
        if run is None:
            if isinstance(getattr(value, "runs", None), dict):
                first = next(iter(value.runs), "lora")
                raise UsageError(f"--resume {args.resume}: none of this comparison's runs was interrupted; to train "
                                 f"one longer, store it (run = {args.resume}.runs[{first!r}]) and give --resume run "
                                 "--steps N.")
            held = "no variable of that name" if args.resume not in self.shell.user_ns else \
                f"it holds a {type(value).__name__}"
            raise UsageError(f"--resume {args.resume}: {held}; give the variable that holds a LoraRun (what %%lora "
                             "stored with -o NAME, lora_run by default) or a comparison with an interrupted run.")
        steps = args.steps if args.steps is not None else _steps_left(run)
        if args.steps is None and steps < 1:
            raise UsageError(f"--resume {args.resume}: the run has done its {run.options.get('steps')} steps; give "
                             "--steps N to train N more.")
        # the live view's callback in place of the run's (its first cell's view has given way to the result's)
        result = self._train(lambda callbacks: run.resume(steps, callbacks=callbacks))
        if result is None or result is run:
            result = value  # resume() continues the run in place: the stored object is the result
        name = args.output or args.resume
        self.store(name, result)
        _say_if_interrupted(result, name)
        return result

    def _train(self, call: Any) -> Any:
        """Show a live :class:`LossView`, run ``call(callbacks)``; the view gives way to the result's view after.

        What the engine refuses becomes a one-line UsageError, and the live view is taken away.
        """
        from IPython.display import HTML, display

        from nbrag.lora.base import SaveWarning
        from nbrag.views.lora import LossView

        view = LossView()
        handle = display(view, display_id=True)
        try:
            with self.engine(self.lora), warnings.catch_warnings():
                warnings.simplefilter("ignore", SaveWarning)  # the magic says it below the result, naming -o
                result = call([view.callback])
        except UsageError:
            _remove(view, handle, HTML)
            raise
        except BaseException:  # KeyboardInterrupt outside the training loop, or a failure of the engine's own
            view.flush()
            raise
        _remove(view, handle, HTML)  # the result shows its own view (curves and table) below
        return result

    def _data(self, cell: str, path: str | None, var: str | None) -> Any:
        """The training data: the cell's text, a file's :class:`Path` (the engine reads and checks it), or a
        variable's value."""
        given = [what for what, value in (("the cell", cell.strip()), ("--data", path), ("--var", var)) if value]
        if len(given) > 1:
            raise UsageError(f"Training data given twice ({' and '.join(given)}): keep one of them.")
        if path:
            return Path(unquote(path))
        if var:
            value = self.variable(var, "--var")
            if not (isinstance(value, str | list | tuple) or type(value).__name__ == "DataFrame"):
                raise UsageError(f"--var {var} holds a {type(value).__name__}: give a DataFrame, a list of str or "
                                 "dicts ({instruction, input, output}), or a str.")
            return list(value) if isinstance(value, tuple) else value
        if not cell.strip():
            raise UsageError("No training data: write examples in the cell under %%lora (one per line, or JSONL), or "
                             "give --data PATH or --var NAME.")
        return cell

    def _model(self, name: str | None) -> Any:
        """``--model`` resolved as for the inspector magics (``tiny:<family>``, a variable's ``(model, tokenizer)``,
        a packaged or Hugging Face name; none: the configured generator), as the pair the engine takes. The
        engine trains a copy: the model given, or the cached generator, is never changed."""
        from nbrag.inspectors import load

        with self.engine(self.lora, prefix=f"--model {name}: " if name else "The configured generator: "):
            loaded = load(self.model_value(name))
        return loaded.model, loaded.tokenizer

    def _free_name(self, base: str) -> str:
        """``base``, or the first ``base_2``, ``base_3``, ... that holds nothing or a result of %%lora."""
        name, n = base, 1
        while name in self.shell.user_ns and not _is_lora_result(self.shell.user_ns[name]):
            n += 1
            name = f"{base}_{n}"
        return name


# --------------------------------------------------------------------------- steps of the magic


def _remove(view: Any, handle: Any, html: Any) -> None:
    """Take the live view off the page and close its widgets (the run keeps calling its callback if resumed
    from Python: a closed view draws nothing)."""
    if handle is not None:
        handle.update(html(""))
    for child in view.children:
        child.close()
    view.close()


def _runs(result: Any) -> list[tuple[str, Any]]:
    """``(variant, run)`` of a run or of each run of a comparison."""
    return list(result.runs.items()) if hasattr(result, "runs") else [(getattr(result, "variant", "run"), result)]


def _say_if_not_saved(result: Any, name: str) -> None:
    """One line per run that ``--save`` could not write after training: the reason, and where the run is kept."""
    for variant, run in _runs(result):
        for note in getattr(run, "warnings", None) or []:
            print(f"{note} The run is stored in {name if run is result else f'{name}.runs[{variant!r}]'}.")


def _say_if_interrupted(result: Any, name: str) -> None:
    """One line per interrupted run: where it is kept and the command that continues it."""
    for variant, run in _runs(result):
        if getattr(run, "interrupted", False):
            done = run.history[-1]["step"] if run.history else 0
            left = _steps_left(run)
            where = name if run is result else f"{name}.runs[{variant!r}]"
            more = f" --steps {left}" if left > 0 else " --steps N"
            print(f"Interrupted: {variant} stopped after step {done}; the adapter and the loss history are kept in "
                  f"{where}. Continue with %lora --resume {name}{more}.")
    wanted = list((getattr(result, "options", None) or {}).get("variants") or []) if hasattr(result, "runs") else []
    untrained = [v for v in wanted if v not in result.runs]
    if untrained:
        how = f"--variant {untrained[0]}" if len(untrained) == 1 else f"--compare {','.join(untrained)}"
        print(f"Not trained (the comparison stopped before them): {', '.join(untrained)}; train them with "
              f"%%lora {how} on the same data.")


def _interrupted_run(value: Any) -> Any:
    """The run ``--resume`` continues: a LoraRun, or a comparison's one interrupted run."""
    if value is None:
        return None
    if hasattr(value, "resume") and hasattr(value, "history"):
        return value
    runs = getattr(value, "runs", None)
    if isinstance(runs, dict):
        stopped = [run for run in runs.values() if getattr(run, "interrupted", False)]
        if stopped:
            return stopped[0]
    return None


def _steps_left(run: Any) -> int:
    done = run.history[-1]["step"] if run.history else 0
    return int((run.options or {}).get("steps") or 0) - done


# --------------------------------------------------------------------------- arguments


def _options(args: Any) -> dict[str, Any]:
    """The options given, as the engine's keyword arguments (those left out keep the engine's defaults)."""
    given = {"r": args.r, "alpha": args.alpha, "lr": args.lr, "steps": args.steps, "batch_size": args.batch_size,
             "grad_accum": args.grad_accum, "max_length": args.max_length, "target_modules": args.target_modules,
             "eval_fraction": args.eval_fraction, "eval_every": args.eval_every,
             "save": unquote(args.save) if args.save else None}
    return {k: v for k, v in given.items() if v is not None}


def _is_lora_result(value: Any) -> bool:
    return type(value).__module__.startswith("nbrag.lora")
