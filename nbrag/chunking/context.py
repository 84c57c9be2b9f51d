"""Context for embedding: each chunk embedded with words that situate it, its span unchanged.

A small chunk is precise but its embedding knows only its own words: a sentence that says
"it was completed in 1902" does not say what "it" is. ``context=`` gives every chunker the
same remedy. The chunk keeps its exact span (``source[start:end] == text``); what the embedder
reads goes to :attr:`Chunk.embed_text`:

* ``title``: the headings the chunk sits under, outermost first ("Guide > Install"), after
  ``title=`` (the document's title) where one is given. The structure chunker knows each
  chunk's heading path; for the other chunkers the headings are found in the text: Markdown
  headings (ATX or Setext) and title lines, a short line (at most 60 characters, with no
  closing punctuation) that opens the text or a paragraph and has text on the next line;
* ``sentences:N``: the N sentences before and after the chunk, within its section (from its
  heading to the next); ``neighbours`` is ``sentences:2``;
* ``generated``: one line that situates the chunk in its document, written by a generator
  (``context_generator=``, anything :func:`nbrag.llm.resolve` takes; None: the configured
  one), as in contextual retrieval. One call per chunk: slow on a CPU.

Parts join with ``+`` (``"title+neighbours"``). The context is budgeted in the embedder's own
tokens (``nbrag.settings.embedder``) so that the chunk and its context fit what the embedder
reads (256 word pieces for MiniLM): title first, then the generated line, then the
neighbouring sentences, nearest first; ``context_size`` caps it further. The chunk's own text
is never cut; a chunk that alone fills the embedder gets no context.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from nbrag.chunking.base import Chunk, ChunkResult, whole
from nbrag.config import settings
from nbrag.errors import NbragError, NbragTypeError

PARTS = ("title", "neighbours", "sentences:N", "generated")
CHOICES = "none, or one or more of title, neighbours, sentences:N (N sentences each side), generated"
NEIGHBOURS = 2  # sentences each side for "neighbours"
FALLBACK_LIMIT = 512  # tokens, for an embedder whose limit its config files do not give
EXCERPT_TOKENS = 800  # of the document shown to the generator: its opening, and the text around the chunk
GENERATED_TOKENS = 64  # the longest reply read from the generator

PROMPT = ("<document>\n{document}\n</document>\nHere is the chunk we want to situate within the whole document:\n"
          "<chunk>\n{chunk}\n</chunk>\nWrite one short sentence that situates this chunk within the document, to "
          "improve search retrieval of the chunk. Answer only with that sentence.")

_SENTENCES = re.compile(r"^sentences:(\d+)$")
_ATX = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SETEXT = re.compile(r"^[ \t]{0,3}(\S[^\n]*)\n[ \t]{0,3}(=+|-+)[ \t]*$", re.MULTILINE)
# A title line opens the text or a paragraph, is short, has no closing punctuation and text follows on the next line.
# (A line of a hard-wrapped paragraph is longer, or its next line goes on in lower case.)
_TITLE_LINE = re.compile(r"(?:\A|(?<=\n\n))[ \t]*([^\s#][^\n]{0,59}?)[ \t]*\n(?=[ \t]*[^\s=\-a-z])")
_NOT_TITLES = ("-", "*", "+", ">", "|", "`", "<")  # list items, quotes, table rows, code and HTML
_CLOSING = re.compile(r"[.!?:;,。！？：；，、…]$")


@dataclass
class ContextConfig:
    """What every chunker takes besides its own options: what each chunk is embedded with."""

    context: str = field(default="none", metadata={
        "help": f"What each chunk is embedded with besides its text: {CHOICES}, joined by '+' "
                "(e.g. title+neighbours). The chunk's span never changes."})
    title: str | None = field(default=None, metadata={
        "help": "The document's title, put before the headings by context='title'."})
    context_size: int | None = field(default=None, metadata={
        "help": "Most tokens of context per chunk; default: what fits beside the chunk in the embedder."})
    context_generator: Any = field(default=None, repr=False, metadata={
        "help": "context='generated': the model that writes each chunk's line (a name, a (model, tokenizer) pair, "
                "a complete(messages) -> str function or an nbrag.llm.Generator); default: the configured one."})

    def __post_init__(self) -> None:
        self.parts = parse(self.context)
        if self.title is not None and not isinstance(self.title, str):
            raise NbragTypeError("give the document's title as a str.", option="title", value=self.title)
        if self.context_size is not None and (not whole(self.context_size) or self.context_size < 1):
            raise NbragError("give a whole number of tokens, at least 1 (or None: what fits).",
                             option="context_size", value=self.context_size)
        if self.context_generator is not None and "generated" not in self.parts:
            raise NbragError("is used by context='generated' only: add generated to context, or leave it out.",
                             option="context_generator")

    @property
    def on(self) -> bool:
        return bool(self.parts)


OPTIONS = tuple(f.name for f in dataclasses.fields(ContextConfig))


def parse(value: Any) -> dict[str, int]:
    """``"title+sentences:3"`` -> ``{"title": 0, "sentences": 3}``; ``"none"`` -> ``{}``."""
    if not isinstance(value, str):
        raise NbragTypeError(f"choose {CHOICES}, joined by '+'.", option="context", value=value)
    words = [w.strip() for w in value.strip().lower().split("+")]
    if words == ["none"]:
        return {}
    parts: dict[str, int] = {}
    for word in words:
        match = _SENTENCES.match(word)
        name, n = ("sentences", int(match.group(1))) if match else \
            ("sentences", NEIGHBOURS) if word in ("neighbours", "neighbors") else (word, 0)
        if name not in ("title", "sentences", "generated") or (match and n < 1) or name in parts:
            raise NbragError(f"choose {CHOICES}, joined by '+' (each once), e.g. 'title+neighbours'.",
                             option="context", value=value)
        parts[name] = n
    return parts


# --------------------------------------------------------------------------- headings


def headings(text: str) -> list[tuple[int, int, int, str]]:
    """The headings of a text as ``(start, end, level, title)``: Markdown ATX (levels 1-6), Setext (1-2)
    and title lines (level 7, below every Markdown heading), in the order of the text."""
    found: dict[int, tuple[int, int, int, str]] = {}
    for m in _ATX.finditer(text):
        found[m.start()] = (m.start(), m.end(), len(m.group(1)), m.group(2).strip())
    for m in _SETEXT.finditer(text):
        if m.start() not in found and not _ATX.fullmatch(m.group(1)):
            found[m.start()] = (m.start(), m.end(), 1 if m.group(2)[0] == "=" else 2, m.group(1).strip())
    for m in _TITLE_LINE.finditer(text):
        title = m.group(1)
        if m.start(1) not in found and not _CLOSING.search(title) and not title.startswith(_NOT_TITLES):
            found.setdefault(m.start(), (m.start(1), m.end(1), 7, title.strip()))
    return [found[k] for k in sorted(found)]


class Sections:
    """Which headings are in force at a position, and where a position's section begins and ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found = headings(text)
        self.starts = [h[0] for h in self.found]

    def path(self, position: int) -> list[str]:
        """Titles of the headings in force just before ``position``, outermost first."""
        stack: list[tuple[int, int, int, str]] = []
        for h in self.found[:bisect.bisect_right(self.starts, position - 1)]:
            if h[1] > position:  # the heading is (partly) inside the chunk: its own text says it
                break
            while stack and stack[-1][2] >= h[2]:
                stack.pop()
            stack.append(h)
        return [h[3] for h in stack]

    def bounds(self, start: int, end: int) -> tuple[int, int]:
        """From the end of the last heading before ``start`` to the start of the first heading after ``end``."""
        i = bisect.bisect_right(self.starts, start) - 1
        low = 0 if i < 0 else self.found[i][1] if self.found[i][1] <= start else self.found[i][0]
        j = bisect.bisect_left(self.starts, end)
        high = self.found[j][0] if j < len(self.found) else len(self.text)
        return low, high


# --------------------------------------------------------------------------- context


class _Budgeter:
    """Tokens of the embedder: what a text costs, and its nearest stretch that fits a budget."""

    def __init__(self, source: str) -> None:
        from nbrag import models

        self.tok = models.load_tokenizer(settings.embedder)
        self.limit = (models.embedder_max_tokens() or FALLBACK_LIMIT) - len(self.tok.encode("").ids)
        self.source = source
        offsets = self.tok.encode(source, add_special_tokens=False).offsets if source else []
        self.offsets = [o for o in offsets if o[1] > o[0]]
        self.token_starts = [o[0] for o in self.offsets]

    def count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tok.encode_batch(texts, add_special_tokens=False)] if texts else []

    def before(self, a: int, b: int, budget: int) -> int:
        """The latest start in ``[a, b)`` whose tokens up to ``b`` fit ``budget``."""
        first = bisect.bisect_left(self.token_starts, a)
        last = bisect.bisect_left(self.token_starts, b)  # tokens starting before b
        while last > first and self.offsets[last - 1][1] > b:
            last -= 1
        if budget <= 0 or last <= first:
            return b
        return max(a, self.offsets[max(first, last - budget)][0])

    def after(self, a: int, b: int, budget: int) -> int:
        """The furthest end in ``(a, b]`` whose tokens from ``a`` fit ``budget``."""
        first = bisect.bisect_left(self.token_starts, a)
        stop = bisect.bisect_left(self.token_starts, b)
        while stop > first and self.offsets[stop - 1][1] > b:
            stop -= 1
        if budget <= 0 or stop <= first:
            return a
        return min(b, self.offsets[min(stop, first + budget) - 1][1])

    def cut(self, text: str, budget: int) -> str:
        """The longest start of ``text`` with at most ``budget`` tokens."""
        if budget <= 0:
            return ""
        offsets = self.tok.encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= budget else text[:offsets[budget - 1][1]]


def with_context(result: ChunkResult, config: ContextConfig) -> ChunkResult:
    """``result`` with each chunk's :attr:`Chunk.embed_text` set as ``config`` says (spans unchanged)."""
    if not config.on or not result.chunks:
        return result
    from nbrag.text import sentence_spans

    text = result.source
    budgeter = _Budgeter(text)
    sections = Sections(text)
    cuts = sorted({0, len(text), *(b for _, b in sentence_spans(text, lines=True))})
    own = budgeter.count([c.text for c in result.chunks])
    generated = _generated(result, config, budgeter) if "generated" in config.parts else {}
    chunks = []
    for c, n in zip(result.chunks, own):
        budget = budgeter.limit - n if config.context_size is None else min(config.context_size, budgeter.limit - n)
        embed_text = c.text
        for _ in range(4):  # a cut inside a word may cost a token more when read again: shrink and retry
            embed_text = _compose(c, config, budgeter, sections, cuts, generated.get(c.index, ""), budget)
            excess = budgeter.count([embed_text])[0] - max(budgeter.limit, n)
            if excess <= 0:
                break
            budget -= excess
        else:
            embed_text = c.text
        chunks.append(dataclasses.replace(c, embed_text=embed_text))
    params = {**result.params, "context": config.context}
    if config.title is not None:
        params["title"] = config.title
    return dataclasses.replace(result, chunks=chunks, params=params)


def _compose(c: Chunk, config: ContextConfig, budgeter: _Budgeter, sections: Sections, cuts: list[int],
             line: str, budget: int) -> str:
    """Title, generated line, then the chunk with its neighbouring sentences, within ``budget`` tokens."""
    if budget <= 0:
        return c.text
    head: list[str] = []
    if "title" in config.parts:
        path = list(c.meta.get("headings") or sections.path(c.start))
        if config.title and (not path or path[0] != config.title):
            path.insert(0, config.title)
        while path:  # the innermost headings matter most: drop outer ones until the path fits
            title = " > ".join(path)
            cost = budgeter.count([title])[0]
            if cost <= budget:
                head.append(title)
                budget -= cost
                break
            path.pop(0) if len(path) > 1 else path.clear()
    if line:
        line = budgeter.cut(line, budget)
        if line:
            head.append(line)
            budget -= budgeter.count([line])[0]
    before = after = ""
    n = config.parts.get("sentences", 0)
    if n and budget > 0:
        low, high = sections.bounds(c.start, c.end)
        i = bisect.bisect_left(cuts, c.start)  # cuts[i - 1] < start <= cuts[i]
        a = max(low, cuts[max(0, i - n)]) if c.start > low else c.start
        stop = c.end + len(budgeter.source[c.end:high]) - len(budgeter.source[c.end:high].lstrip())
        j = bisect.bisect_right(cuts, stop)  # cuts[j - 1] <= end (past its spaces) < cuts[j]
        b = min(high, cuts[min(len(cuts) - 1, j + n - 1)]) if c.end < high else c.end
        wanted_before, wanted_after = budgeter.count([text_of(budgeter, a, c.start), text_of(budgeter, c.end, b)])
        half = budget // 2  # nearest first on each side; a side that needs less leaves the rest to the other
        give_before = min(wanted_before, max(half, budget - wanted_after))
        give_after = min(wanted_after, budget - give_before)
        before = text_of(budgeter, budgeter.before(a, c.start, give_before), c.start).lstrip()
        after = text_of(budgeter, c.end, budgeter.after(c.end, b, give_after)).rstrip()
    return "\n".join([*head, before + c.text + after])


def text_of(budgeter: _Budgeter, a: int, b: int) -> str:
    return budgeter.source[a:b] if b > a else ""


def _generated(result: ChunkResult, config: ContextConfig, budgeter: _Budgeter) -> dict[int, str]:
    """One situating line per chunk from the generator (the first line of its reply, spaces collapsed)."""
    from nbrag.llm import resolve

    generator = resolve(config.context_generator)
    text = result.source
    lines = {}
    for c in result.chunks:
        # The document's opening (its title, what it is about), then the text around the chunk.
        head = budgeter.after(0, len(text), EXCERPT_TOKENS // 4)
        a = budgeter.before(0, c.start, EXCERPT_TOKENS * 3 // 8)
        b = budgeter.after(c.end, len(text), EXCERPT_TOKENS * 3 // 8)
        opening = text[:a] if a <= head else text[:head] + "\n…\n"
        excerpt = opening + text[a:b] + ("…" if b < len(text) else "")
        if config.title:
            excerpt = f"{config.title}\n\n{excerpt}"
        reply = generator.complete([{"role": "user", "content": PROMPT.format(document=excerpt, chunk=c.text)}],
                                   max_new_tokens=GENERATED_TOKENS)
        first = next((ln for ln in reply.splitlines() if ln.strip()), "")
        lines[c.index] = " ".join(first.split())
    return lines
