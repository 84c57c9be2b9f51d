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
