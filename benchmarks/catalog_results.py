"""Tables for RESULTS.md from a drained lab: per experiment and variant, mean and 95 % CI over seeds.

    python -m benchmarks.catalog_results LAB_DIR > tables.md

The CI is Student's t over the seeds (n - 1 degrees of freedom), the same as the validator's.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy import stats

# what a researcher reads first for each experiment (result keys carry their units)
KEYS: dict[str, list[str]] = {
    "logreg": ["test_accuracy", "train_time_s", "energy_train_kwh"],
    "quantization": ["test_accuracy", "model_size_bytes", "latency_b1_ms", "latency_b64_ms", "energy_inference_kwh"],
    "pruning": ["test_accuracy", "params_nonzero", "model_size_bytes", "latency_b1_ms", "latency_b64_ms",
                "energy_inference_kwh"],
    "optimizers": ["test_accuracy", "steps_to_target", "time_to_target_s", "train_time_s", "optimizer_state_bytes",
                   "energy_train_kwh"],
    "micro_architecture": ["test_accuracy", "params_total", "flops_per_forward", "latency_b1_ms", "latency_b64_ms",
                           "energy_inference_kwh"],
    "mixed_precision": ["test_accuracy", "train_time_s", "train_throughput_samples_per_s", "energy_train_kwh"],
    "distillation": ["test_accuracy", "compression_ratio_vs_teacher", "latency_b1_ms", "energy_inference_kwh"],
    "checkpointing": ["test_accuracy", "activation_mem_bytes", "peak_mem_bytes", "train_time_s"],
    "batch_size": ["test_accuracy", "train_throughput_samples_per_s", "steps_to_target", "time_to_target_s",
                   "train_time_s"],
    "gradient_clipping": ["test_accuracy", "loss_spikes", "diverged", "train_loss"],
}


def ci95(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def fmt(key: str, mean: float, lo: float, hi: float, n: int, missing: int) -> str:
    if key.endswith("_accuracy"):
        text = f"{mean * 100:.1f} % [{lo * 100:.1f}, {hi * 100:.1f}]"
    elif key.endswith("_kwh"):
        text = f"{mean * 1e9:.3g} [{lo * 1e9:.3g}, {hi * 1e9:.3g}] µWh"
    elif key.endswith("_bytes"):
        text = f"{mean / 1024:.4g} [{lo / 1024:.4g}, {hi / 1024:.4g}] KiB"
    elif key.endswith("_per_s"):
        text = f"{mean:,.0f} [{lo:,.0f}, {hi:,.0f}] /s"
    elif key.endswith("_ms"):
        text = f"{mean:.4g} [{lo:.4g}, {hi:.4g}] ms"
    elif key.endswith("_s"):
        text = f"{mean:.3g} [{lo:.3g}, {hi:.3g}] s"
    else:
        text = f"{mean:.4g} [{lo:.4g}, {hi:.4g}]"
    if missing:
        text += f" ({n} of {n + missing})"
    return text.replace("[nan, nan]", "[n=1]")


def main(lab: Path) -> None:
    conn = sqlite3.connect(f"file:{lab / 'lab.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    for exp in conn.execute("SELECT * FROM experiments ORDER BY catalog"):
        runs = conn.execute("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (exp["id"],)).fetchall()
        keys = KEYS.get(exp["catalog"], ["test_accuracy"])
        by_variant: dict[str, list[dict]] = defaultdict(list)
        order: list[str] = []
        for run in runs:
            if run["variant"] not in order:
                order.append(run["variant"])
            if run["status"] == "succeeded" and run["result"]:
                by_variant[run["variant"]].append(json.loads(run["result"]))
        print(f"### {exp['catalog']} (experiment {exp['id']}, rating {exp['rating']}/10)\n")
        print("| variant | n | " + " | ".join(keys) + " |")
        print("|---|---|" + "---|" * len(keys))
        for variant in order:
            results = by_variant.get(variant, [])
            if not results:
                status = {r["status"] for r in runs if r["variant"] == variant}
                print(f"| {variant} | 0 | {', '.join(sorted(status))} |" + " |" * (len(keys) - 1))
                continue
            cells = []
            for key in keys:
                values = [float(r[key]) for r in results if isinstance(r.get(key), (int, float))]
                if not values:
                    cells.append("-")
                    continue
                mean, lo, hi = ci95(values)
                cells.append(fmt(key, mean, lo, hi, len(values), len(results) - len(values)))
            print(f"| {variant} | {len(results)} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
