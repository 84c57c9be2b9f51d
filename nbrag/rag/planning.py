"""How the agent reads a question: its sub-questions, the answers they name, and the arithmetic in them.

* :func:`parse_plan` reads the model's plan (sub-questions one a line, later ones naming earlier
  answers as ``#1``, ``#2``, as MuSiQue's decompositions do) and refuses a reply that is not one;
* :func:`heuristic_plan` splits the question's wording instead: "What is the Y of the Z where …?"
  becomes "What is the Z where …?" then "What is the Y of #1?" (and recursively for "the X of the
  Y of the Z"); a question that does not split stays one sub-question;
* :func:`substitute` puts the answers found into ``#n``; :func:`arithmetic_of` finds the
  arithmetic a sub-question asks for (the agent's calculator computes it).
"""

from __future__ import annotations

import re

from nbrag.text import content_words

MAX_SUB_QUESTIONS = 4
PLAN_SYSTEM = ("Split the question into simple sub-questions, one per line. Refer to the answer of an earlier "
               "sub-question as #1, #2. Write only the sub-questions.")
PLAN_EXAMPLE = ("What is the capital of the country where the Eiffel Tower stands?",
                "In which country does the Eiffel Tower stand?\nWhat is the capital of #1?")
_ARITHMETIC = re.compile(r"[-+(]*\d[\d,.\s]*(?:\s*(?:[-+*/×÷^%]|\*\*)\s*[-+(]*\d[\d,.\s)]*)+")


def plan_messages(question: str) -> list[dict[str, str]]:
    """The planning prompt: the instruction, one worked example, the question."""
    return [{"role": "system", "content": PLAN_SYSTEM}, {"role": "user", "content": PLAN_EXAMPLE[0]},
            {"role": "assistant", "content": PLAN_EXAMPLE[1]}, {"role": "user", "content": question}]


_BRIDGE = re.compile(r"^(?P<wh>what|who|which|where|when|how \w+)\s+(?P<be>is|was|are|were)\s+the\s+(?P<head>.+?)\s+"
                     r"of\s+(?P<tail>the\s+.+?)\s*\??$", re.IGNORECASE)


def heuristic_plan(question: str) -> list[str]:
    """Sub-questions from the wording: "What is the Y of the Z …?" → "What is the Z …?", "What is the Y of #1?"."""
    plan: list[str] = []
    current = question.strip()
    while len(plan) < MAX_SUB_QUESTIONS - 1:
        match = _BRIDGE.match(current)
        if not match or len(content_words(match["tail"])) < 2:
            break
        outer = f"{match['wh'].capitalize()} {match['be']} the {match['head']} of #{{n}}?"
        plan.insert(0, outer)
        current = f"What is {match['tail']}?"
    if not plan:
        return [question.strip()]
    ordered = [current, *plan]
    return [q.replace("#{n}", f"#{i}") for i, q in enumerate(ordered)]


def parse_plan(reply: str, question: str) -> list[str] | None:
    """The model's sub-questions, or None when the reply is not a usable plan."""
    lines = []
    for line in reply.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)]|sub-?question\s*\d*:?|q\d+:?)\s*", "", line, flags=re.IGNORECASE).strip()
        if len(content_words(line)) >= 2 and line not in lines:
            lines.append(line)
    if len(lines) < 2 or len(lines) > MAX_SUB_QUESTIONS:
        return None  # one line is no decomposition; more than four, no plan
    if not all(looks_like_question(line) for line in lines):
        return None
    asked = set(content_words(question))
    example = {w.lower() for w in re.findall(r"(?<!^)\b[A-Z]\w+", PLAN_EXAMPLE[0])} - asked  # its names
    for line in lines:
        words = set(content_words(re.sub(r"#\d+", "", line)))
        if not words & asked or words & example:  # off the question, or copied from the example
            return None
    for i, line in enumerate(lines, start=1):
        if any(int(n) >= i for n in re.findall(r"#(\d+)", line)):
            return None  # a sub-question that needs its own or a later answer
    return lines


_QUESTION_START = re.compile(r"^(?:what|which|who|whom|whose|where|when|why|how|in|on|at|from|to|for|by|of|is|are|"
                             r"was|were|do|does|did|can|could|name)\b", re.IGNORECASE)


def looks_like_question(line: str) -> bool:
    """A short line that asks something and does not repeat itself (a small model's reply often loops)."""
    words = line.lower().split()
    if not 3 <= len(words) <= 30 or not (line.rstrip().endswith(("?", "？")) or _QUESTION_START.match(line)):
        return False
    trigrams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(trigrams) == len(set(trigrams))


_ASKS_TO_COMPUTE = re.compile(r"\b(?:calculate|compute|sum|difference|plus|minus|times|multiplied|divided|product|"
                              r"total)\b|计算|等于", re.IGNORECASE)
_LEAD = re.compile(r"^\s*(?:what\s+is|what's|how\s+much\s+is|calculate|compute|evaluate)?\s*", re.IGNORECASE)


def arithmetic_of(question: str) -> str | None:
    """The arithmetic a sub-question asks for: the whole question is an expression ("What is 1912 - 1869?"), or it
    asks to compute ("the difference 1912 - 1869"). A range such as "the 2001-2002 season" is not arithmetic."""
    match = _ARITHMETIC.search(question)
    if not match or not re.search(r"\d\s*(?:[-+*/×÷^%]|\*\*)\s*[-+(]*\d", match.group()):
        return None
    expression = match.group().strip().rstrip(".,")
    rest = _LEAD.sub("", question).strip().rstrip("?？=. ").strip()
    if rest == expression or _ASKS_TO_COMPUTE.search(question):
        return expression
    return None


def substitute(sub: str, answers: list[str | None]) -> str:
    """``sub`` with each ``#n`` replaced by the answer found for sub-question n (where there is one)."""
    def put(match: re.Match[str]) -> str:
        n = int(match.group(1))
        found = answers[n - 1] if 0 < n <= len(answers) else None
        return found or match.group()

    return re.sub(r"#(\d+)", put, sub)
