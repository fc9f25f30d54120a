"""A small JSON Schema checker for the answers the agents ask a language model for, and the one
place such an answer is read into its type.

It covers what those schemas use: type, properties, required, additionalProperties, enum,
items, minimum/maximum, minLength/maxLength, minItems/maxItems. Each problem is one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from contract.jsonvalue import JsonObject, JsonValue, json_object, number_at

#: a JSON schema, as sent to the model (a JSON object of its own)
Schema = Mapping[str, JsonValue]
A = TypeVar("A")

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}


def _is(value: JsonValue, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES[kind])


def _schema_at(schema: Schema, key: str) -> Schema | None:
    value = schema.get(key)
    return value if isinstance(value, Mapping) else None


def errors(value: JsonValue, schema: Schema, path: str = "$") -> list[str]:
    kind = schema.get("type")
    kinds = [str(k) for k in kind] if isinstance(kind, list) else [str(kind)] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{path}: expected {' or '.join(kinds)}, got {json.dumps(value)[:40]}"]
    out: list[str] = []
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append(f"{path}: expected one of {json.dumps(enum)}, got {json.dumps(value)[:40]}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += _number_errors(value, schema, path)
    if isinstance(value, str):
        out += _size_errors(len(value), schema, "Length", "characters", path)
    if isinstance(value, list):
        out += _array_errors(value, schema, path)
    if isinstance(value, dict):
        out += _object_errors(value, schema, path)
    return out


def _number_errors(value: float, schema: Schema, path: str) -> list[str]:
    out: list[str] = []
    low, high = number_at(schema, "minimum"), number_at(schema, "maximum")
    if low is not None and value < low:
        out.append(f"{path}: must be at least {low}, got {value}")
    if high is not None and value > high:
        out.append(f"{path}: must be at most {high}, got {value}")
    return out


def _size_errors(size: int, schema: Schema, key: str, what: str, path: str) -> list[str]:
    """minLength/maxLength (``key`` "Length") or minItems/maxItems ("Items") against ``size``."""
    out: list[str] = []
    low, high = number_at(schema, f"min{key}"), number_at(schema, f"max{key}")
    if low is not None and size < low:
        out.append(f"{path}: must have at least {low} {what}")
    if high is not None and size > high:
        out.append(f"{path}: must have at most {high} {what}")
    return out


def _array_errors(value: list[JsonValue], schema: Schema, path: str) -> list[str]:
    out = _size_errors(len(value), schema, "Items", "items", path)
    items = _schema_at(schema, "items")
    if items is not None:
        for i, item in enumerate(value):
            out += errors(item, items, f"{path}[{i}]")
    return out


def _object_errors(value: Mapping[str, JsonValue], schema: Schema, path: str) -> list[str]:
    props = _schema_at(schema, "properties") or {}
    required = schema.get("required")
    out = [f"{path}: missing required field {key!r}" for key in (required if isinstance(required, list) else [])
           if key not in value]
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        prop = props.get(key)
        if isinstance(prop, Mapping):
            out += errors(item, prop, f"{path}.{key}")
        elif key in props:
            continue
        elif extra is False:
            out.append(f"{path}: unexpected field {key!r}")
        elif isinstance(extra, Mapping):
            out += errors(item, extra, f"{path}.{key}")
    return out


FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse(text: str) -> JsonValue:
    """The JSON value in a model's answer (a ```json fence around it is tolerated); ValueError."""
    match = FENCE.match(text)
    value: JsonValue = json.loads(match.group(1) if match else text)
    return value


def read_answer(text: str, schema: Schema, read: Callable[[JsonObject], A]) -> tuple[A | None, list[str]]:
    """A model's answer (an object matching `schema`) read into its type by `read`, or the problems
    to tell the model, one line each; `read` raises ValueError for an answer it cannot take."""
    try:
        value = parse(text)
    except ValueError as exc:
        return None, [f"not valid JSON ({exc})"]
    problems = errors(value, schema)
    answer = json_object(value)
    if problems or answer is None:
        return None, problems or [f"$: expected object, got {json.dumps(value)[:40]}"]
    try:
        return read(answer), []
    except ValueError as exc:
        return None, [f"$: {exc}"]
