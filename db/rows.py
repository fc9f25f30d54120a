"""Turning sqlite rows into plain dicts, JSON columns decoded."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

JSON_COLUMNS = frozenset({
    "modifications", "params", "plan", "deliverables", "metadata", "rating_breakdown",
    "variant_params", "depends_on", "result", "data", "gpus", "payload", "response",
})


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def row_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 (a sqlite3.Row iterates its values, not its keys)
        value = row[key]
        if key in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


def rows_dicts(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    return [row_dict(r) for r in rows]  # type: ignore[misc]
