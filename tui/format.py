"""Numbers for people: every value with its unit, estimates marked as such."""

from __future__ import annotations

import time
from typing import Any


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


MODELLED = " (modelled from CPU time)"  # energy without a hardware counter (RAPL, NVML)


def energy(kwh: float | None, estimated: bool | None = None) -> str:
    """Energy in the unit that keeps 3 significant digits readable: kWh, Wh, mWh or µWh;
    `estimated`: modelled from CPU time, not measured, and said so."""
    if kwh is None:
        return "-"
    mark = MODELLED if estimated else ""
    wh = kwh * 1e3
    for unit, scale in (("kWh", 1e-3), ("Wh", 1.0), ("mWh", 1e3), ("µWh", 1e6)):
        shown = float(f"{wh * scale:.3g}")  # rounded first: 999.98 Wh is 1 kWh, not 1e+03 Wh
        if abs(shown) >= 1 or unit == "µWh":
            return f"{shown:g} {unit}{mark}"
    return f"{wh:.3g} Wh{mark}"  # pragma: no cover


def co2(kg: float | None, estimated: bool | None = None) -> str:
    if kg is None:
        return "-"
    mark = " (modelled)" if estimated else ""
    for unit, scale in (("kg", 1.0), ("g", 1e3), ("mg", 1e6)):
        shown = float(f"{kg * scale:.3g}")
        if abs(shown) >= 1 or unit == "mg":
            return f"{shown:g} {unit} CO2{mark}"
    return f"{kg:.3g} kg CO2{mark}"  # pragma: no cover


def percent(fraction: float | None, digits: int = 1) -> str:
    return "-" if fraction is None else f"{fraction * 100:.{digits}f} %"


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "-"
    return duration((now or time.time()) - t) + " ago"


def result_value(key: str, value: Any) -> str:
    """A result value formatted by the unit its key names."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("_accuracy") or key.endswith("_fraction"):
        return percent(value, 2)
    if key.endswith("_bytes"):
        return size(value)
    if key.endswith("_kwh"):
        return energy(value)
    if key.endswith("_kg"):
        return co2(value)
    if key.endswith("_ms"):
        return f"{value:.3f} ms"
    if key.endswith("_s"):
        return f"{value:.2f} s"
    if key.endswith("_per_s"):
        return f"{value:,.0f} /s"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}"


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
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def points(delta: float | None, digits: int = 1) -> str:
    """A change of a fraction in percentage points, signed: +0.4 pt."""
    return "-" if delta is None else f"{delta * 100:+.{digits}f} pt"


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
