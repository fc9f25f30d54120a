"""Numbers for people: every value with its unit, estimates marked as such."""

from __future__ import annotations

import time
from typing import Any

from contract import quantities, units


def duration(seconds: float | None) -> str:
    return units.duration(seconds, missing="-")


def size(n: float | None) -> str:
    """Bytes in binary units: '334.7 KiB'."""
    return quantities.value(n, quantities.Kind.BYTES, missing="-")


MODELLED = units.MODELLED  # energy without a hardware counter (RAPL, NVML)


def energy(kwh: float | None, estimated: bool | None = None) -> str:
    """Energy in the unit that keeps 3 significant digits readable (kWh, Wh, mWh or µWh),
    marked when modelled from CPU time."""
    return units.energy(kwh, estimated, missing="-")


def co2(kg: float | None, estimated: bool | None = None) -> str:
    return units.co2(kg, estimated, missing="-")


def percent(fraction: float | None, digits: int = 1) -> str:
    return units.percent(fraction, digits, missing="-")


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "-"
    return duration((now or time.time()) - t) + " ago"


def result_value(key: str, value: Any) -> str:
    """A result value with the unit its key names (`contract.quantities.kind_of`)."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return quantities.of(key, value, missing="-")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table with left-aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


# -- the control room's additions ---------------------------------------------------------


def clock_time(t: float | None) -> str:
    """The local time of day, HH:MM:SS."""
    return "-" if t is None else time.strftime("%H:%M:%S", time.localtime(t))


def since(t: float | None, now: float) -> str:
    """When something happened: the time of day if today, else the date and time."""
    if t is None:
        return "-"
    same_day = time.localtime(t)[:3] == time.localtime(now)[:3]
    return clock_time(t) if same_day else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def eta(done: float | None, total: float | None, elapsed: float | None) -> str:
    """Remaining time of a run at its current pace."""
    if done is None or not total or elapsed is None or done <= 0:
        return "-"
    if done >= total:
        return "0 s"
    return duration(elapsed * (total - done) / done)


def ratio(value: float | None) -> str:
    """A factor such as a speedup: 1.8x."""
    return units.times(value, missing="-")


def points(delta: float | None, digits: int = 1) -> str:
    """A change of a fraction in percentage points, signed: +0.4 pt."""
    return "-" if delta is None else units.points(delta, digits) + " pt"


def usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


BAR_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (eighths of a cell)."""
    if width <= 0:
        return ""
    f = 0.0 if fraction is None or fraction != fraction else max(0.0, min(1.0, fraction))
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BAR_EIGHTHS[part] if part else "")
    return text + " " * (width - len(text))
