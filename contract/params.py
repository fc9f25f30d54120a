"""Parameters: their declaration, validation and conversion, the one copy.

The experiment programs declare them (experiments/declare.py) and check what a run is given; the
lab reads the catalog's declarations into the same `Param` and converts what a person types (the
command line's `-p key=value`, the control room's forms) with the same `coerce`, so a value is
accepted, converted and refused the same way everywhere, with the same words. Values arrive
either typed (JSON from the lab, ``plan --params``) or as text; both go through `Param.coerce`.
(The experiment programs may import this package: standard library only, nothing of the lab.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from contract.jsonvalue import JsonObject

TYPES = ("int", "float", "bool", "str", "choice", "int_list", "float_list", "str_list")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

#: one parameter's value, coerced: a scalar or a list of scalars of one of `TYPES`; None where a
#: variant unsets one (the programs read it as "not given")
ParamValue = bool | int | float | str | list[int] | list[float] | list[str] | None
#: an experiment's (or a variant's) parameter values by name
ParamValues = dict[str, ParamValue]


class ParamError(ValueError):
    """A value that cannot be accepted; ``param`` is None for errors about no parameter."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message

    def to_json(self) -> JsonObject:
        return {"param": self.param, "message": self.message}

    def __str__(self) -> str:
        return f"{self.param}: {self.message}" if self.param else self.message


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown parameter type {self.type!r}")

    def to_json(self) -> JsonObject:
        out: JsonObject = {"name": self.name, "type": self.type,
                               "default": self.default, "help": self.help}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out

    def describe_range(self) -> str:
        """What the parameter accepts, in a few words (help texts, the catalog's table)."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.type == "bool":
            return "true or false"
        lo = "" if self.min is None else f"{self.min:g}"
        hi = "" if self.max is None else f"{self.max:g}"
        if lo or hi:
            return f"{lo}..{hi}"
        return self.type

    def _range_text(self, what: str) -> str:
        if self.min is not None and self.max is not None:
            return f"{what} between {_fmt(self.min)} and {_fmt(self.max)}"
        if self.min is not None:
            return f"{what} >= {_fmt(self.min)}"
        if self.max is not None:
            return f"{what} <= {_fmt(self.max)}"
        return what

    def _in_range(self, value: float) -> bool:
        return not ((self.min is not None and value < self.min)
                    or (self.max is not None and value > self.max))

    def _scalar(self, kind: str, value: object) -> bool | int | float | str:
        """Coerce one scalar of ``kind``; raise ParamError("must be ..., got ...")."""
        if kind in ("int", "float"):
            return self._number(kind, value)
        if kind == "bool":
            return self._bool(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ParamError(self.name, f"must be a string, got {value!r}")
            return value
        if kind == "choice":
            if not isinstance(value, str) or value not in (self.choices or ()):
                raise ParamError(self.name, f"must be one of {', '.join(map(str, self.choices or ()))}, got {value!r}")
            return value
        raise AssertionError(kind)

    def _number(self, kind: str, got: Any) -> int | float:
        """An int or a float within the bounds, from a number or its text."""
        what = self._range_text("an integer" if kind == "int" else "a number")
        bad = ParamError(self.name, f"must be {what}, got {got!r}")
        value = got
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise bad from None
            if kind == "int" and value.is_integer() and abs(value) < 2**53:
                value = int(value)
        number: int | float
        if kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise bad
            number = value
        else:
            if not isinstance(value, (int, float)):
                raise bad
            if not math.isfinite(value):
                raise ParamError(self.name, f"must be a finite number, got {got!r}")
            number = float(value)
        if not self._in_range(number):
            raise bad
        return number

    def _bool(self, value: Any) -> bool:
        """A bool, from a bool, 0 or 1, or its words (true/false, yes/no, ...)."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ParamError(self.name, f"must be true or false, got {value!r}")

    def coerce(self, value: object) -> ParamValue:
        """Return ``value`` converted to this parameter's type, or raise ParamError."""
        if not self.type.endswith("_list"):
            return self._scalar(self.type, value)
        item = self.type[: -len("_list")]
        if item == "str" and self.choices is not None:
            item = "choice"
        items = value
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except json.JSONDecodeError:
                    raise ParamError(self.name, f"must be a list, got {value!r}") from None
            else:
                items = [part.strip() for part in text.split(",") if part.strip()]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and item != "choice":
            items = [value]
        if not isinstance(items, list) or not items:
            raise ParamError(self.name, f"must be a non-empty list, got {value!r}")
        out = []
        for raw in items:
            try:
                out.append(self._scalar(item, raw))
            except ParamError as exc:
                raise ParamError(self.name, f"every item {exc.message}") from None
        return cast(ParamValue, out)  # every item of one kind: list[int], list[float] or list[str]


def validate(params: list[Param], given: Mapping[str, object]) -> tuple[ParamValues, list[ParamError]]:
    """Fill defaults and coerce ``given``; return (values, errors). Unknown names are errors."""
    by_name = {p.name: p for p in params}
    errors: list[ParamError] = []
    values: ParamValues = {}
    for name in given:
        if name not in by_name:
            errors.append(ParamError(name, f"unknown parameter (known: {', '.join(sorted(by_name))})"))
    for p in params:
        if p.name in given:
            try:
                values[p.name] = p.coerce(given[p.name])
            except ParamError as exc:
                errors.append(exc)
        else:
            values[p.name] = list(p.default) if isinstance(p.default, list) else p.default
    return values, errors


def _scalar_value(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def param_values(raw: object) -> ParamValues | None:
    """``raw`` (decoded JSON: a spec's or a request's parameters) as parameter values, or None when
    it is not an object of scalars (null included) and lists of scalars. Only their shape is checked
    here; each value is coerced by its `Param` where the parameters are known."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        return None
    for value in raw.values():
        if not (_scalar_value(value) or (isinstance(value, list) and all(map(_scalar_value, value)))):
            return None
    return cast(ParamValues, raw)
