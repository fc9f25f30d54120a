"""Typed readers of a run's parameter values, the one place a program reads them (torch-free).

A technique's plan and program read its parameters through these, by the type its `Param`
declares: `integer`, `number`, `text`, `flag` and the lists `integers`, `numbers`, `texts`;
`maybe_*` where a variant may unset one (None: "not given"). A value of another type than the one
asked for is a program's mistake or a hand-written spec's: a one-line `ExperimentError`.
"""

from __future__ import annotations

from collections.abc import Mapping

from contract.params import ParamValue

from .harness.errors import ExperimentError

#: the parameters a reader reads: `ParamValues`, or any mapping of names to its values
Values = Mapping[str, ParamValue]


def _wrong(name: str, what: str, value: object) -> ExperimentError:
    return ExperimentError(f"parameter {name!r} must be {what}, got {value!r:.60}")


def _get(params: Values, name: str, what: str) -> ParamValue:
    if name not in params:
        raise ExperimentError(f"parameter {name!r} is not given (expected {what})")
    return params[name]


def maybe_integer(params: Values, name: str) -> int | None:
    """``params[name]``: an integer, or None when it is absent or unset."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(name, "an integer", value)
    return value


def integer(params: Values, name: str, default: int | None = None) -> int:
    """``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    value = maybe_integer(params, name)
    if value is None:
        if default is not None:
            return default
        raise _missing(params, name, "an integer")
    return value


def maybe_number(params: Values, name: str) -> float | None:
    """``params[name]``: a number (an integer read as a float), or None when absent or unset."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(name, "a number", value)
    return float(value)


def number(params: Values, name: str, default: float | None = None) -> float:
    """``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    value = maybe_number(params, name)
    if value is None:
        if default is not None:
            return default
        raise _missing(params, name, "a number")
    return value


def maybe_text(params: Values, name: str) -> str | None:
    """``params[name]``: a string (a `str` or `choice` parameter), or None when absent or unset."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(name, "a string", value)
    return value


def text(params: Values, name: str, default: str | None = None) -> str:
    """``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    value = maybe_text(params, name)
    if value is None:
        if default is not None:
            return default
        raise _missing(params, name, "a string")
    return value


def flag(params: Values, name: str) -> bool:
    """``params[name]``: true or false (absent or unset: false)."""
    value = params.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong(name, "true or false", value)
    return value


def _items(params: Values, name: str, what: str) -> list[object] | None:
    """The items of the list ``params[name]``; None when it is absent or unset."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _wrong(name, what, value)
    return list(value)


def _missing(params: Values, name: str, what: str) -> ExperimentError:
    return _wrong(name, what, _get(params, name, what))


def integers(params: Values, name: str, default: list[int] | None = None) -> list[int]:
    """The list ``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    what = "a list of integers"
    items = _items(params, name, what)
    if items is None:
        if default is None:
            raise _missing(params, name, what)
        return list(default)
    out: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise _wrong(name, what, params[name])
        out.append(item)
    return out


def numbers(params: Values, name: str, default: list[float] | None = None) -> list[float]:
    """The list ``params[name]``, its integers read as floats; ``default`` when absent or unset."""
    what = "a list of numbers"
    items = _items(params, name, what)
    if items is None:
        if default is None:
            raise _missing(params, name, what)
        return list(default)
    out: list[float] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise _wrong(name, what, params[name])
        out.append(float(item))
    return out


def texts(params: Values, name: str, default: list[str] | None = None) -> list[str]:
    """The list ``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    what = "a list of strings"
    items = _items(params, name, what)
    if items is None:
        if default is None:
            raise _missing(params, name, what)
        return list(default)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _wrong(name, what, params[name])
        out.append(item)
    return out
