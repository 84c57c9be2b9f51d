"""What every area's magics share: reading the text, the query, variables and the index, and one
way to turn the engine's :class:`~nbrag.errors.NbragError` into a one-line ``UsageError``.

An area's magics subclass :class:`AreaMagics`; a magic parses its line with :meth:`AreaMagics.parse`,
reads its input with :meth:`text` / :meth:`query` / :meth:`variable`, calls the engine inside
:meth:`engine`, and returns the result, stored in ``-o NAME`` by :meth:`store`.

Only ``NbragError`` (a person's mistake, which the engine names) and argument errors become
usage errors: any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics
from IPython.core.magic_arguments import parse_argstring

from nbrag.errors import NbragError

_QUERY = re.compile(r"(?:^|\s)--query(?:\s+|=)(.*)$", re.DOTALL)


@dataclass
class Session:
    """What the magics of one notebook share: the indexes built with ``%nbrag index``, by name."""

    indexes: dict[str, Any] = field(default_factory=dict)
    current_index: Any = None  # the last of them: what %%retrieve, %%graphrag and %%ask use by default


def split_query(line: str) -> tuple[str, str | None]:
    """The options and the query of a line: everything after ``--query`` is the query, taken as written."""
    match = _QUERY.search(line)
    if match is None:
        return line, None
    return line[:match.start()], unquote(match.group(1).strip())


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def check_name(name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"-o {name!r} is not a valid Python variable name.")


def flag_of(method: Any, option: str | None) -> str | None:
    """The magic's flag for an engine keyword (``max_tokens`` -> ``--max-tokens``), or None."""
    parser = getattr(method, "parser", None)
    if parser is None or option is None:
        return None
    for action in parser._actions:
        if action.dest == option and action.option_strings:
            return max(action.option_strings, key=len)
    return None


def usage(error: NbragError, method: Any = None, prefix: str = "") -> UsageError:
    """``error`` as one line, headed by the magic's own flag where the option is one of them."""
    message = error.render(flag_of(method, error.option)).strip() or type(error).__name__
    return UsageError(prefix + message)


class AreaMagics(Magics):
    """The base of each area's magics (see the module's docstring)."""

    def __init__(self, shell: Any = None, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = session if session is not None else Session()

    # ------------------------------------------------------------------ arguments

    def parse(self, method: Any, line: str) -> Any:
        """``line`` parsed by ``method``'s declared arguments; ``-o`` checked to be a variable name."""
        try:
            args = parse_argstring(method, line)
        except ValueError as error:  # shlex: a quote opened and never closed, or a backslash at the end
            raise UsageError(f"Cannot read the options ({error}): close each quote you open, e.g. "
                             "--file 'my notes.txt'.") from None
        check_name(getattr(args, "output", None))
        return args

    def store(self, name: str | None, result: Any) -> Any:
        if name:
            self.shell.user_ns[name] = result
        return result

    @contextlib.contextmanager
    def engine(self, method: Any = None, prefix: str = "") -> Iterator[None]:
        """Run engine code: an :class:`NbragError` becomes a one-line ``UsageError`` naming ``method``'s flag."""
        try:
            yield
        except NbragError as error:
            raise usage(error, method, prefix) from None

    def call(self, method: Any, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` inside :meth:`engine`."""
        with self.engine(method):
            return function(*args, **kwargs)

    # ------------------------------------------------------------------ input

    def variable(self, name: str, option: str) -> Any:
        if name not in self.shell.user_ns:
            raise UsageError(f"{option} {name}: no variable of that name in this notebook.")
        return self.shell.user_ns[name]

    def text_variable(self, name: str, option: str = "--var") -> str:
        value = self.variable(name, option)
        if not isinstance(value, str):
            raise UsageError(f"{option} {name} holds a {type(value).__name__}, not a str: pass its text.")
        return value

    def text(self, cell: str | None, *, what: str, where: str, file: str | None = None, var: str | None = None,
             query: str | None = None) -> str:
        """The one text a magic reads: the cell, ``--query`` (the rest of the line), ``--file`` or ``--var``.

        ``what`` names it in messages ("text to chunk"); ``where`` says how to give it.
        """
        given = [name for name, value in (("the cell", (cell or "").strip()), ("--query", query), ("--file", file),
                                          ("--var", var)) if value]
        if len(given) > 1:
            raise UsageError(f"{what[0].upper()}{what[1:]} given twice ({' and '.join(given)}): keep one of them.")
        if file:
            try:
                return Path(unquote(file)).expanduser().read_text(encoding="utf-8")
            except (OSError, ValueError) as error:  # ValueError: not UTF-8, or a NUL in the path
                raise UsageError(f"Cannot read --file {file}: {error}") from None
        if var:
            return self.text_variable(var)
        text = cell if (cell or "").strip() else query
        if not (text or "").strip():
            raise UsageError(f"No {what}: {where}.")
        return text or ""

    def query(self, line: str, cell: str | None) -> tuple[str, str]:
        """The options of the line and the query: the cell, or the rest of the line after ``--query``."""
        options, from_line = split_query(line)
        body = (cell or "").strip()
        if body and from_line:
            raise UsageError("Query given twice (the cell and --query): keep one of them.")
        return options, body or (from_line or "")

    def model_value(self, name: str | None) -> Any:
        """``--model``: the value of a variable of that name holding ``(model, tokenizer)`` or a name, else the
        name as given (``tiny:llama``, a packaged or Hugging Face model); None for the configured one."""
        if name is None or not name.isidentifier() or name not in self.shell.user_ns:
            return name
        value = self.shell.user_ns[name]
        if isinstance(value, tuple) and len(value) != 2:
            raise UsageError(f"--model {name} holds a tuple of {len(value)} items: store (model, tokenizer) in it.")
        if isinstance(value, str | tuple) or type(value).__name__ == "Loaded":
            return value
        if hasattr(value, "config") and callable(value):
            raise UsageError(f"--model {name} holds a model without its tokenizer: store both, e.g. "
                             f"{name}_pair = ({name}, tokenizer), and give --model {name}_pair.")
        raise UsageError(f"--model {name} holds a {type(value).__name__}: give a variable that holds (model, "
                         "tokenizer), or a model's name (tiny:llama, SmolLM2-135M-Instruct, a Hugging Face id or a "
                         "folder).")

    def generator_value(self, name: str | None) -> Any:
        """``--generator``: a variable holding ``(model, tokenizer)``, a ``complete(messages)`` function or an
        ``nbrag.llm.Generator``; else the name as given (a Hugging Face id); None for the configured one."""
        if name is None:
            return None
        value = self.shell.user_ns.get(name) if name.isidentifier() else None
        if value is not None and (callable(value) or isinstance(value, tuple) or hasattr(value, "complete")):
            return value
        return name

    def index(self, name: str | None) -> Any:
        """The index ``--index`` names: a variable holding one, one built this session, or one on disk."""
        if name is None:
            if self.session.current_index is None:
                raise UsageError("No index to search: build one with %nbrag index PATH, or give --index NAME "
                                 "(a variable holding an nbrag.Index, or an index's name).")
            return self.session.current_index
        from nbrag.config import settings
        from nbrag.retrieval import Index

        value = self.shell.user_ns.get(name)
        if isinstance(value, Index):
            return value
        if name in self.session.indexes:
            return self.session.indexes[name]
        if (Path(settings.data_dir) / "indexes" / name).is_dir():
            with self.engine(prefix=f"--index {name}: "):
                return Index(name)
        held = f" (the variable {name} holds a {type(value).__name__}, not an nbrag.Index)" if value is not None else ""
        raise UsageError(f"--index {name}: no such index{held}. Build it with %nbrag index PATH --name {name}, "
                         "or pass a variable that holds an nbrag.Index.")
