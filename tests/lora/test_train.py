"""The training loop: callback events, evaluation, Ctrl-C and resume, the caller's model untouched, compare."""

from __future__ import annotations

import re

import pytest
import torch

from nbrag import lora
from nbrag.errors import NbragError
from nbrag.lora.base import Event

OPTIONS = {"batch_size": 2, "r": 4, "progress": False, "eval_fraction": 0.25, "eval_every": 2}


def test_callbacks_get_one_event_per_step_and_per_evaluation(llama, records):
    events: list[dict] = []
    run = lora.train(records, "lora", model=llama, steps=5, callbacks=[events.append], **OPTIONS)
    assert all(set(e) == set(Event.__annotations__) for e in events)
    steps = [e for e in events if e["loss"] is not None]
    evals = [e for e in events if e["eval_loss"] is not None]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5]
    assert [e["step"] for e in evals] == [2, 4, 5] == [e["step"] for e in run.evals]
    assert [e["done"] for e in events] == [False] * (len(events) - 1) + [True]
    assert events[-1]["eval_loss"] == run.eval_loss and steps[-1]["loss"] == run.history[-1]["loss"]
    assert all(e["steps"] == 5 and e["memory_bytes"] == run.memory["peak"] > 0 for e in events)
    assert steps[-1]["steps_per_second"] == pytest.approx(5 / steps[-1]["seconds"])
    assert run.options["train_examples"] == 9 and run.options["eval_examples"] == 3
    assert set(run.memory) == {"weights", "trainable", "gradients", "optimizer", "activations", "peak"}
    tensors = len(run._trainer.optimizer.state)  # AdamW: exp_avg and exp_avg_sq, and a float32 step per tensor
    assert run.memory["optimizer"] == 2 * run.memory["trainable"] + 4 * tensors
    assert run.memory["activations"] > 0 and run.seconds_per_step > 0


def test_ctrl_c_keeps_the_run_and_resume_continues_as_if_never_stopped(llama, records):
    straight = lora.train(records, "lora", model=llama, steps=5, **OPTIONS)

    def interrupt(event):
        if event["step"] == 3 and event["loss"] is not None:
            raise KeyboardInterrupt

    stopped = lora.train(records, "lora", model=llama, steps=5, callbacks=[interrupt], **OPTIONS)
    assert stopped.interrupted and stopped.steps == 3 and stopped.evals[-1]["step"] == 3
    assert [h["loss"] for h in stopped.history] == [h["loss"] for h in straight.history[:3]]
    stopped._trainer.callbacks.clear()
    stopped.resume(2)
    assert not stopped.interrupted and stopped.steps == 5
    assert [h["loss"] for h in stopped.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-6)
    states = stopped._trainer.optimizer.state.values()
    assert {int(s["step"]) for s in states} == {5}  # the same optimizer, five steps in
    for (_, p), (_, q) in zip(stopped.model.named_parameters(), straight.model.named_parameters()):
        if p.requires_grad:
            torch.testing.assert_close(p, q)


def test_grad_accum_and_the_callers_model_untouched(llama, records):
    model, _ = llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = lora.train(records, "dora", model=llama, steps=2, grad_accum=2, **OPTIONS)
    assert run.steps == 2 and run._trainer.batches.position == 8  # 2 steps × 2 micro-batches × 2 examples
    assert all(h["tokens"] > 0 for h in run.history)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_compare_starts_every_variant_from_the_same_weights(llama, records):
    model, _ = llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    events: list[dict] = []
    table = lora.compare(records, "delta-lora,lora,lora-plus,lora-fa,vera", model=llama, steps=3,
                         callbacks=[events.append], **OPTIONS)
    assert list(table.runs) == ["delta-lora", "lora", "lora-plus", "lora-fa", "vera"]
    first = {name: run.history[0]["loss"] for name, run in table.runs.items()}
    # the first loss is measured before any update: the same base weights, seed, data and A init give the same number
    assert first["lora"] == first["delta-lora"] == first["lora-plus"] == first["lora-fa"]
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    rows = table.rows()
    assert [r["variant"] for r in rows] == list(table.runs)
    assert set(rows[0]) == {"variant", "trainable_params", "share", "formula_params", "peak_memory_bytes",
                            "seconds_per_step", "train_loss", "eval_loss"}
    assert all(r["trainable_params"] == r["formula_params"] for r in rows)
    assert {e["variant"] for e in events} == set(table.runs)
    assert table.to_dict()["runs"]["vera"]["trainable_params"] == table.runs["vera"].trainable_params
    unknown = "variants=['lora', 'lora+']: unknown variant lora+. Available: lora, dora, vera, lora-plus, lora-fa, " \
              "delta-lora."
    with pytest.raises(NbragError, match="^" + re.escape(unknown) + "$"):
        lora.compare(records, ["lora", "lora+"], model=llama, steps=1, **OPTIONS)


def test_a_file_trained_with_a_progress_bar_and_saved(tmp_path, llama, records, capsys):
    import json

    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    run = lora.train(str(path), "lora-plus", model=llama, steps=2, save=str(tmp_path / "out"),
                     **{**OPTIONS, "progress": True, "loraplus_ratio": 4.0})
    assert "lora-plus" in capsys.readouterr().err  # tqdm's bar, named after the variant
    groups = run._trainer.optimizer.param_groups
    assert {g["lr"] for g in groups if g["params"]} == {run.options["lr"], 4.0 * run.options["lr"]}
    assert json.loads((tmp_path / "out" / "nbrag_run.json").read_text())["steps"] == 2
    assert run.options["loraplus_ratio"] == 4.0 and run.options["train_examples"] == 9


def test_ctrl_c_stops_a_comparison_and_resume_takes_new_callbacks(llama, records):
    def interrupt(event):
        if event["variant"] == "lora-plus" and event["step"] == 1 and event["loss"] is not None:
            raise KeyboardInterrupt

    table = lora.compare(records, ["lora", "lora-plus", "vera"], model=llama, steps=2, callbacks=[interrupt],
                         **OPTIONS)
    assert list(table.runs) == ["lora", "lora-plus"] and table.interrupted and table.to_dict()["interrupted"]
    stopped = table.runs["lora-plus"]
    seen: list[dict] = []
    stopped.resume(1, callbacks=[seen.append])
    assert stopped.steps == 2 and not table.interrupted
    assert [e["step"] for e in seen if e["loss"] is not None] == [2]


def test_a_missing_data_file_is_refused_before_any_step(tmp_path, monkeypatch, llama):
    monkeypatch.chdir(tmp_path)
    steps: list[dict] = []
    with pytest.raises(NbragError) as caught:
        lora.train("path/that/does/not/exist.jsonl", model=llama, steps=2, callbacks=[steps.append], **OPTIONS)
    message = str(caught.value)
    assert message.startswith(f"data='path/that/does/not/exist.jsonl': no such file (looked for "
                              f"{tmp_path / 'path/that/does/not/exist.jsonl'}).")
    assert message.endswith("pass it in a list: ['path/that/does/not/exist.jsonl'].") and "\n" not in message
    assert steps == []


def test_a_bad_save_path_is_refused_before_any_step(tmp_path, llama, records):
    import os
    import time

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    bad = {blocker: "a file, not a folder", blocker / "out": "cannot write there (Not a directory",
           blocker / "deeper" / "out": "cannot write there (Not a directory"}
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        bad[locked / "out"] = "cannot write there (Permission denied"
    for path, reason in bad.items():
        steps: list[dict] = []
        start = time.perf_counter()
        with pytest.raises(NbragError) as caught:
            lora.train(records, model=llama, steps=50, save=str(path), callbacks=[steps.append], **OPTIONS)
        assert str(caught.value).startswith(f"save='{path}': {reason}") and caught.value.option == "save"
        assert steps == [] and time.perf_counter() - start < 5  # refused at once, not after 50 steps
    assert {p.name for p in tmp_path.iterdir()} <= {"a-file", "locked"}  # the checks left nothing behind


def test_a_run_whose_saving_fails_after_training_is_returned_with_the_reason(tmp_path, llama, records):
    folder = tmp_path / "out"

    def take_the_folder(event):  # the folder was writable when training began; a file takes its place meanwhile
        if event["done"]:
            folder.write_text("in the way", encoding="utf-8")

    with pytest.warns(lora.SaveWarning) as caught:
        run = lora.train(records, model=llama, steps=2, save=str(folder), callbacks=[take_the_folder], **OPTIONS)
    assert run.steps == 2 and len(run.evals) == 1 and not run.interrupted
    (note,) = run.warnings
    assert note.startswith(f"The lora run finished but was not saved to {folder} (FileExistsError: ")
    assert note.endswith("it is kept in memory: free space or fix the folder, then call run.save(folder).")
    assert [str(w.message) for w in caught] == [note] and caught[0].filename == __file__  # points at the caller
    assert run.to_dict()["warnings"] == [note] and "1 warning" in repr(run)
    saved = run.save(tmp_path / "elsewhere")  # nothing was lost: the run saves once the way is clear
    assert (saved / "adapter_model.safetensors").is_file()
