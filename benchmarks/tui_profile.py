"""Where the control room's time and bytes go, with four runs streaming (as `tui_idle_cpu`).

    python -m benchmarks.tui_profile [seconds] [WxH]           (default: 30 160x50)
    python -m benchmarks.tui_profile --py-spy [seconds] [WxH]  (sampled from outside, no cProfile)

The real `lab` command runs in tmux beside the same throwaway lab as `tui_idle_cpu`; 8 s after
it mounted it profiles the app's thread with cProfile for `seconds` and quits, while tmux's
pipe-pane captures every byte written to the terminal from then on. Printed: the functions with the most
cumulative time, the call counts of the repaint machinery (counts are what a loaded machine does
not distort; times under cProfile are inflated and only comparable within one run) and the
bytes per screen row. Compare two commits by running it in a worktree of each.

With `--py-spy` the app runs unprofiled and py-spy (beside the interpreter, or on the PATH)
samples its process at 200 Hz for `seconds`, each sample the thread that holds the GIL (py-spy's
own idle detection counts threads blocked in select or a queue as busy here): the functions with
the most samples on their own and below them, a sample being about 5 ms of Python CPU (SQLite's
and the terminal write's C code, run without the GIL, are not counted). No tracing overhead, so
it says where the time goes better than cProfile.
"""

from __future__ import annotations

import asyncio
import collections
import cProfile
import io
import os
import pstats
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, temp_lab, wait
from benchmarks.tui_idle_cpu import CONFIG, RUNS, running, submit, tmux

WARMUP_S = 8.0
#: (label, file:function pattern) of what a refresh costs
COUNTED = [("screen updates", r"screen.py:_compositor_refresh$"), ("screen lines rendered", r"_styles_cache.py:render_line$"),
           ("queue lines rendered", r"(_data_table|light_table).py:render_line$"),
           ("queue cells rendered", r"(_data_table.py:_render_cell|light_table.py:cell_segments)$"),
           ("lines asked of the widgets (one filter each)", r"textual/strip.py:apply_filter$"),
           ("curve drawings", r"curves.py:_plot$"), ("refresh reads", r"app.py:refresh_lab$"),
           ("database round trips", r"aiosqlite/core.py:_execute$"), ("event loop iterations", r"base_events.py:_run_once$"),
           ("callbacks run by the loop", r"events.py:_run$")]


def child(seconds: float, out: str, argv: list[str]) -> int:
    """In tmux: `lab` with the app's thread profiled from WARMUP_S for `seconds`, then quit."""
    from cli.main import main
    from tui import app as app_module

    profile = cProfile.Profile()
    mounted = app_module.ControlRoomApp.on_mount

    def on_mount(self: Any) -> None:
        mounted(self)

        def begin() -> None:
            Path(out + ".begin").write_text("")  # the terminal's bytes are counted from here
            profile.enable()
            self.set_timer(seconds, end)

        def end() -> None:
            profile.disable()
            profile.dump_stats(out + ".tmp")
            os.replace(out + ".tmp", out)
            self.exit()

        self.set_timer(WARMUP_S, begin)

    app_module.ControlRoomApp.on_mount = on_mount  # type: ignore[method-assign]
    return main(argv)


def bytes_per_row(data: bytes) -> dict[int, int]:
    rows: collections.Counter[int] = collections.Counter()
    row = None
    for part in re.split(rb"(\x1b\[\d+;\d+H)", data):
        moved = re.match(rb"\x1b\[(\d+);(\d+)H", part)
        if moved:
            row = int(moved.group(1))
        elif row is not None:
            rows[row] += len(part)
    return dict(sorted(rows.items()))


def report(stats_file: Path, tty: bytes, seconds: float) -> str:
    stats = pstats.Stats(str(stats_file))
    out = io.StringIO()
    counts = {label: 0 for label, _ in COUNTED}
    for (filename, _, name), (_, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        for label, pattern in COUNTED:
            if re.search(pattern, f"{filename}:{name}"):
                counts[label] += ncalls
    out.write(f"over {seconds:g} s (cProfile: times inflated, counts exact)\n")
    for label, n in counts.items():
        out.write(f"  {label}: {n}\n")
    out.write(f"  bytes to the terminal: {len(tty)} ({len(tty) / seconds / 1024:.2f} KB/s, the quit included)\n")
    out.write("  bytes per screen row: " + ", ".join(f"{r}: {n}" for r, n in bytes_per_row(tty).items()) + "\n\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def main(seconds: float = 30.0, size: tuple[int, int] = (160, 50)) -> str:
    with temp_lab(CONFIG) as (lab, env), tempfile.TemporaryDirectory(prefix="joulelab-prof-") as tmp:
        asyncio.run(submit(lab))
        wait(lambda: asyncio.run(running(lab)) == RUNS, timeout=120, step=0.2)
        stats_file, tty = Path(tmp) / "profile", Path(tmp) / "tty"
        socket = f"joulelab-prof-{os.getpid()}"
        cmd_env = {"PYTHONPATH": env["PYTHONPATH"], "JOULELAB_EXPERIMENTS_MODULE": "fakeexp",
                   "TERM": "xterm-256color", "JOULELAB_KEYMAP": str(Path(tmp) / "none.toml")}
        shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in cmd_env.items()) + " " + shlex.join(
            [sys.executable, "-m", "benchmarks.tui_profile", "--child", str(seconds), str(stats_file), "--dir", str(lab)])
        tmux(socket, "new-session", "-d", "-s", "prof", "-x", str(size[0]), "-y", str(size[1]), "-c", str(ROOT), shell)
        try:
            wait(lambda: Path(f"{stats_file}.begin").exists(), timeout=120, step=0.05)
            tmux(socket, "pipe-pane", "-t", "prof", "-o", f"cat >> {shlex.quote(str(tty))}")
            wait(lambda: stats_file.exists(), timeout=seconds * 4 + 120, step=0.5)
            time.sleep(1.0)
            tmux(socket, "pipe-pane", "-t", "prof")
        finally:
            tmux(socket, "kill-server")
        if os.environ.get("JOULELAB_PROFILE_KEEP"):  # the cProfile stats themselves, for a closer look
            shutil.copy(stats_file, os.environ["JOULELAB_PROFILE_KEEP"])
        return report(stats_file, tty.read_bytes() if tty.exists() else b"", seconds)


PY_SPY_RATE = 200  # samples a second


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("tui_profile: py-spy is not installed (pip install py-spy), run without --py-spy")
    return found


def spy_report(raw: str, seconds: float, most: int = 50) -> str:
    """Self and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    below: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            below[frame] += n
    out = io.StringIO()
    pct = 100 * total / PY_SPY_RATE / seconds
    out.write(f"over {seconds:g} s: {total} samples holding the GIL at {PY_SPY_RATE} Hz = {pct:.2f} % of one core "
              "(py-spy)\n\n")
    for title, counter in (("on their own", own), ("with what they call", below)):
        out.write(f"functions by samples {title}:\n")
        for frame, n in counter.most_common(most):
            out.write(f"  {n:6d}  {100 * n / max(1, total):5.1f} %  {frame}\n")
        out.write("\n")
    return out.getvalue()


def main_spy(seconds: float = 30.0, size: tuple[int, int] = (160, 50)) -> str:
    spy = py_spy()
    with temp_lab(CONFIG) as (lab, env), tempfile.TemporaryDirectory(prefix="joulelab-prof-") as tmp:
        asyncio.run(submit(lab))
        wait(lambda: asyncio.run(running(lab)) == RUNS, timeout=120, step=0.2)
        startup, raw = Path(tmp) / "startup", Path(tmp) / "raw"
        socket = f"joulelab-spy-{os.getpid()}"
        cmd_env = {"PYTHONPATH": env["PYTHONPATH"], "JOULELAB_EXPERIMENTS_MODULE": "fakeexp",
                   "TERM": "xterm-256color", "JOULELAB_KEYMAP": str(Path(tmp) / "none.toml"),
                   "JOULELAB_TUI_STARTUP_FILE": str(startup)}
        shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in cmd_env.items()) + " " + shlex.join(
            [sys.executable, "-m", "cli", "--dir", str(lab)])
        tmux(socket, "new-session", "-d", "-s", "spy", "-x", str(size[0]), "-y", str(size[1]), "-c", str(ROOT), shell)
        try:
            pid = tmux(socket, "display", "-p", "-t", "spy", "#{pane_pid}").strip()
            wait(lambda: startup.exists() and startup.read_text().strip(), timeout=60)
            time.sleep(WARMUP_S)
            done = subprocess.run([spy, "record", "--pid", pid, "--rate", str(PY_SPY_RATE), "--duration",
                                   str(int(seconds)), "--format", "raw", "--gil", "--output", str(raw)],
                                  capture_output=True, text=True, timeout=seconds + 60)
            if done.returncode != 0 or not raw.exists():
                raise SystemExit(f"tui_profile: py-spy failed: {(done.stderr or done.stdout).strip()[-300:]}")
        finally:
            tmux(socket, "send-keys", "-t", "spy", "q")
            time.sleep(0.5)
            tmux(socket, "kill-server")
        if os.environ.get("JOULELAB_SPY_RAW"):  # the samples themselves, for a closer look
            shutil.copy(raw, os.environ["JOULELAB_SPY_RAW"])
        return spy_report(raw.read_text(), int(seconds))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        sys.exit(child(float(args[1]), args[2], args[3:]))
    spy = args[:1] == ["--py-spy"]
    args = args[1:] if spy else args
    seconds = float(args[0]) if args and "x" not in args[0] else 30.0
    sizes = [a for a in args if "x" in a]
    width, height = (int(n) for n in (sizes[0] if sizes else "160x50").split("x"))
    print((main_spy if spy else main)(seconds, (width, height)))
