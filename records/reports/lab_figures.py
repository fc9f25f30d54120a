"""The paper's figures, across rated experiments (matplotlib, Agg, imported only when drawing)."""

from __future__ import annotations

from pathlib import Path

from contract import quantities
from contract.rating_record import Headline
from db import Experiment
from records.reports.figures import colour, figure, save
from records.reports.pareto import Point, front


def quality_energy_points(rated: list[Experiment]) -> list[tuple[int, Point]]:
    """Every variant of every rated experiment whose quality is an accuracy (a fraction, drawn in
    %; a perplexity is another axis) with a quality and an energy mean."""
    out = []
    for exp in rated:
        b = exp.breakdown
        if quantities.kind_of(b.keys.get("quality", "test_accuracy")) is not quantities.Kind.FRACTION:
            continue
        for name, v in b.variants.items():
            q, e = v.quality.mean, v.summary("energy").mean
            if q is not None and e is not None and e > 0:
                out.append((exp.id, Point(f"exp {exp.id}: {name}", float(q), float(e))))
    return out


def draw_quality_energy(rated: list[Experiment], path: Path) -> bool:
    pts = quality_energy_points(rated)
    if not pts:
        return False
    fig = figure(6.4, 4.2)
    ax = fig.subplots()
    unit, scale = quantities.unit_scale(quantities.Kind.ENERGY, max(p.cost for _, p in pts))
    on_front = {p.name for p in front([p for _, p in pts])}
    ids = sorted({i for i, _ in pts})
    colours = {i: colour(k) for k, i in enumerate(ids)}
    for exp_id, p in pts:
        ax.scatter([p.cost * scale], [p.quality * 100], color=colours[exp_id], s=40,
                   edgecolors="red" if p.name in on_front else "none", linewidths=1.5)
        ax.annotate(p.name, (p.cost * scale, p.quality * 100), fontsize=6, xytext=(3, 3), textcoords="offset points")
    line = front([p for _, p in pts])
    ax.step([p.cost * scale for p in line], [p.quality * 100 for p in line], where="post", color="red", lw=1,
            alpha=0.6, label="Pareto front")
    costs = [p.cost for _, p in pts]
    if max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(f"energy of the targeted phase ({unit})")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, path)
    return True


def draw_efficiency(rated: list[Experiment], path: Path) -> bool:
    rows: list[tuple[Experiment, Headline, float]] = []
    for e in rated:
        h = e.breakdown.headline
        if h is not None and h.efficiency_score is not None:
            rows.append((e, h, h.efficiency_score))
    if not rows:
        return False
    fig = figure(max(4.0, 0.9 * len(rows) + 2), 3.6)
    ax = fig.subplots()
    labels = [f"exp {e.id}\n{h.variant}" for e, h, _ in rows]
    values = [score for _, _, score in rows]
    colors = ["0.6" if h.control_valid is False else "tab:green" if h.quality_kept else "tab:orange"
              for _, h, _ in rows]
    ax.bar(range(len(rows)), values, color=colors)
    ax.axhline(1.0, color="0.4", lw=1, ls="--")
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("E of the headline variant")
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)
    return True


def draw_ratings(rated: list[Experiment], path: Path) -> bool:
    if not rated:
        return False
    fig = figure(max(4.0, 0.6 * len(rated) + 2), 3.2)
    ax = fig.subplots()
    ax.bar(range(len(rated)), [e.rating for e in rated], color="tab:blue")
    ax.set_xticks(range(len(rated)), [f"exp {e.id}\n{e.catalog}" for e in rated], fontsize=7)
    ax.set_ylim(0, 10)
    ax.set_ylabel("rating (1-10)")
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)
    return True
