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

A mistake in what is asked (a layer the model lacks, a text over ``max_tokens``, a model that
cannot do what the inspector needs) raises :class:`~nbrag.errors.NbragError` naming the keyword
(``option=``), so ``%%attention`` and friends show it with their own flag.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbrag.errors import ModelUnavailableError, NbragError, NbragTypeError, readable
from nbrag.models import model_name

if TYPE_CHECKING:  # pragma: no cover
    import torch


TRY_TINY = "For a model that needs nothing installed, try tiny:llama (tiny:<family>, random weights)."


class NoAttentionWeightsError(NbragError, RuntimeError):
    """The model ran but returned no attention weights; the message says why and what to try."""


class NoExpertsError(NbragError):
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
            raise NbragTypeError("goes with a model object; a model given by name brings its own tokenizer.",
                                 option="tokenizer")
        return _load_by_name(model)
    if isinstance(model, tuple):
        if len(model) != 2:
            raise NbragTypeError(f"a tuple of {len(model)} items: give (model, tokenizer).", option="model")
        model, tokenizer = model
    if not hasattr(model, "config") or not callable(model):
        raise NbragTypeError(f"a {type(model).__name__} is not a Hugging Face model: give a name, a (model, "
                             "tokenizer) pair, or a transformers PreTrainedModel with its tokenizer.", option="model")
    if tokenizer is None:
        raise NbragTypeError(f"{type(model).__name__} was given without its tokenizer: pass (model, tokenizer); the "
                             "inspectors need one to turn text into tokens with their offsets.", option="model")
    return Loaded(model, tokenizer, model_name(model))


def _load_by_name(name: str | None) -> Loaded:
    """A model by name; a name that loads nothing raises an error naming it (as ``model=``)."""
    from nbrag.config import settings
    from nbrag.models import EMBEDDERS, load_generator

    if name is not None and name.startswith("tiny:"):
        from nbrag.inspectors.tiny import tiny_model

        try:
            model, tok, note = tiny_model(name.removeprefix("tiny:"))
        except NbragError as error:
            raise NbragError(error.message, option="model", value=name) from None
        return Loaded(model, tok, name, [note])
    try:
        if name in EMBEDDERS:
            return _load_encoder(name)
        model, tok = load_generator(name or settings.generator)
    except ModelUnavailableError as error:
        named = {} if name is None else {"option": "model", "value": name}  # None: the configured generator
        raise ModelUnavailableError(f"{error.message} {TRY_TINY}", **named) from error
    return Loaded(model, tok, name or settings.generator)


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


def family(model: Any) -> str:
    """The model's family as transformers names it (``config.model_type``: llama, mixtral, ...)."""
    return str(getattr(model.config, "model_type", "") or type(model).__name__)


def text_config(model: Any) -> Any:
    """The config that describes the language model (a multimodal model's text part)."""
    config = model.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def counts(model: Any) -> tuple[int, int] | None:
    """``(layers, query heads per layer)`` as the model's config states them, or None where it does not."""
    config = text_config(model)
    layers, heads = getattr(config, "num_hidden_layers", None), getattr(config, "num_attention_heads", None)
    return (int(layers), int(heads)) if isinstance(layers, int) and isinstance(heads, int) else None


def is_tiny(name: str, notes: list[str] | None = None) -> bool:
    """Whether a result comes from a tiny random-weight model (``tiny:llama``, ``tiny-llama``, or its note)."""
    return str(name).startswith(("tiny:", "tiny-")) or any("random weights" in n for n in notes or [])


def encode(tokenizer: Any, text: str, max_tokens: int | None = None, what: str = "text") -> Encoded:
    """Tokenize ``text`` with offsets; a Hugging Face fast tokenizer or a ``tokenizers.Tokenizer``.

    Raises :class:`NbragError` for empty text (naming ``what``, the keyword that gave it), a
    tokenizer without offsets, or more than ``max_tokens`` tokens.
    """
    import torch

    if not isinstance(text, str):
        raise NbragTypeError(f"needs a str, got {type(text).__name__}: give the text for the model to read.",
                             option=what, value=text)
    if not text.strip():
        raise NbragError("empty: give at least one word for the model to read.", option=what, value=text)
    readable(text, what)
    if max_tokens is not None:
        at_least(max_tokens, 1, "max_tokens", f"the {what} needs room for at least one token.")
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        enc = tokenizer.encode(text)
        ids, tokens, offsets = list(enc.ids), list(enc.tokens), [tuple(o) for o in enc.offsets]
    else:
        if not getattr(tokenizer, "is_fast", False):
            raise NbragTypeError(f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer, so it gives no "
                                 "character offsets; load the model's fast tokenizer "
                                 "(AutoTokenizer.from_pretrained(..., use_fast=True)).", option="tokenizer")
        enc = tokenizer(text, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        tokens = tokenizer.convert_ids_to_tokens(ids)
        offsets = [tuple(o) for o in enc["offset_mapping"]]
    if not ids:
        raise NbragError("gives no tokens: give at least one word for the model to read.", option=what,
                         value=text[:40])
    if max_tokens is not None and len(ids) > max_tokens:
        raise NbragError(f"the {what} is {len(ids)} tokens long, over this limit. Raise it to {len(ids)} if memory "
                         f"allows, or give a window of the {what} (its first {max_tokens} tokens end at character "
                         f"{offsets[max_tokens - 1][1]}).", option="max_tokens", value=max_tokens)
    return Encoded(torch.tensor([ids], dtype=torch.long), tokens, [(int(a), int(b)) for a, b in offsets])


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Run with dropout off and no gradients; a model in training mode is put back in it after."""
    import torch

    was_training = bool(getattr(model, "training", False))
    modules = getattr(model, "modules", None)
    # eval() sets every module's flag, slower than reading them: only when one is in training mode
    if was_training or modules is None or any(m.training for m in modules()):
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


def at_least(value: int, least: int, option: str, message: str) -> int:
    """``value`` if it is a whole number of at least ``least``; else an :class:`NbragError` naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NbragTypeError(f"give a whole number of at least {least}.", option=option, value=value)
    if value < least:
        raise NbragError(message, option=option, value=value)
    return value


def check_index(value: int, count: int, what: str, *, option: str | None = None, owner: str = "this model") -> int:
    """``value`` as an index below ``count`` (negative counts from the end), or an :class:`NbragError` naming
    ``option`` and the range: ``check_index(7, 2, "layers", option="layer")`` -> ``layer=7: out of range: this
    model has 2 layers; give 0 to 1, or -2 to -1 from the end.``"""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NbragTypeError("give a whole number (0 is the first; negative numbers count from the end).",
                             option=option, value=value)
    if not -count <= value < count:
        raise NbragError(f"out of range: {owner} has {count} {what}; give 0 to {count - 1}, or -{count} to -1 from "
                         "the end.", option=option, value=value)
    return value % count
