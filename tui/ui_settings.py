"""What the control room reads from config.toml: refresh rate, key map, budgets, defaults.

    [tui]
    refresh_s = 1.0      # how often gauges and queue are refreshed; never faster than 0.25 (4 Hz)
    curves_s = 3.0       # how often a live curve is redrawn (never more often than refresh_s)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.research_settings import read_sandbox
from contract import config
from contract.config import Budgets, ConfigError
from contract.layout import LabDir
from engine.config import LabConfig, load_config
from tui.keys import load_keymap

MIN_REFRESH_S = 0.25   # 4 Hz at most
DEFAULT_REFRESH_S = 1.0


def clamp_refresh(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_REFRESH_S
    return max(MIN_REFRESH_S, min(seconds, 60.0)) if seconds == seconds else DEFAULT_REFRESH_S


@dataclass(frozen=True)
class UISettings:
    refresh_s: float = DEFAULT_REFRESH_S
    curves_s: float = 3.0
    keymap: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    budgets: Budgets = field(default_factory=Budgets)
    autonomy: int = 1
    research: bool = False
    unsandboxed: bool = False   # [llm.sandbox] allow_unsandboxed: generated code may run without a sandbox


def load_ui_settings(lab: LabDir, user_keymap: Path | None = None) -> UISettings:
    problems: list[str] = []
    try:
        lab_config = load_config(lab)
    except ConfigError as exc:  # shown as a problem; the defaults meanwhile
        problems.append(str(exc))
        lab_config = LabConfig()
    sections = lab_config.sections
    tui, research = lab_config.section("tui"), lab_config.section("research")
    keymap, key_problems = load_keymap(lab_config.section("keys"), user_keymap)
    try:
        budgets = config.budgets(sections)
    except ConfigError as exc:  # shown as a problem; the defaults meanwhile
        problems.append(str(exc))
        budgets = Budgets()
    unsandboxed = False
    try:
        llm = config.table(sections, "llm")
        unsandboxed = read_sandbox(config.table(llm, "sandbox")).allow_unsandboxed
    except ConfigError as exc:
        problems.append(str(exc))
    autonomy = research.get("autonomy", 1)
    refresh_s = clamp_refresh(tui.get("refresh_s", DEFAULT_REFRESH_S))
    return UISettings(
        refresh_s=refresh_s,
        curves_s=max(refresh_s, clamp_refresh(tui.get("curves_s", 3.0))),
        keymap=keymap,
        problems=problems + key_problems,
        budgets=budgets,
        autonomy=autonomy if isinstance(autonomy, int) and 1 <= autonomy <= 3 else 1,
        research=bool(research.get("background", False)),
        unsandboxed=unsandboxed,
    )
