"""Entity resolution: which surface names are one entity.

``key(name)`` is the identity of a name in the graph: NFKC, case-folded, whitespace and
hyphens collapsed, a leading "the" and a possessive "'s" dropped, and for lower-case
concepts the plural of the last word made singular ("Weather Stations" stays a name,
"weather stations" and "weather station" are one concept). Names keep their plurals:
"Williams" is not "William".

``aliases(names)`` finds, among the names of one document, the short forms that stand for
a longer name there: a single word that is the last word of exactly one longer name of two
or three capitalised words, as a surname stands for a person ("Lennon" -> "John Lennon"), and an
acronym of one longer name's initials ("BBC" -> "British Broadcasting Corporation").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_SPACE = re.compile(r"[\s\-‐‑‒–—_]+")
_POSSESSIVE = re.compile(r"['’]s?$")
_MINOR = frozenset("of the and for on upon de del della der den des di da do dos du la le van von y al bin ibn".split())


_UNCOUNTED = frozenset("lens means species series news gas chaos corps physics mathematics politics".split())


def _singular(word: str) -> str:
    if len(word) <= 3 or word in _UNCOUNTED or word.endswith(("ss", "us", "is", "ics")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def key(name: str, concept: bool | None = None) -> str:
    """The identity of ``name`` in the graph (see the module docstring); ``concept`` defaults to "all lower case"."""
    text = unicodedata.normalize("NFKC", name).strip()
    concept = text == text.lower() if concept is None else concept
    folded = _SPACE.sub(" ", _POSSESSIVE.sub("", text).casefold()).strip(" .,;:'\"()[]")
    if folded.startswith("the ") and len(folded) > 4:
        folded = folded[4:]
    if concept and folded and folded[-1].isalpha():
        head, _, last = folded.rpartition(" ")
        folded = f"{head} {_singular(last)}".strip()
    return folded


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.split() if w.casefold() not in _MINOR and w[:1].isalpha()).upper()


def aliases(names: Iterable[str]) -> dict[str, str]:
    """Short names of one document mapped to the longer name they stand for there (see the module docstring)."""
    unique = sorted(set(names), key=lambda n: (-len(n.split()), n))
    longer = [n for n in unique if len(n.split()) > 1]
    out: dict[str, str] = {}
    for name in unique:
        words = name.split()
        if len(words) != 1 or len(name) < 2:
            continue
        folded = name.casefold()
        if name.isupper() and 2 <= len(name) <= 6:
            expanded = [n for n in longer if _initials(n) == name]
            if len(expanded) == 1:
                out[name] = expanded[0]
                continue
        ends = {n for n in longer if n.split()[-1].casefold() == folded and len(n.split()) <= 3
                and not any(w.casefold() in _MINOR for w in n.split())}
        # "Lennon" and "John Lennon" or "Julian Lennon": only when a single longer name could be meant
        if len(ends) == 1:
            out[name] = next(iter(ends))
    return out
