"""Bounds every room checks the same way: where a value is made (a job file, the control room's
forms, the command line) and where the engine reads it (requests)."""

from __future__ import annotations

from typing import Any

#: seeds of one experiment (each variant runs once per seed)
MIN_SEEDS, MAX_SEEDS = 1, 20
#: an experiment's priority (higher runs first)
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
#: the programs' effort profiles (their `profile` parameter; the research team's proposals)
PROFILES = ("smoke", "default", "full")
#: where the research team's words come from
BACKENDS = ("offline", "openai")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def seeds_problem(value: Any) -> str | None:
    """Why `value` is not a number of seeds (None when it is one)."""
    if _whole(value) and MIN_SEEDS <= value <= MAX_SEEDS:
        return None
    return f"expected a whole number from {MIN_SEEDS} to {MAX_SEEDS}, got {value!r}"


def priority_problem(value: Any) -> str | None:
    """Why `value` is not a priority (None when it is one)."""
    if _whole(value) and MIN_PRIORITY <= value <= MAX_PRIORITY:
        return None
    return f"expected a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, got {value!r}"
