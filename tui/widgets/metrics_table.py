"""Results of an experiment per variant: mean and 95 % confidence interval over its seeds."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.stats import mean_ci

DEFAULT_KEYS = ["test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh",
                "energy_train_kwh", "energy_inference_kwh", "peak_mem_bytes"]


def metric_keys(exp: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    breakdown = exp.get("rating_breakdown") or {}
    wanted = list((breakdown.get("keys") or {}).values()) if isinstance(breakdown, dict) else []
    keys = [k for k in dict.fromkeys(wanted + DEFAULT_KEYS)
            if any(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in results)]
    return keys[:6]


def summarize(runs: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, int, dict[str, str]]]]:
    """(keys, rows): per variant, the number of results and 'mean ± half-CI' per key."""
    results = [r for r in runs if isinstance(r.get("result"), dict) and r["status"] == "succeeded"]
    exp_keys = metric_keys({}, [r["result"] for r in results])
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_variant.setdefault(r["variant"], []).append(r["result"])
    rows = []
    for variant, res in by_variant.items():
        cells: dict[str, str] = {}
        for k in exp_keys:
            vals = [float(x[k]) for x in res if isinstance(x.get(k), (int, float)) and not isinstance(x.get(k), bool)]
            if not vals:
                cells[k] = "-"
                continue
            mean, ci = mean_ci(vals)
            text = fmt.result_value(k, mean)
            if ci is not None:
                text += f" ± {fmt.result_value(k, (ci[1] - ci[0]) / 2)}"
            cells[k] = text
        rows.append((variant, len(res), cells))
    return exp_keys, rows


class MetricsTable(Static):
    def show(self, exp: dict[str, Any], runs: list[dict[str, Any]]) -> None:
        keys, rows = summarize(runs)
        if not rows:
            self.update(Text("No results yet: metrics appear when runs succeed.", style="dim"))
            return
        table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", expand=False,
                      caption="mean ± half-width of the 95 % CI over seeds (Student's t)", caption_justify="left")
        table.add_column("variant", no_wrap=True)
        table.add_column("n", justify="right")
        for k in keys:
            table.add_column(k, justify="right")
        for variant, n, cells in rows:
            table.add_row(Text(variant), str(n), *(cells[k] for k in keys))  # a name is text, never markup
        self.update(table)
