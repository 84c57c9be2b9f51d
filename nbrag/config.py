"""Settings: one object read by the engine, exposed to notebooks by the magics.

``nbrag.settings`` holds the session's defaults. ``nbrag.configure(...)`` changes
them after validating every value; a rejected change leaves the old settings as
they were. The magics mirror each field as a traitlet, so
``%config NbragMagics.chunk_size = 128`` reaches the same object.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbrag.errors import NbragError, NbragTypeError, renamed, whole_number

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
UNITS = ("token", "char")
BM25_BACKENDS = ("bm25s", "bm25s:robertson", "bm25s:bm25l", "bm25s:bm25+")  # bm25s: Lucene's BM25
BM25_RENAMED = {"rank_bm25:okapi": "bm25s:robertson", "rank_bm25:l": "bm25s:bm25l", "rank_bm25:plus": "bm25s:bm25+"}
# The Snowball stemmers (PyStemmer's algorithms; "porter" and "dutch_porter" are older variants of English and
# Dutch) and the ISO 639-1 codes that name them. BM25's language is one of these, "auto" or "none".
SNOWBALL = ("arabic", "armenian", "basque", "catalan", "czech", "danish", "dutch", "dutch_porter", "english",
            "esperanto", "estonian", "finnish", "french", "german", "greek", "hindi", "hungarian", "indonesian",
            "irish", "italian", "lithuanian", "nepali", "norwegian", "persian", "polish", "porter", "portuguese",
            "romanian", "russian", "serbian", "sesotho", "spanish", "swedish", "tamil", "turkish", "yiddish")
LANGUAGE_CODES = {"ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
                  "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
                  "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
                  "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "fa": "persian",
                  "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
                  "st": "sesotho", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish"}
LANGUAGES = ("auto", "none", *SNOWBALL)


def language_name(language: object, option: str = "language") -> str:
    """``language`` as one of :data:`LANGUAGES`: case and spaces ignored, an ISO 639-1 code (``"de"``) becomes its
    name (``"german"``)."""
    if not isinstance(language, str):
        raise NbragTypeError(f"a {type(language).__name__}: give a language name as a str, e.g. 'english'.",
                             option=option, value=language)
    name = language.strip().lower()
    name = LANGUAGE_CODES.get(name, name)
    if name not in LANGUAGES:
        raise NbragError(f"not a language BM25 can analyze. Choose auto (detect each document's), none (no "
                         f"stemming: code, identifiers), a Snowball language ({', '.join(SNOWBALL)}) or its ISO "
                         "639-1 code (en, de, fr, ...).", option=option, value=language)
    return name


def _default_data_dir() -> str:
    env = os.environ.get("NBRAG_HOME")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache) / "nbrag")


def _default_device() -> str:
    """``$NBRAG_DEVICE`` where it is set (a GPU check forces CUDA, or the CPU, this way), else ``auto``."""
    env = os.environ.get("NBRAG_DEVICE", "").strip()
    if not env:
        return "auto"
    if env not in DEVICES:
        raise NbragError(f"choose one of {', '.join(DEVICES)}, or unset the environment variable.",
                         option="NBRAG_DEVICE", value=env)
    return env


@dataclass
class Settings:
    embedder: str = field(
        default="all-MiniLM-L6-v2",
        metadata={"help": "Embedding model: a name nbrag ships, a Hugging Face id or a local folder."},
    )
    generator: str = field(
        default="SmolLM2-135M-Instruct",
        metadata={"help": "Generator (causal LM): a name nbrag ships, a Hugging Face id or a local folder."},
    )
    tokenizer: str = field(
        default="",
        metadata={"help": "Tokenizer that counts chunk sizes; empty means the embedder's tokenizer."},
    )
    device: str = field(
        default_factory=_default_device,
        metadata={"help": f"Where models run: one of {', '.join(DEVICES)} (auto: CUDA, then MPS, then CPU); "
                          "$NBRAG_DEVICE overrides the default."},
    )
    dtype: str = field(
        default="auto",
        metadata={"help": f"Model dtype: one of {', '.join(DTYPES)} (auto: bfloat16 on GPUs that have it, else "
                          "float32)."},
    )
    data_dir: str = field(
        default_factory=_default_data_dir,
        metadata={"help": "Folder for nbrag's caches (converted models, indexes); $NBRAG_HOME overrides the default."},
    )
    chunk_size: int = field(default=256, metadata={"help": "Default chunk size, in units of chunk_unit."})
    chunk_overlap: int = field(default=32, metadata={"help": "Default overlap between neighbouring chunks."})
    chunk_unit: str = field(
        default="token", metadata={"help": f"What chunk sizes count: one of {', '.join(UNITS)}."}
    )
    top_k: int = field(default=5, metadata={"help": "Hits a search returns by default."})
    query_threads: int = field(default=1, metadata={
        "help": "Threads that embed one search query (0: the libraries' defaults, one per core). One is as fast on "
                "idle cores and keeps a search's latency steady while other processes hold cores."})
    bm25: str = field(default="bm25s", metadata={
        "help": f"BM25 backend of new indexes: one of {', '.join(BM25_BACKENDS)} (bm25s's Lucene, Robertson, "
                "BM25L and BM25+ scoring)."})
    language: str = field(default="auto", metadata={
        "help": "BM25's analyzer for new indexes: auto (Snowball stemming in each document's detected language), "
                "none (whole words: code, identifiers) or a Snowball language such as english, german, french "
                "(or its ISO code: en, de, fr). An index keeps the language it was built with."})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "str" and not isinstance(value, str):
                raise NbragTypeError("give a str.", option=f.name, value=value)
        if self.bm25 in BM25_RENAMED:  # rank-bm25's names, served by bm25s now
            renamed(f"the BM25 backend {self.bm25!r}", repr(BM25_RENAMED[self.bm25]))
            self.bm25 = BM25_RENAMED[self.bm25]
        for name, allowed in (("device", DEVICES), ("dtype", DTYPES), ("chunk_unit", UNITS), ("bm25", BM25_BACKENDS)):
            value = getattr(self, name)
            if value not in allowed:
                raise NbragError(f"choose one of {', '.join(allowed)}.", option=name, value=value)
        self.language = language_name(self.language)
        for name in ("embedder", "generator"):
            if not getattr(self, name).strip():
                raise NbragError("empty: give a model name, a Hugging Face id or a local folder.", option=name,
                                 value=getattr(self, name))
        whole_number(self.top_k, "top_k")
        whole_number(self.query_threads, "query_threads", 0, " (0: the libraries' defaults)")
        whole_number(self.chunk_size, "chunk_size")
        if whole_number(self.chunk_overlap, "chunk_overlap", 0) >= self.chunk_size:
            raise NbragError(f"must be at least 0 and smaller than chunk_size={self.chunk_size}: lower the overlap "
                             "or raise the size.", option="chunk_overlap", value=self.chunk_overlap)

    @property
    def chunk_tokenizer(self) -> str:
        """The tokenizer that counts chunk sizes (the embedder's unless set)."""
        return self.tokenizer or self.embedder

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, **changes: Any) -> None:
        """Change fields together; on a bad value nothing changes."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise NbragError(f"unknown setting(s) {', '.join(unknown)}. Available: {known}.")
        checked = dataclasses.replace(self, **changes)  # runs __post_init__
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(checked, f.name))


def help_of(name: str) -> str:
    for f in dataclasses.fields(Settings):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)


settings = Settings()


def configure(**changes: Any) -> Settings:
    """Change nbrag's session settings, e.g. ``nbrag.configure(chunk_size=128)``."""
    settings.update(**changes)
    return settings
