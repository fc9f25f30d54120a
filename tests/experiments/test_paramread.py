"""The typed readers of a run's parameters (experiments/paramread.py): the value of the type asked
for, the default where a variant leaves it unset, a one-line ExperimentError otherwise."""

from __future__ import annotations

import pytest

from contract.params import ParamValues
from experiments import paramread
from experiments.harness.errors import ExperimentError

VALUES: ParamValues = {"epochs": 3, "lr": 2, "method": "magnitude", "fused": True, "unset": None,
                       "hidden": [64, 32], "grid": [1, 0.5], "names": ["a", "b"]}


def test_each_reader_returns_the_type_it_names() -> None:
    assert paramread.integer(VALUES, "epochs") == 3
    assert paramread.number(VALUES, "lr") == 2.0 and isinstance(paramread.number(VALUES, "lr"), float)
    assert paramread.text(VALUES, "method") == "magnitude"
    assert paramread.flag(VALUES, "fused") is True and paramread.flag(VALUES, "unset") is False
    assert paramread.integers(VALUES, "hidden") == [64, 32]
    assert paramread.numbers(VALUES, "grid") == [1.0, 0.5]
    assert paramread.texts(VALUES, "names") == ["a", "b"]


def test_an_unset_or_absent_value_takes_the_default_or_is_none() -> None:
    assert paramread.integer(VALUES, "unset", 7) == 7
    assert paramread.number(VALUES, "absent", 0.1) == 0.1
    assert paramread.texts(VALUES, "unset", ["x"]) == ["x"]
    assert paramread.maybe_number(VALUES, "unset") is None
    assert paramread.maybe_integer(VALUES, "absent") is None
    with pytest.raises(ExperimentError, match="'absent' is not given"):
        paramread.integer(VALUES, "absent")


@pytest.mark.parametrize(("reader", "name", "words"), [
    (paramread.integer, "grid", "an integer"), (paramread.integer, "fused", "an integer"),
    (paramread.number, "method", "a number"), (paramread.text, "epochs", "a string"),
    (paramread.flag, "epochs", "true or false"), (paramread.integers, "grid", "a list of integers"),
    (paramread.numbers, "names", "a list of numbers"), (paramread.texts, "method", "a list of strings"),
])
def test_a_value_of_another_type_is_a_one_line_error(reader, name: str, words: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        reader(VALUES, name)
    message = str(caught.value)
    assert f"parameter {name!r} must be {words}" in message and "\n" not in message
