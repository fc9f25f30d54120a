"""PNG figures of one experiment (matplotlib, Agg backend: no display needed).

- `curves.png`: the training curves of each variant, mean over seeds with a band of ± 1 standard
  deviation across seeds, from the metric points the runs reported;
- `tradeoff.png`: quality against each cost (energy, time, size) per variant, with the 95 % CIs
  of the rating breakdown as error bars and the Pareto front marked.

matplotlib is imported here only when a figure is drawn (never in the engine's process).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import quantities
from contract.comparison import Spread
from contract.rating_record import Breakdown, VariantResult
from contract.runfiles import TRAINING_METRIC
from db import MetricPoint, Run
from records.reports.pareto import COST_ROLES, front, points

PREFERRED_KEYS = ("val_accuracy", "val_loss", "train_loss", "test_accuracy")
IGNORED_KEYS = ("lr",)
MAX_KEYS = 4
DPI = 100


@dataclass(frozen=True)
class Figure:
    file: str       # relative to the report's folder, e.g. "figures/curves.png"
    title: str
    caption: str


def figure(width: float, height: float) -> Any:
    """A figure of its own, without pyplot (no global figure manager to close it from), drawn by
    matplotlib's Agg canvas, which needs no display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="tight")  # laid out as it is drawn: labels and suptitle inside
    FigureCanvasAgg(fig)
    return fig


def colour(index: int) -> Any:
    """The `index`-th colour of matplotlib's tab10 cycle."""
    from matplotlib import colormaps

    return colormaps["tab10"](index % 10)


def save(fig: Any, path: Path) -> None:
    """The figure as a PNG, laid out once as it is drawn (`bbox_inches="tight"` after a
    `tight_layout()` drew it twice more)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})


Series = dict[str, dict[str, dict[int, list[tuple[float, float]]]]]  # key -> variant -> seed -> points


def curve_series(metrics: list[MetricPoint], runs: list[Run]) -> Series:
    by_run = {r.id: r for r in runs}
    out: Series = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for m in metrics:
        run = by_run.get(m.run_id)
        if run is None or m.value is None or m.key in IGNORED_KEYS:
            continue
        out[m.key][run.variant][run.seed].append((float(m.step), float(m.value)))
    return out


def curve_keys(series: Series) -> list[str]:
    """Up to four keys with at least two steps: validation and training curves first."""
    usable = [k for k, per_variant in series.items() if k != TRAINING_METRIC
              and any(len({s for s, _ in pts}) >= 2 for seeds in per_variant.values() for pts in seeds.values())]
    ordered = [k for k in PREFERRED_KEYS if k in usable] + sorted(k for k in usable if k not in PREFERRED_KEYS)
    return ordered[:MAX_KEYS]


def band(per_seed: dict[int, list[tuple[float, float]]]) -> tuple[list[float], list[float], list[float]]:
    """Steps, mean over seeds and standard deviation over seeds (0 where one seed reported)."""
    at: dict[float, list[float]] = defaultdict(list)
    for pts in per_seed.values():
        for step, v in pts:
            at[step].append(v)
    steps = sorted(at)
    means = [statistics.fmean(at[s]) for s in steps]
    stds = [statistics.stdev(at[s]) if len(at[s]) > 1 else 0.0 for s in steps]
    return steps, means, stds


def draw_curves(series: Series, keys: list[str], baseline: str, seeds: int, path: Path) -> None:
    cols = 1 if len(keys) == 1 else 2
    rows = (len(keys) + cols - 1) // cols
    fig = figure(5.2 * cols, 3.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    variants = sorted({v for k in keys for v in series[k]}, key=lambda v: (v != baseline, v))
    colours = {v: colour(i) for i, v in enumerate(variants)}
    for ax, key in zip(axes.flat, keys):
        for variant in variants:
            if variant not in series[key]:
                continue
            steps, means, stds = band(series[key][variant])
            label = f"{variant} (baseline)" if variant == baseline else variant
            ax.plot(steps, means, color=colours[variant], lw=2.2 if variant == baseline else 1.4, label=label,
                    marker="o", ms=3)
            if len(steps) == 1 and stds[0]:  # one point (e.g. a short fine-tune): its spread as an error bar
                ax.errorbar(steps, means, yerr=stds, color=colours[variant], capsize=3, lw=1)
            elif any(stds):
                ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                                color=colours[variant], alpha=0.18, lw=0)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Training curves: mean over {seeds} seed(s), band ± 1 std across seeds", fontsize=11)
    save(fig, path)


def _xerr(summary: Spread, mean: float, scale: float) -> list[float] | None:
    """The 95 % CI as error bar lengths; a cost or quality is never negative, so the bar stops at 0."""
    ci = summary.ci95
    if not ci or ci[0] is None or ci[1] is None:
        return None
    return [max(0.0, mean - max(ci[0], 0.0)) * scale, max(0.0, ci[1] - mean) * scale]


def draw_tradeoff(variants: dict[str, VariantResult], keys: dict[str, str], baseline: str, path: Path) -> list[str]:
    """Quality against each cost with data; returns the roles drawn."""
    roles = [r for r in COST_ROLES if len(points(variants, r)) >= 1]
    fig = figure(4.6 * len(roles), 3.8)
    axes = fig.subplots(1, len(roles), squeeze=False)
    quality_key = keys.get("quality", "quality")
    q_unit, q_scale = quantities.unit_scale(quantities.kind_of(quality_key), 1.0)  # an accuracy in %, a perplexity in ppl
    for ax, role in zip(axes.flat, roles):
        pts = points(variants, role, quality_key)
        key = keys.get(role, role)
        unit, scale = quantities.unit_scale(quantities.kind_of(key), max(p.cost for p in pts))
        on_front = {p.name for p in front(pts)}
        for p in pts:
            v = variants[p.name]
            yerr = _xerr(v.quality, p.quality, q_scale)
            xerr = _xerr(v.summary(role), p.cost, scale)
            marker = "*" if p.name == baseline else "o"
            ax.errorbar([p.cost * scale], [p.quality * q_scale], xerr=None if xerr is None else [[xerr[0]], [xerr[1]]],
                        yerr=None if yerr is None else [[yerr[0]], [yerr[1]]], fmt=marker,
                        ms=12 if marker == "*" else 6, color="tab:red" if p.name in on_front else "tab:gray",
                        ecolor="0.6", capsize=2)
            ax.annotate(p.name, (p.cost * scale, p.quality * q_scale), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        line = front(pts)
        ax.step([p.cost * scale for p in line], [p.quality * q_scale for p in line], where="post", color="tab:red",
                lw=1, alpha=0.7, label="Pareto front")
        costs = [p.cost for p in pts if p.cost > 0]
        if costs and max(costs) / min(costs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(f"{key} ({unit})" if unit else key)
        ax.set_ylabel(f"{quality_key} ({q_unit})" if q_unit else quality_key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Quality against cost: variant means, 95 % CIs, Pareto front in red (* baseline)", fontsize=10)
    save(fig, path)
    return roles


def experiment_figures(metrics: list[MetricPoint], runs: list[Run], breakdown: Breakdown,
                       folder: Path) -> tuple[list[Figure], list[str]]:
    """Draw what the data allows; returns the figures and a note for each one left out."""
    figures, notes = [], []
    baseline = str(breakdown.baseline or "")
    series = curve_series(metrics, runs)
    keys = curve_keys(series)
    if keys:
        draw_curves(series, keys, baseline, int(breakdown.seeds or 1), folder / "figures" / "curves.png")
        figures.append(Figure("figures/curves.png", "Training curves",
                              f"{', '.join(keys)} per step, mean over seeds with a ± 1 std band across seeds."))
    else:
        notes.append("no training curves: the runs reported fewer than two metric steps")
    variants = breakdown.variants
    if any(points(variants, r) for r in COST_ROLES):
        roles = draw_tradeoff(variants, breakdown.keys, baseline, folder / "figures" / "tradeoff.png")
        figures.append(Figure("figures/tradeoff.png", "Quality against cost",
                              f"{breakdown.quality_key} against "
                              f"{', '.join(breakdown.keys.get(r, r) for r in roles)}; "
                              "error bars: 95 % CIs over seeds; red: the Pareto front."))
    else:
        notes.append("no quality-against-cost figure: no variant has both a quality and a cost")
    return figures, notes
