"""What an index reads and stores: documents given in Python or as files, and chunk metadata in the flat
form Chroma keeps.

Chroma stores scalars only, so :func:`flat` keeps a chunk's scalar metadata, writes spans
(``{"start", "end"}``) as ``X_start`` / ``X_end`` and anything else as JSON; :func:`unflat`
gives the chunker's metadata back.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from nbrag.errors import MissingExtraError, NbragError, NbragTypeError, readable

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = (*TEXT_SUFFIXES, *HTML_SUFFIXES, ".pdf")
POSITION = ("document", "start", "end", "tokens", "chunk")  # what the index adds to a chunk's metadata


def digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def flat(meta: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Chunk metadata as Chroma stores it: scalars kept, spans as _start/_end, the rest as JSON."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool)):
            out[key] = value
        elif isinstance(value, Mapping) and set(value) == {"start", "end"}:
            out[f"{key}_start"], out[f"{key}_end"] = int(value["start"]), int(value["end"])
        elif value is not None:
            out[key] = json.dumps(value, ensure_ascii=False)
    return out


def unflat(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The chunker's metadata from what Chroma stored (:func:`flat` undone), less the index's own keys."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key in POSITION:
            continue
        if key.endswith("_start") and f"{key[:-6]}_end" in meta:
            out[key[:-6]] = {"start": int(value), "end": int(meta[f"{key[:-6]}_end"])}
        elif key.endswith("_end") and f"{key[:-4]}_start" in meta:
            continue
        elif isinstance(value, str) and value[:1] in "[{":
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


class _Text(HTMLParser):
    """The text of an HTML page, without scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in {"script", "style"}
        if tag in {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in {"script", "style"} and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def read_document(path: Path) -> str:
    """The text of a txt/md/html file, or of a PDF when pypdf is installed."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return path.read_text(encoding="utf-8")
    if suffix in HTML_SUFFIXES:
        parser = _Text()
        parser.feed(path.read_text(encoding="utf-8"))
        return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip() + "\n"
    if suffix == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            raise MissingExtraError("reading PDFs needs pypdf, which is not installed: run pip install pypdf, or "
                                    "convert the file to text.", option="path", value=str(path)) from None
        return "\n\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    raise NbragError(f"nbrag reads {', '.join(SUFFIXES)} files, not {suffix or 'files without a suffix'}.",
                     option="path", value=str(path))


@dataclass
class IngestReport:
    """What one ``add`` did: documents seen, chunks embedded, kept as they were, and removed."""

    documents: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)  # id -> the file it came from before, if another

    def __repr__(self) -> str:
        skipped = f", skipped {len(self.skipped)} files" if self.skipped else ""
        replaced = ""
        if self.replaced:
            names = ", ".join(f"{d} (was {w})" if w else d for d, w in list(self.replaced.items())[:5])
            more = f" and {len(self.replaced) - 5} more" if len(self.replaced) > 5 else ""
            replaced = f", replaced {len(self.replaced)}: {names}{more}"
        return (f"IngestReport({self.documents} documents: {self.added} chunks embedded, {self.unchanged} unchanged, "
                f"{self.removed} removed{skipped}{replaced}, {self.seconds:.1f} s)")


def as_documents(texts: Any, ids: Iterable[str] | None) -> dict[str, str]:
    """Documents by id from a str, a list of str, a dict id -> text, or a DataFrame with a ``text`` column
    (and ``id`` or ``_id``); ids default to a hash of the text."""
    if hasattr(texts, "columns"):  # a DataFrame
        if "text" not in texts.columns:
            raise NbragError(f"a DataFrame without a 'text' column (it has {', '.join(map(str, texts.columns))}): "
                             "name the column of the documents' text 'text'.", option="texts")
        id_column = next((c for c in ("id", "_id") if c in texts.columns), None)
        ids = list(texts[id_column].astype(str)) if id_column and ids is None else ids
        texts = list(texts["text"])
    if ids is not None and (isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable)):
        raise NbragTypeError("give a list of ids, one str per text (or leave ids out to have them made from the "
                             "texts).", option="ids", value=ids)
    if isinstance(texts, Mapping):
        pairs = list(texts.items())
    else:
        if not isinstance(texts, (str, Iterable)):
            raise NbragTypeError(f"a {type(texts).__name__}: Index.add takes a str, a list of str, a dict id -> text "
                                 "or a DataFrame with a 'text' column.", option="texts")
        texts = [texts] if isinstance(texts, str) else list(texts)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise NbragTypeError(f"holds a {bad[0]}: Index.add takes text (str); read files with add_files().",
                                 option="texts")
        names = [str(i) for i in ids] if ids is not None else [f"doc-{digest(t)}" for t in texts]
        if len(names) != len(texts):
            raise NbragError(f"{len(names)} ids for {len(texts)} texts: give one id per text.", option="ids")
        pairs = list(zip(names, texts))
    documents: dict[str, str] = {}
    for position, (doc_id, text) in enumerate(pairs):
        if not isinstance(text, str):
            raise NbragTypeError(f"the text of {doc_id!r} is a {type(text).__name__}: give each text as a str.",
                                 option="texts")
        readable(text, "texts", what=f"the text of {str(doc_id)!r}")
        if not str(doc_id).strip():
            raise NbragError(f"text {position} has an empty id: give each document a name.", option="ids")
        readable(str(doc_id), "ids")
        if str(doc_id) in documents and (ids is not None or documents[str(doc_id)] != text):
            first = [str(i) for i, _ in pairs].index(str(doc_id))
            raise NbragError(f"the id {str(doc_id)!r} is given twice (texts {first} and {position}): one id per "
                             "document, or leave ids out to have them made from the texts.", option="ids")
        documents[str(doc_id)] = text
    return documents

