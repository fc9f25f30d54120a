"""Engine resident memory while 4 runs are active (target: under 80 MB).

The engine's RSS (psutil, the engine process alone, not its runs nor its warm worker) sampled
every 0.2 s while four runs stream metrics (counted running in the database); the peak is
reported.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks.common import machine, temp_lab, wait


def running(lab: Path) -> int:
    conn = sqlite3.connect(f"file:{lab / 'lab.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0])
    except sqlite3.OperationalError:  # the engine is creating the database
        return 0
    finally:
        conn.close()


def main() -> dict[str, object]:
    with temp_lab("[slots]\ncpu = 4\n") as (lab, env):
        subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab), "run", "fake", "--seeds", "4",
                        "-p", "steps=60", "-p", "step_sleep_s=0.1", "-p", "values_per_step=10"],
                       env=env, check=True, capture_output=True)
        pid = int((lab / "engine.lock").read_text())
        engine = psutil.Process(pid)
        # the runs are forked from the warm worker (not the engine's children): counted in the database
        wait(lambda: running(lab) == 4, 60)
        peak, samples = 0, 0
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if running(lab) == 4:
                peak = max(peak, engine.memory_info().rss)
                samples += 1
            time.sleep(0.2)
    mb = peak / 2**20
    return {"benchmark": "engine_rss_4_runs_mb", "peak_mb": round(mb, 1), "samples": samples,
            "target": "< 80 MB", "ok": mb < 80, "machine": machine()}


if __name__ == "__main__":
    print(main())
