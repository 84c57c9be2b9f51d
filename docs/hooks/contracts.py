"""MkDocs hook: the architecture page's import contracts and view registry, read from the code.

``make lint`` checks the contracts with import-linter (``[tool.importlinter]`` in ``pyproject.toml``),
and ``nbrag/views/__init__.py`` registers a view per result type (``VIEWS``). This hook writes both
into ``architecture.md`` where the page holds their markers, so the page shows what the code says,
not a copy of it. The registry is read with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
VIEWS_MODULE = ROOT / "nbrag" / "views" / "__init__.py"
CONTRACTS = "<!-- importlinter contracts -->"
VIEWS = "<!-- views -->"


def _modules(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def contracts(pyproject: Path = PYPROJECT) -> str:
    """Each contract of ``[tool.importlinter]`` in Markdown: its name, and its layers or its forbidden imports."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]
    out = []
    for contract in config["contracts"]:
        out += [f"**{contract['name']}** (`{contract['id']}`, {contract['type']}):", ""]
        if contract["type"] == "layers":
            out += [f"{i}. {_modules([m.strip() for m in layer.split('|')])}"
                    for i, layer in enumerate(contract["layers"], start=1)]
        elif contract["type"] == "forbidden":
            out += [f"- modules: {_modules(contract['source_modules'])}",
                    f"- may not import: {_modules(contract['forbidden_modules'])}"]
        out.append("")
    return "\n".join(out)


def views(module: Path = VIEWS_MODULE) -> str:
    """``VIEWS`` as a table: result type, kind of drawing, the view that draws it."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    entries = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                   and node.target.id == "VIEWS")
    rows = ["| result | drawing | view |", "|---|---|---|"]
    rows += [f"| `{result}` | {kind} | `{view}` |" for result, kind, view in entries]
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if CONTRACTS in markdown:
        markdown = markdown.replace(CONTRACTS, contracts())
    if VIEWS in markdown:
        markdown = markdown.replace(VIEWS, views())
    return markdown
