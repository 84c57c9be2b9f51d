"""The agent's calculator: arithmetic from the syntax tree; anything else refused by name."""

import pytest

from nbrag.errors import NbragError, NbragTypeError
from nbrag.rag import calculate


@pytest.mark.parametrize("expression, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("7 // 2", 3), ("7 % 4", 3), ("2 ** 10", 1024),
    ("-3 + +5", 2), ("sqrt(16)", 4.0), ("round(2.567, 2)", 2.57), ("abs(-4)", 4), ("min(3, 1, 2)", 1),
    ("max(3, 1, 2)", 3), ("log(100, 10)", 2.0), ("1,200 + 300 =", 1500), ("1912 - 1869?", 43), ("3 × 4 ÷ 2", 6.0),
    ("2^3", 8),
])
def test_arithmetic(expression, value):
    assert calculate(expression) == pytest.approx(value)


@pytest.mark.parametrize("attack, named", [
    ("__import__('os').system('echo hi')", "__import__"),
    ("().__class__.__bases__[0].__subclasses__()", "only calls sqrt"),
    ("().__class__", "the attribute"),
    ("open('/etc/passwd').read()", "open"),
    ("x + 1", "the name 'x'"),
    ("(lambda: 1)()", "calls"),
    ("[1, 2][0]", "subscript"),
    ("'a' * 3", "not a number"),
    ("1 < 2", "comparison"),
    ("sqrt.__globals__", "attribute"),
    ("max(1, key=abs)", "keyword"),
])
def test_attacks_are_refused_by_name(attack, named):
    with pytest.raises(ValueError, match=r"calculator|keyword") as error:
        calculate(attack)
    assert named in str(error.value)


@pytest.mark.parametrize("expression", ["9**9**9", "10**100000", "2**5000", "(10**900) * (10**900)"])
def test_huge_numbers_are_refused_before_they_are_computed(expression):
    with pytest.raises(ValueError, match=r"exponents are limited|digits"):
        calculate(expression)


def test_clear_errors():
    with pytest.raises(NbragError, match=r"^expression='1 / 0': divides by zero\.$") as error:
        calculate("1 / 0")
    assert error.value.option == "expression"
    with pytest.raises(NbragTypeError, match=r"^expression=3: calculate takes an expression as text, not int"):
        calculate(3)
    with pytest.raises(ValueError, match="divides by zero"):
        calculate("1 / 0")
    with pytest.raises(ValueError, match="empty"):
        calculate("  ")
    with pytest.raises(ValueError, match="not an arithmetic expression"):
        calculate("1 +")
    with pytest.raises(TypeError, match="as text"):
        calculate(3)
    with pytest.raises(ValueError, match="cannot be computed"):
        calculate("sqrt(-1)")
