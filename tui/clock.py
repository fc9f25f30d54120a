"""The control room's notion of now: injectable, so screenshots and tests are deterministic."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


def fixed_clock(t: float) -> Clock:
    """A clock that always answers `t` (snapshot tests)."""
    return lambda: t


def start_of_day(now: float) -> float:
    """Local midnight before `now` (the 'today' of the energy and spend gauges)."""
    local = time.localtime(now)
    return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))
