"""The shape of the package: no import circle across packages, every result has its view, one way to call a model.

The layers themselves are checked by import-linter (``lint-imports``, contracts in pyproject.toml)
and the code by ruff, both run by ``make lint`` before the tests; these tests check what they do
not, with the standard library only (``python -m pytest tests/test_architecture.py``).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import nbrag

PACKAGE = Path(nbrag.__file__).parent


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "static" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every nbrag module ``module`` imports, at the top or inside a function."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[:len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known and "." in name:
                name = name.rpartition(".")[0]
            if name in known and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imported(module, path, known) for module, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def area(module: str) -> str:
    """The package a module belongs to: ``nbrag.chunking.fixed`` -> ``nbrag.chunking``; top modules stand alone."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_circle_crosses_a_package():
    crossing = [group for group in circles(import_graph()) if len({area(m) for m in group}) > 1]
    assert crossing == [], f"import circles across packages: {crossing}"


def test_the_circle_finder_finds_circles():
    assert circles({"a.x": {"b.y"}, "b.y": {"a.x"}, "c": {"a.x"}}) == [["a.x", "b.y"]]


def test_no_package_binds_a_function_over_a_submodule():
    """``import nbrag.lora.train`` must give the module: no package exports a name that is also its submodule's."""
    clashes = []
    for module, path in modules().items():
        if path.name != "__init__.py":
            continue
        package = importlib.import_module(module)
        for info in pkgutil.iter_modules([str(path.parent)]):
            value = getattr(package, info.name, None)
            if value is not None and not isinstance(value, type(package)):
                clashes.append(f"{module}.{info.name}")
    assert clashes == []


def test_no_module_is_named_after_a_standard_library_module():
    import sys

    names = {m.rpartition(".")[2] for m in modules()}
    assert sorted(names & set(sys.stdlib_module_names)) == []


def test_every_registered_view_imports():
    from nbrag import display

    for (result_type, kind), view in display.registered().items():
        module, _, name = result_type.rpartition(".")
        assert hasattr(importlib.import_module(module), name), f"{result_type} does not exist"
        assert callable(display.resolve(view)), f"the {kind} view of {result_type} does not import"


def test_every_result_that_shows_itself_has_a_view():
    from nbrag import display

    registered = {name for name, kind in display.registered() if kind == "view"}
    engine = ["nbrag.chunking", "nbrag.retrieval", "nbrag.graphrag", "nbrag.rag", "nbrag.lora", "nbrag.inspectors",
              "nbrag.eval"]
    shown = set()
    for module in modules():
        if any(module == p or module.startswith(p + ".") for p in engine):
            for value in vars(importlib.import_module(module)).values():
                if isinstance(value, type) and issubclass(value, display.Shown) and value.__module__ == module:
                    shown.add(f"{value.__module__}.{value.__qualname__}")
    assert shown, "no result class mixes in nbrag.display.Shown"
    missing = sorted(s for s in shown if s not in registered)
    assert missing == []


# Text generation goes through nbrag.llm; the inspectors time generate() itself and training loops
# run the model directly, so they are the exceptions.
GENERATION = re.compile(r"\.generate\(|apply_chat_template\(")
ALLOWED = {"nbrag/llm.py", "nbrag/inspectors/kvcache.py"}


def test_only_the_model_interface_generates_text():
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative in ALLOWED or "lora/training" in relative:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if GENERATION.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
