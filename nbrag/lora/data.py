"""Training data: read from a cell, a file, a DataFrame or a list; split and batched.

What ``data`` may be:

* cell text: one example per line (plain text), or JSON lines (one object per line);
* a path to a file: ``.json`` (a list of objects), ``.jsonl``, ``.csv`` and ``.tsv`` (a header
  row), or plain text (one example per non-empty line). A :class:`~pathlib.Path` is always a path;
  a str is one (:func:`names_a_file`) when it is a single line that names an existing file, ends
  with a data-file suffix (``.json``, ``.jsonl``, ``.csv``, ``.tsv``, ``.txt``, ``.parquet``, any
  case), or holds a path separator (``/`` or ``\\``) and no whitespace. A path that names no file is
  refused with the absolute path looked for, never trained on as text; to train on such a line
  itself, pass it in a list (``["notes.txt"]``);
* a pandas DataFrame (its rows as objects; pandas is only imported by the caller);
* a list of strings, of dicts or of :class:`Example`.

An object is an instruction example when it has ``output`` (with ``instruction`` and optional
``input``; also accepted: ``prompt``/``response``, ``question``/``answer``) and plain text when it
has only ``text``. The prompt of an instruction example is
instruction and input joined by a blank line. :func:`nbrag.lora.training.tokenize` turns an
example into tokens (the chat template, the loss on the answer only).
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbrag.errors import NbragError, NbragTypeError, readable

DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".txt", ".parquet")
FILE_KINDS = ("a JSON or JSONL file of {instruction, input, output} records, a CSV or TSV file with a header row, or "
              "a plain-text file (one example per line)")
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
    if isinstance(obj, Example):
        return obj
    if isinstance(obj, str):
        if not obj.strip():
            raise NbragError(f"{where} is empty.")
        return Example(answer=obj)
    if not isinstance(obj, dict):
        raise NbragTypeError(f"{where} is a {type(obj).__name__}; examples are strings or dicts "
                             "({instruction, input, output} or {text}).")
    answer_key = next((k for k in ANSWER_KEYS if k in obj), None)
    if answer_key is None:
        if "text" in obj:
            return _record(str(obj["text"]), where)
        raise NbragError(f"{where} has keys {sorted(obj, key=str)}; an instruction example needs 'output' (with "
                         "'instruction' and optional 'input'), a plain one 'text'.")
    for keys in PROMPT_KEYS:
        if keys[0] in obj:
            parts = [str(obj[k]).strip() for k in keys if k in obj and obj[k] is not None and str(obj[k]).strip()]
            break
    else:
        raise NbragError(f"{where} has {answer_key!r} but no prompt: give 'instruction' (and optional 'input'), "
                         "'prompt' or 'question'.")
    answer = "" if obj[answer_key] is None else str(obj[answer_key])
    if not parts or not answer.strip():
        raise NbragError(f"{where} has an empty {'prompt' if not parts else answer_key!r}.")
    return Example(answer=answer, prompt="\n\n".join(parts))


def _lines(text: str, where: str) -> list[Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("{") for line in lines):
        records = []
        for n, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise NbragError(f"Line {n} of {where} is not valid JSON ({error.msg} at column {error.colno}); "
                                 "give one JSON object per line, or plain text lines without a leading '{'.") from None
        return records
    return lines


def names_a_file(text: str) -> bool:
    """Whether a str is meant as a path: one line that names an existing file, ends with one of
    :data:`DATA_SUFFIXES`, or holds a path separator and no whitespace."""
    if "\n" in text or "\r" in text or not text.strip() or len(text) > 4096:
        return False
    text = text.strip()
    return (os.path.isfile(os.path.expanduser(text)) or text.lower().endswith(DATA_SUFFIXES)
            or (("/" in text or "\\" in text) and not any(c.isspace() for c in text)))


def _file(data: str | Path) -> tuple[list[Any], str]:
    """The records of a data file, and how errors name it."""
    path = Path(data.strip() if isinstance(data, str) else data).expanduser()
    if not path.is_file():
        what = f"a folder, not a file ({path.absolute()})" if path.is_dir() else \
            f"no such file (looked for {path.absolute()})"
        literal = f"; to train on this line of text itself, pass it in a list: [{data!r}]" if isinstance(data, str) \
            else ""
        raise NbragError(f"{what}. Give {FILE_KINDS}{literal}.", option="data", value=str(data))
    if path.suffix.lower() == ".parquet":
        raise NbragError("a Parquet file, which nbrag does not read itself: load it with pandas.read_parquet(path) "
                         "and pass the DataFrame.", option="data", value=str(data))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NbragError(f"cannot be read as UTF-8 text ({error}).", option="data", value=str(data)) from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise NbragError(f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); give a list "
                             "of {instruction, input, output} objects.", option="data", value=str(data)) from None
        if isinstance(records, dict):  # {"data": [...]} or a single example
            lists = [v for v in records.values() if isinstance(v, list)]
            records = lists[0] if len(lists) == 1 else [records]
        return list(records), str(path)
    if suffix in (".csv", ".tsv"):
        return [dict(row) for row in csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")], \
            str(path)
    return _lines(text, str(path)), str(path)


def read_examples(data: Any) -> list[Example]:
    """``data`` (see the module's docstring) as a list of :class:`Example`."""
    where = "the data"
    if isinstance(data, Path) or (isinstance(data, str) and names_a_file(data)):
        raw, where = _file(data)
    elif isinstance(data, str):
        where = "the cell"
        raw = _lines(data, where)
    elif hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        raw = data.to_dict(orient="records")
        where = "the DataFrame"
    elif isinstance(data, (list, tuple)):
        raw = list(data)
    else:
        raise NbragTypeError(f"a {type(data).__name__} is not training data: give cell text, a file path, a pandas "
                             "DataFrame or a list of strings or dicts.", option="data")
    if not raw:
        raise NbragError(f"No training examples in {where}: give at least one example (one per line, or JSON "
                         "objects with instruction/input/output).")
    examples = [_record(obj, f"Example {n} of {where}") for n, obj in enumerate(raw, 1)]
    for n, example in enumerate(examples, 1):
        readable(example.text, what=f"Example {n} of {where}")
    return examples


def split(items: list[Tokenized], eval_fraction: float, seed: int) -> tuple[list[Tokenized], list[Tokenized]]:
    """A seeded shuffle split into (train, eval); at least one training example, eval empty for fraction 0."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_eval = 0 if eval_fraction == 0 or len(items) < 2 else \
        min(len(items) - 1, max(1, round(eval_fraction * len(items))))
    return [items[i] for i in order[n_eval:]], [items[i] for i in order[:n_eval]]


class Batches:
    """Endless batches of the training set in a seeded order, reshuffled each epoch; its position can resume."""

    def __init__(self, items: list[Tokenized], batch_size: int, seed: int, pad_id: int):
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
