"""A small JSON Schema checker for the answers the agents ask a language model for.

It covers what those schemas use: type, properties, required, additionalProperties, enum,
items, minimum/maximum, minLength/maxLength, minItems/maxItems. Each problem is one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES[kind])


def errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{path}: expected {' or '.join(kinds)}, got {json.dumps(value)[:40]}"]
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: expected one of {json.dumps(schema['enum'])}, got {json.dumps(value)[:40]}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out += _number_errors(value, schema, path)
    if isinstance(value, str):
        out += _size_errors(len(value), schema, "Length", "characters", path)
    if isinstance(value, list):
        out += _array_errors(value, schema, path)
    if isinstance(value, dict):
        out += _object_errors(value, schema, path)
    return out


def _number_errors(value: float, schema: Mapping[str, Any], path: str) -> list[str]:
    out: list[str] = []
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: must be at least {schema['minimum']}, got {value}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: must be at most {schema['maximum']}, got {value}")
    return out


def _size_errors(size: int, schema: Mapping[str, Any], key: str, what: str, path: str) -> list[str]:
    """minLength/maxLength (``key`` "Length") or minItems/maxItems ("Items") against ``size``."""
    out: list[str] = []
    if size < schema.get(f"min{key}", 0):
        out.append(f"{path}: must have at least {schema[f'min{key}']} {what}")
    if f"max{key}" in schema and size > schema[f"max{key}"]:
        out.append(f"{path}: must have at most {schema[f'max{key}']} {what}")
    return out


def _array_errors(value: list[Any], schema: Mapping[str, Any], path: str) -> list[str]:
    out = _size_errors(len(value), schema, "Items", "items", path)
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += errors(item, schema["items"], f"{path}[{i}]")
    return out


def _object_errors(value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    props = schema.get("properties", {})
    out = [f"{path}: missing required field {key!r}" for key in schema.get("required", []) if key not in value]
    for key, item in value.items():
        if key in props:
            out += errors(item, props[key], f"{path}.{key}")
        elif schema.get("additionalProperties") is False:
            out.append(f"{path}: unexpected field {key!r}")
        elif isinstance(schema.get("additionalProperties"), dict):
            out += errors(item, schema["additionalProperties"], f"{path}.{key}")
    return out


FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse(text: str) -> Any:
    """The JSON value in a model's answer (a ```json fence around it is tolerated); ValueError."""
    match = FENCE.match(text)
    return json.loads(match.group(1) if match else text)
