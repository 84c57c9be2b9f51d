"""%%lora on a tiny random-weight Llama: data from the cell, a file or a variable; the live view follows the run;
comparisons; bad input refused in one line with nothing lost; an interrupted run kept and resumed."""

from __future__ import annotations

import json
import signal

import pytest
from IPython.core.error import UsageError

from nbrag.lora import LoraComparison, LoraRun, SaveWarning
from nbrag.views.lora import LossView
from tests.magics.test_magics import run
from tests.tiny import tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch on one thread, restored after
LINES = [f"Question {i}: what is {i} plus {i}? Answer: {2 * i}." for i in range(12)] + [
    f"问题{i}：{i}加{i}等于几？答案：{2 * i}。" for i in range(4)]
CELL = "\n".join(LINES)
RECORDS = [{"instruction": "Add the numbers.", "input": f"{i} + {i}", "output": str(2 * i)} for i in range(12)]
FAST = "--model tiny:llama --batch-size 4 --max-length 32 --r 4"


@pytest.fixture
def shown(monkeypatch):
    """The live views %%lora displays (the real display still runs)."""
    import IPython.display

    views: list[LossView] = []
    real = IPython.display.display

    def spy(*objs, **kwargs):
        views.extend(o for o in objs if isinstance(o, LossView))
        return real(*objs, **kwargs)

    monkeypatch.setattr(IPython.display, "display", spy)
    return views


def test_cell_data_trains_and_the_live_view_follows_every_step(ip, shown):
    result = run(ip, f"%%lora {FAST} --steps 6 --alpha 8 --lr 1e-3 --eval-fraction 0.25 -o run\n{CELL}")
    assert isinstance(result, LoraRun) and ip.user_ns["run"] is result
    assert result.variant == "lora" and result.steps == 6 and not result.interrupted
    assert {k: result.options[k] for k in ("r", "alpha", "lr", "steps", "batch_size", "max_length",
                                           "eval_fraction")} == {
        "r": 4, "alpha": 8.0, "lr": 1e-3, "steps": 6, "batch_size": 4, "max_length": 32, "eval_fraction": 0.25}
    assert result.options["train_examples"] == 12 and result.options["eval_examples"] == 4  # 16 lines
    (view,) = shown
    series = view.series["lora"]
    assert series.steps == [h["step"] for h in result.history] and series.done
    assert series.losses == pytest.approx([h["loss"] for h in result.history])
    assert series.eval_steps == [e["step"] for e in result.evals]
    assert view.events == len(result.history) + len(result.evals)
    assert list(view.figure.data[0].x) == series.steps  # the last event was drawn


def test_compare_from_a_jsonl_file_stores_the_comparison(ip, tmp_path, shown):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS), encoding="utf-8")
    ip.user_ns.pop("lora_comparison", None)
    result = run(ip, f"%lora {FAST} --steps 3 --data {path} --compare lora,vera,lora-fa --save {tmp_path / 'out'}")
    assert isinstance(result, LoraComparison) and ip.user_ns["lora_comparison"] is result  # the default name
    assert list(result.runs) == ["lora", "vera", "lora-fa"]
    assert all(r.steps == 3 for r in result.runs.values())
    rows = {r["variant"]: r for r in result.rows()}
    assert rows["vera"]["trainable_params"] < rows["lora"]["trainable_params"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lora", "lora-fa", "vera"]
    assert any(p.suffix == ".safetensors" for p in (tmp_path / "out" / "vera").iterdir())
    (view,) = shown
    assert list(view.series) == ["lora", "vera", "lora-fa"] and all(s.done for s in view.series.values())


def test_var_list_and_a_model_variable(ip):
    ip.user_ns["examples"] = RECORDS
    ip.user_ns["pair"] = tiny("llama")
    ip.user_ns["lora_run"] = "a str the user keeps"
    result = run(ip, "%lora --model pair --var examples --variant dora --steps 2 --batch-size 4 --max-length 32 "
                     "--target-modules q_proj,v_proj --eval-fraction 0")
    assert result.variant == "dora" and result.target_modules == ["q_proj", "v_proj"] and result.evals == []
    assert ip.user_ns["lora_run"] == "a str the user keeps"  # a default name that holds something else is kept
    assert ip.user_ns["lora_run_2"] is result
    assert not any("lora" in type(m).__name__.lower() for m in ip.user_ns["pair"][0].modules())  # a copy trained


def test_var_dataframe(ip):
    pandas = pytest.importorskip("pandas")
    ip.user_ns["frame"] = pandas.DataFrame(RECORDS)
    result = run(ip, f"%lora {FAST} --var frame --steps 1 --eval-fraction 0")
    assert result.options["train_examples"] == len(RECORDS)


@pytest.mark.parametrize("source, message", [
    ("%%lora --model tiny:llama --variant lorra\nsome text",
     "--variant lorra: unknown LoRA variant. Available: lora, dora, vera, lora-plus, lora-fa, delta-lora."),
    ("%%lora --model tiny:llama --compare lora,vra\nx", "--compare lora,vra: unknown variant vra. Available:"),
    ("%%lora --model tiny:llama --compare lora\nx", "--compare lora: name at least two variants"),
    ("%%lora --model tiny:llama --compare lora,lora\nx", "--compare lora,lora: lora named twice"),
    ("%%lora --model tiny:llama\n   \n", "No training data: write examples in the cell under %%lora"),
    ("%lora --model tiny:llama --data /no/such/file.jsonl",
     "--data /no/such/file.jsonl: no such file (looked for /no/such/file.jsonl). Give a JSON or JSONL file"),
    ("%%lora --model tiny:llama --var examples\nx", "Training data given twice (the cell and --var)"),
    ("%lora --model tiny:llama --var nowhere", "--var nowhere: no variable of that name"),
    ("%lora --model tiny:llama --var number", "--var number holds a int: give a DataFrame, a list"),
    ("%%lora --model tiny:llama --r 0\nx", "--r 0: give a whole number of at least 1 (the adapters' rank, e.g. 8)."),
    ("%%lora --model tiny:llama --lr -1\nx", "--lr -1.0: give a number greater than 0 (e.g. 2e-4)."),
    ("%%lora --model tiny:llama --lr nan\nx", "--lr nan: give a finite number greater than 0 (e.g. 2e-4)."),
    ("%%lora --model tiny:llama --alpha inf\nx", "--alpha inf: give a finite number greater than 0 (e.g. 16)."),
    ("%%lora --model tiny:llama --steps -1\nx", "--steps -1: give a whole number of at least 0 (optimizer steps"),
    ("%%lora --model tiny:llama --grad-accum 0\nx",
     "--grad-accum 0: give a whole number of at least 1 (forward passes per optimizer step; 1: no accumulation)."),
    ("%%lora --model tiny:llama --eval-fraction 1\nx", "--eval-fraction 1.0: give a number of at least 0 and less "
                                                        "than 1 (the share held out; 0: no evaluation set)."),
    ("%%lora --model tiny:llama --eval-fraction nan\nx", "--eval-fraction nan: give a finite number of at least 0"),
    ("%%lora --model tiny:llama --batch-size 0\nx", "--batch-size 0: give a whole number of at least 1 (examples"),
    ("%%lora --model tiny:llama --target-modules ,\nx", "--target-modules ,: name modules separated by commas"),
    ("%%lora --model tiny:llama --variant vera --compare lora,vera\nx", "--variant and --compare both name what"),
    ("%%lora --model tiny:llama\n{\"text\": \"a\"}\n{\"text\": ", "Line 2 of the cell is not valid JSON"),
    ("%%lora --model tiny:llama -o 2x\nx", "-o '2x' is not a valid Python variable name."),
    ("%lora --resume nowhere", "--resume nowhere: no variable of that name; give the variable that holds a LoraRun"),
    ("%lora --resume number", "--resume number: it holds a int"),
    ("%%lora --model no-such-model\nx", "--model no-such-model: The generator 'no-such-model' is not"),
])
def test_bad_input_is_one_clear_line(ip, source, message):
    ip.user_ns.update(examples=RECORDS, number=3)
    with pytest.raises(UsageError) as caught:
        run(ip, source)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_save_folder_is_refused_before_the_model_loads(ip, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(UsageError) as caught:  # the model named does not exist: the folder was checked first
        run(ip, f"%%lora --model no-such-model --save {blocker / 'out'}\n{CELL}")
    assert str(caught.value).startswith(f"--save {blocker / 'out'}: cannot write there (Not a directory")


def test_a_run_whose_saving_fails_after_training_is_stored_and_the_reason_shown(ip, tmp_path, monkeypatch, capsys):
    import warnings

    folder = tmp_path / "out"
    real = LossView.callback

    def take_the_folder(self, event):  # writable when training began; a file takes its place before the save
        real(self, event)
        if event["done"]:
            folder.write_text("in the way", encoding="utf-8")

    monkeypatch.setattr(LossView, "callback", take_the_folder)
    ip.user_ns.pop("unsaved", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaveWarning)  # the magic says it once, in its own words: no second warning
        result = run(ip, f"%%lora {FAST} --steps 2 --eval-fraction 0 --save {folder} -o unsaved\n{CELL}")
    assert ip.user_ns["unsaved"] is result and result.steps == 2
    (note,) = result.warnings
    assert note.startswith(f"The lora run finished but was not saved to {folder} (FileExistsError")
    assert f"{note} The run is stored in unsaved.\n" in capsys.readouterr().out
    monkeypatch.setattr(LossView, "callback", real)
    again = run(ip, "%lora --resume unsaved --steps 1")  # a later cell does not repeat the old news
    assert again is result and result.steps == 3 and "not saved" not in capsys.readouterr().out


def test_a_bug_in_the_engine_keeps_its_traceback(ip, shown, monkeypatch):
    import nbrag.lora

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(nbrag.lora, "train", broken)
    ip.user_ns.pop("never", None)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%%lora {FAST} --steps 1 -o never\n{CELL}")
    assert "never" not in ip.user_ns
    monkeypatch.setattr(nbrag.lora, "compare", broken)
    with pytest.raises(RuntimeError, match=r"^boom$"):
        run(ip, f"%%lora {FAST} --compare lora,vera --steps 1\n{CELL}")


@pytest.mark.parametrize("options, message", [
    ("--target-modules nowhere_proj", "--target-modules nowhere_proj: nowhere_proj not found in LlamaForCausalLM; "
                                      "its linear layers are: down_proj,"),
    ("--r 4096", "--r 4096: larger than the smaller dimension of"),
    ("--max-length 4", "--max-length 4: example 1 ('Question 0: what is 0 plus 0? Answer: 0.'…) has"),
])
def test_what_the_engine_refuses_is_a_usage_error_and_nothing_is_lost(ip, shown, options, message):
    ip.user_ns["kept"] = "the user's value"
    with pytest.raises(UsageError) as caught:
        run(ip, f"%%lora --model tiny:llama --steps 1 {options} -o kept\n{CELL}")
    assert message in str(caught.value)
    assert ip.user_ns["kept"] == "the user's value"  # -o is stored only after a run
    (view,) = shown
    assert view.comm is None  # the live view was taken away


def test_interrupt_keeps_the_run_and_resume_continues_it(ip, shown, monkeypatch, capsys):
    real = LossView.callback

    def interrupt_at_step_3(self, event):  # Ctrl-C, as the kernel's interrupt sends it, once step 3 is drawn
        real(self, event)
        if event["step"] == 3 and event["loss"] is not None and not self.series[event["variant"]].done:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(LossView, "callback", interrupt_at_step_3)
    result = run(ip, f"%%lora {FAST} --steps 8 --eval-fraction 0.25 -o stopped\n{CELL}")
    assert result.interrupted and result.steps == 3 and ip.user_ns["stopped"] is result
    assert "Interrupted: lora stopped after step 3; the adapter and the loss history are kept in stopped. Continue " \
           "with %lora --resume stopped --steps 5." in capsys.readouterr().out
    monkeypatch.setattr(LossView, "callback", real)
    with pytest.raises(UsageError, match="--resume stopped continues that run with its own data, model and options: "
                                         "leave out --model, --r"):
        run(ip, "%lora --resume stopped --model tiny:llama --r 4")
    again = run(ip, "%lora --resume stopped")
    assert again is result and not result.interrupted and result.steps == 8
    assert [h["step"] for h in result.history] == list(range(1, 9))
    assert shown[-1].series["lora"].steps == [4, 5, 6, 7, 8] and shown[-1].series["lora"].done  # the live view
    with pytest.raises(UsageError, match="--resume stopped: the run has done its 8 steps; give --steps N"):
        run(ip, "%lora --resume stopped")
    run(ip, "%lora --resume stopped --steps 2")
    assert result.steps == 10
    result.resume(1)  # from Python: the run's callbacks are those of a %%lora cell's view, closed when it ended
    assert all(view.figure.comm is None for view in shown)
    (told,) = [view for view in shown if 11 in view.series["lora"].steps]
    assert 11 not in list(told.figure.data[0].x)  # a closed view keeps the points and draws nothing


@pytest.mark.slow
def test_the_configured_generator_learns_instructions_from_the_cell(ip):
    cell = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
        *RECORDS[:8], {"instruction": "把数字相加。", "input": "3 + 4", "output": "7"}])
    result = run(ip, f"%%lora --steps 2 --batch-size 3 --r 2 --max-length 96 --eval-fraction 0.34\n{cell}")
    assert "SmolLM2" in result.options["model"] and result.steps == 2
    assert result.options["eval_examples"] == 3 and result.eval_loss is not None and result.eval_loss > 0


def test_an_interrupted_comparison_resumes_its_stopped_run(ip, monkeypatch, capsys):
    real = LossView.callback

    def interrupt_vera_at_step_2(self, event):
        real(self, event)
        if event["variant"] == "vera" and event["step"] == 2 and event["loss"] is not None:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(LossView, "callback", interrupt_vera_at_step_2)
    result = run(ip, f"%%lora {FAST} --compare lora,vera,lora-fa --steps 4 --eval-fraction 0 -o both\n{CELL}")
    assert [(r.steps, r.interrupted) for r in result.runs.values()] == [(4, False), (2, True)]  # Ctrl-C stops it all
    out = capsys.readouterr().out
    assert "Interrupted: vera stopped after step 2; the adapter and the loss history are kept in both.runs['vera']. " \
           "Continue with %lora --resume both --steps 2." in out
    assert "Not trained (the comparison stopped before them): lora-fa; train them with %%lora --variant lora-fa" in out
    monkeypatch.setattr(LossView, "callback", real)
    again = run(ip, "%lora --resume both")
    assert again is result and [(r.steps, r.interrupted) for r in result.runs.values()] == [(4, False), (4, False)]
    with pytest.raises(UsageError, match=r"--resume both: none of this comparison's runs was interrupted; to train "
                                         r"one longer, store it \(run = both.runs\['lora'\]\)"):
        run(ip, "%lora --resume both")
