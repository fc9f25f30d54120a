"""Engine resident memory while 4 runs are active (target: under 80 MB).

The engine's RSS (psutil, the engine process alone, not its runs) sampled every 0.2 s while four
runs stream metrics; the peak is reported.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from benchmarks.common import machine, temp_lab, wait


def main() -> dict[str, object]:
    with temp_lab("[slots]\ncpu = 4\n") as (lab, env):
        subprocess.run([sys.executable, "-m", "tui.cli", "--dir", str(lab), "run", "fake", "--seeds", "4",
                        "-p", "steps=60", "-p", "step_sleep_s=0.1", "-p", "values_per_step=10"],
                       env=env, check=True, capture_output=True)
        pid = int((lab / "engine.lock").read_text())
        engine = psutil.Process(pid)
        wait(lambda: len([c for c in engine.children() if c.status() != psutil.STATUS_ZOMBIE]) == 4, 20)
        peak, samples = 0, 0
        end = time.monotonic() + 5
        while time.monotonic() < end:
            active = len([c for c in engine.children() if c.status() != psutil.STATUS_ZOMBIE])
            if active == 4:
                peak = max(peak, engine.memory_info().rss)
                samples += 1
            time.sleep(0.2)
    mb = peak / 2**20
    return {"benchmark": "engine_rss_4_runs_mb", "peak_mb": round(mb, 1), "samples": samples,
            "target": "< 80 MB", "ok": mb < 80, "machine": machine()}


if __name__ == "__main__":
    print(main())
