"""Where the lab stands against its roadmap (science/roadmap_doc.py): each success criterion
evaluated from the lab's records, with its evidence and, when unmet, what would meet it.

Only counted experiments carry evidence: done, rated, and not preliminary (a smoke run, or fewer
seeds than the rubric asks, counts for nothing); a reproduction supports its original and a re-run
supersedes the earlier runs of its entry and parameters (science/counting.py), so no result is
counted twice. The strategy (agents/strategy.py) reads the
unmet criteria of the current phase to choose what to study next.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from contract.child_kinds import FollowUpKind, TopicKind
from contract.publication import Published
from contract.rating_record import Headline
from db import Experiment
from science import roadmap_doc as doc
from science.counting import Counting, count
from science.rubric import preliminary
from science.thresholds import MIN_SEEDS


class Status(Enum):
    MET = "met"
    UNMET = "unmet"
    UNREACHABLE = "unreachable here"   # unmet, and this machine cannot meet it (the reason says why)


@dataclass(frozen=True)
class Criterion:
    id: str
    phase: int
    text: str
    status: Status
    evidence: str
    experiments: tuple[int, ...] = ()
    to_meet: str = ""                  # what would meet it (unmet only)

    @property
    def met(self) -> bool:
        return self.status is Status.MET


@dataclass(frozen=True)
class Facts:
    """What the criteria are evaluated from, besides the experiments."""
    publication: Published | None = None          # the last `lab publish` record (records/publish)
    energy_counters: tuple[str, ...] = ()          # hardware energy counters this machine has


@dataclass(frozen=True)
class Standing:
    criteria: tuple[Criterion, ...]
    current_phase: int | None                      # the first phase with a criterion to meet; None: none left
    counted: tuple[int, ...] = field(default=())   # the experiments that count

    def unmet(self, phase: int | None = None) -> list[Criterion]:
        return [c for c in self.criteria if not c.met and (phase is None or c.phase == phase)]

    def of(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)


def counted(experiments: Sequence[Experiment]) -> list[Experiment]:
    """The experiments whose results the roadmap and the publication use: done, rated, not
    preliminary, and a result of their own (science/counting.py: not a reproduction, not a
    superseded re-run)."""
    mine = {r.id for r in count(experiments).results}
    return [e for e in experiments if e.id in mine]


def headline(exp: Experiment) -> Headline:
    """The rated headline (an empty one when the experiment has none)."""
    return exp.breakdown.headline or Headline()


def _rating(exp: Experiment) -> float:
    return float(exp.rating or 0.0)


def _e(exp: Experiment) -> float:
    return float(headline(exp).efficiency_score or 0.0)


def claimable(exp: Experiment) -> bool:
    """A headline whose comparison stands: quality kept, a valid control, not chosen on test data, an E."""
    h = headline(exp)
    return bool(h.quality_kept) and h.control_valid is not False and h.selection != "test" \
        and isinstance(h.efficiency_score, (int, float))


def combined(exp: Experiment) -> bool:
    """A method combining techniques: the compression pipeline, a stack or combination follow-up,
    or a generated program combining two."""
    research = exp.metadata.research
    mods = exp.modifications
    return exp.catalog in ("compression_pipeline", "generated") or (research is not None and research.kind in (
        TopicKind.COMBINATION, TopicKind.GENERATED)) or mods.kind == TopicKind.COMBINATION or mods.rule == FollowUpKind.STACK


def _exp(e: Experiment) -> str:
    return f"exp {e.id} ({e.catalog}, {_rating(e):g}/10)"


def _e_text(e: Experiment) -> str:
    h = headline(e)
    ci = h.e_ci
    interval = f" (95 % CI {ci[0]:.2f}..{ci[1]:.2f})" if ci is not None and ci[0] is not None and ci[1] is not None \
        else " (no CI)"
    return f"E = {_e(e):.2f}{interval} for {h.variant or None} vs {h.reference} in exp {e.id}"


def machine_counters() -> tuple[str, ...]:
    """The hardware energy counters this machine offers: Intel RAPL (readable powercap) and NVML
    (an NVIDIA driver)."""
    found = []
    rapl = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
    try:
        if rapl.is_file() and rapl.read_text().strip():
            found.append("RAPL")
    except OSError:
        pass
    if Path("/proc/driver/nvidia/version").exists():
        found.append("NVML")
    return tuple(found)


# -- phase 1 -------------------------------------------------------------------------------------

def _areas(exps: list[Experiment], good: list[Experiment]) -> Criterion:
    parts, missing, used = [], [], []
    for name, title in doc.BASELINE_AREAS:
        mine = [e for e in good if e.catalog == name]
        if mine:
            used += mine
            parts.append(f"{title}: " + ", ".join(_exp(e) for e in mine[-3:]))
            continue
        prelim = [e for e in exps if e.catalog == name and e.rating is not None and preliminary(e)]
        missing.append(name)
        parts.append(f"{title}: none" + (f" (exp {', '.join(str(e.id) for e in prelim)} preliminary)" if prelim else ""))
    ok = len(doc.BASELINE_AREAS) - len(missing)
    return _crit("p1.areas", not missing, f"{ok} of {len(doc.BASELINE_AREAS)} areas: " + "; ".join(parts), used,
                 f"run {', '.join(missing)} at profile default with ≥ {MIN_SEEDS} seeds (`lab run NAME --seeds "
                 f"{MIN_SEEDS}`) until each is rated")


def _average(good: list[Experiment]) -> Criterion:
    if not good:
        return _crit("p1.average", False, "no counted rated experiment yet", [],
                     f"rate experiments at profile default with ≥ {MIN_SEEDS} seeds")
    mean = statistics.fmean(_rating(e) for e in good)
    below = sorted((e for e in good if _rating(e) < doc.AVERAGE_RATING), key=_rating)
    return _crit("p1.average", mean >= doc.AVERAGE_RATING,
                 f"average {mean:.1f}/10 over {len(good)} counted experiment(s)", good,
                 "raise the lowest: " + ", ".join(_exp(e) for e in below[:3]) + " (their follow-ups, more seeds)")


def _at_least(cid: str, good: list[Experiment], rating: float, need: int, hint: str) -> Criterion:
    hits = [e for e in good if _rating(e) >= rating]
    top = sorted((e for e in good if _rating(e) < rating), key=lambda e: -_rating(e))[:need]
    return _crit(cid, len(hits) >= need, f"{len(hits)} rated ≥ {rating:g}/10"
                 + (": " + ", ".join(_exp(e) for e in hits) if hits else ""), hits,
                 hint + (" (closest: " + ", ".join(_exp(e) for e in top) + ")" if top else ""))


# -- phase 2 -------------------------------------------------------------------------------------

def _efficiency(good: list[Experiment]) -> Criterion:
    kept = sorted((e for e in good if claimable(e)), key=lambda e: -_e(e))
    hits = [e for e in kept if _e(e) >= doc.EFFICIENCY]
    best = kept[0] if kept else None
    evidence = ("; ".join(_e_text(e) for e in hits[:3]) if hits else
                f"best with quality kept: {_e_text(best)}" if best else "no headline with quality kept and a valid control")
    return _crit("p2.efficiency", bool(hits), evidence, hits or ([best] if best else []),
                 f"a headline with E ≥ {doc.EFFICIENCY:g} at kept quality: follow up the best line with the validator's "
                 "suggestions, or combine techniques")


def _error_bars(good: list[Experiment]) -> Criterion:
    def bars(e: Experiment) -> bool:
        b = e.breakdown
        h = b.headline
        if h and (not h.quality_delta_ci95 or not h.e_ci):
            return False
        return all(v.quality.ci95 for v in b.variants.values())
    without = [e for e in good if not bars(e)]
    if not good:
        return _crit("p2.error_bars", False, "no counted rated experiment yet", [], "rate an experiment")
    return _crit("p2.error_bars", not without, f"{len(good) - len(without)} of {len(good)} counted experiment(s) "
                 "give 95 % intervals for every variant and headline", [e for e in good if e not in without],
                 "intervals missing in " + ", ".join(_exp(e) for e in without))


def _reproduced(results: Counting) -> Criterion:
    """Met by a counted result whose reproduction's every quality mean fell within its 95 % CI; a
    reproduction supports its original and is no rated experiment of its own."""
    pairs = [(p, r) for r in results.results for p in r.reproductions]
    ok = [(p, r) for p, r in pairs if p.reproduced]
    failed = [(p, r) for p, r in pairs if not p.reproduced]
    evidence = "; ".join(f"exp {r.id} reproduced by exp {p.id}" for p, r in ok) or "no counted experiment reproduced yet"
    if failed:
        evidence += "; not reproduced: " + ", ".join(f"exp {r.id} (by exp {p.id})" for p, r in failed)
    top = sorted(results.results, key=lambda r: -r.rating)[:1]
    return _crit("p2.reproduced", bool(ok), evidence, [p.id for p, _ in ok],
                 (f"`lab reproduce {top[0].id}` (the best counted experiment)" if top else "rate an experiment, then "
                  "`lab reproduce` it"))


# -- phase 3 -------------------------------------------------------------------------------------

def _combined(good: list[Experiment]) -> Criterion:
    mine = sorted((e for e in good if combined(e) and claimable(e)), key=lambda e: -_e(e))
    hits = [e for e in mine if _e(e) >= doc.NOVEL_EFFICIENCY]
    evidence = "; ".join(_e_text(e) for e in hits[:3]) if hits else (
        f"best combination: {_e_text(mine[0])}" if mine else "no counted combination with quality kept yet")
    return _crit("p3.combined", bool(hits), evidence, hits or mine[:1],
                 f"combine the best techniques (e.g. quantization + pruning: compression_pipeline, or a stack "
                 f"follow-up) until one reaches E ≥ {doc.NOVEL_EFFICIENCY:g} at kept quality")


def _real_data(good: list[Experiment]) -> Criterion:
    hits = [e for e in good if e.params.get("dataset") in doc.REAL_DATASETS]
    names = " or ".join(doc.REAL_DATASETS.values())
    return _crit("p3.real_data", bool(hits), ", ".join(
        f"{_exp(e)} on {doc.REAL_DATASETS[str(e.params['dataset'])]}" for e in hits) or f"no counted experiment on {names}",
        hits, "run a rated technique with -p dataset=mnist or cifar10 (the dataset is read from the cache, "
              "downloaded when the network allows)")


def _energy(good: list[Experiment], counters: tuple[str, ...]) -> Criterion:
    def measured(e: Experiment) -> bool:
        said = [v.energy_estimated for v in e.breakdown.variants.values()]
        return bool(said) and all(x is False for x in said)   # every variant's energy from counters
    hits = [e for e in good if measured(e)]
    if hits:
        return _crit("p3.energy", True, "measured by hardware counters in " + ", ".join(_exp(e) for e in hits), hits, "")
    if not counters:
        return Criterion("p3.energy", 3, doc.SPECS["p3.energy"].text, Status.UNREACHABLE,
                         "energy is modelled from CPU time in every counted experiment", (),
                         "this machine has no readable RAPL counter and no NVIDIA GPU (NVML): energy can only be "
                         "modelled here; run the lab on a machine with either")
    return _crit("p3.energy", False, f"this machine has {', '.join(counters)}, but no counted experiment measured "
                 "its energy with it yet", [], "run a rated technique again on this machine")


def _publication(cid: str, facts: Facts, key: str, what: str) -> Criterion:
    pub = facts.publication or Published()
    item = pub.files.get(key)
    if item:
        return _crit(cid, True, f"{what}: {item} (published {pub.when} to {pub.out})", list(pub.experiments), "")
    return _crit(cid, False, f"no {what} published yet", [], "`lab publish` once a counted finding exists")


def _crit(cid: str, met: bool, evidence: str, exps: list[Experiment] | list[int], to_meet: str) -> Criterion:
    exp_ids = tuple(e if isinstance(e, int) else e.id for e in exps)
    return Criterion(cid, doc.PHASE_OF[cid], doc.SPECS[cid].text, Status.MET if met else Status.UNMET, evidence,
                     tuple(dict.fromkeys(exp_ids)), "" if met else to_meet)


def evaluate(experiments: Sequence[Experiment], facts: Facts | None = None) -> Standing:
    """Every criterion of every phase, from the lab's experiments (all of them, any state)."""
    facts = facts or Facts()
    exps = sorted(experiments, key=lambda e: e.id)
    results = count(exps)
    mine = {r.id for r in results.results}
    good = [e for e in exps if e.id in mine]
    criteria = (
        _areas(exps, good), _average(good),
        _at_least("p1.two_good", good, doc.GOOD_RATING, 2, "follow up the best-rated lines with more seeds and the "
                  "validator's suggestions"),
        _at_least("p2.three_top", good, doc.TOP_RATING, 3, "re-run the top experiments below 8 with the validator's "
                  "suggestions"),
        _efficiency(good), _error_bars(good), _reproduced(results),
        _combined(good), _real_data(good), _energy(good, facts.energy_counters),
        _at_least("p3.publishable", good, doc.PUBLISHABLE_RATING, 1, "a counted experiment rated 9+: five paired "
                  "seeds, measured evidence and a large, significant effect at kept quality"),
        _publication("p4.paper", facts, "paper_pdf", "paper"), _publication("p4.zoo", facts, "zoo", "model zoo"),
        _publication("p4.blog", facts, "blog_html", "blog post"), _publication("p4.slides", facts, "slides", "slides"),
    )
    # the first phase with a criterion this machine can still meet; one it cannot is shown, not waited on
    current = next((p.number for p in doc.PHASES if any(c.phase == p.number and c.status is Status.UNMET
                                                        for c in criteria)), None)
    return Standing(criteria, current, tuple(sorted(mine)))
