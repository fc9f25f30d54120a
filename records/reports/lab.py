"""What the lab-wide summary and the paper are written from: every experiment with its rating
breakdown, every run, the findings, the energy totals and the catalog."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from agents.state import GENERATED
from contract import quantities, units
from contract.catalog_answer import CatalogEntry
from contract.comparison import Pair
from contract.rating_record import Headline, VariantResult
from contract.record_json import JsonRecord
from db import AgentUsage, EnergyTotals, Experiment, ExperimentState, Proposed, Run, Store, StoredFinding
from science.catalog import Catalog, CatalogError
from science.thresholds import QUALITY_MARGIN


@dataclass
class LabData:
    experiments: list[Experiment]                # by id
    runs: list[Run]
    findings: list[StoredFinding]
    energy: EnergyTotals
    entries: dict[str, CatalogEntry]
    catalog_note: str = ""                       # why the catalog is missing, when it is
    proposals: list[Proposed] = field(default_factory=list)   # who proposed each experiment
    said: list[AgentUsage] = field(default_factory=list)      # messages, tokens, cost per agent

    def area(self, exp: Experiment) -> str:
        if exp.catalog == GENERATED:
            return "generated"
        entry = self.entries.get(exp.catalog)
        return entry.area if entry is not None and entry.area else "unknown"

    def rated(self) -> list[Experiment]:
        return [e for e in self.experiments if e.rating is not None and e.rating_breakdown]

    def runs_of(self, exp_id: int) -> list[Run]:
        return [r for r in self.runs if r.experiment_id == exp_id]

    def finding_of(self, exp_id: int, variant: str | None) -> str | None:
        return next((f.text for f in self.findings if f.experiment_id == exp_id and f.variant == variant), None)


async def load_lab(store: Store, catalog: Catalog) -> LabData:
    experiments: list[Experiment] = sorted(await store.list_experiments(), key=lambda e: e.id)
    runs = await store.list_runs()
    found = await store.findings(limit=100_000)
    energy = await store.energy_totals()
    note = ""
    try:
        entries = await asyncio.to_thread(catalog.entries)
    except CatalogError as exc:
        entries, note = {}, f"the catalog could not be asked ({exc}); areas and literature are missing"
    return LabData(experiments, runs, found, energy, dict(entries), note, await store.proposals_by_agent(),
                   await store.messages_by_agent())


def headline(exp: Experiment) -> Headline | None:
    return exp.breakdown.headline


#: the rule the best-gains table states; `keeps_rule` is its test, row by row
GAINS_RULE = ("headline variants whose comparison stands (a valid control, not chosen on test data), whose effect "
              "on their declared objective points the good way, and whose quality is kept: the 95 % CI of its "
              f"change stays within the entry's non-inferiority margin ({units.margin_rule(QUALITY_MARGIN)}, "
              "unless the entry declares its own)")


def keeps_rule(h: Headline | None) -> bool:
    """A headline the best-gains table may list (`GAINS_RULE`): valid control, not chosen on test
    data, a gain on its objective, quality kept (non-inferior within its margin), and an E."""
    if not h or not h.quality_kept or h.control_valid is False or h.selection == "test" \
            or not isinstance(h.efficiency_score, (int, float)):
        return False
    detail = h.detail
    est = detail.estimate
    if not h.objective or not isinstance(est, (int, float)):
        return True  # a rubric v1 record: E is its only effect
    return est > 1 if detail.is_ratio else est > 0


def _e(exp: Experiment) -> float:
    """The headline's E of an experiment `keeps_rule` admits (it has one), for sorting."""
    h = headline(exp)
    return float(h.efficiency_score or 0.0) if h is not None else 0.0


def best_gains(lab: LabData, limit: int = 10) -> list[Experiment]:
    """Rated experiments whose headline meets `GAINS_RULE`, by E (then speedup), best first (the
    summary marks the preliminary ones; the tracker leaves them out)."""
    rows = []
    for exp in lab.rated():
        if not keeps_rule(headline(exp)):
            continue
        rows.append(exp)
    rows.sort(key=lambda e: (-_e(e), -(getattr(headline(e), "speedup", None) or 0), e.id))
    return rows[:limit]


# -- the research tracker: one computation for `lab report` and the control room ---------------

QUALITY_BANDS = (("7-10", 7, 10), ("5-6", 5, 6), ("1-4", 1, 4))
BREAKTHROUGH = 9            # a rating at or above this is a breakthrough
AGENTS = ("researcher", "architect", "coder", "validator")
PERSON = "person"           # experiments queued by people: `lab run`, job files, the control room
BEST_KEYS = ("speedup", "compression", "energy_saving")


def band_of(rating: float) -> str:
    value = round(rating)
    return next((name for name, lo, hi in QUALITY_BANDS if lo <= value <= hi), QUALITY_BANDS[-1][0])


def bands(ratings: list[float]) -> dict[str, int]:
    counts = {name: 0 for name, _, _ in QUALITY_BANDS}
    for rating in ratings:
        counts[band_of(rating)] += 1
    return counts


def _number(value: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _ci(ci: Pair | None) -> tuple[float, float] | None:
    """A validator's 95 % CI as the tracker's pair, where it gives one."""
    return None if ci is None or ci[0] is None or ci[1] is None else (float(ci[0]), float(ci[1]))


@dataclass(frozen=True)
class VariantGain:
    """A compared variant's speedup, compression and energy saving (1 - energy / its reference's
    energy), with their CIs where the validator gives them, and whether quality was kept."""

    reference: str
    quality_kept: bool
    energy_estimated: bool
    speedup: float | None
    speedup_ci95: tuple[float, float] | None
    compression: float | None
    compression_ci95: tuple[float, float] | None
    energy_saving: float | None
    energy_saving_ci95: tuple[float, float] | None

    def figure(self, key: str) -> tuple[float | None, tuple[float, float] | None]:
        """One of `BEST_KEYS` with its CI."""
        return {"speedup": (self.speedup, self.speedup_ci95), "compression": (self.compression, self.compression_ci95),
                "energy_saving": (self.energy_saving, self.energy_saving_ci95)}[key]


def variant_gains(variants: Mapping[str, VariantResult]) -> dict[str, VariantGain]:
    """Each compared variant's gains (`VariantGain`); a void comparison is no gain of any size."""
    out: dict[str, VariantGain] = {}
    for name, v in variants.items():
        ref = variants.get(v.reference or "")
        if not v.reference or ref is None:
            continue
        c = v.compared
        energy, base = _number(v.summary("energy").mean), _number(ref.summary("energy").mean)
        saving = 1 - energy / base if energy is not None and base else None
        # energy_ratio is the reference's energy / the variant's (science/comparing.py), so the
        # saving 1 - energy / reference = 1 - 1 / ratio, and its CI maps through the same function
        ratio_ci = _ci(c.ratio_ci("energy"))
        if ratio_ci is not None and min(ratio_ci) <= 0:
            ratio_ci = None
        if c.control_valid is False:  # a void comparison is no gain of any size
            continue
        out[name] = VariantGain(v.reference, bool(c.quality_kept), bool(v.energy_estimated),
                                _number(c.speedup), _ci(c.ratio_ci("time")),
                                _number(c.compression), _ci(c.ratio_ci("size")), saving,
                                None if ratio_ci is None else (1 - 1 / ratio_ci[0], 1 - 1 / ratio_ci[1]))
    return out


@dataclass(frozen=True)
class Best(JsonRecord):
    """The largest of one gain among rated variants that kept quality, with its experiment."""

    experiment: int
    name: str
    catalog: str
    variant: str
    reference: str
    value: float
    ci95: tuple[float, float] | None
    rating: float
    energy_estimated: bool


def best_of(experiments: list[Experiment], key: str) -> Best | None:
    """The largest `key` (one of `BEST_KEYS`) among rated variants that kept quality."""
    best: Best | None = None
    for exp in experiments:
        if exp.rating is None or exp.rating_breakdown is None:
            continue
        for name, gain in sorted(variant_gains(exp.breakdown.variants).items()):
            value, ci = gain.figure(key)
            if value is None or not gain.quality_kept:
                continue
            if best is None or value > best.value:
                best = Best(exp.id, exp.name, exp.catalog, name, gain.reference, value, ci, exp.rating,
                            gain.energy_estimated)
    return best


@dataclass(frozen=True)
class Contribution(JsonRecord):
    """One agent's (or the people's) proposals: made, approved, rejected, waiting, the ratings they
    earned (preliminary experiments apart) and what the agent said (messages, tokens, dollars)."""

    agent: str
    proposals: int
    approved: int
    rejected: int
    waiting: int
    rated: int
    preliminary: int
    mean_rating: float | None
    best_rating: float | None
    bands: dict[str, int]
    messages: int
    tokens: int
    cost_usd: float


def contributions(proposals: list[Proposed], messages: list[AgentUsage],
                  preliminary: frozenset[int] = frozenset(), folded: frozenset[int] = frozenset()) -> list[Contribution]:
    """Per agent (and for people), what they proposed and said (`Contribution`); a proposal's
    rating counts once, as science/counting.py counts (not a folded reproduction or superseded run's)."""
    said = {m.agent: m for m in messages}
    names = [*AGENTS, *sorted({p.proposer for p in proposals} - {*AGENTS, PERSON}), PERSON]
    out = []
    for agent in names:
        mine = [p for p in proposals if p.proposer == agent]
        ratings = [float(p.rating) for p in mine
                   if p.rating is not None and p.experiment_id not in preliminary and p.experiment_id not in folded]
        m = said.get(agent) or AgentUsage(agent, 0)
        if agent == PERSON and not mine:
            continue
        out.append(Contribution(agent, len(mine), sum(1 for p in mine if p.approved),
                                sum(1 for p in mine if p.status == ExperimentState.REJECTED),
                                sum(1 for p in mine if p.status in WAITING), len(ratings),
                                sum(1 for p in mine if p.experiment_id in preliminary),
                                statistics.fmean(ratings) if ratings else None, max(ratings) if ratings else None,
                                bands(ratings), m.messages, m.tokens_in + m.tokens_out, m.cost_usd))
    return out


WAITING = (ExperimentState.PROPOSED, ExperimentState.AWAITING_APPROVAL)  # a proposal not yet approved or rejected


@dataclass(frozen=True)
class Counted(JsonRecord):
    """How many experiments, and which."""

    count: int = 0
    experiments: tuple[int, ...] = ()


@dataclass(frozen=True)
class Breakthroughs(Counted):
    at_least: int = BREAKTHROUGH


@dataclass(frozen=True)
class Folded(JsonRecord):
    """The rated experiments that are no result of their own (science/counting.py): reproductions,
    their original's evidence, and earlier runs that a re-run of the same entry and parameters superseded."""

    reproductions: Counted = Counted()
    superseded: Counted = Counted()

    def ids(self) -> frozenset[int]:
        return frozenset((*self.reproductions.experiments, *self.superseded.experiments))

    def text(self) -> str:
        """'1 reproduction (#5) and 1 superseded run (#3) counted with their result', or ''."""
        parts = [f"{c.count} {what}{'s' if c.count > 1 else ''} (" + ", ".join(f"#{i}" for i in c.experiments) + ")"
                 for c, what in ((self.reproductions, "reproduction"), (self.superseded, "superseded run")) if c.count]
        return " and ".join(parts) + " counted with their result" if parts else ""


@dataclass(frozen=True)
class Tracker(JsonRecord):
    """The research tracker (`tracker`), as `lab report --tracker --json` and summary.json give it."""

    experiments: int
    rated: int
    bands: dict[str, int]
    preliminary: Counted
    finished: int
    succeeded: int
    success_rate: float | None
    success_rate_ci95: tuple[float, float] | None
    breakthroughs: Breakthroughs
    best: dict[str, Best | None]
    agents: tuple[Contribution, ...]
    folded: Folded = Folded()    # out of the bands, breakthroughs, best gains and agents' ratings


def tracker(experiments: list[Experiment], proposals: list[Proposed], messages: list[AgentUsage]) -> Tracker:
    """The research tracker: quality bands, success rate (with its 95 % CI), breakthroughs, the
    best speedup / compression / energy saving with their experiments, each agent's contribution.
    Each result counts once (science/counting.py): a reproduction and a superseded run are folded
    into their result, out of the bands, breakthroughs, best gains and agents' ratings."""
    from science.counting import count
    from science.rubric import preliminary
    from science.stats import proportion_ci

    rated = [e for e in experiments if e.rating is not None]
    # a preliminary experiment (smoke, too few seeds) is no finding: out of the bands, the
    # breakthroughs and the best gains, counted apart
    prelim = [e.id for e in rated if preliminary(e)]
    counting = count(experiments)
    folded = Folded(*(Counted(len(ids), tuple(sorted(ids))) for ids in (counting.reproductions, counting.superseded)))
    findings = [e for e in rated if e.id not in prelim and e.id not in folded.ids()]
    done = sum(1 for e in experiments if e.status == ExperimentState.DONE)
    finished = done + sum(1 for e in experiments if e.status == ExperimentState.FAILED)
    ci = proportion_ci(done, finished)
    ratings = [e.rating for e in findings if e.rating is not None]
    breakthroughs = tuple(e.id for e in findings if e.rating is not None and e.rating >= BREAKTHROUGH)
    return Tracker(len(experiments), len(rated), bands(ratings), Counted(len(prelim), tuple(prelim)), finished, done,
                   done / finished if finished else None, (ci[0], ci[1]) if ci else None,
                   Breakthroughs(len(breakthroughs), breakthroughs), {key: best_of(findings, key) for key in BEST_KEYS},
                   tuple(contributions(proposals, messages, frozenset(prelim), folded.ids())), folded)


async def read_tracker(store: Store, experiments: list[Experiment] | None = None) -> Tracker:
    if experiments is None:
        experiments = await store.list_experiments()
    return tracker(experiments, await store.proposals_by_agent(), await store.messages_by_agent())


def _best_text(best: Best | None, key: str) -> str:
    if best is None:
        return "none yet (no rated, non-preliminary variant that kept quality)"
    if key == "energy_saving":
        value = units.percent(best.value, 1)
        ci = f" (95 % CI {units.interval(best.ci95, quantities.Kind.FRACTION, 3)})" if best.ci95 else " (no CI)"
        value += ci + (", modelled from CPU time" if best.energy_estimated else ", measured")
    else:
        value = units.ratio(best.value)
        value += (f" (95 % CI {units.ratio_interval(best.ci95)})" if best.ci95
                  else " (no CI)")
    return (f"{value}: {best.variant} vs {best.reference} in #{best.experiment} {best.name} "
            f"({best.catalog}), rated {best.rating:g}/10")


def tracker_lines(t: Tracker) -> list[tuple[str, str]]:
    """The tracker as (what, value) lines, the same in summary.md, `lab report --tracker` and the
    control room."""
    b = t.bands
    prelim = t.preliminary
    left_out = (f"; {prelim.count} preliminary left out: " + ", ".join(f"#{i}" for i in prelim.experiments)
                if prelim.count else "")
    left_out += f"; {t.folded.text()}" if t.folded.ids() else ""
    lines = [("quality bands", " · ".join(f"{name}: {b[name]}" for name, _, _ in QUALITY_BANDS)
              + f" (of {t.rated - prelim.count - len(t.folded.ids())} rated finding(s){left_out})")]
    if t.finished:
        ci = units.interval(t.success_rate_ci95, quantities.Kind.FRACTION, 2)
        lines.append(("success rate", f"{units.percent(t.success_rate, 0)} ({t.succeeded} of {t.finished} "
                                      f"finished experiments done; 95 % CI {ci})"))
    else:
        lines.append(("success rate", "no experiment has finished yet"))
    br = t.breakthroughs
    lines.append((f"breakthroughs (rating ≥ {br.at_least})",
                  f"{br.count}: " + ", ".join(f"#{i}" for i in br.experiments) if br.count else "none yet"))
    for key, label in (("speedup", "best speedup"), ("compression", "best compression"),
                       ("energy_saving", "best energy saving")):
        lines.append((label, _best_text(t.best[key], key)))
    return lines


CONTRIBUTION_HEADERS = ["agent", "prop.", "appr.", "rej.", "wait", "rated", "mean", "7-10/5-6/1-4", "msgs",
                        "LLM cost"]
CONTRIBUTION_LEGEND = ("prop.: experiments proposed; appr.: approved (by a person or by autonomy); rej.: rejected; "
                       "wait: awaiting approval; rated, mean and the bands: the ratings their proposals earned, each result "
                       "once (a reproduction or a superseded run counts with its result); "
                       "msgs: what the agent said; people: experiments queued by hand (`lab run`, a job file, "
                       "the control room)")


def contribution_rows(t: Tracker) -> list[list[str]]:
    rows = []
    for a in t.agents:
        rows.append([a.agent if a.agent != PERSON else "people", str(a.proposals), str(a.approved),
                     str(a.rejected), str(a.waiting), str(a.rated),
                     units.MISSING if a.mean_rating is None else f"{a.mean_rating:.1f}/10",
                     "/".join(str(a.bands[name]) for name, _, _ in QUALITY_BANDS) if a.rated else units.MISSING,
                     str(a.messages), units.usd(a.cost_usd)])
    return rows
