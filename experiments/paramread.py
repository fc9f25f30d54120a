"""Typed readers of a run's parameter values, the one place a program reads them (torch-free).

A technique's plan and program read its parameters through these, by the type its `Param`
declares: `integer`, `number`, `text`, `flag` and the lists `integers`, `numbers`, `texts`;
`maybe_*` where a variant may unset one (None: "not given"). A value of another type than the one
asked for is a program's mistake or a hand-written spec's: a one-line `ExperimentError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from contract.params import ParamValue

from .harness.errors import ExperimentError

#: the parameters a reader reads: `ParamValues`, or any mapping of names to its values
Values = Mapping[str, ParamValue]
T = TypeVar("T")


def _wrong(name: str, what: str, value: object) -> ExperimentError:
    return ExperimentError(f"parameter {name!r} must be {what}, got {value!r:.60}")


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _maybe(params: Values, name: str, what: str, accept: Callable[[object], T | None]) -> T | None:
    """``params[name]`` as ``accept`` reads it; None when it is absent or unset (None)."""
    value = params.get(name)
    if value is None:
        return None
    got = accept(value)
    if got is None:
        raise _wrong(name, what, value)
    return got


def _given(params: Values, name: str, what: str, value: T | None, default: T | None) -> T:
    """``value``, else ``default``, else the error of a value not given."""
    if value is not None:
        return value
    if default is not None:
        return default
    if name not in params:
        raise ExperimentError(f"parameter {name!r} is not given (expected {what})")
    raise _wrong(name, what, params[name])


def maybe_integer(params: Values, name: str) -> int | None:
    """``params[name]``: an integer, or None when it is absent or unset."""
    return _maybe(params, name, "an integer", _as_int)


def integer(params: Values, name: str, default: int | None = None) -> int:
    """``params[name]``; ``default`` when it is absent or unset (no default: an error)."""
    return _given(params, name, "an integer", maybe_integer(params, name), default)


def maybe_number(params: Values, name: str) -> float | None:
    """``params[name]``: a number (an integer read as a float), or None when absent or unset."""
    return _maybe(params, name, "a number", _as_float)


def number(params: Values, name: str, default: float | None = None) -> float:
    return _given(params, name, "a number", maybe_number(params, name), default)


def maybe_text(params: Values, name: str) -> str | None:
    """``params[name]``: a string (a `str` or `choice` parameter), or None when absent or unset."""
    return _maybe(params, name, "a string", _as_str)


def text(params: Values, name: str, default: str | None = None) -> str:
    return _given(params, name, "a string", maybe_text(params, name), default)


def flag(params: Values, name: str) -> bool:
    """``params[name]``: true or false (absent or unset: false)."""
    return _maybe(params, name, "true or false", lambda v: v if isinstance(v, bool) else None) or False


def _list(params: Values, name: str, what: str, accept: Callable[[object], T | None],
          default: list[T] | None) -> list[T]:
    """The list ``params[name]``, each item as ``accept`` reads it; ``default`` when it is absent or
    unset (no default: an error)."""
    value = params.get(name)
    if value is None:
        return list(_given(params, name, what, None, default))
    items = [accept(item) for item in value] if isinstance(value, list) else [None]
    out = [item for item in items if item is not None]
    if len(out) != len(items):
        raise _wrong(name, what, value)
    return out


def integers(params: Values, name: str, default: list[int] | None = None) -> list[int]:
    return _list(params, name, "a list of integers", _as_int, default)


def numbers(params: Values, name: str, default: list[float] | None = None) -> list[float]:
    """The list ``params[name]``, its integers read as floats; ``default`` when absent or unset."""
    return _list(params, name, "a list of numbers", _as_float, default)


def texts(params: Values, name: str, default: list[str] | None = None) -> list[str]:
    return _list(params, name, "a list of strings", _as_str, default)
