"""Two versions of the control room side by side: the same throwaway lab and four streaming runs
as `tui_idle_cpu`, the real `lab` of each code tree in its own tmux at the same size, both
measured over the same seconds, window after window. Beside the CPU, each one's wake-ups a second
(the voluntary context switches of all its threads: a thread woken by a timer, by input or by
another thread), which the machine's load does not change.

On a shared machine one 30 s run of `tui_idle_cpu` varies by ±10 % with the load, more than a
change of a few percent moves it; measured side by side both versions see the same load, the same
runs and the same database. The CPU is read from the kernel's schedstat (nanoseconds, every thread
of the process) instead of clock ticks of 10 ms.

    python -m benchmarks.tui_side_by_side OLD_TREE NEW_TREE [seconds a window] [windows] [WxH]

e.g. `python -m benchmarks.tui_side_by_side /tmp/main-export . 60 4 160x50`, where a tree is a
checkout or an export (`git archive`) of a commit. Printed: per window, the load, each one's CPU
in % of one core and new/old; then the mean of each and of the ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import temp_lab, wait
from benchmarks.tui_idle_cpu import CONFIG, RUNS, WARMUP_S, _size, running, submit, tmux


@dataclass(frozen=True)
class Window:
    ended: str
    load: float
    old_pct: float
    new_pct: float
    old_wakeups_per_s: float = 0.0
    new_wakeups_per_s: float = 0.0

    @property
    def ratio(self) -> float:
        return self.new_pct / self.old_pct if self.old_pct else float("nan")


def cpu_ns(pid: int) -> int:
    """Time on a CPU of every thread of `pid`, in ns (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that ended meanwhile
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total


def wakeups(pid: int) -> int:
    """Voluntary context switches of every thread of `pid` (/proc/<pid>/task/*/status)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that ended meanwhile
            status = Path(f"/proc/{pid}/task/{task}/status").read_text()
            total += int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
    return total


def start_room(lab: Path, tree: Path, name: str, size: tuple[int, int], tmp: Path) -> tuple[str, int]:
    """`lab` of `tree` in its own tmux server; (socket, pid) once it showed its first frame."""
    startup = tmp / f"startup-{name}"
    env = {"PYTHONPATH": f"{tree / 'tests' / 'fixtures'}{os.pathsep}{tree}", "JOULELAB_EXPERIMENTS_MODULE": "fakeexp",
           "JOULELAB_TUI_STARTUP_FILE": str(startup), "TERM": "xterm-256color",
           "JOULELAB_KEYMAP": str(tmp / "none.toml")}
    shell = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + \
        shlex.join([sys.executable, "-m", "cli", "--dir", str(lab)])
    socket = f"joulelab-side-{os.getpid()}-{name}"
    tmux(socket, "new-session", "-d", "-s", "room", "-x", str(size[0]), "-y", str(size[1]), "-c", str(tree), shell)
    pid = int(tmux(socket, "display", "-p", "-t", "room", "#{pane_pid}").strip())
    wait(lambda: startup.exists() and startup.read_text().strip(), timeout=60)
    return socket, pid


def main(old: Path, new: Path, seconds: float = 60.0, windows: int = 4,
         size: tuple[int, int] = (160, 50)) -> dict[str, object]:
    results: list[Window] = []
    with temp_lab(CONFIG) as (lab, _env), tempfile.TemporaryDirectory(prefix="joulelab-side-") as tmp:
        asyncio.run(submit(lab))
        wait(lambda: asyncio.run(running(lab)) == RUNS, timeout=60, step=0.2)
        rooms = [start_room(lab, old, "old", size, Path(tmp)), start_room(lab, new, "new", size, Path(tmp))]
        try:
            time.sleep(WARMUP_S)
            for _ in range(windows):
                load = os.getloadavg()[0]
                before, t0 = [cpu_ns(pid) for _, pid in rooms], time.monotonic()
                woken = [wakeups(pid) for _, pid in rooms]
                time.sleep(seconds)
                after, elapsed = [cpu_ns(pid) for _, pid in rooms], time.monotonic() - t0
                old_pct, new_pct = (100 * (a - b) / 1e9 / elapsed for a, b in zip(after, before, strict=True))
                old_w, new_w = ((wakeups(pid) - w) / elapsed for (_, pid), w in zip(rooms, woken, strict=True))
                window = Window(time.strftime("%H:%M:%S"), round(load, 2), round(old_pct, 3), round(new_pct, 3),
                                round(old_w, 1), round(new_w, 1))
                print(json.dumps({**asdict(window), "new_over_old": round(window.ratio, 3)}), file=sys.stderr)
                results.append(window)
        finally:
            for socket, _ in rooms:
                tmux(socket, "send-keys", "-t", "room", "q")
            time.sleep(0.5)
            for socket, _ in rooms:
                tmux(socket, "kill-server")
    n = len(results)
    return {"benchmark": "tui_side_by_side", "old": str(old), "new": str(new), "size": f"{size[0]}x{size[1]}",
            "window_s": seconds, "windows": [asdict(w) for w in results],
            "old_mean_pct": round(sum(w.old_pct for w in results) / n, 3),
            "new_mean_pct": round(sum(w.new_pct for w in results) / n, 3),
            "old_wakeups_per_s": round(sum(w.old_wakeups_per_s for w in results) / n, 1),
            "new_wakeups_per_s": round(sum(w.new_wakeups_per_s for w in results) / n, 1),
            "mean_new_over_old": round(sum(w.ratio for w in results) / n, 3)}


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit("usage: python -m benchmarks.tui_side_by_side OLD_TREE NEW_TREE [seconds] [windows] [WxH]")
    trees = [Path(a).resolve() for a in args[:2]]
    for tree in trees:
        if not (tree / "cli").is_dir():
            raise SystemExit(f"tui_side_by_side: {tree} is not a code tree of the lab (no cli/)")
    sizes = [_size(a) for a in args[2:] if "x" in a.lower()]
    numbers = [a for a in args[2:] if "x" not in a.lower()]
    print(json.dumps(main(trees[0], trees[1], float(numbers[0]) if numbers else 60.0,
                          int(numbers[1]) if len(numbers) > 1 else 4, sizes[0] if sizes else (160, 50)), indent=2))
