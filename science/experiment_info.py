"""What the validator knows of an experiment before it compares anything: the catalog entry's
keys, baseline, references, objectives, headline and deliverables (`ExperimentInfo`), the keys
its results report, and the results by seed (the unit comparisons pair on) and by base model.

The catalog declares references, objectives and the headline (docs/PROTOCOL.md); an older
catalog or record without them is read with defaults: the baseline is every variant's reference,
the objective is lower energy in the entry's gain phase, and no headline is declared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contract import quantities as q
from contract.comparison import OBJECTIVES
from contract.deliverable import Deliverable
from contract.events import ResultValues
from contract.params import Param
from db.rows import Run
from science import stats
from science.deliverable_spec import DeliverableKind

DEFAULT_KEYS = {"quality": "test_accuracy", "energy": "energy_kwh", "time": "train_time_s",
                "size": "model_size_bytes"}
#: keys a result may report for roles the entry does not declare (first present wins)
FALLBACK_KEYS = {"memory": ("activation_mem_bytes", "peak_mem_bytes"), "stability": ("divergence_rate",)}


#: a variant's results by seed (the unit comparisons pair on); by base model after `over_bases`
BySeed = Mapping[int, ResultValues]


def energy_mode_of(results: Sequence[ResultValues]) -> str | None:
    """"measured" (hardware counters), "modelled" (CPU-time model; old records say "estimated"),
    "mixed", or None without results."""
    if not results:
        return None
    modes = {"measured" if r.get("energy_mode") == "measured" else "modelled" for r in results}
    return modes.pop() if len(modes) == 1 else "mixed"


higher_is_better = q.higher_is_better


def fraction(key: str) -> bool:
    """Accuracies are fractions: kept within [0, 1], their changes in points within [-1, 1]."""
    return q.kind_of(key) is q.Kind.FRACTION


@dataclass(frozen=True)
class ExperimentInfo:
    """What the validator needs to know about the experiment's catalog entry and plan."""

    catalog: str
    baseline: str
    gain_phase: str = "training"
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    deliverables: tuple[Deliverable, ...] = ()  # as the entry declares them
    list_params: dict[str, Param] = field(default_factory=dict)  # the entry's parameters by name
    #: variant -> its references, primary first (a single name is read as one); [] or its own
    #: name: a reference point; absent: the baseline
    references: dict[str, str | list[str]] = field(default_factory=dict)
    objectives: dict[str, str | None] = field(default_factory=dict)
    #: variant -> {reference: objective} where a reference is compared on another objective
    reference_objectives: dict[str, dict[str, str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    headline: str | None = None          # the declared primary variant, if any
    speedup_batch: int | None = None
    #: the entry's declared "quality kept" margin (points, or a fraction of the reference for an
    #: unbounded key); None: QUALITY_MARGIN
    quality_margin: float | None = None
    profile: str | None = None           # the experiment's profile (smoke: preliminary, science/rubric.py)

    def refs(self, variant: str) -> list[str]:
        if variant == self.baseline:
            return []
        got = self.references.get(variant, [self.baseline])
        refs = [got] if isinstance(got, str) else list(got)
        return [] if refs in ([], [variant]) else [r for r in refs if r != variant]

    def reference(self, variant: str) -> str:
        refs = self.refs(variant)
        return refs[0] if refs else variant

    def is_reference_point(self, variant: str) -> bool:
        """The baseline, or a variant declared its own reference: compared with nothing."""
        return not self.refs(variant)

    def objective(self, variant: str, reference: str | None = None) -> str:
        """The declared objective (against ``reference`` when declared for it), else lower energy
        of the entry's gain phase (`keys.energy`)."""
        declared = self.reference_objectives.get(variant, {}).get(reference or "") or self.objectives.get(variant)
        return declared if declared in OBJECTIVES else "energy"

    def floor(self, variant: str) -> float | None:
        """The quality floor a reference must reach: the entry's `threshold` deliverable (>=, >)
        on the quality key, for that variant (or the baseline, "baseline" naming it)."""
        for d in self.deliverables:
            value = d.value
            if d.kind != DeliverableKind.THRESHOLD or d.key != self.keys.get("quality") \
                    or d.text("op") not in (">=", ">") or value is None:
                continue
            target = self.baseline if d.variant == "baseline" else d.variant
            if target == variant:
                return float(value)
        return None



def resolve_keys(info: ExperimentInfo, results: Sequence[ResultValues]) -> dict[str, str]:
    """The entry's keys, plus memory and stability keys the results report when undeclared."""
    keys = {**DEFAULT_KEYS, **info.keys}
    for role, candidates in FALLBACK_KEYS.items():
        if role not in keys:
            key = next((k for k in candidates if any(stats.number(r.get(k)) is not None for r in results)), None)
            if key is not None:
                keys[role] = key
    if "validation" not in keys and keys["quality"].startswith("test_"):
        val = "val_" + keys["quality"].removeprefix("test_")
        if any(stats.number(r.get(val)) is not None for r in results):
            keys["validation"] = val
    return keys


def seeded(runs: Sequence[Run]) -> dict[int, ResultValues]:
    """A variant's results by seed (runs with a result)."""
    return {run.seed: run.result for run in runs if run.result is not None}


def seed_values(by_seed: BySeed, key: str) -> dict[int, float]:
    return {s: x for s, r in by_seed.items() if (x := stats.number(r.get(key))) is not None}


def values_by_seed(runs: Sequence[Run], key: str) -> dict[int, float]:
    """The finite values of `key` in succeeded runs' results, keyed by seed: what paired
    comparisons (the validator's and the deliverables') pair on."""
    return seed_values(seeded(runs), key)


def bases_of(by_seed: Mapping[str, BySeed]) -> dict[int, int] | None:
    """seed -> the base model it fine-tuned (`base_replicate`, the language-model entries' base run
    reports it), when the seeds used at least two independently pre-trained bases; else None
    (one base, a user's model, or an entry without one: the seed is the replication unit)."""
    out: dict[int, int] = {}
    for results in by_seed.values():
        for seed, result in results.items():
            base = result.get("base_replicate")
            if isinstance(base, int) and not isinstance(base, bool):
                out.setdefault(seed, base)
    return out if len(set(out.values())) >= 2 else None


def over_bases(var: BySeed, ref: BySeed, base_of: Mapping[int, int],
               geometric: bool) -> tuple[dict[int, ResultValues], dict[int, ResultValues]]:
    """Both sides' results averaged per base model over the seeds both have (a pair stays a pair):
    the base, not the seed, is then the unit the intervals are over. Numbers are averaged
    (geometrically for the terms of a ratio), anything else is the first seed's; energy_mode says
    "measured" only when every seed's did."""
    shared = [s for s in var if s in ref and s in base_of]

    def collapse(side: BySeed) -> dict[int, ResultValues]:
        groups: dict[int, list[ResultValues]] = defaultdict(list)
        for s in shared:
            groups[base_of[s]].append(side[s])
        out: dict[int, ResultValues] = {}
        for base, rows in groups.items():
            merged = dict(rows[0])
            for key in set().union(*rows):
                xs = [stats.number(r.get(key)) for r in rows]
                if all(x is not None for x in xs):
                    merged[key] = stats.average([x for x in xs if x is not None], geometric)
            merged["energy_mode"] = "measured" if all(r.get("energy_mode") == "measured" for r in rows) else "modelled"
            out[base] = merged
        return out

    return collapse(var), collapse(ref)
