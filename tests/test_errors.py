"""nbrag.errors: one user-error type that names its option, survives pickling, and says which extra to install."""

from __future__ import annotations

import pickle
import warnings

import pytest

from nbrag import errors
from nbrag.errors import EndpointError, MissingExtraError, ModelUnavailableError, NbragError, NbragTypeError


def test_the_message_is_headed_by_the_option_or_a_magics_flag():
    error = NbragError("must be at least 1.", option="top_k", value=0)
    assert str(error) == "top_k=0: must be at least 1."
    assert error.render("-k") == "-k 0: must be at least 1."
    assert str(NbragError("no endpoint given.", option="model")) == "model: no endpoint given."
    assert str(NbragError("Nothing to do.")) == "Nothing to do."


def test_every_user_error_is_a_value_error_and_type_errors_are_type_errors_too():
    for kind in (ModelUnavailableError, EndpointError, MissingExtraError, NbragTypeError):
        assert issubclass(kind, NbragError) and issubclass(kind, ValueError)
    assert issubclass(NbragTypeError, TypeError)


def test_errors_survive_pickling():
    error = pickle.loads(pickle.dumps(ModelUnavailableError("not installed.", option="generator", value="x")))
    assert type(error) is ModelUnavailableError
    assert (str(error), error.option, error.value) == ("generator='x': not installed.", "generator", "x")


def test_require_names_the_extra_to_install():
    assert errors.require("json", "graph", "JSON") is __import__("json")
    with pytest.raises(MissingExtraError, match=r'GraphRAG needs the package \'no_such_pkg\', which is not installed: '
                                                r'run pip install "nbrag\[graph\]"'):
        errors.require("no_such_pkg.sub", "graph", "GraphRAG")


def test_a_renamed_name_warns_once():
    errors._warned.discard("old.name")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors.renamed("old.name", "new.name")
        errors.renamed("old.name", "new.name")
    assert [str(w.message) for w in caught] == ["old.name is now new.name; the old name will be removed in the "
                                                "next release."]
    assert caught[0].category is FutureWarning


def test_whole_numbers_are_checked_in_one_place():
    import numpy as np

    assert errors.whole_number(3, "k") == 3 and errors.whole_number(np.int64(2), "k") == 2
    with pytest.raises(NbragError, match=r"^k=0: give a whole number of at least 1\.$"):
        errors.whole_number(0, "k")
    for wrong in (True, 2.0, "3"):
        with pytest.raises(NbragTypeError, match=r"give a whole number of at least 0 \(60 is usual\)\.$"):
            errors.whole_number(wrong, "rrf_k", 0, " (60 is usual)")


def test_whole_numbers_refuse_bools_floats_nan_and_infinities():
    for wrong in (True, False, 2.5, float("nan"), float("inf"), None, [3]):
        with pytest.raises(NbragTypeError, match=r"^steps=.*: give a whole number of at least 0\.$"):
            errors.whole_number(wrong, "steps", 0)


@pytest.mark.parametrize("value, bounds, message", [
    (float("nan"), {}, "x=nan: give a finite number."),
    (float("-inf"), {}, "x=-inf: give a finite number."),
    (10 ** 400, {"above": 0}, "give a finite number greater than 0."),
    (float("inf"), {"above": 0, "hint": " (e.g. 2e-4)"}, "x=inf: give a finite number greater than 0 (e.g. 2e-4)."),
    (0, {"above": 0}, "x=0: give a number greater than 0."),
    (-0.5, {"least": 0}, "x=-0.5: give a number of at least 0."),
    (1, {"least": 0, "below": 1}, "x=1: give a number of at least 0 and less than 1."),
    (1.5, {"least": -1, "most": 1}, "x=1.5: give a number from -1 to 1."),
    (0.5, {"above": 0.5, "most": 1}, "x=0.5: give a number greater than 0.5 and at most 1."),
    (2, {"most": 1}, "x=2: give a number of at most 1."),
])
def test_a_number_out_of_its_bounds_or_not_finite_is_refused(value, bounds, message):
    with pytest.raises(NbragError) as caught:
        errors.number(value, "x", **bounds)
    assert type(caught.value) is NbragError and str(caught.value).endswith(message)


def test_numbers_are_real_finite_and_not_bools():
    import fractions

    import numpy as np

    assert errors.number(0, "x", least=0, below=1) == 0.0 and errors.number(1, "x", least=-1, most=1) == 1.0
    assert errors.number(np.float32(0.25), "x", above=0) == 0.25
    assert errors.number(fractions.Fraction(1, 4), "x") == 0.25
    assert type(errors.number(3, "x")) is float
    for wrong in (True, "0.1", None, [0.1], 1j):
        with pytest.raises(NbragTypeError, match=r"^lr=.*: give a number greater than 0 \(e\.g\. 2e-4\)\.$"):
            errors.number(wrong, "lr", above=0, hint=" (e.g. 2e-4)")
