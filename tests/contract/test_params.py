"""One parameter conversion for every room (contract/params.py): the experiment programs' check,
the command line's `-p key=value` (science.catalog.typed) and the control room's forms
(tui.params.parse_value) accept, convert and refuse the same texts with the same words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.params import Param, ParamError
from science.catalog import typed
from tui.params import parse_value

PARAMS = {
    "epochs": Param("epochs", "int", 30, "", 1, 500),
    "lr": Param("lr", "float", 0.01, "", 0.0, 1.0),
    "amp": Param("amp", "bool", False),
    "dataset": Param("dataset", "choice", "digits", choices=("digits", "synthetic")),
    "sparsities": Param("sparsities", "float_list", [0.5], "", 0.0, 0.99),
}


@pytest.mark.parametrize(("name", "text", "value"), [
    ("epochs", "40", 40), ("epochs", "4e1", 40), ("lr", "1e-3", 0.001), ("amp", "on", True), ("amp", "No", False),
    ("dataset", "synthetic", "synthetic"), ("sparsities", "0.3, 0.7", [0.3, 0.7]), ("sparsities", "[0.3]", [0.3]),
])
def test_every_room_converts_a_good_text_the_same_way(name: str, text: str, value: Any) -> None:
    param = PARAMS[name]
    assert param.coerce(text) == value
    assert typed(param, text) == value
    assert parse_value(param, text) == (value, None)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("epochs", "ten", "must be an integer between 1 and 500, got 'ten'"),
    ("epochs", "0", "must be an integer between 1 and 500, got '0'"),
    ("lr", "nan", "must be a finite number, got 'nan'"),
    ("amp", "maybe", "must be true or false, got 'maybe'"),
    ("dataset", "mnist", "must be one of digits, synthetic, got 'mnist'"),
    ("sparsities", "0.3, 1.5", "every item must be a number between 0 and 0.99, got '1.5'"),
])
def test_every_room_refuses_a_bad_text_with_the_same_words(name: str, text: str, message: str) -> None:
    param = PARAMS[name]
    with pytest.raises(ParamError) as caught:
        param.coerce(text)
    assert caught.value.message == message and str(caught.value) == f"{name}: {message}"
    assert parse_value(param, text) == (None, message)
    assert typed(param, text) == text  # the command line passes it on; the catalog refuses it in these words


def test_the_catalog_s_declarations_read_back_as_the_programs_declared_them() -> None:
    from contract.catalog_answer import read_catalog, write_catalog
    from experiments.catalog import get

    exp = get("pruning")
    assert exp is not None
    declared = {p.name: p for p in exp.params}
    entry = read_catalog(json.loads(json.dumps(write_catalog([exp.entry()]))))["pruning"]
    for param in entry.params:
        mine = declared[param.name]
        assert (param.type, param.default, param.min, param.max, param.choices) == \
            (mine.type, mine.default, mine.min, mine.max, mine.choices)
