"""``%%ask``: a question answered from an index with citations (``nbrag.ask``), or by the agent (``nbrag.agent``).

The arguments are declared on :class:`nbrag.magics.NbragMagics` (so that ``%%ask?`` and
``%nbrag help`` show them); the work is done here: the question, the index, the generator and
the template resolved from the notebook's variables, the options checked, one call to the
engine with a ``stream`` callback that shows the reply as the model writes it, and the result
(an ``Answer`` or an ``AgentResult``) returned, which the notebook shows as its view.

The question is the cell, the rest of the line after ``--query``, or the words of the line
after its options (``%ask --index docs -k 3 Who built the first lens``: IPython reads a line that
ends in ``?`` as a request for help, so the line form ends without one).
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import parse_argstring

from nbrag.magics import _as_usage_error, _check_name, _split_query, _unquote

AGENT_ONLY = ("max_steps", "budget")


def split_line(parser: Any, line: str) -> tuple[str, str]:
    """The options of a line and the question after them: the question starts at the first word that is
    neither an option nor an option's value."""
    options_line, query = _split_query(line)
    if query is not None:
        return options_line, query
    takes_value = {flag: action.nargs != 0 for action in parser._actions for flag in action.option_strings}
    words = line.split()
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        flag = words[i].split("=", 1)[0]
        i += 2 if takes_value.get(flag, False) and "=" not in words[i] else 1
    if i >= len(words):
        return line, ""
    # the question is the rest of the line as written, from its first word on
    at = 0
    for word in words[:i]:
        at = line.index(word, at) + len(word)
    return line[:at], _unquote(line[at:].strip())


def _variable(magics: Any, name: str, option: str) -> Any:
    if name not in magics.shell.user_ns:
        raise UsageError(f"{option} {name}: no variable of that name in this notebook.")
    return magics.shell.user_ns[name]


def _generator(magics: Any, name: str | None) -> Any:
    """``--generator``: a variable holding ``(model, tokenizer)`` or a ``complete(messages)`` callable, else a
    Hugging Face model id as given."""
    if name is None:
        return None
    value = magics.shell.user_ns.get(name)
    if value is not None and (callable(value) or isinstance(value, tuple)):
        return value
    return name


def _template(magics: Any, name: str | None) -> Any:
    if name is None:
        return None
    from nbrag.rag.prompt import PromptTemplate

    value = _variable(magics, name, "--template")
    if not isinstance(value, PromptTemplate):
        raise UsageError(f"--template {name} holds a {type(value).__name__}, not an nbrag PromptTemplate: make one "
                         "with PromptTemplate(system=..., user='... {sources} ... {question}').")
    return value


def _check(args: Any) -> None:
    for option, value, low in (("-k", args.k, 1), ("--max-steps", args.max_steps, 1), ("--budget", args.budget, 1),
                               ("--max-new-tokens", args.max_new_tokens, 1),
                               ("--context-tokens", args.context_tokens, 1)):
        if value is not None and value < low:
            raise UsageError(f"{option} {value}: give a whole number of at least {low}.")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold {args.threshold}: the support threshold is a cosine similarity between 0 "
                         "and 1 (e.g. --threshold 0.55).")
    if bool(args.endpoint) != bool(args.model):
        given, missing = ("--endpoint", "--model NAME") if args.endpoint else ("--model", "--endpoint URL")
        raise UsageError(f"{given} needs {missing} too: an OpenAI-compatible server is named by its base URL and "
                         "the model's name there (e.g. --endpoint http://localhost:8000/v1 --model qwen2.5).")
    if args.endpoint and args.generator:
        raise UsageError("Give --generator or --endpoint/--model, not both.")
    if not args.agent:
        used = [f"--{name.replace('_', '-')}" for name in AGENT_ONLY if getattr(args, name) is not None]
        if used:
            raise UsageError(f"{', '.join(used)}: option(s) of the agent; add --agent.")


def ask(magics: Any, line: str, cell: str | None) -> Any:
    options_line, from_line = split_line(magics.ask.parser, line)
    args = parse_argstring(magics.ask, options_line)
    _check_name(args.output)
    body = (cell or "").strip()
    if body and from_line:
        raise UsageError("Question given twice (the cell and the line): keep one of them.")
    question = body or from_line
    if not question:
        raise UsageError("No question: write it in the cell under %%ask, or after the options of %ask "
                         "(e.g. %ask --index docs Who built the first lens).")
    _check(args)
    index = magics._index(args.index)
    options: dict[str, Any] = {
        "mode": args.mode, "k": args.k if args.k is not None else magics.top_k,
        "generator": _generator(magics, args.generator), "endpoint": args.endpoint, "model": args.model,
    }
    if args.agent:
        from nbrag.rag import agent as run

        options.update({"max_steps": args.max_steps, "token_budget": args.budget})
    else:
        from nbrag.rag import ask as run

    options["template"] = _template(magics, args.template)  # with --agent: the template of its final draft
    options.update({"graph": args.graph, "context_tokens": args.context_tokens, "support_threshold": args.threshold,
                    "max_new_tokens": args.max_new_tokens})
    options = {k: v for k, v in options.items() if v is not None}
    result = _stream(lambda stream: run(question, index, stream=stream, **options))
    return magics._store(args.output, result)


def _stream(call: Any) -> Any:
    """Run ``call(stream)`` with the reply shown as it arrives; the streamed text is removed when it returns."""
    from IPython.display import display

    from nbrag.endpoints import EndpointError
    from nbrag.models import ModelUnavailableError
    from nbrag.views.rag import StreamView

    view = StreamView()
    shown = display(view.widget, display_id=True)
    try:
        return call(view)
    except (ValueError, TypeError, ModelUnavailableError, EndpointError, TimeoutError) as error:
        raise _as_usage_error(error) from None
    finally:
        view.close()
        if shown is not None:  # a saved notebook keeps an empty output, not a closed widget
            shown.update({"text/html": ""}, raw=True)
