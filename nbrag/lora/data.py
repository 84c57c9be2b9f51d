"""Training data: read from a cell, a file, a DataFrame or a list; tokenized with labels; split and batched.

What ``data`` may be:

* cell text: one example per line (plain text), or JSON lines (one object per line);
* a path to a file: ``.json`` (a list of objects), ``.jsonl``, ``.csv`` (a header row), or plain
  text (one example per non-empty line);
* a pandas DataFrame (its rows as objects; pandas is only imported by the caller);
* a list of strings or of dicts.

An object is an instruction example when it has ``output`` (with ``instruction`` and optional
``input``; also accepted: ``prompt``/``response``, ``question``/``answer``) and plain text when it
has only ``text``. Instruction examples go through the tokenizer's chat template when it has one
(the prompt is the user's turn, instruction and input joined by a blank line; the answer the
assistant's turn) and the loss is on the answer's tokens only (labels -100 elsewhere); without a
template the prompt and answer are joined by a newline. Plain text is trained on every token.

An example longer than ``max_length`` tokens is refused, not truncated (a cut answer teaches the
model to stop mid-sentence): the error names the example and its length.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPT_KEYS = (("instruction", "input"), ("prompt",), ("question",))
ANSWER_KEYS = ("output", "response", "answer", "completion")


@dataclass(frozen=True)
class Example:
    """One training example: a prompt and its answer, or plain ``text`` (prompt None)."""

    answer: str
    prompt: str | None = None

    @property
    def text(self) -> str:
        return self.answer if self.prompt is None else f"{self.prompt}\n{self.answer}"


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _record(obj: Any, where: str) -> Example:
    if isinstance(obj, str):
        if not obj.strip():
            raise ValueError(f"{where} is empty.")
        return Example(answer=obj)
    if not isinstance(obj, dict):
        raise TypeError(f"{where} is a {type(obj).__name__}; examples are strings or dicts "
                        "({instruction, input, output} or {text}).")
    answer_key = next((k for k in ANSWER_KEYS if k in obj), None)
    if answer_key is None:
        if "text" in obj:
            return _record(str(obj["text"]), where)
        raise ValueError(f"{where} has keys {sorted(obj)}; an instruction example needs 'output' (with "
                         "'instruction' and optional 'input'), a plain one 'text'.")
    for keys in PROMPT_KEYS:
        if keys[0] in obj:
            parts = [str(obj[k]).strip() for k in keys if k in obj and obj[k] is not None and str(obj[k]).strip()]
            break
    else:
        raise ValueError(f"{where} has {answer_key!r} but no prompt: give 'instruction' (and optional 'input'), "
                         "'prompt' or 'question'.")
    answer = "" if obj[answer_key] is None else str(obj[answer_key])
    if not parts or not answer.strip():
        raise ValueError(f"{where} has an empty {'prompt' if not parts else answer_key!r}.")
    return Example(answer=answer, prompt="\n\n".join(parts))


def _lines(text: str, where: str) -> list[Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("{") for line in lines):
        records = []
        for n, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"Line {n} of {where} is not valid JSON ({error.msg} at column {error.colno}); "
                                 "give one JSON object per line, or plain text lines without a leading '{'.") from None
        return records
    return lines


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and len(text) < 4096 and Path(text).expanduser().is_file()


def _file(path: Path) -> list[Any]:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):  # {"data": [...]} or a single example
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else [data]
        return list(data)
    if suffix == ".csv":
        return [dict(row) for row in csv.DictReader(text.splitlines())]
    return _lines(text, str(path))


def read_examples(data: Any) -> list[Example]:
    """``data`` (see the module's docstring) as a list of :class:`Example`."""
    where = "the data"
    if isinstance(data, Path) or (isinstance(data, str) and _looks_like_path(data)):
        path = Path(data).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No data file at {path}.")
        where = str(path)
        raw = _file(path)
    elif isinstance(data, str):
        where = "the cell"
        raw = _lines(data, where)
    elif hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        raw = data.to_dict(orient="records")
        where = "the DataFrame"
    elif isinstance(data, (list, tuple)):
        raw = list(data)
    else:
        raise TypeError(f"data={type(data).__name__} is not training data: give cell text, a file path, a pandas "
                        "DataFrame or a list of strings or dicts.")
    if not raw:
        raise ValueError(f"No training examples in {where}: give at least one example (one per line, or JSON "
                         "objects with instruction/input/output).")
    return [_record(obj, f"Example {n} of {where}") for n, obj in enumerate(raw, 1)]


def tokenize(example: Example, tokenizer: Any) -> Tokenized:
    """Token ids and labels: the chat template for instruction examples where the tokenizer has one."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if example.prompt is None:
        ids = tokenizer(example.answer, add_special_tokens=True)["input_ids"] + eos
        return Tokenized(ids, list(ids))
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": example.prompt}]
        prompt = _ids(tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True))
        full = _ids(tokenizer.apply_chat_template(user + [{"role": "assistant", "content": example.answer}],
                                                  tokenize=True))
        cut = len(prompt) if full[:len(prompt)] == prompt else _common_prefix(prompt, full)
        return Tokenized(full, [-100] * cut + full[cut:])
    prompt = tokenizer(example.prompt + "\n", add_special_tokens=True)["input_ids"]
    answer = tokenizer(example.answer, add_special_tokens=False)["input_ids"] + eos
    return Tokenized(prompt + answer, [-100] * len(prompt) + answer)


def _ids(out: Any) -> list[int]:
    """apply_chat_template returns a list, or a BatchEncoding-like dict in newer transformers."""
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def encode_all(examples: list[Example], tokenizer: Any, max_length: int) -> list[Tokenized]:
    """Every example tokenized; one longer than ``max_length`` is refused with its number and length."""
    out = []
    for n, example in enumerate(examples, 1):
        tok = tokenize(example, tokenizer)
        if len(tok) > max_length:
            preview = " ".join(example.text.split())[:60]
            raise ValueError(f"Example {n} ({preview!r}…) is {len(tok)} tokens, longer than max_length={max_length}; "
                             f"it is refused rather than truncated. Raise max_length to at least {len(tok)} or "
                             "shorten that example.")
        if not any(label != -100 for label in tok.labels[1:]):
            raise ValueError(f"Example {n} leaves no answer token to learn from; give it a non-empty output.")
        out.append(tok)
    return out


def split(items: list[Tokenized], eval_fraction: float, seed: int) -> tuple[list[Tokenized], list[Tokenized]]:
    """A seeded shuffle split into (train, eval); at least one training example, eval empty for fraction 0."""
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction={eval_fraction}: use a number in [0, 1) (0 for no evaluation set).")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_eval = 0 if eval_fraction == 0 or len(items) < 2 else min(len(items) - 1, max(1, round(eval_fraction * len(items))))
    return [items[i] for i in order[n_eval:]], [items[i] for i in order[:n_eval]]


class Batches:
    """Endless batches of the training set in a seeded order, reshuffled each epoch; its position can resume."""

    def __init__(self, items: list[Tokenized], batch_size: int, seed: int, pad_id: int):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: use a positive integer.")
        self.items, self.batch_size, self.pad_id = items, batch_size, pad_id
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.position = 0
        self.epoch = 0

    def _indices(self) -> list[int]:
        picked = []
        while len(picked) < self.batch_size:
            if self.position >= len(self.order):
                self.order = list(range(len(self.items)))
                self.rng.shuffle(self.order)
                self.position = 0
                self.epoch += 1
            take = self.order[self.position:self.position + self.batch_size - len(picked)]
            picked += take
            self.position += len(take)
        return picked

    def next(self, device: Any = None) -> dict[str, Any]:
        return collate([self.items[i] for i in self._indices()], self.pad_id, device)


def collate(items: list[Tokenized], pad_id: int, device: Any = None) -> dict[str, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding) tensors."""
    import torch

    width = max(len(t) for t in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for row, t in enumerate(items):
        ids[row, :len(t)] = torch.tensor(t.input_ids)
        mask[row, :len(t)] = 1
        labels[row, :len(t)] = torch.tensor(t.labels)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch
