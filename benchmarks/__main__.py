"""`python -m benchmarks [name ...]`: run the benchmarks and print one JSON line each."""

from __future__ import annotations

import importlib
import json
import sys

BENCHMARKS = ["engine_latency", "ingest_throughput", "engine_memory", "idle_footprint", "tui_startup", "tui_idle_cpu",
              "run_fixed_cost", "catalog_drain"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    failed = 0
    for name in names:
        result = importlib.import_module(f"benchmarks.{name}").main()
        print(json.dumps(result), flush=True)
        failed += not result.get("ok", True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
