"""Retrieval-augmented answers with citations, and an agent that plans, retrieves again and checks itself.

    answer = nbrag.ask(question, index="docs", k=4)        # Answer: text, sources, citations, prompt, support
    result = nbrag.agent(question, index="docs")            # AgentResult: answer and every step of its trace
    nbrag.rag.calculate("(1912 - 1869) * 2")                # the agent's safe calculator

See :mod:`nbrag.rag.answer` (ask), :mod:`nbrag.rag.agentic` and :mod:`nbrag.rag.planning` (the agent),
:mod:`nbrag.rag.prompt` (the template and the token budget) and :mod:`nbrag.rag.support` (citations and
the support check). Both answer with any model :func:`nbrag.llm.resolve` accepts (``generator=``, or
``endpoint=`` and ``model=``).
"""

from nbrag.rag.agentic import agent
from nbrag.rag.answer import ask
from nbrag.rag.base import ACTIONS, AgentResult, AgentStep, Answer, Citation, Source, Support
from nbrag.rag.calculator import calculate
from nbrag.rag.prompt import CLOSED_BOOK_TEMPLATE, DEFAULT_TEMPLATE, PromptTemplate
from nbrag.rag.support import SUPPORT_THRESHOLD, parse_citations, split_sentences, support_check

__all__ = ["ACTIONS", "CLOSED_BOOK_TEMPLATE", "DEFAULT_TEMPLATE", "SUPPORT_THRESHOLD", "AgentResult", "AgentStep",
           "Answer", "Citation", "PromptTemplate", "Source", "Support", "agent", "ask", "calculate", "parse_citations",
           "split_sentences", "support_check"]
