"""LoRA benchmarks for bench/run.py: what nbrag's training loop costs, and what each variant buys.

- ``overhead``: seconds per optimizer step of ``nbrag.lora.training`` (through ``run.resume``, so
  the callbacks, history, random-state and progress bookkeeping are in) against a bare loop of
  peft and torch on the same SmolLM2 copy, the same LoRA config (r=8, alpha=16, q_proj and
  v_proj, dropout 0.05), the same AdamW, the same examples in the same seeded batch order, the same
  batch size and seed; both sides pad their batches with the same collate. No evaluation set on
  either side (nbrag evaluates at the end of every ``resume``, which is not the loop's cost). One torch thread on
  both sides. The two sides run ``STEPS_PER_ROUND`` steps in turns (the order swapped every
  round); the ratio is of the medians of seconds per step. Goal: at most 1.05x;
- ``variants``: every variant (``nbrag.lora.VARIANTS``) trained by ``nbrag.lora.comparison`` on
  SmolLM2 with the Alpaca demo set (../shared/data/alpaca/alpaca_en_demo.json: the first
  ``EXAMPLES`` examples that fit in 256 tokens, a seeded tenth held out), each from the same
  base weights, seed and batch order, for ``steps`` steps (default 20; ``--lora-steps``) at
  each variant's default learning rate: trainable parameters counted and from the formula,
  memory by part (weights, gradients, optimizer state, activations saved for backward on the
  first step), seconds per step (median, one thread), train and eval loss; the base model's
  eval loss (adapter off) beside them.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
from pathlib import Path

from inspectors import threads  # bench/inspectors.py: torch and the native pools at n threads

THREADS = 1
GOAL_OVERHEAD = 1.05
STEPS_PER_ROUND = 2
BATCH = 4
MAX_LENGTH = 256
EXAMPLES = 200
DEFAULT_STEPS = 20


def alpaca(shared: Path, tokenizer, limit: int = EXAMPLES) -> list[dict]:
    """The first ``limit`` Alpaca demo examples that fit in ``MAX_LENGTH`` tokens with the chat template."""
    from nbrag.lora.data import read_examples
    from nbrag.lora.training import tokenize

    records = json.loads((shared / "alpaca" / "alpaca_en_demo.json").read_text(encoding="utf-8"))
    kept = []
    for record, example in zip(records, read_examples(records)):
        if len(tokenize(example, tokenizer)) <= MAX_LENGTH:
            kept.append(record)
        if len(kept) == limit:
            break
    return kept


def _bare(pair, data: list[dict], seed: int):
    """A bare peft + torch loop on the same model copy, config, optimizer, examples and batch order."""
    import torch
    from peft import LoraConfig, get_peft_model

    from nbrag.lora.data import Batches, read_examples, split
    from nbrag.lora.training import encode_all

    base, tokenizer = pair
    items = encode_all(read_examples(data), tokenizer, MAX_LENGTH)
    train_set, _ = split(items, 0.0, seed)
    batches = Batches(train_set, BATCH, seed, tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(copy.deepcopy(base), LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                                              target_modules=["q_proj", "v_proj"],
                                                              task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    losses = []
    torch.manual_seed(seed)  # dropout draws the same masks as nbrag's run (which restores the caller's state)

    def steps(k: int) -> None:
        for _ in range(k):
            loss = model(**batches.next()).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())

    return steps, losses


def overhead(n: int, shared: Path) -> dict:
    """Seconds per step of nbrag's loop against a bare peft + torch loop, in turns, medians."""
    import torch

    from nbrag import lora
    from nbrag.models import load_generator

    load_start = os.getloadavg()
    pair = load_generator()
    data = alpaca(shared, pair[1], limit=64)
    seed = 0
    with threads(THREADS):
        # no evaluation set: each resume() would otherwise end with an evaluation the bare loop does not do
        run = lora.train(data, "lora", model=pair, steps=0, batch_size=BATCH, max_length=MAX_LENGTH, seed=seed,
                         eval_fraction=0.0, progress=False)
        bare, bare_losses = _bare(pair, data, seed)
        run.resume(1)  # warm up both: nbrag's first step also measures memory
        bare(1)
        same_first_loss = abs(run.history[0]["loss"] - bare_losses[0]) < 1e-4
        seconds: dict[str, list[float]] = {"nbrag_s": [], "bare_s": []}
        for r in range(n):
            sides = [("nbrag_s", lambda: run.resume(STEPS_PER_ROUND)), ("bare_s", lambda: bare(STEPS_PER_ROUND))]
            for name, fn in sides if r % 2 == 0 else sides[::-1]:
                t = time.perf_counter()
                fn()
                seconds[name].append((time.perf_counter() - t) / STEPS_PER_ROUND)
    ours, theirs = statistics.median(seconds["nbrag_s"]), statistics.median(seconds["bare_s"])
    same_losses = all(abs(a["loss"] - b) < 1e-3 for a, b in zip(run.history, bare_losses))
    return {"model": run.options["model"], "device": run.options["device"], "threads": THREADS,
            "torch_version": torch.__version__, "batch_size": BATCH, "examples": len(data),
            "steps_per_round": STEPS_PER_ROUND, "rounds": n, **seconds, "nbrag_median_s": ours,
            "bare_median_s": theirs, "ratio": round(ours / theirs, 3), "goal": GOAL_OVERHEAD,
            "met": ours / theirs <= GOAL_OVERHEAD, "same_first_loss": same_first_loss, "same_losses": same_losses,
            "load_average": {"start": load_start, "end": os.getloadavg()}}


def variants(shared: Path, steps: int = DEFAULT_STEPS) -> dict:
    """Every variant on SmolLM2 and the Alpaca demo set, from the same base, seed and batches."""
    import torch

    from nbrag import lora
    from nbrag.models import load_generator

    load_start = os.getloadavg()
    pair = load_generator()
    data = alpaca(shared, pair[1])
    options = {"steps": steps, "batch_size": BATCH, "max_length": MAX_LENGTH, "eval_fraction": 0.1,
               "eval_every": max(steps, 1), "seed": 0, "progress": False}
    with threads(THREADS):
        base = lora.train(data, "lora", model=pair, **{**options, "steps": 0})
        base_eval = base._trainer.evaluate()  # B starts at zero: the adapter adds nothing yet
        del base
        t = time.perf_counter()
        table = lora.compare(data, lora.VARIANTS, model=pair, **options)
        seconds = time.perf_counter() - t
    rows = []
    for run in table.runs.values():
        rows.append({**{k: v for k, v in run.to_dict().items() if k in (
            "variant", "trainable_params", "share", "formula_params", "formula", "memory", "seconds_per_step",
            "train_loss", "eval_loss", "target_modules")}, "lr": run.options["lr"],
            "first_loss": run.history[0]["loss"] if run.history else None})
    return {"model": table.runs["lora"].options["model"], "device": table.runs["lora"].options["device"],
            "threads": THREADS, "torch_version": torch.__version__, "examples": len(data),
            "train_examples": table.runs["lora"].options["train_examples"],
            "eval_examples": table.runs["lora"].options["eval_examples"], "steps": steps, "batch_size": BATCH,
            "r": 8, "alpha": 16, "base_eval_loss": base_eval, "seconds": round(seconds, 1), "rows": rows,
            "load_average": {"start": load_start, "end": os.getloadavg()}}


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    rows = []
    ov = results.get("lora_overhead")
    if ov:
        note = (f"{ov['model']}, batch {ov['batch_size']}, {ov['threads']} thread, median of {ov['rounds']}x"
                f"{ov['steps_per_round']} steps; goal <= {ov['goal']}: {'met' if ov['met'] else 'MISSED'}")
        rows.append(("LoRA train step (s)", ov["nbrag_median_s"], ov["bare_median_s"], "bare peft", note))
    return rows


def report(results: dict) -> None:
    """What the LoRA entries add below the table."""
    ov = results.get("lora_overhead")
    if ov:
        print(f"\nLoRA training loop against a bare peft + torch loop ({ov['model']}, {ov['device']}, torch "
              f"{ov['torch_version']}, {ov['threads']} thread, batch {ov['batch_size']}): nbrag "
              f"{ov['nbrag_median_s']:.3f} s/step, bare {ov['bare_median_s']:.3f} s/step, ratio {ov['ratio']:.3f} "
              f"(goal <= {ov['goal']}: {'met' if ov['met'] else 'MISSED'}); same losses step by step: "
              f"{ov['same_losses']}{_load(ov)}")
    va = results.get("lora_variants")
    if va:
        print(f"\nLoRA variants on {va['model']} ({va['device']}, {va['threads']} thread), Alpaca demo: "
              f"{va['train_examples']} training and {va['eval_examples']} eval examples, {va['steps']} steps of "
              f"batch {va['batch_size']}, r={va['r']}, alpha={va['alpha']}, each variant's default lr; base model's "
              f"eval loss {va['base_eval_loss']:.4f}; {va['seconds']} s in all{_load(va)}:")
        print(f"  {'variant':<11}{'lr':>8}{'trainable':>11}{'formula':>11}{'share':>8}{'grads MB':>9}"
              f"{'optim MB':>9}{'activ MB':>9}{'peak MB':>9}{'s/step':>8}{'train':>8}{'eval':>8}")
        for row in va["rows"]:
            mem = row["memory"]
            print(f"  {row['variant']:<11}{row['lr']:>8.0e}{row['trainable_params']:>11,}{row['formula_params']:>11,}"
                  f"{row['share']:>8.3%}{mem['gradients'] / 1e6:>9.2f}{mem['optimizer'] / 1e6:>9.2f}"
                  f"{mem['activations'] / 1e6:>9.1f}{mem['peak'] / 1e6:>9.1f}{row['seconds_per_step']:>8.2f}"
                  f"{row['train_loss']:>8.4f}{row['eval_loss']:>8.4f}")


def _load(entry: dict) -> str:
    """The machine's load average when the entry started and ended (other work slows every number)."""
    if "load_average" not in entry:
        return ""
    start, end = entry["load_average"]["start"], entry["load_average"]["end"]
    return f"; load average (1 min) {start[0]:.2f} at the start, {end[0]:.2f} at the end, on {os.cpu_count()} cores"
