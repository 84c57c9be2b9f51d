"""The documentation: the site builds in strict mode, the generated magics reference holds every option
of every magic, and every image and relative link of the README and the docs exists."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ the strict build


# mkdocs's own command line, then the model libraries that building loaded (none: griffe reads the source).
BUILD = """
import runpy, sys
sys.argv = ["mkdocs", "build", "--strict", "--config-file", sys.argv[1], "--site-dir", sys.argv[2]]
try:
    runpy.run_module("mkdocs", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code
else:
    code = 0
print("loaded:", [m for m in ("torch", "transformers", "chromadb", "peft") if m in sys.modules])
sys.exit(code)
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``mkdocs build --strict`` into a temporary folder, timed."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's notice about MkDocs 2.0, not a build warning
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", BUILD, str(ROOT / "mkdocs.yml"), str(site)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    print(f"mkdocs build --strict: {time.perf_counter() - start:.1f} s")
    return done, site


def test_the_site_builds_in_strict_mode_without_a_warning(build):
    done, site = build
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "WARNING" in line]
    assert done.returncode == 0 and not warnings, "\n".join(warnings) or done.stderr[-3000:]
    assert (site / "index.html").is_file()
    assert (site / "magics" / "index.html").is_file() and (site / "api" / "chunking" / "index.html").is_file()


def test_the_build_imports_no_model_library(build):
    """The API pages are read from the source by griffe; the hooks import only the magics and the settings."""
    done, _ = build
    assert done.stdout.strip().splitlines()[-1:] == ["loaded: []"], done.stderr[-3000:]


# ------------------------------------------------------------------ the magics reference


def magic_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every argument parser that a module of ``nbrag.magics`` declares (on a magic method or a function), by name."""
    import nbrag.magics

    found: dict[str, argparse.ArgumentParser] = {}
    for info in pkgutil.iter_modules(nbrag.magics.__path__, "nbrag.magics."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            owners = {name: value}
            if inspect.isclass(value) and value.__module__ == module.__name__:
                owners |= {f"{name}.{attr}": member for attr, member in vars(value).items()}
            for label, owner in owners.items():
                parser = getattr(owner, "parser", None)
                if isinstance(parser, argparse.ArgumentParser):
                    found[f"{module.__name__}.{label}"] = parser
    return found


def sections(page: str) -> dict[str, str]:
    """The page's sections (``<h2>``/``<h3>`` to the next), by their ids, as text without tags."""
    parts = re.split(r'<h[23] id="([^"]+)"', page)
    return {parts[i]: re.sub(r"<[^>]+>", " ", parts[i + 1]) for i in range(1, len(parts) - 1, 2)}


def written(action: argparse.Action) -> list[str]:
    return list(action.option_strings) or [action.metavar or action.dest]


def missing_options(parsers: dict[str, argparse.ArgumentParser], page: str) -> list[str]:
    """``parser: option`` for each option of a parser that no section of ``page`` documents with all the others."""
    texts = list(sections(page).values())
    missing = []
    for name, parser in parsers.items():
        options = [o for action in parser._actions if not isinstance(action, argparse._HelpAction)
                   for o in written(action)]
        present = [[re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text) is not None for o in options]
                   for text in texts]
        best = max(present, key=sum, default=[False] * len(options))
        missing += [f"{name}: {o}" for o, ok in zip(options, best) if not ok]
    return missing


@pytest.fixture(scope="module")
def magics_page(build) -> str:
    """The built page (a strict build that fails on a warning elsewhere still writes it)."""
    done, site = build
    page = site / "magics" / "index.html"
    assert page.is_file(), done.stderr[-3000:]
    return page.read_text(encoding="utf-8")


def test_the_magics_reference_documents_every_option_of_every_magic(magics_page):
    parsers = magic_parsers()
    assert len(parsers) >= 9  # the eight magics with options, and %nbrag index
    assert missing_options(parsers, magics_page) == []


def test_every_magic_has_its_section(magics_page):
    from nbrag.magics import AREAS

    names = {name for area in AREAS for kind in ("line", "cell") for name in area.magics[kind]}
    assert names - set(sections(magics_page)) == set()


def test_a_missing_option_is_found(magics_page):
    parsers = magic_parsers()
    chunk = next(p for name, p in parsers.items() if name.endswith("ChunkMagics.chunk"))
    cut = re.sub(r"(?<![\w-])--threshold-type(?![\w-])", "", magics_page)
    assert missing_options({"chunk": chunk}, cut) == ["chunk: --threshold-type"]


def test_the_reference_is_generated_from_the_declarations():
    """What the hook writes changes with the declarations: a new option shows up in the page."""
    from IPython.core.magic_arguments import argument, magic_arguments

    hook = _hook("magics")

    @magic_arguments()
    @argument("--brand-new-option", type=int, default=7, help="A | pipe and <markup> stay as written.")
    def probe(line: str) -> None:
        """%probe [--brand-new-option N]"""

    table = hook.options_table(probe.parser)
    assert "| `--brand-new-option BRAND_NEW_OPTION` | `7` | A \\| pipe and &lt;markup&gt; stay as written. |" in table


# ------------------------------------------------------------------ images and relative links

FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
CODE = re.compile(r"`[^`\n]*`")
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML = re.compile(r"""<(?:img|a|source)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


def targets(markdown: str) -> list[str]:
    """The images and links a Markdown text references, outside code."""
    text = CODE.sub("", FENCE.sub("", markdown))
    return [m.group(1) for pattern in (INLINE, REFERENCE, HTML) for m in pattern.finditer(text)]


def broken(path: Path, generated: set[Path]) -> list[str]:
    """The relative targets of ``path`` that do not exist (pages the hooks write count as existing)."""
    out = []
    for target in targets(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith(("#", "/")):
            continue  # a URL, an anchor in the same page, or a site-absolute path
        file = (path.parent / target.split("#")[0].split("?")[0]).resolve()
        if not file.exists() and file not in generated:
            out.append(f"{path.relative_to(ROOT)}: {target}")
    return out


def test_the_link_finder_finds_images_links_and_skips_code():
    text = ('![a](images/a.png "A") [b](b.md#x) <img src="c.png">\n[d]: d.md\n'
            "`[e](e.md)`\n```\n[f](f.md)\n```\n[g](https://example.org)")
    assert sorted(targets(text)) == ["b.md#x", "c.png", "d.md", "https://example.org", "images/a.png"]


def test_every_image_and_relative_link_of_the_readme_and_docs_exists():
    generated = {(DOCS / _hook("magics").PAGE).resolve()}
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    problems = [problem for page in pages for problem in broken(page, generated)]
    assert problems == []


def test_the_readme_commands_are_make_targets():
    """``make demo`` and ``make test`` (CI runs the latter) and any other make command the README names exist."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", readme))
    assert {"demo", "test"} <= named
    assert named - defined == set()


def test_the_readme_links_every_notebook_to_colab_and_binder():
    """The links are those of ``[project.urls] Repository`` in pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    url = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    repo = url.removeprefix("https://github.com/").strip("/")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook.name}" in readme
        assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/notebooks/{notebook.name}" in readme
