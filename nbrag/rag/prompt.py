"""The prompt: an editable template, numbered sources, and a token budget that says what it cut.

A :class:`PromptTemplate` has a system part, a user part (placeholders ``{question}`` and
``{sources}``) and the form of one source (``{number}``, ``{title}``, ``{text}``). Sources go in
in rank order while the whole prompt fits ``context_tokens``: the first source that does not
fit is cut at a token boundary (when at least ``MIN_SOURCE_TOKENS`` tokens of room are left) and
the ones after it are dropped; a warning names them. Tokens are counted with the generator's own
tokenizer when it runs locally (the chat template included); for an endpoint or a ``complete``
callable, whose tokenizer nbrag cannot see, with the embedder's WordPiece tokenizer, an estimate
that is usually within 10-20% of a BPE tokenizer's count on English prose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nbrag.errors import NbragError, NbragTypeError
from nbrag.llm import Generator
from nbrag.rag.base import Source

MIN_SOURCE_TOKENS = 32  # a cut source shorter than this is dropped instead
SEPARATOR = "\n\n"
ELLIPSIS = " …"


@dataclass
class PromptTemplate:
    """How the prompt is written: ``system`` and ``user`` messages, and the form of each source.

    ``user`` must hold ``{question}``, and ``{sources}`` unless the template is for answering
    without retrieval; ``source`` may use ``{number}``, ``{title}`` (the document's title or
    id) and ``{text}``. Write literal braces as ``{{`` and ``}}``.

    ``answer_prefix`` starts the model's reply for it (prefilling): the words are placed at the
    start of the assistant's turn and the model continues them, and the answer begins with them.
    ``"According to source ["`` makes small models that ignore the citation instruction name a
    source. Local models continue the turn through the chat template; OpenAI-compatible servers
    receive it as a final assistant message, which some continue (llama.cpp, Ollama) and others
    answer anew.
    """

    system: str
    user: str
    source: str = "[{number}] {text}"
    answer_prefix: str = ""

    def __post_init__(self) -> None:
        for name in ("system", "user", "source", "answer_prefix"):
            if not isinstance(getattr(self, name), str):
                raise NbragTypeError(f"PromptTemplate.{name} must be text, not {type(getattr(self, name)).__name__}.")
        if "{question}" not in self.user:
            raise NbragError("PromptTemplate.user has no {question} placeholder: the model would never see the "
                             "question. Add {question} where it belongs.")
        if "{text}" not in self.source:
            raise NbragError("PromptTemplate.source has no {text} placeholder: the sources would be empty. "
                             "Write it like '[{number}] {text}'.")
        try:
            self.user.format(question="", sources="")
            self.source.format(number=1, title="", text="")
            self.system.format()
        except (KeyError, IndexError, ValueError) as error:
            raise NbragError(f"PromptTemplate has a placeholder it cannot fill ({error!r}): the user part takes "
                             "{question} and {sources}, a source {number}, {title} and {text}, the system part "
                             "none; write literal braces as {{ and }}.") from None

    @property
    def has_sources(self) -> bool:
        return "{sources}" in self.user

    def messages(self, question: str, sources: str) -> list[dict[str, str]]:
        messages = [{"role": "user", "content": self.user.format(question=question, sources=sources)}]
        if self.system.strip():
            messages.insert(0, {"role": "system", "content": self.system.format()})
        if self.answer_prefix:
            messages.append({"role": "assistant", "content": self.answer_prefix})
        return messages

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_TEMPLATE = PromptTemplate(
    system=("You answer questions using only the numbered sources. After each sentence, cite the sources it "
            "uses by their numbers in square brackets, like [1] or [1][2]. If the sources do not hold the answer, "
            "say you cannot answer from the sources."),
    user="Sources:\n{sources}\n\nQuestion: {question}\nAnswer briefly, with citations.",
    source="[{number}] {text}",
)

CLOSED_BOOK_TEMPLATE = PromptTemplate(
    system="Answer the question briefly and directly.",
    user="Question: {question}",
    source="[{number}] {text}",
)


def title_of(hit: Any) -> str:
    return str(hit.meta.get("title") or hit.document)


def assemble(template: PromptTemplate, question: str, hits: list[Any], generator: Generator,
             context_tokens: int) -> tuple[list[dict[str, str]], list[Source], list[str]]:
    """The messages, the sources as placed in them, and warnings about what the budget cut."""
    count = generator.count_tokens
    fixed = generator.count_messages(template.messages(question, ""))
    room = context_tokens - fixed
    sources: list[Source] = []
    blocks: list[str] = []
    warnings: list[str] = []
    for number, hit in enumerate(hits, start=1):
        block = template.source.format(number=number, title=title_of(hit), text=hit.text)
        separator = count(SEPARATOR) if blocks else 0
        if count(block) + separator <= room:
            blocks.append(block)
            sources.append(Source(number=number, hit=hit, text=hit.text, tokens=count(hit.text)))
            room -= count(block) + separator
            continue
        empty = template.source.format(number=number, title=title_of(hit), text="")
        text_room = room - count(empty) - count(ELLIPSIS) - separator
        if text_room >= MIN_SOURCE_TOKENS and not any(s.dropped or s.truncated for s in sources):
            text = generator.cut(hit.text, text_room).rstrip() + ELLIPSIS
            blocks.append(template.source.format(number=number, title=title_of(hit), text=text))
            sources.append(Source(number=number, hit=hit, text=text, tokens=count(text), truncated=True))
            room = 0
        else:
            sources.append(Source(number=number, hit=hit, text="", tokens=0, dropped=True))
    cut = [s for s in sources if s.truncated]
    dropped = [s.number for s in sources if s.dropped]
    if cut or dropped:
        said = []
        if cut:
            said.append(f"source [{cut[0].number}] was cut to {cut[0].tokens} of {count(cut[0].hit.text)} tokens")
        if dropped:
            said.append(f"source{'s' * (len(dropped) > 1)} {', '.join(f'[{n}]' for n in dropped)} "
                        f"{'were' if len(dropped) > 1 else 'was'} left out")
        warnings.append(f"The sources do not fit context_tokens={context_tokens} (the prompt without sources takes "
                        f"{fixed} tokens{generator.counted_with}): {' and '.join(said)}. Raise context_tokens, "
                        "lower k, or index smaller chunks.")
    messages = template.messages(question, SEPARATOR.join(blocks))
    return messages, sources, warnings
