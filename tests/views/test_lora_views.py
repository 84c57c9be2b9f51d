"""The LoRA views: live curves from training events (throttled, the last event always drawn), a run's table, a
comparison with the best of each column marked, generations side by side; every text escaped."""

from __future__ import annotations

import html
import re

import pytest

from nbrag.views.lora import (
    COLOURS,
    GenerationsView,
    LoraComparisonView,
    LossView,
    RunView,
    best_values,
    loss_svg,
)
from tests.tiny import tiny

EVIL = "<script>alert(1)</script> & <b>bold</b>"
WIDGET = "application/vnd.jupyter.widget-view+json"
LINES = [f"Question {i}: what is {i} plus {i}? Answer: {2 * i}." for i in range(24)]


def event(variant: str, step: int, steps: int, loss: float | None = None, eval_loss: float | None = None,
          done: bool = False) -> dict:
    """An event as nbrag.lora's training loop sends it (nbrag.lora.Event)."""
    return {"variant": variant, "step": step, "steps": steps, "loss": loss, "eval_loss": eval_loss,
            "seconds": step * 0.25, "steps_per_second": 4.0, "memory_bytes": 3 * 2 ** 20, "done": done}


class Clock:
    """A clock the test moves by hand, so the throttle is checked without timing anything."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<style>.*?</style>", "", markup, flags=re.DOTALL)))


# ---------------------------------------------------------------------- LossView from events


def test_events_become_one_train_and_one_dashed_eval_curve_per_variant():
    view = LossView(redraws_per_second=1e9)
    for variant, scale in (("lora", 1.0), ("vera", 1.5)):
        for step in range(1, 7):
            view.callback(event(variant, step, 6, loss=scale * 3 / step))
            if step % 3 == 0:
                view.callback(event(variant, step, 6, eval_loss=scale * 3.5 / step, done=step == 6))
    names = [t.name for t in view.figure.data]
    assert names == ["lora train", "lora eval", "vera train", "vera eval"]
    lora_train, lora_eval, vera_train, vera_eval = view.figure.data
    assert list(lora_train.x) == [1, 2, 3, 4, 5, 6]
    assert list(lora_train.y) == pytest.approx([3 / s for s in range(1, 7)])
    assert list(vera_eval.x) == [3, 6] and list(vera_eval.y) == pytest.approx([1.5 * 3.5 / 3, 1.5 * 3.5 / 6])
    assert lora_train.line.color == lora_eval.line.color == COLOURS[0]  # lora's colour, eval in the same one
    assert vera_train.line.color == COLOURS[2] != COLOURS[0]
    assert lora_eval.line.dash == "dash" and lora_train.line.dash is None
    status = text_of(view.status.value)
    assert "✓ lora done · step 6/6 · 4.00 steps/s · 1.5 s · memory 3.0 MiB · last step's train loss 0.5000 · " \
           "eval loss 0.5833 (step 6)" in status
    assert "vera done" in status


def test_redraws_are_throttled_and_the_last_event_is_always_drawn():
    clock = Clock()
    view = LossView(clock=clock)  # at most 5 redraws a second
    for step in range(1, 101):  # 100 steps a second
        clock.now = step / 100
        view.callback(event("lora", step, 100, loss=1 / step, done=step == 100))
    assert view.events == 100
    assert 5 <= view.redraws <= 7  # about one a fifth of a second, plus the done event
    assert list(view.figure.data[0].x) == list(range(1, 101))  # all points reach the figure with the last redraw
    # A run stopped before its done event: flush() draws what the throttle held back.
    clock.now = 2.0
    view.callback(event("dora", 1, 50, loss=2.0))
    clock.now = 2.01
    view.callback(event("dora", 2, 50, loss=1.9))
    assert list(view.figure.data[2].x) == [1]
    view.flush()
    assert list(view.figure.data[2].x) == [1, 2]
    drawn = view.redraws
    view.flush()
    assert view.redraws == drawn  # nothing left to draw


def test_an_evaluation_at_the_same_step_does_not_add_a_train_point():
    view = LossView(redraws_per_second=1e9)
    view.callback(event("lora", 1, 2, loss=2.0))
    view.callback(event("lora", 2, 2, loss=1.0))
    view.callback(event("lora", 2, 2, eval_loss=1.2, done=True))
    train, evaluation = view.figure.data
    assert list(train.x) == [1, 2] and list(evaluation.x) == [2] and list(evaluation.y) == [1.2]


def test_malformed_events_are_refused_with_what_they_lack():
    view = LossView()
    with pytest.raises(ValueError, match="lacks step, steps: it has variant, loss"):
        view.callback({"variant": "lora", "loss": 1.0})
    with pytest.raises(TypeError, match="A training event is a dict"):
        view.callback([1, 2])


def test_variant_names_are_escaped_in_the_figure_status_and_static_drawing():
    view = LossView(redraws_per_second=1e9)
    view.callback(event(EVIL, 1, 2, loss=2.0))
    view.callback(event(EVIL, 2, 2, loss=1.0, done=True))
    assert "<script>" not in view.figure.data[0].name and "&lt;script&gt;" in view.figure.data[0].name
    assert "<script>" not in view.figure.data[0].hovertemplate
    for markup in (view.status.value, view.to_html()):
        assert "<script>" not in markup and "<b>bold</b>" not in markup
    assert EVIL in text_of(view.to_html())


def test_the_static_drawing_has_a_line_per_curve():
    view = LossView(redraws_per_second=1e9)
    for step in range(1, 5):
        view.callback(event("lora", step, 4, loss=4 - step))
    view.callback(event("lora", 4, 4, eval_loss=0.5, done=True))
    view.callback(event("lora-fa", 1, 4, loss=3.0))
    view.callback(event("lora-fa", 2, 4, loss=2.5))
    svg = loss_svg(view.series.values())
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1  # two train lines, one eval point
    assert "stroke-dasharray" not in svg.split("<circle")[0].split("<polyline")[1]
    bundle, _ = view._repr_mimebundle_()
    assert WIDGET in bundle and "<svg" in bundle["text/html"]
    assert loss_svg([]) == ""


# ---------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def runs():
    """Two real runs of a tiny random-weight Llama (a few steps each), with the events they sent."""
    import torch

    from nbrag import lora

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    events: list[dict] = []
    try:
        comparison = lora.compare(LINES, ("lora", "vera"), model=tiny("llama"), steps=4, batch_size=4, r=4,
                                  eval_fraction=0.25, eval_every=2, max_length=32, progress=False,
                                  callbacks=[events.append])
    finally:
        torch.set_num_threads(threads)
    return comparison, events


def test_a_real_run_draws_its_events_as_they_came(runs):
    comparison, events = runs
    view = LossView(redraws_per_second=1e9)
    for e in events:
        view.callback(e)
    for name, run in comparison.runs.items():
        s = view.series[name]
        assert s.steps == [h["step"] for h in run.history]
        assert s.losses == pytest.approx([h["loss"] for h in run.history])
        assert s.eval_steps == [e["step"] for e in run.evals] and s.done
    # The view of the finished runs draws the same curves.
    again = LossView.of(comparison.runs)
    assert [list(t.y) for t in again.figure.data] == [list(t.y) for t in view.figure.data]


def test_run_view_shows_counts_formula_memory_and_losses(runs):
    comparison, _ = runs
    run = comparison.runs["lora"]
    view = RunView(run)
    text = text_of(view.table.value)
    assert f"{run.trainable_params:,} / {run.total_params:,}" in text
    assert f"{run.formula_params:,} ✓" in text  # LoRA's formula gives the counted number
    assert run.formula in text and "peak" in text and "MiB" in text
    assert f"{run.train_loss:.4f}" in text and f"{run.eval_loss:.4f}" in text
    assert "random weights" in text
    assert [t.name for t in view.curves.figure.data] == ["lora train", "lora eval"]
    assert list(view.curves.figure.data[0].y) == pytest.approx([h["loss"] for h in run.history])
    bundle, _ = run._repr_mimebundle_()
    assert WIDGET in bundle and "<svg" in bundle["text/html"]
    assert isinstance(run.view(), RunView)


def test_compare_view_marks_the_best_of_each_column(runs):
    comparison, _ = runs
    rows = comparison.rows()
    view = comparison.view()  # the registered view
    assert isinstance(view, LoraComparisonView)
    table = view.table.value
    assert "td.nbrag-best" in table and ".nbrag-tokens" in table  # widgets/lora.css and tokens.css inlined
    best = best_values(rows)
    vera = next(r for r in rows if r["variant"] == "vera")
    lora = next(r for r in rows if r["variant"] == "lora")
    assert vera["trainable_params"] < lora["trainable_params"] and best["trainable_params"] == vera["trainable_params"]
    assert f'<td class="nbrag-best">{vera["trainable_params"]:,} (' in table
    assert table.count('class="nbrag-best"') >= 2
    assert "LoRA variants compared · tiny-llama" in text_of(table) and "random weights" in text_of(table)
    for r in rows:
        assert f"{r['trainable_params']:,}" in table and f"{r['peak_memory_bytes'] / 2 ** 20:,.1f} MiB" in table
    assert [t.name for t in view.curves.figure.data] == ["lora train", "lora eval", "vera train", "vera eval"]
    assert "<svg" in view.to_html()


def test_an_interrupted_run_says_how_to_continue(runs):
    comparison, _ = runs
    run = comparison.runs["vera"]
    run.interrupted = True
    try:
        text = text_of(RunView(run).table.value)
        compared = text_of(LoraComparisonView(comparison).table.value)
    finally:
        run.interrupted = False
    assert f"vera was interrupted after step {run.steps} of 4" in text and "resume(steps)" in text
    assert f"vera was interrupted after step {run.steps}: its numbers cover those steps only" in compared


# ---------------------------------------------------------------------- generations


def test_generations_side_by_side_are_escaped_and_keep_chinese():
    rows = [{"prompt": "What is <b>RAG</b>?", "base": "It is <i>retrieval</i>.", "fa": EVIL},
            {"prompt": "检索增强生成是什么？", "base": "一种方法。", "fa": "先检索，再生成。"}]
    view = GenerationsView(rows)
    markup = view.to_html()
    assert "<script>" not in markup and "<b>RAG</b>" not in markup and "<i>" not in markup
    text = text_of(markup)
    assert "What is <b>RAG</b>?" in text and EVIL in text and "先检索，再生成。" in text
    heads = re.findall(r"<th[^>]*>(.*?)</th>", markup)
    assert heads == ["prompt", "base", "fa"]
    with pytest.raises(TypeError, match="list of dicts"):
        GenerationsView(["a prompt"])


def test_sizes_and_shares_keep_small_numbers_readable():
    from nbrag.views.lora import mib, share

    assert mib(14_336) == "0.0137 MiB" and mib(3 * 2 ** 20) == "3.0 MiB" and mib(0) == "0.0 MiB" and mib(None) == "—"
    assert share(3_584, 2_031_040) == "0.176%" and share(1, 1) == "100%" and share(1, 0) == "—"


def test_generations_of_real_adapters(runs):
    from nbrag.lora import Adapters

    comparison, _ = runs
    adapters = Adapters(model=tiny("llama")).add("sums", comparison.runs["lora"])
    prompts = ["Question 3: what is 3 plus 3?", "问题：三加三等于几？"]
    rows = adapters.side_by_side(prompts, max_new_tokens=4)
    view = GenerationsView(rows)
    text = text_of(view.to_html())
    assert re.findall(r"<th[^>]*>(.*?)</th>", view.to_html()) == ["prompt", "base", "sums"]
    for row in rows:
        assert html.escape(row["prompt"]) in view.to_html() and html.escape(row["sums"]) in view.to_html()
    assert "问题：三加三等于几？" in text
