"""Results of an experiment per variant: mean and 95 % confidence interval over its seeds.

The numbers are the validator's: its stored summaries when the experiment is rated, else the
same `science.stats` functions on the same results (pure Python: no scipy in the control room).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from contract import units
from contract.comparison import MODELLED, Spread
from contract.jsonvalue import JsonObject
from contract.rating_record import Breakdown
from db import Experiment, Run, RunState
from science import stats
from science.experiment_info import energy_mode_of, fraction

DEFAULT_KEYS = ["test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh",
                "energy_train_kwh", "energy_inference_kwh", "peak_mem_bytes"]


def _numeric(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def metric_keys(exp: Experiment | None, results: Sequence[Mapping[str, object]]) -> list[str]:
    wanted = list((exp.breakdown if exp is not None else Breakdown()).keys.values())
    keys = [k for k in dict.fromkeys(wanted + DEFAULT_KEYS) if any(_numeric(r.get(k)) for r in results)]
    return keys[:6]


def _stored(exp: Experiment | None) -> dict[tuple[str, str], Spread]:
    """(variant, key) -> the validator's summary (mean, std, ci95), for the keys it summarised."""
    b = (exp.breakdown if exp is not None else Breakdown())
    out = {}
    for name, v in b.variants.items():
        for role, key in b.keys.items():
            if role in v.summaries and _numeric(v.summaries[role].mean):
                out[(name, key)] = v.summaries[role]
    return out


def _succeeded(runs: Sequence[Run]) -> list[tuple[str, JsonObject]]:
    """(variant, result values as its program reported them) of every run that succeeded with a result."""
    return [(r.variant, r.result) for r in runs if r.result is not None and r.status == RunState.SUCCEEDED]


def summarize(runs: Sequence[Run], exp: Experiment | None = None
              ) -> tuple[list[str], list[tuple[str, int, dict[str, str]]]]:
    """(keys, rows): per variant, the number of results and 'mean ± half-CI' per key."""
    results = _succeeded(runs)
    exp_keys = metric_keys(exp, [result for _, result in results])
    stored = _stored(exp)
    by_variant: dict[str, list[JsonObject]] = {}
    for variant, result in results:
        by_variant.setdefault(variant, []).append(result)
    rows = []
    for variant, res in by_variant.items():
        cells: dict[str, str] = {}
        for k in exp_keys:
            saved = stored.get((variant, k))
            if saved is not None and len(res) == len(stats.clean(x.get(k) for x in res)):
                mean, ci = saved.mean, saved.ci95
            else:
                s = stats.summarize((x.get(k) for x in res), (0.0, 1.0) if fraction(k) else None)
                if s.mean is None:
                    cells[k] = units.MISSING
                    continue
                mean, ci = s.mean, s.ci95
            text = units.result_value(k, mean)
            if ci and ci[0] is not None and ci[1] is not None:
                text += f" ± {units.result_value(k, (ci[1] - ci[0]) / 2)}"
            cells[k] = text
        rows.append((variant, len(res), cells))
    return exp_keys, rows


def caption(runs: Sequence[Run]) -> str:
    mode = energy_mode_of([result for _, result in _succeeded(runs)])
    energy = {"measured": "energy measured by hardware counters",
              "modelled": f"energy {MODELLED} (no hardware counter)",
              "mixed": f"energy partly {MODELLED}"}.get(mode or "", "")
    return "mean ± half-width of the 95 % CI over seeds (Student's t)" + (f"; {energy}" if energy else "")


def abbreviations(keys: list[str]) -> dict[str, str]:
    """A short column name per key, its words' initials (`test_accuracy` -> `ta`), unique."""
    out: dict[str, str] = {}
    for key in keys:
        short = "".join(word[0] for word in key.split("_") if word) or key[:2]
        base, n = short, 2
        while short in out.values():
            short, n = f"{base}{n}", n + 1
        out[key] = short
    return out


PAD = 2  # between columns


def headers(keys: list[str], rows: list[tuple[str, int, dict[str, str]]], width: int) -> tuple[dict[str, str], str]:
    """The column names that fit `width` whole: the keys themselves when the table fits, else
    the wider ones abbreviated (widest first), with a legend naming them; never a cut word."""
    cells = {k: max((len(c.get(k, "")) for _, _, c in rows), default=1) for k in keys}
    fixed = max([len("variant"), *(len(v) for v, _, _ in rows)]) + PAD + max(1, *(len(str(n)) for _, n, _ in rows)) + PAD
    shown = {k: k for k in keys}
    short = abbreviations(keys)

    def total() -> int:
        return fixed + sum(max(cells[k], len(shown[k])) + PAD for k in keys)

    for k in sorted(keys, key=lambda k: len(k) - cells[k], reverse=True):
        if total() <= width:
            break
        if len(k) > cells[k]:
            shown[k] = short[k]
    legend = ", ".join(f"{shown[k]} = {k}" for k in keys if shown[k] != k)
    return shown, legend


class MetricsTable(Static):
    """The results table; at a narrow width the column names are abbreviated with a legend
    rather than cut (it is drawn again for each width)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[list[str], list[tuple[str, int, dict[str, str]]], str] | None = None

    def show(self, exp: Experiment, runs: list[Run]) -> None:
        keys, rows = summarize(runs, exp)
        if not rows:
            self._shown = None
            self.update(Text("No results yet: metrics appear when runs succeed.", style="dim"))
            return
        self._shown = (keys, rows, caption(runs))
        self.update(self.table(self.size.width or 200))

    def on_resize(self) -> None:
        if self._shown is not None:
            self.update(self.table(self.size.width))

    def table(self, width: int) -> Table:
        assert self._shown is not None
        keys, rows, note = self._shown
        shown, legend = headers(keys, rows, width)
        table = Table(box=None, padding=(0, PAD, 0, 0), header_style="bold", expand=False,
                      caption=note + (f"; {legend}" if legend else ""), caption_justify="left")
        table.add_column("variant", no_wrap=True)
        table.add_column("n", justify="right")
        for k in keys:
            table.add_column(shown[k], justify="right")
        for variant, n, cells in rows:
            table.add_row(Text(variant), str(n), *(cells[k] for k in keys))  # a name is text, never markup
        return table
