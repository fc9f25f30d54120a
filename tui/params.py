"""Parameter values typed in a form, checked against the catalog's types and ranges at once,
so a bad value is shown next to its field before anything is sent (the engine checks again)."""

from __future__ import annotations

import json
from typing import Any

from agents.catalog import CatalogEntry, Param

TRUE = {"true", "yes", "1", "on"}
FALSE = {"false", "no", "0", "off"}


def value_text(param: Param, value: Any) -> str:
    """A parameter value as typed in a form field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value_text(param, v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _range(param: Param) -> str:
    lo, hi = param.min, param.max
    if lo is not None and hi is not None:
        return f" between {lo:g} and {hi:g}"
    if lo is not None:
        return f" of at least {lo:g}"
    if hi is not None:
        return f" of at most {hi:g}"
    return ""


def _scalar(param: Param, kind: str, text: str) -> tuple[Any, str | None]:
    text = text.strip()
    if kind == "int":
        try:
            value: Any = int(text)
        except ValueError:
            return None, f"must be an integer{_range(param)}, got {text!r}"
    elif kind == "float":
        try:
            value = float(text)
        except ValueError:
            return None, f"must be a number{_range(param)}, got {text!r}"
        if value != value or value in (float("inf"), float("-inf")):
            return None, f"must be a finite number, got {text!r}"
    elif kind == "bool":
        if text.lower() in TRUE:
            return True, None
        if text.lower() in FALSE:
            return False, None
        return None, f"must be true or false, got {text!r}"
    else:  # str, choice
        value = text
    if param.choices:
        for choice in param.choices:
            if str(choice) == text:
                return choice, None
        return None, f"must be one of {', '.join(map(str, param.choices))}, got {text!r}"
    if kind in ("int", "float") and ((param.min is not None and value < param.min)
                                     or (param.max is not None and value > param.max)):
        label = "an integer" if kind == "int" else "a number"
        return None, f"must be {label}{_range(param)}, got {text}"
    return value, None


def parse_value(param: Param, text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, the problem in words)."""
    if param.type.endswith("_list"):
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                items = [value_text(param, v) for v in json.loads(stripped)]
            except (ValueError, TypeError):
                return None, f"must be a comma-separated list, got {text!r}"
        else:
            items = [part for part in (p.strip() for p in stripped.split(",")) if part]
        if not items:
            return None, "must hold at least one value"
        kind = param.type.removesuffix("_list")
        values = []
        for item in items:
            value, problem = _scalar(param, kind, item)
            if problem:
                return None, f"each value {problem}"
            values.append(value)
        return values, None
    if param.type not in ("str", "choice") and not text.strip():
        return None, "needs a value"
    return _scalar(param, param.type, text)


def validate(entry: CatalogEntry, texts: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of every field, and the problem of each bad field by parameter name."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in texts.items():
        param = entry.param(name)
        if param is None:
            problems[name] = f"{entry.name} has no parameter {name!r}"
            continue
        value, problem = parse_value(param, text)
        if problem:
            problems[name] = problem
        else:
            values[name] = value
    return values, problems


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The values of `after` that differ from `before`."""
    return {k: v for k, v in after.items() if before.get(k) != v}


def split_errors(message: str) -> dict[str | None, str]:
    """An engine/catalog refusal ("epochs: must be ...; lr: ...") by parameter name."""
    out: dict[str | None, str] = {}
    for part in message.split("; "):
        name, sep, text = part.partition(": ")
        key = name.strip() if sep and name.strip().replace("_", "").isalnum() else None
        out[key] = (out.get(key, "") + "; " if key in out else "") + (text if key else part)
    return out
