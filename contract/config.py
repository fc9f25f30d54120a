"""config.toml: one reader, one way to check a value, and the sections more than one room reads.

The engine reads [slots], [runs], [engine] and [executor] (engine/config.py), the agents
[research], [llm] and [budgets] (agents/research_settings.py), the control room [tui], [keys] and
[budgets]; all of them read the file here and check every value with `get`, so a bad value gets
the same one-line message wherever it is met.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.toml"


class ConfigError(ValueError):
    """config.toml is unreadable or holds a bad value; the message names the key and what is expected."""


def read(path: Path) -> dict[str, Any]:
    """The file as a dict ({} when there is none)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}); fix the file or delete it to get the defaults") from None


def table(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The section `name` ({} when absent)."""
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table (a [{name}] header with its keys), got {name} = {value!r}")
    return value


def get(section: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str,
        minimum: float | None = None, maximum: float | None = None) -> Any:
    """`section[key]` checked: of `kind` (float accepts whole numbers; bool is never a number),
    finite, within [minimum, maximum]; `default` when absent (None stays None)."""
    value = section.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}")
    if kind is float:
        kind = (int, float)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key} must be {getattr(kind, '__name__', 'a number')}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}.{key} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:  # type: ignore[operator]  # a number: checked above
        raise ConfigError(f"{where}.{key} must be at least {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:  # type: ignore[operator]
        raise ConfigError(f"{where}.{key} must be at most {maximum:g}, got {value!r}")
    return value


@dataclass(frozen=True)
class Budgets:
    """[budgets]: what the research team may spend (the agents enforce them, the control room shows them)."""

    experiments_per_hour: int = 6
    kwh_per_day: float = 1.0
    llm_usd_per_day: float = 1.0


def budgets(raw: Mapping[str, Any]) -> Budgets:
    section = table(raw, "budgets")
    return Budgets(
        experiments_per_hour=get(section, "experiments_per_hour", int, 6, "budgets", 0),
        kwh_per_day=float(get(section, "kwh_per_day", float, 1.0, "budgets", 0)),
        llm_usd_per_day=float(get(section, "llm_usd_per_day", float, 1.0, "budgets", 0)),
    )
