"""The time of `lab publish` on a lab (the RESULTS lab: `python -m benchmarks.catalog_drain --keep
DIR --seeds 5`), with the machine's load, the parts it wrote and the models it exported.

    python -m benchmarks.publish_time LAB_DIR [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.common import machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish_time")
    parser.add_argument("lab")
    parser.add_argument("--out", default=None, help="the bundle's folder (default: a temporary one)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="joulelab-publish-")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", "--dir", args.lab, "publish", "--out", out, "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1) or not done.stdout.strip():
        print(done.stderr.strip(), file=sys.stderr)
        return 1
    pub = json.loads(done.stdout)
    print(f"machine: {machine()}; load average before {load:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"lab publish: {wall:.1f} s wall ({pub['seconds']} s inside): {len(pub['experiments'])} counted "
          f"experiment(s), {len(pub['findings'])} headline finding(s), {len(pub['models'])} model(s) exported, "
          f"{len(pub['problems'])} part(s) not done")
    for problem in pub["problems"]:
        print(f"  not done: {problem}")
    print(f"bundle: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
