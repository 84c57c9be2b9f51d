"""The one way nbrag calls a language model: :func:`resolve` gives a :class:`Generator`.

Every feature that needs a model (the LLM chunker, graph extraction and reports, HyDE,
reranking, ``ask``, the agent, LoRA's generations) takes the same ``generator=`` argument
and goes through here. ``generator`` may be:

* ``None``: the configured generator (``nbrag.settings.generator``, the offline SmolLM2 by default);
* a name: a model nbrag ships, a Hugging Face id or a local folder;
* a loaded ``(model, tokenizer)`` pair (a peft model with adapters too);
* any callable ``complete(messages) -> str``: a client of your own;
* a :class:`Generator`;

or ``endpoint="http://host:port/v1", model="NAME"`` (``api_key=``; ``timeout=``, seconds for each wait
on the server, and ``deadline=``, seconds for the whole call) names an OpenAI-compatible
chat-completions server (:mod:`nbrag.endpoints`).

A generator answers chat messages (``[{"role": "user", "content": "..."}]``, or a plain str
for one user message):

* ``complete(messages) -> str``; ``stream(messages)`` yields the reply piece by piece;
  ``reply(messages, on_text=...)`` returns a :class:`Completion` (the exact prompt the model
  read, token counts, seconds);
* ``judge(question, passage) -> float | None``: whether the passage answers the question. A
  local model gives the difference of its next-token logits for "Yes" and "No" (greedy, no
  sampling); a model behind an endpoint or a callable is asked the same question, and its
  reply gives +1 (yes), -1 (no) or None (neither). Positive means yes;
* ``count_tokens(text)`` and ``cut(text, tokens)`` in the model's own tokens where its
  tokenizer is at hand (else the embedder's, and ``counted_with`` says so); ``name``.

Local generation is greedy (no sampling), so the same prompt gives the same reply.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nbrag.endpoints import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, check_endpoint_options, openai_chat
from nbrag.errors import NbragError, NbragTypeError, whole_number

Messages = list[dict[str, str]]
MESSAGE_OVERHEAD = 4  # tokens a chat format adds per message (role markers), where the template is unknown
JUDGE_SYSTEM = "You judge search results. Answer with Yes or No only."
RELEVANT = "Does the passage help answer the question?"
JUDGE_USER = "Passage:\n{passage}\n\nQuestion: {question}\n\n{ask}"
_YES = re.compile(r"^\W*(yes|是|对)", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|否|不)", re.IGNORECASE)


@dataclass
class Completion:
    """One reply, with what it cost."""

    text: str
    prompt: str  # the exact text the model read (local: the chat template applied; else the messages as sent)
    prompt_tokens: int
    completion_tokens: int
    seconds: float


@dataclass
class Verdict:
    """A yes/no judgement: ``score`` > 0 is yes, < 0 no, None neither (a reply that says neither)."""

    score: float | None
    how: str  # "logits" (a local model's Yes - No) or "reply" (the model's words)
    raw: str
    prompt_tokens: int
    completion_tokens: int


def as_messages(messages: str | Sequence[dict[str, str]]) -> Messages:
    """A plain str is one user message; messages are checked to be ``{"role", "content"}`` dicts of text."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or \
                not isinstance(message.get("role"), str):
            raise NbragTypeError(f"messages[{i}] is {message!r}: give each message as "
                                 "{'role': 'user', 'content': 'text'}.", option="messages")
        out.append({"role": message["role"], "content": message["content"]})
    if not out:
        raise NbragError("no message to answer: give at least one {'role': 'user', 'content': ...}.",
                         option="messages")
    return out


def judge_messages(question: str, passage: str, ask: str = RELEVANT) -> Messages:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_USER.format(passage=passage, question=question, ask=ask)}]


def read_verdict(reply: str) -> float | None:
    """+1 for a reply that opens with yes (是, 对), -1 with no (否, 不), None otherwise."""
    if _YES.match(reply):
        return 1.0
    if _NO.match(reply):
        return -1.0
    return None


class Generator(ABC):
    """A model that answers chat messages (see the module's docstring)."""

    name: str = "generator"
    context_length: int | None = None  # tokens the model reads at most, where known
    counted_with: str = ""  # how tokens are counted: "" (the model's tokenizer) or an explanation

    @abstractmethod
    def _reply(self, messages: Messages, max_new_tokens: int, on_text: Callable[[str], Any] | None) -> Completion:
        """The reply to checked ``messages``; ``on_text`` receives each piece as it is generated."""

    def reply(self, messages: str | Sequence[dict[str, str]], *, max_new_tokens: int = 200,
              on_text: Callable[[str], Any] | None = None) -> Completion:
        """The reply with the prompt the model read, its token counts and time."""
        whole_number(max_new_tokens, "max_new_tokens")
        return self._reply(as_messages(messages), max_new_tokens, on_text)

    def complete(self, messages: str | Sequence[dict[str, str]], *, max_new_tokens: int = 200) -> str:
        """The reply's text."""
        return self.reply(messages, max_new_tokens=max_new_tokens).text

    def stream(self, messages: str | Sequence[dict[str, str]], *, max_new_tokens: int = 200) -> Iterator[str]:
        """The reply, piece by piece as the model writes it."""
        pieces: queue.Queue[Any] = queue.Queue()
        done = object()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self.reply(messages, max_new_tokens=max_new_tokens, on_text=pieces.put)
            except BaseException as error:  # handed to the reader below
                failure.append(error)
            finally:
                pieces.put(done)

        threading.Thread(target=work, daemon=True).start()
        while (piece := pieces.get()) is not done:
            yield piece
        if failure:
            raise failure[0]

    # ------------------------------------------------------------------ judging

    def verdict(self, messages: Messages) -> Verdict:
        """A yes/no question answered in words (see :meth:`judge`); local models override it with logits."""
        completion = self.reply(messages, max_new_tokens=3)
        return Verdict(read_verdict(completion.text), "reply", completion.text, completion.prompt_tokens,
                       completion.completion_tokens)

    def judge(self, question: str, passage: str, *, ask: str = RELEVANT, max_passage_tokens: int = 384) -> float | None:
        """How much the model says yes to ``ask`` about ``passage`` and ``question`` (> 0 yes, < 0 no, None
        neither); the passage is cut to ``max_passage_tokens``."""
        return self.verdict(judge_messages(question, self.cut(passage, max_passage_tokens), ask)).score

    def judge_many(self, question: str, passages: Sequence[str], *, ask: str = RELEVANT,
                   max_passage_tokens: int = 384, batch_size: int = 8) -> list[float | None]:
        """:meth:`judge` of each passage (a local model reads them in batches)."""
        return [self.judge(question, p, ask=ask, max_passage_tokens=max_passage_tokens) for p in passages]

    # ------------------------------------------------------------------ tokens

    def _tokenizer(self) -> Any:
        """The embedder's WordPiece tokenizer: it counts where the model's own is not at hand."""
        from nbrag.models import load_tokenizer

        return load_tokenizer()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer().encode(text, add_special_tokens=False).ids) if text else 0

    def cut(self, text: str, tokens: int) -> str:
        """The longest start of ``text`` with at most ``tokens`` tokens, cut where a token ends (never decoded)."""
        offsets = self._tokenizer().encode(text, add_special_tokens=False).offsets
        if len(offsets) <= tokens:
            return text
        return text[:offsets[tokens - 1][1]] if tokens > 0 else ""

    def count_messages(self, messages: Messages) -> int:
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)

    def render(self, messages: Messages) -> str:
        """The messages as one text (what the model reads, where the chat format is not known)."""
        return "\n\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LocalGenerator(Generator):
    """A Hugging Face causal LM run here, greedy, its chat template applied; streams through a thread."""

    def __init__(self, model: Any, tokenizer: Any, name: str | None = None) -> None:
        from nbrag.models import model_name

        self.model, self.tokenizer = model, tokenizer
        self.name = name or model_name(model)
        config = getattr(model, "config", None)
        self.context_length = getattr(config, "max_position_embeddings", None)

    def count_tokens(self, text: str) -> int:
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

    def _device(self) -> Any:
        return getattr(self.model, "device", None) or next(self.model.parameters()).device

    def _reply(self, messages: Messages, max_new_tokens: int, on_text: Callable[[str], Any] | None) -> Completion:
        import torch

        started = time.perf_counter()
        prompt = self.render(messages)
        ids = torch.tensor([self._ids(prompt)], device=self._device())
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False,
                                   "attention_mask": torch.ones_like(ids)}
        if self.tokenizer.pad_token_id is None:
            options["pad_token_id"] = self.tokenizer.eos_token_id
        if on_text is None:
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids, **options)
        else:
            out = self._streamed(ids, options, on_text)
        new = out[0, ids.shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(text=text, prompt=prompt, prompt_tokens=int(ids.shape[1]), completion_tokens=len(new),
                          seconds=time.perf_counter() - started)

    def _streamed(self, ids: Any, options: dict[str, Any], on_text: Callable[[str], Any]) -> Any:
        """Generate in a thread; the streamer hands each new piece of text to ``on_text`` here."""
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with torch.inference_mode():
                    result["out"] = self.model.generate(input_ids=ids, streamer=streamer, **options)
            except BaseException as error:  # handed to the caller below
                result["error"] = error
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                on_text(piece)
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["out"]

    def _yes_no(self) -> tuple[int, int] | None:
        yes = self.tokenizer.encode("Yes", add_special_tokens=False)
        no = self.tokenizer.encode("No", add_special_tokens=False)
        return (yes[0], no[0]) if len(yes) == 1 and len(no) == 1 else None

    def verdict(self, messages: Messages) -> Verdict:
        """The logit of "Yes" minus that of "No" as the next token; in words where they are not single tokens."""
        import torch

        pair = self._yes_no()
        if pair is None:
            return super().verdict(messages)
        ids = self._ids(self.render(messages))
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self._device())).logits[0, -1].float()
        score = float(logits[pair[0]] - logits[pair[1]])
        return Verdict(score, "logits", f"logit(Yes) - logit(No) = {score:.3f}", len(ids), 0)

    def judge_many(self, question: str, passages: Sequence[str], *, ask: str = RELEVANT,
                   max_passage_tokens: int = 384, batch_size: int = 8) -> list[float | None]:
        import torch

        pair = self._yes_no()
        if pair is None:
            return super().judge_many(question, passages, ask=ask, max_passage_tokens=max_passage_tokens)
        prompts = [self.render(judge_messages(question, self.cut(p, max_passage_tokens), ask)) for p in passages]
        tokenizer = self.tokenizer
        side, pad = tokenizer.padding_side, tokenizer.pad_token
        tokenizer.padding_side = "left"  # the next token sits at the end of every row
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        special = not getattr(tokenizer, "chat_template", None)
        scores: list[float | None] = []
        try:
            for first in range(0, len(prompts), batch_size):
                batch = tokenizer(prompts[first:first + batch_size], return_tensors="pt", padding=True,
                                  add_special_tokens=special).to(self._device())
                with torch.inference_mode():
                    logits = self.model(**batch).logits[:, -1, :].float()
                scores += (logits[:, pair[0]] - logits[:, pair[1]]).tolist()
        finally:
            tokenizer.padding_side, tokenizer.pad_token = side, pad
        return scores


class EndpointGenerator(Generator):
    """An OpenAI-compatible chat-completions server; its tokenizer is unknown, so counts are estimates."""

    counted_with = ", estimated with the embedder's tokenizer"

    def __init__(self, endpoint: str, model: str, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE) -> None:
        check_endpoint_options(endpoint, model, api_key, timeout, deadline)
        self.endpoint, self.model, self.api_key = endpoint, model, api_key
        self.timeout, self.deadline = float(timeout), float(deadline)
        self.name = f"{model} at {endpoint}"

    def _reply(self, messages: Messages, max_new_tokens: int, on_text: Callable[[str], Any] | None) -> Completion:
        started = time.perf_counter()
        text, usage = openai_chat(messages, base_url=self.endpoint, model=self.model, api_key=self.api_key,
                                  max_tokens=max_new_tokens, timeout=self.timeout, deadline=self.deadline,
                                  stream=on_text)
        return Completion(text=text, prompt=self.render(messages),
                          prompt_tokens=usage.get("prompt_tokens", self.count_messages(messages)),
                          completion_tokens=usage.get("completion_tokens", self.count_tokens(text)),
                          seconds=time.perf_counter() - started)

    def __repr__(self) -> str:  # never the key
        return f"EndpointGenerator({self.model!r} at {self.endpoint!r})"


class CallableGenerator(Generator):
    """``complete(messages) -> str``, any client of your own."""

    counted_with = ", estimated with the embedder's tokenizer"

    def __init__(self, function: Callable[[Messages], str]) -> None:
        self.function = function
        self.name = getattr(function, "__name__", None) or type(function).__name__

    def _reply(self, messages: Messages, max_new_tokens: int, on_text: Callable[[str], Any] | None) -> Completion:
        started = time.perf_counter()
        text = self.function([dict(m) for m in messages])
        if not isinstance(text, str):
            raise NbragTypeError(f"the generator {self.name!r} returned {type(text).__name__}, not text: a "
                                 "complete(messages) callable must return the reply as a str.", option="generator")
        if on_text is not None and text:
            on_text(text)
        return Completion(text=text, prompt=self.render(messages), prompt_tokens=self.count_messages(messages),
                          completion_tokens=self.count_tokens(text), seconds=time.perf_counter() - started)


def resolve(generator: Any = None, *, endpoint: str | None = None, model: str | None = None,
            api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT,
            deadline: float = DEFAULT_DEADLINE) -> Generator:
    """The :class:`Generator` that ``generator`` or ``endpoint`` + ``model`` name (see the module's docstring)."""
    check_endpoint_options(endpoint, model, api_key, timeout, deadline)
    if endpoint is not None:
        if generator is not None:
            raise NbragError("give endpoint= or generator=, not both: each says which model answers.",
                             option="generator")
        return EndpointGenerator(endpoint, model or "", api_key, timeout, deadline)
    if isinstance(generator, Generator):
        return generator
    if generator is None or isinstance(generator, str):
        from nbrag.config import settings
        from nbrag.models import load_generator

        name = generator or settings.generator
        if not name.strip():
            raise NbragError("empty: give a model name, a Hugging Face id or a local folder.",
                             option="generator", value=generator)
        loaded_model, tokenizer = load_generator(name)
        return LocalGenerator(loaded_model, tokenizer, name)
    if isinstance(generator, tuple) and len(generator) == 2:
        return LocalGenerator(*generator)
    if callable(generator):
        return CallableGenerator(generator)
    raise NbragTypeError("not a generator: give None (the configured one), a model name or Hugging Face id, a "
                         "(model, tokenizer) pair, or a complete(messages) -> str callable; or endpoint= and model= "
                         "for an OpenAI-compatible server.", option="generator", value=generator)
