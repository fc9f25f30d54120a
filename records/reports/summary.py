"""`lab report`: the lab-wide research summary: experiments by area, the distribution of ratings,
the best efficiency gains with their evidence, the findings, research velocity and energy spent.
Written from the database (every number from the validator's breakdowns and the runs)."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from agents.research_settings import ResearchSettings
from contract import units
from contract.comparison import Pair
from contract.rating_record import VariantResult
from contract.record_json import JsonRecord
from db import Experiment, ExperimentState, Store
from records.reports import markdown
from records.reports.lab import (
    CONTRIBUTION_HEADERS,
    CONTRIBUTION_LEGEND,
    GAINS_RULE,
    LabData,
    Tracker,
    best_gains,
    contribution_rows,
    load_lab,
    tracker,
    tracker_lines,
)
from records.reports.prose import OFFLINE, discuss
from science.catalog import Catalog
from science.headline import quality_text
from science.rubric import preliminary

FINISHED = (ExperimentState.DONE, ExperimentState.FAILED)
SHOWN_FINDINGS = ("effect", "tradeoff", "worse", "void", "diverged", "failed")


def _day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


@dataclass(frozen=True)
class Area(JsonRecord):
    """The experiments of one research area: its catalog entries, how they stand, their ratings."""

    area: str
    entries: tuple[str, ...]
    experiments: int
    done: int
    failed: int
    other: int
    rated: int
    mean_rating: float | None


def by_area(lab: LabData) -> list[Area]:
    groups: dict[str, list[Experiment]] = defaultdict(list)
    for exp in lab.experiments:
        groups[lab.area(exp)].append(exp)
    out = []
    for area in sorted(groups):
        exps = groups[area]
        ratings = [e.rating for e in exps if e.rating is not None]
        statuses = Counter(e.status for e in exps)
        done, failed = statuses.get(ExperimentState.DONE, 0), statuses.get(ExperimentState.FAILED, 0)
        out.append(Area(area, tuple(sorted({e.catalog for e in exps})), len(exps), done, failed,
                        len(exps) - done - failed, len(ratings), statistics.fmean(ratings) if ratings else None))
    return out


@dataclass(frozen=True)
class Ratings(JsonRecord):
    """How the rated experiments' ratings spread (a histogram from 10 down to 1)."""

    histogram: dict[str, int]
    rated: int
    of: int
    mean: float | None
    median: float | None


def ratings(lab: LabData) -> Ratings:
    values = [e.rating for e in lab.rated() if e.rating is not None]
    counts = Counter(round(v) for v in values)
    return Ratings({str(r): counts.get(r, 0) for r in range(10, 0, -1)}, len(values), len(lab.experiments),
                   statistics.fmean(values) if values else None, statistics.median(values) if values else None)


@dataclass(frozen=True)
class Day(JsonRecord):
    """What finished on one day (UTC)."""

    date: str
    experiments: int
    runs: int


@dataclass(frozen=True)
class Velocity(JsonRecord):
    """How fast the lab finishes experiments and runs. Each result counts once (science/counting.py):
    a reproduction and a superseded run are no finished experiment of their own (`folded` of them);
    their runs are runs finished."""

    finished: int
    runs_finished: int
    per_day: tuple[Day, ...]
    span_s: float | None
    per_hour: float | None
    last_24h: int
    last_hour: int
    mean_wall_s: float | None
    folded: int = 0


def velocity(lab: LabData, now: float, folded: frozenset[int] = frozenset()) -> Velocity:
    ended = [(e, e.finished_at) for e in lab.experiments if e.status in FINISHED and e.finished_at]
    finished = [(e, t) for e, t in ended if e.id not in folded]
    runs = [r.finished_at for r in lab.runs if r.finished_at]
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, t in finished:
        per_day[_day(t)][0] += 1
    for t in runs:
        per_day[_day(t)][1] += 1
    start = min((e.created_at for e in lab.experiments), default=None)
    end = max((t for _, t in finished), default=None)
    span = (end - start) if start is not None and end is not None else None
    walls = [t - e.started_at for e, t in finished if e.started_at]
    return Velocity(len(finished), len(runs), tuple(Day(d, v[0], v[1]) for d, v in sorted(per_day.items())), span,
                    (len(finished) / (span / 3600)) if span else None, sum(1 for _, t in finished if t >= now - 86400),
                    sum(1 for _, t in finished if t >= now - 3600), statistics.fmean(walls) if walls else None,
                    len(ended) - len(finished))


@dataclass(frozen=True)
class EnergySpent(JsonRecord):
    """The energy of the finished runs: the lab's totals, how each run's was known, and per area."""

    energy_kwh: float
    co2_kg: float
    runs: int
    estimated: bool
    modes: dict[str, int]
    per_area_kwh: dict[str, float]


def energy(lab: LabData) -> EnergySpent:
    modes = Counter(r.energy_mode or "unknown" for r in lab.runs if r.energy_kwh is not None)
    area_of = {e.id: lab.area(e) for e in lab.experiments}
    per_area: dict[str, float] = defaultdict(float)
    for r in lab.runs:
        if r.energy_kwh is not None:
            per_area[area_of.get(r.experiment_id, "unknown")] += r.energy_kwh
    t = lab.energy
    return EnergySpent(t.energy_kwh, t.co2_kg, t.runs, t.estimated, dict(modes), dict(sorted(per_area.items())))


@dataclass(frozen=True)
class Gain(JsonRecord):
    """One row of the best efficiency gains: the headline of an experiment that meets `GAINS_RULE`."""

    experiment: int
    catalog: str
    variant: str
    efficiency_score: float | None
    speedup: float | None
    compression: float | None
    quality_delta: float | None
    quality_delta_ci95: Pair | None
    quality_key: str
    quality_kind: str | None
    quality_change: str
    energy_p_value: float | None
    energy_estimated: bool | None
    rating: float | None
    preliminary: bool
    evidence: str


def gains(lab: LabData) -> list[Gain]:
    out = []
    for exp in best_gains(lab):
        b = exp.breakdown
        h = b.headline
        if h is None:
            continue
        v = b.variants.get(h.variant) or VariantResult()
        qk = b.quality_key
        out.append(Gain(exp.id, exp.catalog, h.variant, h.efficiency_score, h.speedup, h.compression, h.quality_delta,
                        h.quality_delta_ci95, h.quality_key or qk, h.quality_kind, quality_text(h, qk),
                        v.compared.p_value_of("energy"), h.energy_estimated, exp.rating, preliminary(exp),
                        lab.finding_of(exp.id, h.variant) or units.MISSING))
    return out


@dataclass(frozen=True)
class Shown(JsonRecord):
    """A finding the summary lists."""

    experiment: int
    variant: str | None
    kind: str
    text: str


@dataclass(frozen=True)
class Findings(JsonRecord):
    counts: dict[str, int]
    shown: tuple[Shown, ...]


@dataclass(frozen=True)
class Summary(JsonRecord):
    """Everything the summary states, as data (also written as summary.json)."""

    written_at: float
    experiments: int
    statuses: dict[str, int]
    areas: tuple[Area, ...]
    ratings: Ratings
    best_gains: tuple[Gain, ...]
    tracker: Tracker
    findings: Findings
    velocity: Velocity
    energy: EnergySpent
    catalog_note: str


def collect(lab: LabData, now: float | None = None) -> Summary:
    """Everything the summary states, as data (also written as summary.json)."""
    now = time.time() if now is None else now
    shown = tuple(Shown(f.experiment_id, f.variant, f.kind, f.text) for f in lab.findings if f.kind in SHOWN_FINDINGS)
    t = tracker(lab.experiments, lab.proposals, lab.said)
    return Summary(now, len(lab.experiments), dict(Counter(str(e.status) for e in lab.experiments)),
                   tuple(by_area(lab)), ratings(lab), tuple(gains(lab)), t,
                   Findings(dict(Counter(f.kind for f in lab.findings)), shown[-30:]), velocity(lab, now, t.folded.ids()),
                   energy(lab), lab.catalog_note)


def overview(data: Summary) -> str:
    r, v, e = data.ratings, data.velocity, data.energy
    parts = [f"The lab holds {data.experiments} experiment(s) ("
             + ", ".join(f"{n} {s}" for s, n in sorted(data.statuses.items())) + f"); {r.rated} are rated"
             + (f", with a mean rating of {r.mean:.1f}/10" if r.mean is not None else "") + "."]
    if data.best_gains:
        # a finding first; a preliminary run (smoke, too few seeds) only when there is none, and said so
        g = next((x for x in data.best_gains if not x.preliminary), data.best_gains[0])
        prelim = " (preliminary: a smoke run or too few seeds, not a finding)" if g.preliminary else ""
        parts.append(f"The best efficiency gain with a valid control and quality kept (non-inferior within its "
                     f"margin) is E = {units.ratio(g.efficiency_score)} ({g.variant} of {g.catalog}, exp "
                     f"{g.experiment}){prelim}, at {g.quality_change}.")
    else:
        parts.append("No rated experiment has yet shown an efficiency gain with a valid control and quality kept.")
    parts.append(f"{v.finished} experiment(s) and {v.runs_finished} run(s) finished"
                 + (f" over {units.duration(v.span_s)}" if v.span_s else "") + f"; they used "
                 f"{units.of('energy_kwh', e.energy_kwh)} and {units.of('co2_kg', e.co2_kg)} CO2"
                 + (" (modelled from CPU time, not measured)" if e.estimated
                    else " (measured by hardware counters)") + ".")
    return " ".join(parts)


def render_tracker(t: Tracker) -> list[str]:
    """The research tracker: quality bands, success rate, breakthroughs, the best gains, who did what."""
    return ["## Research tracker", "", markdown.table(["", ""], [[what, value] for what, value in tracker_lines(t)]), "",
            "The best gains are among rated variants that kept quality. Each agent's contribution:", "",
            markdown.table(CONTRIBUTION_HEADERS, contribution_rows(t)) if t.agents else "No proposals yet.", "",
            f"*{CONTRIBUTION_LEGEND}.*", ""]


def _areas_and_ratings(data: Summary) -> list[str]:
    out = ["## Experiments by area", "",
           markdown.table(["area", "catalog entries", "experiments", "done", "failed", "other", "rated", "mean rating"],
                          [[a.area, ", ".join(a.entries), a.experiments, a.done, a.failed, a.other,
                            a.rated, units.MISSING if a.mean_rating is None else f"{a.mean_rating:.1f}"]
                           for a in data.areas]) if data.areas else "No experiments yet.", ""]
    r = data.ratings
    out += ["## Quality distribution (ratings)", "",
            f"{r.rated} of {r.of} experiment(s) rated"
            + (f"; mean {r.mean:.1f}, median {r.median:g} (rubric: docs/AGENTS.md)." if r.mean is not None else "."), "",
            markdown.table(["rating", "experiments", ""], [[k, n, "#" * n] for k, n in r.histogram.items()]), ""]
    return out


def _gains_and_findings(data: Summary) -> list[str]:
    out = ["## Best efficiency gains", "", f"The {GAINS_RULE}, by efficiency score E; the evidence is the "
           "validator's finding. A preliminary one (smoke profile or too few seeds) is marked: it is no finding.", ""]
    out.append(markdown.table(["exp", "entry", "variant", "E", "speedup", "compression", "Δ quality [95 % CI]",
                               "p (energy)", "rating", "evidence"],
                              [[g.experiment, g.catalog, g.variant, units.ratio(g.efficiency_score),
                                units.ratio(g.speedup), units.ratio(g.compression), g.quality_change,
                                units.pvalue(g.energy_p_value),
                                f"{g.rating:g}/10" + (" (preliminary)" if g.preliminary else ""), g.evidence]
                               for g in data.best_gains]) if data.best_gains else "None yet.")
    f = data.findings
    void = " (each void comparison is listed below with its reason)" if f.counts.get("void") else ""
    out += ["", "## Findings", "", ("Findings by kind: " + ", ".join(f"{n} {k}" for k, n in sorted(f.counts.items()))
                                   + void + ".") if f.counts else "No findings yet.", ""]
    out += [f"- (exp {x.experiment}) {x.text}" for x in f.shown]
    return [*out, "", "All findings: `lab findings`.", ""]


def _velocity_and_energy(data: Summary) -> list[str]:
    v = data.velocity
    out = ["## Research velocity", "",
           f"{v.finished} experiment(s) finished ({v.last_hour} in the last hour, {v.last_24h} in the last "
           f"24 hours)" + (f", {v.per_hour:.2f} per hour over the {units.duration(v.span_s)} from the first experiment to "
                           "the last finished one" if v.per_hour and v.span_s else "")
           + (f"; an experiment took {units.duration(v.mean_wall_s)} on average from its first run to its end"
              if v.mean_wall_s is not None else "")
           + (f"; {v.folded} reproduction(s) or superseded run(s) not counted again, each counted with its result "
              "(their runs are counted)" if v.folded else "") + ".", ""]
    if v.per_day:
        out += [markdown.table(["date (UTC)", "experiments finished", "runs finished"],
                               [[d.date, d.experiments, d.runs] for d in v.per_day]), ""]
    e = data.energy
    modes = ", ".join(f"{n} {m}" for m, n in sorted(e.modes.items())) or "none"
    out += ["## Energy spent", "",
            f"{units.of('energy_kwh', e.energy_kwh)} ({e.energy_kwh:.6g} kWh) and "
            f"{units.of('co2_kg', e.co2_kg)} CO2-equivalent over {e.runs} run(s); energy per run: {modes}"
            + (" — modelled from CPU time, not hardware measurements." if e.estimated else "."), ""]
    if e.per_area_kwh:
        out += [markdown.table(["area", "energy"], [[a, units.of("energy_kwh", k)] for a, k in e.per_area_kwh.items()]), ""]
    return out


def render(data: Summary, lab_root: str, backend: str, prose: str | None = None) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data.written_at))
    out = ["# Joule Lab: research summary", "", f"Lab `{lab_root}` · written {when} · text: {backend}", "",
           "## Overview", "", overview(data), ""]
    if prose:
        out += [prose, "", "*(Written by the language model; every number in it was checked against this summary.)*", ""]
    if data.catalog_note:
        out += [f"*Note: {data.catalog_note}.*", ""]
    out += render_tracker(data.tracker)
    out += _areas_and_ratings(data) + _gains_and_findings(data) + _velocity_and_energy(data)
    return "\n".join(out)


async def write_summary(store: Store, catalog: Catalog, out: Path, lab_root: str,
                        settings: ResearchSettings | None = None) -> Path:
    """`summary.md` (and `summary.json`, the same numbers as data) in `out`; the Markdown's path."""
    data = collect(await load_lab(store, catalog))
    prose = OFFLINE
    if settings is not None:
        draft = render(data, lab_root, "offline")
        prose = await discuss(store, settings, subject="Research summary of the lab", summary=overview(data),
                              evidence=draft, ask="Write a short overview of this lab's research so far for "
                                                  "the people who run it: what worked, what did not, what is uncertain.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(data.to_json(), indent=2, sort_keys=True, default=str) + "\n")
    path = out / "summary.md"
    path.write_text(render(data, lab_root, prose.backend, prose.text)
                    + (f"\n*({prose.note}.)*\n" if prose.note else ""))
    return path
