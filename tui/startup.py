"""The control room's start-up, measured: milestones written to `$JOULELAB_TUI_TRACE` (for
diagnosis) and the first full frame's time to `$JOULELAB_TUI_STARTUP_FILE` (benchmarks)."""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV_STARTUP_FILE = "JOULELAB_TUI_STARTUP_FILE"  # where to write the time to the first full frame
TRACE = os.environ.get("JOULELAB_TUI_TRACE")  # a file: start-up milestones, for diagnosis


def process_age() -> float:
    """Seconds since this process started, from /proc (psutil's create_time rounds the boot time
    to whole seconds, which can put it most of a second off)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - float(psutil.Process().create_time())


def trace(what: str) -> None:
    if TRACE:
        cpu = os.times()
        with open(TRACE, "a") as fh:
            fh.write(f"{process_age():7.3f} s  cpu {cpu.user + cpu.system:6.3f} s  {what}\n")


def first_frame() -> None:
    """Write `<unix time> <process age s> <cpu s>` at the first full frame (benchmarks)."""
    trace("first full frame")
    path = os.environ.get(ENV_STARTUP_FILE)
    if not path:
        return
    try:
        cpu = os.times()
        Path(path).write_text(f"{time.time():.3f} {process_age():.3f} {cpu.user + cpu.system:.3f}\n")
    except Exception:  # measuring must never break the control room
        pass
