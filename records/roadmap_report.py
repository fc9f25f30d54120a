"""`lab roadmap` and ROADMAP.md: the roadmap's phases with each success criterion evaluated from
the lab's records (science/roadmap_standing.py), the proposals and experiments that served each criterion,
and the metrics-tracking section (velocity, sprint duration, time to results, average rating,
success rate, breakthroughs, best speedup / compression / energy saving).

The recorder writes ROADMAP.md into the lab's git record after each rated experiment
(`python -m records report`, records/report_command.py)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from contract import record_json, units
from contract.jsonvalue import JsonObject
from contract.layout import LabDir
from contract.publication import Published
from contract.quantities import Kind
from contract.record_json import OPT, JsonRecord
from db import Experiment, ExperimentState, Sprint, Store
from records.reports.lab import BEST_KEYS, BREAKTHROUGH, Best, best_of, tracker
from science import roadmap_doc as doc
from science.counting import count
from science.roadmap_standing import Criterion, Facts, Standing, counted, evaluate, machine_counters
from science.rubric import preliminary

DAY_S = 86_400.0


@dataclass(frozen=True)
class Velocity(JsonRecord):
    per_day: float | None
    finished: int
    days: float | None = field(default=None, metadata=OPT)   # left out until an experiment finished
    target_per_day: float = doc.TARGET_EXPERIMENTS_PER_DAY


@dataclass(frozen=True)
class Durations(JsonRecord):
    median_s: float | None
    n: int


@dataclass(frozen=True)
class Average(JsonRecord):
    mean: float | None
    n: int


@dataclass(frozen=True)
class Rate(JsonRecord):
    rate: float | None
    ci95: tuple[float, float] | None
    done: int
    finished: int


@dataclass(frozen=True)
class Breakthroughs(JsonRecord):
    count: int
    experiments: tuple[int, ...]
    at_least: float


@dataclass(frozen=True)
class BestGain(JsonRecord):
    best: Best | None


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    text: str                 # the value with its unit, as shown
    data: JsonRecord          # the same, as numbers (JSON)


@dataclass(frozen=True)
class Served(JsonRecord):
    """An experiment a criterion's steering produced (metadata.research.criterion)."""

    experiment: int
    catalog: str
    status: str
    rating: float | None


@dataclass(frozen=True)
class Roadmap:
    standing: Standing
    metrics: tuple[Metric, ...]
    served: dict[str, list[Served]]   # criterion id -> the proposals/experiments that served it
    preliminary: tuple[int, ...]


def last_publication(lab: LabDir) -> Published | None:
    """The record `lab publish` left (published.json), or None; an unreadable one reads as none."""
    try:
        data = json.loads(lab.published.read_text())
    except (OSError, ValueError):
        return None
    return record_json.read(Published, data)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def velocity(experiments: list[Experiment]) -> Metric:
    """Experiments finished per day, each result once (science/counting.py): a reproduction or a
    superseded run is no finished experiment of its own, as in the summary's research velocity."""
    folded = count(experiments).folded
    finished = [e for e in experiments if e.finished_at and e.status in (ExperimentState.DONE, ExperimentState.FAILED)
                and e.id not in folded]
    if not finished:
        return Metric("velocity", "research velocity", f"no experiment finished yet (target "
                      f"{doc.TARGET_EXPERIMENTS_PER_DAY:g} per day)", Velocity(None, 0))
    start = min(e.created_at for e in experiments)
    days = (max(e.finished_at or start for e in finished) - start) / DAY_S
    per_day = len(finished) / max(days, 1.0)   # a lab younger than a day is measured over its first day
    span = "its first day" if days < 1 else units.duration(days * DAY_S)
    return Metric("velocity", "research velocity", f"{per_day:.1f} experiments per day ({len(finished)} finished "
                  f"over {span}; target {doc.TARGET_EXPERIMENTS_PER_DAY:g} per day)",
                  Velocity(per_day, len(finished), days))


def _durations(key: str, label: str, rows: Sequence[Experiment | Sprint], what: str) -> Metric:
    values = [r.finished_at - r.created_at for r in rows if r.finished_at and r.created_at]
    med = _median(values)
    text = (f"median {units.duration(med)} over {len(values)} {what}" if med is not None else f"no {what} yet")
    return Metric(key, label, text, Durations(med, len(values)))


def _gain_text(key: str, best: Best | None) -> str:
    if best is None:
        return "none yet (no counted variant that kept quality and gained)"
    ci = best.ci95
    if key == "energy_saving":
        value = units.percent(best.value, 1) + (f" (95 % CI {units.interval(ci, Kind.FRACTION, 3)})"
                                                if ci else " (no CI)")
        value += ", modelled from CPU time" if best.energy_estimated else ", measured"
    else:
        value = units.ratio(best.value) + (f" (95 % CI {units.ratio_interval(ci)})" if ci else " (no CI)")
    return f"{value}: {best.variant} vs {best.reference} in exp {best.experiment} ({best.catalog})"


def metrics(experiments: list[Experiment], sprints: list[Sprint]) -> tuple[Metric, ...]:
    good = counted(experiments)
    t = tracker(experiments, [], [])
    ratings = [float(e.rating) for e in good if e.rating is not None]
    avg = statistics.fmean(ratings) if ratings else None
    rate, ci = t.success_rate, t.success_rate_ci95
    breakthroughs = [e.id for e in good if e.rating is not None and e.rating >= BREAKTHROUGH]
    out = [velocity(experiments),
           _durations("sprint_duration", "sprint duration", [s for s in sprints if s.finished_at], "finished sprint(s)"),
           _durations("time_to_results", "time to results", [e for e in experiments if e.rating is not None],
                      "rated experiment(s), from proposal to rating"),
           Metric("average_rating", "average rating", f"{avg:.1f}/10 over {len(ratings)} counted experiment(s)"
                  if avg is not None else "no counted rated experiment yet", Average(avg, len(ratings))),
           Metric("success_rate", "success rate", f"{units.percent(rate, 0)} ({t.succeeded} of {t.finished} "
                  f"finished experiments done; 95 % CI {units.interval(ci, Kind.FRACTION, 2)})"
                  if rate is not None and ci else "no experiment has finished yet",
                  Rate(rate, ci, t.succeeded, t.finished)),
           Metric("breakthroughs", f"breakthroughs (rating ≥ {BREAKTHROUGH:g})",
                  f"{len(breakthroughs)}: " + ", ".join(f"exp {i}" for i in breakthroughs) if breakthroughs else "none yet",
                  Breakthroughs(len(breakthroughs), tuple(breakthroughs), BREAKTHROUGH))]
    for key in BEST_KEYS:
        best = best_of(good, key)
        if best is not None and best.value <= (0.0 if key == "energy_saving" else 1.0):
            best = None  # the largest of the kept-quality variants, but no gain: a slowdown is not a best speedup
        out.append(Metric(f"best_{key}", f"best {key.replace('_', ' ')}", _gain_text(key, best), BestGain(best)))
    return tuple(out)


def served_by(experiments: list[Experiment]) -> dict[str, list[Served]]:
    """The proposals and experiments each criterion's steering produced (metadata.research.criterion)."""
    out: dict[str, list[Served]] = {}
    for e in experiments:
        cid = e.metadata.research.criterion if e.metadata.research else None
        if cid in doc.SPECS:
            out.setdefault(cid, []).append(Served(e.id, e.catalog, str(e.status), e.rating))
    return out


def build(experiments: list[Experiment], sprints: list[Sprint], facts: Facts) -> Roadmap:
    rated_prelim = tuple(e.id for e in experiments if e.rating is not None and preliminary(e))
    return Roadmap(evaluate(experiments, facts), metrics(experiments, sprints), served_by(experiments), rated_prelim)


async def read(store: Store, lab: LabDir) -> Roadmap:
    experiments: list[Experiment] = sorted(await store.list_experiments(), key=lambda e: e.id)
    sprints = await store.list_sprints(limit=100_000)
    return build(experiments, sprints, Facts(last_publication(lab), machine_counters()))


# -- rendering -----------------------------------------------------------------------------------

def _criterion_json(c: Criterion, served: list[Served]) -> JsonObject:
    return {"id": c.id, "text": c.text, "met": c.met, "status": c.status.value, "evidence": c.evidence,
            "experiments": list(c.experiments), "to_meet": c.to_meet or None, "served_by": [s.to_json() for s in served]}


def phase_state(r: Roadmap, number: int) -> str:
    mine = [c for c in r.standing.criteria if c.phase == number]
    if all(c.met for c in mine):
        return "met"
    return "current" if r.standing.current_phase == number else "later" if (
        r.standing.current_phase or 99) < number else "open"


def to_json(r: Roadmap) -> JsonObject:
    """`lab roadmap --json`."""
    return {"mission": doc.MISSION, "current_phase": r.standing.current_phase,
            "counted_experiments": list(r.standing.counted), "preliminary_experiments": list(r.preliminary),
            "phases": [{"number": p.number, "name": p.name, "weeks": p.weeks, "goal": p.goal, "tasks": list(p.tasks),
                        "state": phase_state(r, p.number),
                        "criteria": [_criterion_json(r.standing.of(s.id), r.served.get(s.id, [])) for s in p.criteria]}
                       for p in doc.PHASES],
            "metrics": {m.key: {"label": m.label, "text": m.text, **m.data.to_json()} for m in r.metrics}}


MARK = {"met": "[x]", "unmet": "[ ]", "unreachable here": "[-]"}


def lines(r: Roadmap) -> list[str]:
    """The roadmap as plain text lines: `lab roadmap` prints them, ROADMAP.md is made of them."""
    out = [f"Mission: {doc.MISSION}", ""]
    cur = r.standing.current_phase
    out.append(f"Current phase: {cur} ({doc.PHASES[cur - 1].name})" if cur else "Every phase's criteria are met "
               "(or cannot be met on this machine).")
    out.append(f"Counted experiments: {', '.join(map(str, r.standing.counted)) or 'none'}; preliminary (smoke or "
               f"too few seeds, counting for nothing): {', '.join(map(str, r.preliminary)) or 'none'}")
    for p in doc.PHASES:
        out += ["", f"## Phase {p.number}: {p.name} ({p.weeks}) — {phase_state(r, p.number)}", f"Goal: {p.goal}",
                "Tasks: " + "; ".join(p.tasks), "Success criteria:"]
        for spec in p.criteria:
            c = r.standing.of(spec.id)
            out.append(f"- {MARK[c.status.value]} {c.text} [{c.id}]: {c.evidence}")
            if c.to_meet:
                out.append(f"  to meet it: {c.to_meet}")
            served = r.served.get(c.id, [])
            if served:
                out.append("  served by: " + ", ".join(
                    f"exp {s.experiment} ({s.catalog}, {s.status}"
                    + (f", {s.rating:g}/10" if s.rating is not None else "") + ")" for s in served))
    out += ["", "## Metrics tracking"]
    out += [f"- {m.label}: {m.text}" for m in r.metrics]
    return out


def markdown(r: Roadmap) -> str:
    return "# Roadmap\n\n" + "\n".join(lines(r)) + "\n\n[x] met · [ ] unmet · [-] cannot be met on this machine\n"


async def write_roadmap(store: Store, lab: LabDir) -> Path:
    """ROADMAP.md at the top of the lab (committed by the recorder with the experiment)."""
    lab.roadmap.write_text(markdown(await read(store, lab)))
    return lab.roadmap
