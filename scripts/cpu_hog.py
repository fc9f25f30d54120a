"""Keep every core busy (a `stress`-style CPU hog in pure Python), for testing under load.

    python scripts/cpu_hog.py [--seconds N] [--workers N]

One busy process per core (or --workers), until --seconds pass (default: until stopped with
SIGTERM/SIGINT, which stops the workers too). Prints its pid and the workers' pids.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
import time


def burn(stop_at: float) -> None:
    x = 0
    while stop_at <= 0 or time.monotonic() < stop_at:
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: until stopped)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="busy processes (default: cores)")
    args = parser.parse_args(argv)
    stop_at = time.monotonic() + args.seconds if args.seconds > 0 else 0.0
    workers = [mp.Process(target=burn, args=(stop_at,), daemon=True) for _ in range(max(1, args.workers))]
    for w in workers:
        w.start()

    def stop(*_: object) -> None:
        for w in workers:
            w.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cpu hog {os.getpid()}: {len(workers)} busy worker(s) {[w.pid for w in workers]}", flush=True)
    for w in workers:
        w.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
