"""Inspector types: which model to look inside, its tokens with their offsets, and the errors.

Every inspector (``attention``, ``kv_cache``, ``routing``) takes ``model=``:

* ``None``: the configured generator (``SmolLM2-135M-Instruct`` by default, offline);
* a name: ``"tiny:<family>"`` builds a tiny random-weight model (:func:`nbrag.inspectors.tiny_model`),
  ``"all-MiniLM-L6-v2"`` the packaged embedder's encoder, anything else goes to
  :func:`nbrag.models.load_generator` (a packaged generator, a Hugging Face id or a local folder);
* a ``(model, tokenizer)`` pair, as :func:`nbrag.models.load_generator` returns it;
* a model object, with ``tokenizer=`` given separately.

Inputs are always built from text by a fast tokenizer, so every token carries its exact
character span in the text (special tokens such as ``[CLS]`` have an empty span).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


class NoAttentionWeightsError(RuntimeError):
    """The model ran but returned no attention weights; the message says why and what to try."""


class NoExpertsError(ValueError):
    """The model has no mixture-of-experts layers to route through; the message names models that have."""


@dataclass
class Loaded:
    """A model ready to inspect: the model, its tokenizer, a name to show, and what was done to get it."""

    model: Any
    tokenizer: Any
    name: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Encoded:
    """A text as the model reads it: ids (a ``[1, n]`` tensor), token strings, character offsets."""

    ids: torch.Tensor
    tokens: list[str]
    offsets: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.tokens)


def load(model: Any = None, tokenizer: Any = None) -> Loaded:
    """Resolve the ``model=`` argument of an inspector (see the module's docstring)."""
    if isinstance(model, Loaded):
        return model
    if model is None or isinstance(model, str):
        if tokenizer is not None:
            raise TypeError("tokenizer= goes with a model object; a model given by name brings its own tokenizer.")
        return _load_by_name(model)
    if isinstance(model, tuple):
        if len(model) != 2:
            raise TypeError(f"model= as a tuple must be (model, tokenizer), got {len(model)} items.")
        model, tokenizer = model
    if not hasattr(model, "config") or not callable(model):
        raise TypeError(f"model={type(model).__name__} is not a Hugging Face model: give a name, a (model, tokenizer) "
                        "pair, or a transformers PreTrainedModel with tokenizer=.")
    if tokenizer is None:
        raise TypeError(f"{type(model).__name__} was given without its tokenizer: pass (model, tokenizer) or "
                        "tokenizer=; the inspectors need one to turn text into tokens with their offsets.")
    return Loaded(model, tokenizer, model_name(model))


def _load_by_name(name: str | None) -> Loaded:
    from nbrag.config import settings
    from nbrag.models import EMBEDDERS, load_generator

    if name is not None and name.startswith("tiny:"):
        from nbrag.inspectors.tiny import tiny_model

        model, tok, note = tiny_model(name.removeprefix("tiny:"))
        return Loaded(model, tok, name, [note])
    if name in EMBEDDERS:
        return _load_encoder(name)
    name = name or settings.generator
    model, tok = load_generator(name)
    return Loaded(model, tok, name)


def _load_encoder(name: str) -> Loaded:
    """A packaged embedder's transformer (no pooling), with its tokenizer; loaded eager: it returns weights."""
    from transformers import AutoModel, AutoTokenizer

    from nbrag.models import EMBEDDERS, _cached, _quiet_loading, _unavailable

    entry = EMBEDDERS[name]
    folder = entry.locate()
    if folder is None:
        raise _unavailable("embedder", name, entry, None)

    def build():
        with _quiet_loading():
            tok = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModel.from_pretrained(str(folder), attn_implementation="eager")
        return model.eval(), tok

    model, tok = _cached("encoder", name, build)
    return Loaded(model, tok, name)


def model_name(model: Any) -> str:
    path = getattr(model, "name_or_path", "") or getattr(getattr(model, "config", None), "_name_or_path", "")
    return str(path).rstrip("/").rsplit("/", 1)[-1] or type(model).__name__


def family(model: Any) -> str:
    """The model's family as transformers names it (``config.model_type``: llama, mixtral, ...)."""
    return str(getattr(model.config, "model_type", "") or type(model).__name__)


def encode(tokenizer: Any, text: str, max_tokens: int | None = None, what: str = "text") -> Encoded:
    """Tokenize ``text`` with offsets; a Hugging Face fast tokenizer or a ``tokenizers.Tokenizer``.

    Raises ``ValueError`` for empty text, a tokenizer without offsets, or more than ``max_tokens`` tokens.
    """
    import torch

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"The {what} is empty: give at least one word for the model to read.")
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        enc = tokenizer.encode(text)
        ids, tokens, offsets = list(enc.ids), list(enc.tokens), [tuple(o) for o in enc.offsets]
    else:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer, so it gives no character "
                             "offsets; load the model's fast tokenizer "
                             "(AutoTokenizer.from_pretrained(..., use_fast=True)).")
        enc = tokenizer(text, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        tokens = tokenizer.convert_ids_to_tokens(ids)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
    if not ids:
        raise ValueError(f"The {what} gave no tokens: {text[:40]!r}.")
    if max_tokens is not None and len(ids) > max_tokens:
        raise ValueError(f"The {what} is {len(ids)} tokens long, over max_tokens={max_tokens}. Raise the limit "
                         f"(max_tokens={len(ids)}) if memory allows, or give a window of the {what} "
                         f"(e.g. the first {max_tokens} tokens end at character {offsets[max_tokens - 1][1]}).")
    return Encoded(torch.tensor([ids], dtype=torch.long), tokens, [(int(a), int(b)) for a, b in offsets])


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Run with dropout off and no gradients; a model in training mode is put back in it after."""
    import torch

    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def device_of(model: Any) -> torch.device:
    import torch

    return getattr(model, "device", None) or next(model.parameters()).device or torch.device("cpu")


def jsonable(value: Any) -> Any:
    """numpy arrays and scalars, tuples and dataclasses turned into plain JSON-able values."""
    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def check_index(value: int, count: int, what: str) -> int:
    """``value`` as an index below ``count`` (negative counts from the end), or a ValueError naming the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}.")
    if not -count <= value < count:
        raise ValueError(f"{what} {value} is out of range: this model has {count} (valid: 0 to {count - 1}, "
                         f"or -{count} to -1 from the end).")
    return value % count
