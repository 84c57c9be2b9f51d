"""RAG types: an ``Answer`` keeps everything that made it; an ``AgentResult`` every step of the agent.

An answer is only worth as much as what the model was shown, so each result keeps the
exact chat messages and the exact text the model read (``prompt``: for a local model the
chat template applied to the messages), the numbered sources as placed in the prompt (with
what the token budget cut), the citations found in the reply with their character offsets,
and the support check of every sentence. ``to_dict()`` gives plain data for logging; the
last expression of a notebook cell shows the answer (or the agent's trace) as a view.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nbrag.display import Shown

ACTIONS = ("plan", "retrieve", "graph_search", "rewrite", "calculate", "answer", "verify", "finish")


@dataclass
class Source:
    """One numbered source of the prompt: the retrieval hit, and its text exactly as the model read it."""

    number: int  # 1-based, as cited: [number]
    hit: Any  # nbrag.retrieval.Hit
    text: str  # as placed in the prompt (shorter than hit.text when truncated; "" when dropped)
    tokens: int  # tokens of `text`, counted as the budget counts them
    truncated: bool = False
    dropped: bool = False

    @property
    def kept(self) -> int:
        """How many characters of the chunk reached the prompt: all, none (dropped), or the beginning kept."""
        full = self.hit.text if self.hit is not None else self.text
        if self.dropped:
            return 0
        if not self.truncated:
            return len(full)
        return next((i for i, (a, b) in enumerate(zip(full, self.text, strict=False)) if a != b),
                    min(len(full), len(self.text)))

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "hit": self.hit.to_dict() if self.hit is not None else None,
                "text": self.text, "tokens": self.tokens, "truncated": self.truncated, "dropped": self.dropped}


@dataclass
class Citation:
    """A cited number in the answer: ``text[start:end]`` is its marker (``[1]``, ``[1, 2]``, ``【1】``)."""

    number: int
    start: int
    end: int
    source: int | None  # index into Answer.sources, None when the number cites no source

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Support:
    """One sentence of the answer, how close it comes to the sources it cites, and the verdict."""

    sentence: str
    start: int
    end: int
    cited: list[int]  # the source numbers it cites (empty: scored against every source, "uncited")
    score: float  # the best cosine similarity between the sentence and those sources
    supported: bool  # score >= the threshold
    uncited: bool = False
    best: int | None = None  # the source number that scored best

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Answer(Shown):
    """A retrieval-augmented answer with its sources, citations, prompt and support check."""

    question: str
    text: str
    sources: list[Source]
    citations: list[Citation]
    messages: list[dict[str, str]]
    prompt: str
    support: list[Support]
    support_threshold: float
    retrieval: Any  # nbrag.retrieval.RetrievalResult (None when nothing was retrieved)
    generator: str
    seconds: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    template: Any = None  # the PromptTemplate used
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def cited(self) -> list[Source]:
        """The sources the answer cites, in source order."""
        numbers = {c.number for c in self.citations if c.source is not None}
        return [s for s in self.sources if s.number in numbers]

    @property
    def unsupported(self) -> list[Support]:
        return [s for s in self.support if not s.supported]

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "text": self.text, "sources": [s.to_dict() for s in self.sources],
                "citations": [c.to_dict() for c in self.citations], "messages": [dict(m) for m in self.messages],
                "prompt": self.prompt, "support": [s.to_dict() for s in self.support],
                "support_threshold": self.support_threshold,
                "retrieval": self.retrieval.to_dict() if self.retrieval is not None else None,
                "generator": self.generator, "seconds": dict(self.seconds), "tokens": dict(self.tokens),
                "warnings": list(self.warnings),
                "template": self.template.to_dict() if self.template is not None else None,
                "params": dict(self.params)}

    def __repr__(self) -> str:
        answer = " ".join(self.text.split())
        answer = answer[:80] + ("…" if len(answer) > 80 else "")
        cited = sorted({c.number for c in self.citations})
        warned = f", {len(self.warnings)} warnings" if self.warnings else ""
        return f"Answer({answer!r}, {len(self.sources)} sources, cites {cited}, {self.generator}{warned})"

    def __str__(self) -> str:
        return self.text


@dataclass
class AgentStep:
    """One step of the agent: what it meant to do, what it did, what it saw, and what that cost."""

    number: int
    thought: str
    action: str  # one of ACTIONS
    arguments: dict[str, Any] = field(default_factory=dict)
    observation: str = ""
    hits: list[Any] = field(default_factory=list)  # retrieval Hits
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw: str | None = None  # the model's reply, when the step asked the model
    note: str = ""  # e.g. which fallback was taken and why

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "thought": self.thought, "action": self.action,
                "arguments": dict(self.arguments), "observation": self.observation,
                "hits": [h.to_dict() for h in self.hits], "seconds": self.seconds,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "raw": self.raw, "note": self.note}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"AgentStep({self.number} {self.action}({args[:60]}) {self.seconds:.2f}s)"


@dataclass
class AgentResult(Shown):
    """The agent's answer with the trace of every step: plan, retrievals, rewrites, draft and verification."""

    question: str
    answer: str
    sources: list[Source]
    citations: list[Citation]
    support: list[Support]
    sub_questions: list[str]
    steps: list[AgentStep]
    verified: bool | None = None
    stopped: str | None = None  # why a limit (steps, tokens) stopped the loop
    tokens: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    support_threshold: float = 0.0
    sub_answers: list[str | None] = field(default_factory=list)
    generator: str = ""
    draft: Answer | None = field(default=None, repr=False)  # the last drafted Answer (its prompt and messages)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "sources": [s.to_dict() for s in self.sources],
                "citations": [c.to_dict() for c in self.citations], "support": [s.to_dict() for s in self.support],
                "sub_questions": list(self.sub_questions), "sub_answers": list(self.sub_answers),
                "steps": [s.to_dict() for s in self.steps], "verified": self.verified, "stopped": self.stopped,
                "tokens": dict(self.tokens), "seconds": self.seconds, "warnings": list(self.warnings),
                "support_threshold": self.support_threshold, "generator": self.generator,
                "draft": self.draft.to_dict() if self.draft is not None else None}

    def __repr__(self) -> str:
        answer = " ".join(self.answer.split())[:80]
        stopped = f", stopped: {self.stopped}" if self.stopped else ""
        return (f"AgentResult({answer!r}, {len(self.steps)} steps, {len(self.sub_questions)} sub-questions, "
                f"verified={self.verified}{stopped})")

    def __str__(self) -> str:
        return self.answer
