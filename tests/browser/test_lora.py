"""%%lora in JupyterLab: the loss curve grows while the cell runs, then the run's table and curves are shown."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import KERNEL_IDLE, save_screenshot
from tests.browser.test_lab import write_notebook

pytestmark = pytest.mark.browser
STEPS = 500
LINES = "\n".join(f"Question {i}: what is {i} plus {i}? Answer: {2 * i}." for i in range(40))
CELLS = [
    "import json, torch\ntorch.set_num_threads(1)\n%load_ext nbrag",
    f"%%lora --model tiny:llama --steps {STEPS} --batch-size 4 --max-length 32 -o run\n{LINES}",
    ("print(json.dumps({'steps': run.steps, 'trainable': run.trainable_params, 'total': run.total_params, "
     "'evals': [e['step'] for e in run.evals], 'loss': round(run.history[-1]['loss'], 4)}))"),
    f"%%lora --model tiny:llama --compare lora,vera,lora-fa --steps 20 --batch-size 4 --max-length 32\n{LINES}",
    "print(json.dumps({'best': min(lora_comparison.rows(), key=lambda r: r['trainable_params'])['variant']}))",
]
LIVE = ".jp-OutputArea-output .nbrag-lora-loss .js-plotly-plot"
# The live curve's points as the page holds them, and whether the %%lora cell is still running.
POINTS = f"""() => {{
    const plot = document.querySelector({LIVE!r});
    const prompt = document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')[1];
    if (!plot || !plot.data || !plot.data[0] || !plot.data[0].x) return null;
    return {{n: plot.data[0].x.length, last: Array.from(plot.data[0].x).slice(-1)[0],
             y: Array.from(plot.data[0].y, Number), running: prompt.textContent.includes('*')}};
}}"""


def test_the_loss_curve_grows_while_the_cell_runs(page, lab, lab_root):
    write_notebook(lab_root / "lora.ipynb", CELLS)
    page.goto(f"{lab['url']}/lab/workspaces/lora/tree/lora.ipynb?token={lab['token']}", wait_until="domcontentloaded")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    # Twice while the cell runs: the curve has points, then more points.
    page.wait_for_function(f"() => {{ const p = ({POINTS})(); return p && p.n >= 5; }}", timeout=180_000)
    first = page.evaluate(POINTS)
    assert first["running"] and all(y > 0 for y in first["y"])
    save_screenshot(page.locator(".jp-OutputArea-output .nbrag-lora-loss").first, "lora-live.png")
    page.wait_for_function(f"() => {{ const p = ({POINTS})(); return p && p.n >= {first['n']} + 20; }}",
                           timeout=120_000)
    second = page.evaluate(POINTS)
    assert second["running"], "the curve should grow while the cell runs, not only at its end"
    save_screenshot(page.locator(".jp-OutputArea-output .nbrag-lora-loss").first, "lora-live-growing.png")
    assert second["n"] > first["n"] and second["last"] > first["last"]
    assert second["y"][:first["n"]] == first["y"]  # the points already drawn stay as they were
    status = page.locator(".jp-OutputArea-output .nbrag-lora-status").first.inner_text()
    assert f"/{STEPS}" in status and "steps/s" in status and "MiB" in status

    # The end: the run's view (table and curves) in place of the live one.
    page.wait_for_function(
        f"""() => {{
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return ({KERNEL_IDLE})() && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }}""", timeout=300_000)
    expected = json.loads(page.locator(".jp-OutputArea-output pre").filter(has_text='"trainable"').inner_text())
    assert expected["steps"] == STEPS
    outputs = page.locator(".jp-Notebook .jp-CodeCell .jp-Cell-outputWrapper")
    result = outputs.nth(1)
    result.scroll_into_view_if_needed()
    result.locator(".nbrag-lora-status").filter(has_text="done").wait_for(timeout=60_000)
    text = result.inner_text()
    assert f"{expected['trainable']:,} / {expected['total']:,}" in text
    assert "random weights" in text and "seconds per step" in text and "peak" in text
    assert "waiting for the first optimizer step" not in text
    plot = result.locator(".js-plotly-plot")
    assert plot.count() == 1  # the live view gave way to the run's own view
    traces = plot.evaluate("p => p.data.map(t => [t.name, t.x.length])")
    assert traces == [["lora train", STEPS], ["lora eval", len(expected["evals"])]]
    assert plot.evaluate("p => Number(p.data[0].y[p.data[0].y.length - 1])") == pytest.approx(expected["loss"],
                                                                                              abs=1e-4)
    save_screenshot(result, "lora-run.png")

    # The comparison: a row per variant, the smallest count marked, one train and one eval curve per variant.
    best = json.loads(page.locator(".jp-OutputArea-output pre").filter(has_text='"best"').inner_text())["best"]
    compared = outputs.nth(3)
    compared.scroll_into_view_if_needed()
    rows = compared.locator("table.nbrag-table tr").all_inner_texts()[1:]
    assert [r.split("\t")[0].strip() for r in rows] == ["lora", "vera", "lora-fa"]
    assert compared.locator("td.nbrag-best").count() >= 2
    assert compared.locator("tr").filter(has_text=best).locator("td.nbrag-best").nth(0).inner_text().endswith("%)")
    names = compared.locator(".js-plotly-plot").evaluate("p => p.data.map(t => t.name)")
    assert names == [f"{v} {kind}" for v in ("lora", "vera", "lora-fa") for kind in ("train", "eval")]
    save_screenshot(compared, "lora-compare.png")
    assert not [e for e in page.errors if "nbrag" in e.lower() or "plotly" in e.lower()], page.errors
