"""A safe calculator: arithmetic read from Python's syntax tree, never ``eval``.

``calculate("(1912 - 1869) * 2")`` → 86. Allowed: numbers, ``+ - * / // % **``, unary ``+``/``-``,
parentheses, and the functions ``sqrt``, ``log`` (natural, or ``log(x, base)``), ``round``,
``abs``, ``min`` and ``max``; ``pi`` and ``e``. Anything else (names, attributes, subscripts,
other calls, strings) is refused with an :class:`~nbrag.errors.NbragError` naming it. Exponents are bounded
(``|exponent| <= 1000`` and results of at most ``MAX_DIGITS`` digits), so ``9**9**9`` is
refused before it is computed. Thousands separators and a trailing ``=`` or ``?`` are
tolerated ("1,200 + 300 =").
"""

from __future__ import annotations

import ast
import math
import operator
import re

from nbrag.errors import NbragError, NbragTypeError

MAX_EXPONENT = 1000
MAX_DIGITS = 1000
MAX_LENGTH = 500
FUNCTIONS = {"sqrt": math.sqrt, "log": math.log, "round": round, "abs": abs, "min": min, "max": max}
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
ALLOWED = "numbers, + - * / // % **, parentheses, " + ", ".join(FUNCTIONS) + ", pi and e"


def calculate(expression: str) -> int | float:
    """The value of an arithmetic ``expression`` (see the module's docstring for what is allowed)."""
    if not isinstance(expression, str):
        raise NbragTypeError(f"calculate takes an expression as text, not {type(expression).__name__}.",
                             option="expression", value=expression)
    text = expression.strip().rstrip("=?").strip().replace("×", "*").replace("÷", "/").replace("^", "**")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,200 -> 1200
    if not text:
        raise _refused(expression, "empty: write arithmetic such as (3 + 4) * 2.")
    if len(text) > MAX_LENGTH:
        raise NbragError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are read.",
                         option="expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise _refused(expression, f"not an arithmetic expression: use {ALLOWED}.") from None
    return _value(tree.body, expression)


def _value(node: ast.AST, expression: str) -> int | float:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _refused(expression, f"holds {node.value!r}, which is not a number; the calculator reads {ALLOWED}.")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _value(node.left, expression), _value(node.right, expression)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right, expression)
        try:
            result = BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise _refused(expression, "divides by zero.") from None
        except OverflowError:
            raise _refused(expression, "is too large to compute.") from None
        return _bounded(result, expression)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_value(node.operand, expression))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise _refused(expression, f"calls {ast.unparse(node.func)!r}; the calculator only calls "
                                       f"{', '.join(FUNCTIONS)}.")
        if node.keywords:
            raise _refused(expression, f"passes a keyword argument to {node.func.id}; give numbers only.")
        args = [_value(a, expression) for a in node.args]
        try:
            return _bounded(FUNCTIONS[node.func.id](*args), expression)
        except (TypeError, ValueError) as error:
            raise _refused(expression, f"{node.func.id}{tuple(args)} cannot be computed: {error}.") from None
    what = {ast.Name: "the name", ast.Attribute: "the attribute", ast.Subscript: "the subscript",
            ast.Lambda: "a lambda", ast.Compare: "the comparison", ast.BoolOp: "the boolean operation"}
    shown = ast.unparse(node)
    raise _refused(expression, f"holds {what.get(type(node), 'the expression')} {shown!r}, which the calculator "
                               f"refuses: it reads {ALLOWED}.")


def _check_power(base: int | float, exponent: int | float, expression: str) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise _refused(expression, f"raises to the power {exponent:g}; exponents are limited to ±{MAX_EXPONENT}.")
    whole = isinstance(base, int) and isinstance(exponent, int)
    if whole and exponent > 0 and abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_DIGITS:
        raise _refused(expression, f"would have more than {MAX_DIGITS} digits.")


def _bounded(value: int | float, expression: str) -> int | float:
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise _refused(expression, f"gives a number of more than {MAX_DIGITS} digits.")
    if isinstance(value, float) and math.isinf(value):
        raise _refused(expression, "is too large to compute.")
    return value


def _refused(expression: str, message: str) -> NbragError:
    return NbragError(message, option="expression", value=expression)
