"""The words of the lab's sentences (findings, follow-ups, job reports, the research team's): their
numbers are written by `contract.units`."""

from __future__ import annotations

from typing import Any


def listing(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def the(role: str, name: Any, start: bool = False) -> str:
    """'the baseline fp32', or 'the baseline' when the variant is named for its role (never
    'the baseline baseline'); `start`: 'The ...' to open a sentence."""
    return ("The" if start else "the") + (f" {role}" if str(name) == role else f" {role} {name}")
