"""Griffe extension for the API pages: nbrag's docstrings name objects with reST roles
(``:class:`~nbrag.Index```, ``:func:`attention```) and end a line with ``::`` before an example;
in Markdown those become inline code (the last dotted part where the name starts with ``~``) and
a plain colon."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"::$", re.MULTILINE)


def markdown(docstring: str) -> str:
    def role(match: re.Match[str]) -> str:
        short, name = match.groups()
        return f"`{name.rsplit('.', 1)[-1] if short else name}`"

    return _LITERAL.sub(":", _ROLE.sub(role, docstring))


class ReSTRoles(griffe.Extension):
    """Rewrite each docstring as it is loaded (static analysis: nothing is imported)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
