"""Frozen dataclasses to JSON and back, the one way the validator's typed results cross the
boundary (the rating's DB column, the results files): `to_json` writes each field under its own
name (a tuple as a list, a nested value through its own `to_json`), leaving out the fields marked
`metadata=OPT` while they are None and those marked `metadata=COLUMN` (held beside the JSON, in a
row's own column), so the records keep the shape they always had; `from_json`
reads the same names back, tolerating records written before a field existed (it stays at its
default) and values of the wrong JSON type (read as missing)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Self, TypeVar, Union

from contract.jsonvalue import JsonObject

OPTIONAL = "json_optional"  # metadata key: the field is left out of the JSON while it is None
#: a field's metadata that says so: `x: T | None = field(default=None, metadata=OPT)`
OPT = types.MappingProxyType({OPTIONAL: True})
ELSEWHERE = "json_elsewhere"  # metadata key: the field is never written to the JSON (a row's column holds it)
#: a field's metadata that says so: `exp_id: int = field(default=0, metadata=COLUMN)`
COLUMN = types.MappingProxyType({ELSEWHERE: True})
T = TypeVar("T")


def _dump(value: Any) -> Any:
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_dump(x) for x in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, object]] = {}


def _hints(cls: type) -> dict[str, object]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, JsonRecord)


def _read_union(tp: Any, raw: Any) -> Any:
    if raw is None and type(None) in typing.get_args(tp):
        return None
    for arg in typing.get_args(tp):
        got = _BAD if arg is type(None) else _read(arg, raw)
        if got is not _BAD:
            return got
    return _BAD


def _read_tuple(tp: Any, raw: Any) -> Any:
    if not isinstance(raw, (list, tuple)):
        return _BAD
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        items = [_read(args[0], x) for x in raw]
    elif len(args) == len(raw):
        items = [_read(a, x) for a, x in zip(args, raw)]
    else:
        return _BAD
    return _BAD if any(x is _BAD for x in items) else tuple(items)


def _read_dict(tp: Any, raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        return _BAD
    _, value_type = typing.get_args(tp)
    read = {str(k): _read(value_type, v) for k, v in raw.items()}
    return {k: v for k, v in read.items() if v is not _BAD}


def _read_list(tp: Any, raw: Any) -> Any:
    if not isinstance(raw, list):
        return _BAD
    (item_type,) = typing.get_args(tp)
    return [x for x in (_read(item_type, v) for v in raw) if x is not _BAD]


def _read_scalar(tp: Any, raw: Any) -> Any:
    if tp is Any or tp is object:
        return raw
    if tp is float:  # an int stays an int: the JSON written back is the JSON read
        return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else _BAD
    if tp is int:
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else _BAD
    if isinstance(tp, type):
        return raw if isinstance(raw, tp) else _BAD
    return raw


def _read(tp: Any, raw: Any) -> Any:
    """`raw` as the annotation `tp` says, or the marker _BAD when it cannot be."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _read_union(tp, raw)
    if _is_record(tp):
        return tp.from_json(raw) if isinstance(raw, Mapping) else _BAD
    readers = {tuple: _read_tuple, dict: _read_dict, list: _read_list}
    return readers[origin](tp, raw) if origin in readers else _read_scalar(tp, raw)


_BAD: Any = object()


class JsonRecord:
    """A frozen dataclass written to JSON and read back field by field (see the module's doc)."""

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get(ELSEWHERE) or (value is None and f.metadata.get(OPTIONAL)):
                continue
            out[f.name] = _dump(value)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        hints = _hints(cls)
        given: dict[str, object] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                got = _read(hints[f.name], data[f.name])
                if got is not _BAD:
                    given[f.name] = got
        return cls(**given)


def read(cls: type[T], data: object) -> T | None:
    """`cls.from_json(data)` for a JSON object, None for anything else (a record without it)."""
    if not isinstance(data, Mapping) or not _is_record(cls):
        return None
    got: T = cls.from_json(data)  # type: ignore[attr-defined]
    return got
