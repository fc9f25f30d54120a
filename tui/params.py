"""Parameter values typed in a form, checked against the catalog's types and ranges at once,
so a bad value is shown next to its field before anything is sent (the engine checks again).
The conversion itself is contract.params'; this module is the form's side of it."""

from __future__ import annotations

from collections.abc import Mapping

from contract.catalog_answer import CatalogEntry
from contract.params import Param, ParamError, ParamValue, ParamValues


def value_text(param: Param, value: object) -> str:
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


def parse_value(param: Param, text: str) -> tuple[ParamValue, str | None]:
    """(value, None) or (None, the problem in words), by the parameter's own conversion
    (contract.params: the same the command line and the experiment programs use)."""
    if param.type not in ("str", "choice") and not text.strip():
        return None, "needs a value"
    try:
        return param.coerce(text if param.type == "str" else text.strip()), None
    except ParamError as exc:
        return None, exc.message


def validate(entry: CatalogEntry, texts: dict[str, str]) -> tuple[ParamValues, dict[str, str]]:
    """Typed values of every field, and the problem of each bad field by parameter name."""
    values: ParamValues = {}
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


def changed(before: Mapping[str, object], after: ParamValues) -> ParamValues:
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
