"""Generators for RAG: a local Hugging Face chat model, an OpenAI-compatible endpoint, or a callable.

:func:`resolve_generator` reads the options that ``ask`` and ``agent`` share:

* ``generator=None``: the configured offline generator (``settings.generator``, SmolLM2 by default);
  a Hugging Face model id or local folder; or a loaded ``(model, tokenizer)`` pair;
* ``endpoint="http://host:port/v1", model="NAME"`` (``api_key=``, ``timeout=``): an
  OpenAI-compatible chat-completions server, through :mod:`nbrag.endpoints`;
* ``generator=complete``, any callable ``complete(messages) -> str``: a client of your own.

Each gives the same small interface: ``complete(messages, max_new_tokens, stream)`` returns a
:class:`Completion` with the exact text the model saw (for a local model the chat template applied
to the messages) and the tokens it read and wrote; ``count`` and ``cut`` measure text in that
model's tokens (the embedder's tokenizer stands in where the model's is not known).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbrag.endpoints import DEFAULT_TIMEOUT, chat_completions_url, check_endpoint_options, openai_chat

Messages = list[dict[str, str]]
MESSAGE_OVERHEAD = 4  # tokens a chat format adds per message (role markers), where the template is unknown


@dataclass
class Completion:
    text: str
    prompt: str  # the exact text the model read (local: chat template applied; else the messages as sent)
    prompt_tokens: int
    completion_tokens: int
    seconds: float


class Generator:
    """What ``ask`` and ``agent`` need from a model."""

    name = "generator"
    context_length: int | None = None  # tokens the model reads at most, where known
    counted_with = ""  # how tokens are counted, for messages: "" (the model's tokenizer) or an explanation

    def complete(self, messages: Messages, max_new_tokens: int = 200,
                 stream: Callable[[str], Any] | None = None) -> Completion:
        raise NotImplementedError

    def judge(self, messages: Messages) -> float | None:
        """How much more the model expects "Yes" than "No" next (a logit difference), or None when it cannot say."""
        return None

    # token counting: the embedder's WordPiece tokenizer unless the model's own is at hand
    def _tokenizer(self):
        from nbrag.models import load_tokenizer

        return load_tokenizer()

    def count(self, text: str) -> int:
        return len(self._tokenizer().encode(text, add_special_tokens=False).ids) if text else 0

    def cut(self, text: str, tokens: int) -> str:
        """The longest start of ``text`` with at most ``tokens`` tokens, cut where a token ends."""
        offsets = self._tokenizer().encode(text, add_special_tokens=False).offsets
        if len(offsets) <= tokens:
            return text
        return text[:offsets[tokens - 1][1]] if tokens > 0 else ""

    def count_messages(self, messages: Messages) -> int:
        return sum(self.count(m["content"]) + MESSAGE_OVERHEAD for m in messages)

    def render(self, messages: Messages) -> str:
        return "\n\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LocalGenerator(Generator):
    """A Hugging Face causal LM run here, greedy, its chat template applied; streams through a thread."""

    def __init__(self, model: Any, tokenizer: Any, name: str) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        config = getattr(model, "config", None)
        self.context_length = getattr(config, "max_position_embeddings", None)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def cut(self, text: str, tokens: int) -> str:
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) <= tokens:
            return text
        return text[:offsets[tokens - 1][1]] if tokens > 0 else ""

    def render(self, messages: Messages) -> str:
        """The prompt text; a final assistant message (a prefilled answer start) is continued, not closed."""
        prefilled = bool(messages) and messages[-1]["role"] == "assistant"
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not prefilled,
                                                      continue_final_message=prefilled)
        return "\n".join(m["content"] for m in messages)

    def count_messages(self, messages: Messages) -> int:
        return len(self._ids(self.render(messages)))

    def _ids(self, prompt: str) -> list[int]:
        # the chat template writes its own special tokens; a plain prompt gets the tokenizer's
        special = not getattr(self.tokenizer, "chat_template", None)
        return self.tokenizer(prompt, add_special_tokens=special)["input_ids"]

    def complete(self, messages: Messages, max_new_tokens: int = 200,
                 stream: Callable[[str], Any] | None = None) -> Completion:
        import torch

        started = time.perf_counter()
        prompt = self.render(messages)
        ids = torch.tensor([self._ids(prompt)], device=self.model.device)
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False,
                                   "attention_mask": torch.ones_like(ids)}
        if self.tokenizer.pad_token_id is None:
            options["pad_token_id"] = self.tokenizer.eos_token_id
        if stream is None:
            with torch.inference_mode():
                out = self.model.generate(ids, **options)
        else:
            out = self._streamed(ids, options, stream)
        new = out[0, ids.shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(text=text, prompt=prompt, prompt_tokens=int(ids.shape[1]), completion_tokens=int(len(new)),
                          seconds=time.perf_counter() - started)

    def _streamed(self, ids, options: dict[str, Any], stream: Callable[[str], Any]):
        """Generate in a thread; the streamer hands each new piece of text to ``stream`` here."""
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with torch.inference_mode():
                    result["out"] = self.model.generate(ids, streamer=streamer, **options)
            except BaseException as error:  # handed to the caller below
                result["error"] = error
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                stream(piece)
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["out"]

    def judge(self, messages: Messages) -> float | None:
        import torch

        yes = self.tokenizer.encode("Yes", add_special_tokens=False)
        no = self.tokenizer.encode("No", add_special_tokens=False)
        if len(yes) != 1 or len(no) != 1:
            return None
        ids = torch.tensor([self._ids(self.render(messages))], device=self.model.device)
        with torch.inference_mode():
            logits = self.model(ids).logits[0, -1].float()
        return float(logits[yes[0]] - logits[no[0]])


class EndpointGenerator(Generator):
    """An OpenAI-compatible chat-completions server; its tokenizer is unknown, so counts are estimates."""

    counted_with = ", estimated with the embedder's tokenizer"

    def __init__(self, endpoint: str, model: str, api_key: str | None, timeout: float) -> None:
        self.url = chat_completions_url(endpoint)
        self.endpoint, self.model, self.api_key, self.timeout = endpoint, model, api_key, timeout
        self.name = f"{model} at {endpoint}"

    def complete(self, messages: Messages, max_new_tokens: int = 200,
                 stream: Callable[[str], Any] | None = None) -> Completion:
        started = time.perf_counter()
        text, usage = openai_chat(messages, base_url=self.endpoint, model=self.model, api_key=self.api_key,
                                  max_tokens=max_new_tokens, timeout=self.timeout, stream=stream)
        return Completion(text=text, prompt=self.render(messages),
                          prompt_tokens=usage.get("prompt_tokens", self.count_messages(messages)),
                          completion_tokens=usage.get("completion_tokens", self.count(text)),
                          seconds=time.perf_counter() - started)


class CallableGenerator(Generator):
    """``complete(messages) -> str``, any client of your own."""

    counted_with = ", estimated with the embedder's tokenizer"

    def __init__(self, function: Callable[[Messages], str]) -> None:
        self.function = function
        self.name = getattr(function, "__name__", None) or type(function).__name__

    def complete(self, messages: Messages, max_new_tokens: int = 200,
                 stream: Callable[[str], Any] | None = None) -> Completion:
        started = time.perf_counter()
        text = self.function([dict(m) for m in messages])
        if not isinstance(text, str):
            raise TypeError(f"The generator {self.name!r} returned {type(text).__name__}, not text: a complete(messages) "
                            "callable must return the reply as a str.")
        if stream is not None and text:
            stream(text)
        return Completion(text=text, prompt=self.render(messages), prompt_tokens=self.count_messages(messages),
                          completion_tokens=self.count(text), seconds=time.perf_counter() - started)


def resolve_generator(generator: Any = None, *, endpoint: str | None = None, model: str | None = None,
                      api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Generator:
    """The generator that ``generator`` / ``endpoint`` / ``model`` name (see the module's docstring)."""
    if isinstance(generator, Generator):
        return generator
    check_endpoint_options(endpoint, model, api_key, timeout)
    if endpoint is not None:
        if generator is not None:
            raise ValueError("Give endpoint= or generator=, not both: each says which model answers.")
        return EndpointGenerator(endpoint, model, api_key, float(timeout))
    if generator is None or isinstance(generator, str):
        from nbrag.config import settings
        from nbrag.models import load_generator

        name = generator or settings.generator
        loaded_model, tokenizer = load_generator(name)
        return LocalGenerator(loaded_model, tokenizer, name)
    if isinstance(generator, tuple) and len(generator) == 2:
        loaded_model, tokenizer = generator
        config = getattr(loaded_model, "config", None)
        name = getattr(config, "_name_or_path", "") or type(loaded_model).__name__
        return LocalGenerator(loaded_model, tokenizer, name)
    if callable(generator):
        return CallableGenerator(generator)
    raise TypeError(f"generator={generator!r} is not a generator: give None (the configured one), a Hugging Face "
                    "model id, a (model, tokenizer) pair, or a complete(messages) -> str callable; or "
                    "endpoint= and model= for an OpenAI-compatible server.")
