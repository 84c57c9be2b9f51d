"""Execute notebooks headless: write an HTML copy with the outputs, or refresh them in place.

    python tools/run_notebook.py notebooks/00_tour.ipynb --html build/00_tour.html
    python tools/run_notebook.py notebooks/*.ipynb --inplace

The HTML copy shows each widget through its static HTML rendering, so it opens
offline (the live widget needs a running kernel). In-place runs drop the saved
widget state, which only a live kernel can use and which bloats the file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(path: Path, timeout: int) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nb.metadata.pop("widgets", None)
    return nb


def static_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop live-widget views where a static text/html rendering stands beside them."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--html", type=Path, help="HTML file to write (one notebook) or folder (several)")
    mode.add_argument("--inplace", action="store_true", help="save the outputs into the notebooks")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may take")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        t0 = time.perf_counter()
        nb = execute(path, args.timeout)
        if args.inplace:
            nbformat.write(nb, path)
            target = path
        else:
            target = args.html if len(args.notebooks) == 1 and args.html.suffix == ".html" \
                else args.html / f"{path.stem}.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            body, _ = HTMLExporter().from_notebook_node(static_copy(nb))
            target.write_text(body, encoding="utf-8")
        print(f"{path}: ran in {time.perf_counter() - t0:.1f} s -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
