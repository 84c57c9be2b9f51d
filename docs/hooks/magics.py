"""MkDocs hook: the magics reference (``magics.md``), written from the magics' own declarations.

Each magic declares its options with IPython's ``magic_arguments``, which hangs an argparse parser on
the method (``ChunkMagics.chunk.parser``); ``%nbrag index`` declares its own on
``nbrag.magics.retrieve.index_arguments``, and the session settings are the fields of
``nbrag.config.Settings``. This hook reads all of them each time the site is built, so the page
cannot drift from the code. ``nbrag.magics`` imports IPython and traitlets only (no torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import inspect
import re
from collections.abc import Iterator
from typing import Any

PAGE = "magics.md"

INTRO = """\
# Magics reference

`%load_ext nbrag` registers these magics. This page is generated from their own argument
declarations each time the documentation is built; in a notebook, `%nbrag help` lists them and
`%%chunk?` (any magic with `?`) prints one magic's help.

A magic with a cell form (`%%name`) reads its text or query from the cell; its line form
(`%name`) reads it from `--var NAME`, `--file PATH` or `--query TEXT` (the rest of the line),
as each magic's options say. `-o NAME` stores the result in a variable. A mistake in an option
gives a one-line error that names the flag and the fix.
"""

_CODE = re.compile(r"(`[^`]*`)")
_SPECIAL = re.compile(r"([\\*_\[\]|#])")


def markdown_text(text: str) -> str:
    """``text`` on one line, as Markdown that shows as written: outside `code spans`, markup characters
    are escaped (``<``, ``>`` and ``&`` as HTML entities, the others with a backslash)."""
    parts = _CODE.split(" ".join(text.split()))
    return "".join(part if i % 2 else _SPECIAL.sub(r"\\\1", html.escape(part, quote=False))
                   for i, part in enumerate(parts))


def code(text: str) -> str:
    """``text`` as one inline code span (a longer fence where ``text`` holds a backtick)."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _default(action: argparse.Action) -> str:
    if action.nargs == 0:  # a flag: on when given
        return ""
    if action.default in (None, argparse.SUPPRESS):
        return ""
    return code(str(action.default))


def options_table(parser: argparse.ArgumentParser) -> str:
    """One row per declared argument: how it is written, its default and its help, as argparse reads them."""
    formatter = parser._get_formatter()
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        written = formatter._format_action_invocation(action)
        meaning = formatter._expand_help(action) if action.help else ""
        rows.append(f"| {code(written)} | {_default(action)} | {markdown_text(meaning)} |")
    return "\n".join(rows)


def _doc_block(function: Any) -> str:
    """The magic's own docstring (a declared parser keeps it as its description), as a text block."""
    parser = getattr(function, "parser", None)
    doc = inspect.cleandoc(parser.description or "") if parser is not None else inspect.getdoc(function) or ""
    return f"```text\n{doc}\n```" if doc else ""


def magics() -> Iterator[tuple[str, list[str], Any]]:
    """Every registered magic: its name, its forms (``%%name``, ``%name``) and the method that declares it."""
    from nbrag.magics import AREAS

    for area in AREAS:
        names = dict.fromkeys([*area.magics["cell"], *area.magics["line"]])
        for name in names:
            forms = [prefix + name for prefix, kind in (("%%", "cell"), ("%", "line")) if name in area.magics[kind]]
            method_name = area.magics["cell"].get(name) or area.magics["line"][name]
            yield name, forms, getattr(area, method_name)


def settings_table() -> str:
    """``%config NbragMagics.<name> = value``: one row per field of the settings."""
    from nbrag.config import Settings

    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for field in dataclasses.fields(Settings):
        default = "computed" if field.default is dataclasses.MISSING else code(repr(field.default))
        rows.append(f"| {code(field.name)} | {default} | {markdown_text(field.metadata.get('help', ''))} |")
    return "\n".join(rows)


def _nbrag_section(method: Any) -> list[str]:
    from nbrag.magics.retrieve import index_arguments

    return [
        "## `%nbrag` {#nbrag}", "", _doc_block(method), "",
        "`%nbrag` (or `%nbrag info`) prints the models, device and dtype in use and what has been loaded; "
        "`%nbrag config` the settings with their help; `%nbrag help` every magic.", "",
        "### `%nbrag index` {#nbrag-index}", "", _doc_block(index_arguments), "",
        options_table(index_arguments.parser), "",
        "### Settings {#settings}", "",
        "Every field of `nbrag.settings` is a traitlet of `NbragMagics`: `%config NbragMagics.chunk_size = 128` "
        "changes the session default (as `nbrag.configure(chunk_size=128)` does), and a bad value is refused "
        "without changing anything.", "",
        settings_table(), "",
    ]


def reference() -> str:
    """The whole page, in Markdown."""
    lines = [INTRO]
    for name, forms, method in magics():
        if name == "nbrag":
            lines += _nbrag_section(method)
            continue
        title = ", ".join(f"`{form}`" for form in forms)
        lines += [f"## {title} {{#{name}}}", "", _doc_block(method), ""]
        parser = getattr(method, "parser", None)
        if parser is not None:
            lines += [options_table(parser), ""]
    return "\n".join(lines)


def on_files(files: Any, config: Any) -> Any:
    """Add the generated page to the site's files (MkDocs calls this before it reads the nav)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=reference()))
    return files
