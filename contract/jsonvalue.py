"""A JSON value as a type: what `json.loads` returns and `json.dumps` takes.

Used only where a value crosses a JSON edge with no fixed shape of its own (a request's payload
as stored, a run's result values as its program wrote them, a spec or catalog as written to disk);
a value with a fixed shape is a dataclass instead. The containers are read-only (`Sequence`,
`Mapping`), so a `list[float]` or a `dict[str, int]` is a JSON value as it stands; a reader narrows
a member with `isinstance` before using it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

JsonScalar = None | bool | int | float | str
JsonValue = JsonScalar | Sequence["JsonValue"] | Mapping[str, "JsonValue"]
JsonObject = dict[str, JsonValue]  # a JSON object, as decoded (a fresh dict: the reader may add to it)


def json_object(value: object) -> JsonObject | None:
    """`value` as a JSON object (a dict with string keys), or None when it is not one."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None
    return value


def number_at(obj: Mapping[str, JsonValue], key: str) -> float | None:
    """`obj[key]` when it is a number (an int stays an int); None when it is absent, null, a bool
    or not a number."""
    value = obj.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def required_number(obj: Mapping[str, JsonValue], key: str) -> float:
    """`obj[key]`, a number (an int stays an int): KeyError when it is absent, TypeError when it is
    not a number (null included), as the arithmetic it feeds would raise."""
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key!r} is {value!r:.60}, not a number")
    return value


def text_at(obj: Mapping[str, JsonValue], key: str) -> str | None:
    """`obj[key]` when it is a string, else None."""
    value = obj.get(key)
    return value if isinstance(value, str) else None
