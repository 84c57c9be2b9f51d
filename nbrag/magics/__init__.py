"""IPython magics: parse arguments, call the engine, return its result.

``%load_ext nbrag`` registers :class:`NbragMagics`. Every field of
``nbrag.settings`` is a traitlet here, so ``%config NbragMagics.chunk_size = 128``
changes the session default (a bad value is refused and changes nothing).

This module imports only IPython and traitlets; the engine's heavy libraries
load when a magic first needs them.
"""

from __future__ import annotations

import dataclasses
import keyword
from pathlib import Path
from typing import Any

import traitlets
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from nbrag.config import Settings, settings

_TRAITS = {int: traitlets.Int, str: traitlets.Unicode, bool: traitlets.Bool, float: traitlets.Float}


def _settings_traits() -> dict[str, traitlets.TraitType]:
    """One configurable traitlet per settings field, with the field's help."""
    defaults = Settings()
    traits = {}
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        traits[f.name] = _TRAITS[type(value)](value, help=f.metadata.get("help", "")).tag(config=True)
    return traits


def _as_usage_error(error: Exception) -> UsageError:
    return UsageError(str(error).strip() or type(error).__name__)


@magics_class
class NbragMagics(Magics):
    """nbrag's magics; session defaults are the traitlets below (see ``%nbrag config``)."""

    # A class body runs in a plain dict (also under PEP 667), so this defines one
    # traitlet per settings field, named and documented like the field.
    locals().update(_settings_traits())

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)  # applies %config / ipython_config values to settings
        for f in dataclasses.fields(Settings):  # show what the session really uses
            setattr(self, f.name, getattr(settings, f.name))

    @traitlets.validate(*(f.name for f in dataclasses.fields(Settings)))
    def _check_setting(self, proposal: dict[str, Any]) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        try:
            settings.update(**{name: value})
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None
        return value

    # ------------------------------------------------------------------ helpers

    def _store(self, name: str | None, result: Any) -> Any:
        if name:
            self.shell.user_ns[name] = result
        return result

    def _source_text(self, cell: str, file: str | None, var: str | None) -> str:
        given = [what for what, value in (("the cell", cell.strip()), ("--file", file), ("--var", var)) if value]
        if len(given) > 1:
            raise UsageError(f"Text given twice ({' and '.join(given)}): keep one of them.")
        if file:
            try:
                return Path(file).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise UsageError(f"Cannot read --file {file}: {error}") from None
        if var:
            if var not in self.shell.user_ns:
                raise UsageError(f"--var {var}: no variable of that name in this notebook.")
            value = self.shell.user_ns[var]
            if not isinstance(value, str):
                raise UsageError(f"--var {var} holds a {type(value).__name__}, not a str: pass its text.")
            return value
        if not cell.strip():
            raise UsageError("No text to chunk: write it in the cell under %%chunk, or use %chunk --file PATH or --var NAME.")
        return cell

    # ------------------------------------------------------------------ %%chunk

    @magic_arguments()
    @argument("-m", "--method", default="fixed", help="Chunker to use (`%%nbrag` lists them).")
    @argument("--compare", default=None, metavar="A,B,...",
              help="Run these chunkers side by side on the same text (e.g. fixed,recursive,semantic).")
    @argument("-s", "--size", type=int, default=None, help="Chunk size (default: NbragMagics.chunk_size).")
    @argument("--overlap", type=int, default=None, help="Overlap between chunks (default: NbragMagics.chunk_overlap).")
    @argument("--max-size", type=int, default=None, help="semantic: the largest chunk.")
    @argument("--min-size", type=int, default=None, help="semantic: the smallest chunk a similarity cut may leave.")
    @argument("--threshold", type=float, default=None, help="semantic: the cut threshold (see --threshold-type).")
    @argument("--threshold-type", choices=["percentile", "absolute", "std"], default=None,
              help="semantic: percentile of neighbour similarities, absolute similarity, or standard deviations.")
    @argument("--format", choices=["auto", "markdown", "html"], default=None, help="structure: the document's format.")
    @argument("--unit", choices=["token", "char"], default=None, help="Count tokens or characters.")
    @argument("--tokenizer", default=None, help="Tokenizer: a shipped name, a Hugging Face id or a folder.")
    @argument("--endpoint", default=None, metavar="URL",
              help="llm: ask this OpenAI-compatible server (e.g. http://localhost:8000/v1) instead of the generator.")
    @argument("--model", default=None, metavar="NAME", help="llm: the model's name at --endpoint.")
    @argument("--file", default=None, help="Chunk this file's text instead of the cell.")
    @argument("--var", default=None, help="Chunk the str held by this variable instead of the cell.")
    @argument("-o", "--output", default=None, help="Store the ChunkResult in this variable.")
    @line_cell_magic
    def chunk(self, line: str, cell: str | None = None) -> Any:
        """Chunk text and show the chunk boundaries.

        %%chunk --size 64 --overlap 8     (the text in the cell below)
        %chunk --var doc --size 64         (the text of a variable, or --file PATH)
        """
        args = parse_argstring(self.chunk, line)
        _check_name(args.output)
        text = self._source_text(cell or "", args.file, args.var)
        given = {"size": args.size, "overlap": args.overlap, "max_size": args.max_size, "min_size": args.min_size,
                 "threshold": args.threshold, "threshold_type": args.threshold_type, "format": args.format,
                 "unit": args.unit,
                 "tokenizer": args.tokenizer, "endpoint": args.endpoint, "model": args.model}
        options = {k: v for k, v in given.items() if v is not None}
        asked = [m.strip() for m in (args.compare or args.method).split(",")]
        if ("endpoint" in options or "model" in options) and "llm" not in asked:
            raise UsageError("--endpoint and --model are options of the llm chunker: add -m llm (or llm to --compare).")
        from nbrag.chunking import chunk, compare
        from nbrag.endpoints import EndpointError
        from nbrag.models import ModelUnavailableError

        try:
            if args.compare is not None:
                methods = [m.strip() for m in args.compare.split(",") if m.strip()]
                result = compare(text, methods, **options)
            else:
                result = chunk(text, method=args.method, **options)
        except (ValueError, TypeError, ModelUnavailableError, EndpointError) as error:
            raise _as_usage_error(error) from None
        return self._store(args.output, result)

    # ------------------------------------------------------------------ %nbrag

    @line_magic
    def nbrag(self, line: str) -> None:
        """%nbrag [info|config|help]: models and devices in use, settings, the magics."""
        from nbrag.magics import info

        command = line.strip() or "info"
        commands = {"info": info.info, "config": info.config, "help": lambda: info.usage(self)}
        if command not in commands:
            raise UsageError(f"Unknown %nbrag command {command!r}. Available: {', '.join(commands)}.")
        print(commands[command]())


def _check_name(name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"-o {name!r} is not a valid Python variable name.")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(NbragMagics(shell=ipython))
