"""Per-variant evidence of one experiment (docs/AGENTS.md, `rating_breakdown.variants`): every
variant against each of its references, paired by seed; the efficiency score E, speedup,
compression and memory ratios with t-intervals on their logs (science/stats.py); quality kept as non-inferiority; whether the
control is valid; the effect on the variant's declared objective; and the headline (declared by
the catalog, or chosen without test data and corrected with Holm's method).

The catalog declares references, objectives and the headline (docs/PROTOCOL.md); an older
catalog or record without them is read with defaults: the baseline is every variant's reference,
the objective is lower energy in the entry's gain phase, and no headline is declared.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from contract import quantities as q
from contract import units
from science import eval_sets, stats
from science.thresholds import ALPHA, BUDGET_TOLERANCE, QUALITY_MARGIN

DEFAULT_KEYS = {"quality": "test_accuracy", "energy": "energy_kwh", "time": "train_time_s",
                "size": "model_size_bytes"}
#: what a variant may be meant to improve (the catalog's `objective`)
OBJECTIVES = ("energy", "latency", "memory", "size", "stability", "quality")
#: the metric role each objective is judged on
OBJECTIVE_ROLE = {"energy": "energy", "latency": "time", "memory": "memory", "size": "size",
                  "stability": "stability", "quality": "quality"}
#: costs, lower is better: their ratio is reference / variant (> 1: the variant is cheaper)
RATIO_NAMES = {"energy": "energy_ratio", "time": "speedup", "size": "compression", "memory": "memory_ratio"}
#: keys a result may report for roles the entry does not declare (first present wins)
FALLBACK_KEYS = {"memory": ("activation_mem_bytes", "peak_mem_bytes"), "stability": ("divergence_rate",)}
MODELLED = "modelled from CPU time"
#: an effect's kind (issue 22): measured over seeds, or exact (the same on every seed: fixed by
#: construction, a size or a parameter count; no p-value, no effect point)
MEASURED, EXACT = "measured", "exact"
#: the roles whose quantity, when the same on every seed, is fixed by construction (bytes of weights,
#: of optimizer state, parameter counts): exact, not evidence. A measured outcome (quality, the
#: divergence rate, time, energy) that happens to agree on every seed is still a measurement.
BY_CONSTRUCTION = ("size", "memory")
#: the roles a model's weights decide: with independently pre-trained bases (issue 22 item 6) their
#: summaries and comparisons are over the bases' means; time, energy, memory and size of one
#: architecture do not depend on the weights' values and stay over seeds
WEIGHT_ROLES = ("quality", "validation", "stability")


def energy_mode_of(results: list[dict[str, Any]]) -> str | None:
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
    deliverables: list[dict[str, Any]] = field(default_factory=list)
    list_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {type, min, max}
    #: variant -> its references, primary first (a single name is read as one); [] or its own
    #: name: a reference point; absent: the baseline
    references: dict[str, Any] = field(default_factory=dict)
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
        refs = [got] if isinstance(got, str) else list(got or [])
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
            if d.get("kind") != "threshold" or d.get("key") != self.keys.get("quality") \
                    or d.get("op") not in (">=", ">") or not isinstance(d.get("value"), (int, float)):
                continue
            target = self.baseline if d.get("variant") == "baseline" else d.get("variant")
            if target == variant:
                return float(d["value"])
        return None


@dataclass
class Analysis:
    info: ExperimentInfo
    variants: dict[str, dict[str, Any]]
    samples: dict[str, dict[str, list[float]]]   # variant -> role -> values over seeds
    run_counts: dict[str, int]
    headline: dict[str, Any] | None
    seeds: int
    provenance: tuple[int, int] = (0, 0)  # results that record their seed and versions, of all results
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def baseline(self) -> dict[str, Any] | None:
        return self.variants.get(self.info.baseline)


def _r(value: float | None, digits: int = 6) -> float | None:
    return stats.significant(value, digits)


def _ci(ci: stats.CI | None, digits: int = 6) -> list[float | None] | None:
    return stats.pair_ci(ci, digits)


def resolve_keys(info: ExperimentInfo, results: list[dict[str, Any]]) -> dict[str, str]:
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


def _seeded(runs: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """A variant's results by seed (the run's seed, else the result's)."""
    out: dict[Any, dict[str, Any]] = {}
    for i, run in enumerate(runs):
        result = run["result"]
        seed = run.get("seed", result.get("seed", f"run{i}"))
        out[seed] = result
    return out


def _values(by_seed: dict[Any, dict[str, Any]], key: str) -> dict[Any, float]:
    return {s: x for s, r in by_seed.items() if (x := stats.number(r.get(key))) is not None}


def values_by_seed(runs: list[dict[str, Any]], key: str) -> dict[Any, float]:
    """The finite values of `key` in succeeded runs' results, keyed by seed: what paired
    comparisons (the validator's and the deliverables') pair on."""
    return _values(_seeded(runs), key)


def _aligned(v: dict[Any, float], r: dict[Any, float]) -> tuple[list[float], list[float], bool]:
    """Values of both sides, aligned by seed when at least two seeds are shared."""
    shared = [s for s in v if s in r]
    if len(shared) >= 2:
        return [v[s] for s in shared], [r[s] for s in shared], True
    return list(v.values()), list(r.values()), False


def _diff_json(d: stats.Difference) -> dict[str, Any]:
    out: dict[str, Any] = {"mean": _r(d.delta), "ci95": _ci(d.ci95), "p_value": _r(d.p_value),
                           "effect_size": _r(d.effect_size), "mde": _r(d.mde), "paired": d.paired,
                           "method": d.method, "n": d.n}
    if d.boot_ci95 is not None:
        out["bootstrap_ci95"] = _ci(d.boot_ci95)
    if d.note:
        out["note"] = d.note
    return out


def _control(info: ExperimentInfo, ref: str, ref_by_seed: dict[Any, dict[str, Any]],
             var_by_seed: dict[Any, dict[str, Any]], quality_key: str) -> tuple[bool, str]:
    """Is the reference a fair control? Invalid when it has no result, any of its seeds diverged,
    it received fewer optimizer steps than the variant (beyond BUDGET_TOLERANCE), or its quality
    is below the floor the entry declares for it."""
    if not ref_by_seed:
        return False, f"the reference {ref} has no result"
    problems, checks = [], []
    diverged = sum(1 for r in ref_by_seed.values() if r.get("diverged"))
    if diverged:
        problems.append(f"the reference {ref} diverged in {diverged} of {len(ref_by_seed)} seed(s)")
    else:
        checks.append(f"{ref} did not diverge")
    ref_steps = stats.clean(r.get("budget_steps") for r in ref_by_seed.values())
    var_steps = stats.clean(r.get("budget_steps") for r in var_by_seed.values())
    if var_by_seed and all(r.get("distilled_from") == ref for r in var_by_seed.values()):
        # the variant's extra steps were a KL to this very reference (no labels): they teach it to
        # imitate its teacher, not to beat it, so they do not make the teacher an unfair control
        checks.append(f"the variant was distilled from {ref}: its extra steps are not counted against it")
    elif ref_steps and var_steps:
        rs, vs = stats.mean(ref_steps), stats.mean(var_steps)
        rq = stats.clean(r.get(quality_key) for r in ref_by_seed.values())
        vq = stats.clean(r.get(quality_key) for r in var_by_seed.values())
        # fewer steps excuse only a reference that lost: one that matched or beat the variant with
        # fewer steps is evidence against the variant, not an unfair control (issue 22)
        lost = not rq or not vq or (stats.mean(vq) > stats.mean(rq)) == higher_is_better(quality_key) \
            and stats.mean(vq) != stats.mean(rq)
        if rs < vs * (1 - BUDGET_TOLERANCE) and lost:
            problems.append(f"the reference {ref} is under-budgeted ({rs:.0f} optimizer steps against the "
                            f"variant's {vs:.0f}) and lost on {quality_key}")
        elif rs < vs * (1 - BUDGET_TOLERANCE):
            checks.append(f"the reference {ref} had fewer steps ({rs:.0f} vs {vs:.0f}) and still did not lose on "
                          f"{quality_key}: evidence against the variant, not an unfair control")
        else:
            checks.append(f"budgets {rs:.0f} vs {vs:.0f} steps")
    else:
        checks.append("budget_steps not reported: budgets not checked")
    floor = info.floor(ref)
    quality = stats.clean(r.get(quality_key) for r in ref_by_seed.values())
    if floor is not None and quality:
        q = stats.mean(quality)
        if q < floor:
            problems.append(f"the reference {ref} reaches {quality_key} {q:.4g}, below the declared floor {floor:g}")
        else:
            checks.append(f"{ref} {quality_key} {q:.4g} >= floor {floor:g}")
    if problems:
        return False, "; ".join(problems)
    return True, "; ".join(checks)


def edge_of_grid(name: str, by_seed: dict[Any, dict[str, Any]]) -> str | None:
    """Why ``name``'s tuned setting may lie outside its grid: its runs report the value chosen on
    validation data on a grid's edge (`grid_edge`, experiments/harness/grids.py) in a majority of
    seeds. None when they do not (or report no grid)."""
    notes = [r.get("grid_edge") for r in by_seed.values()]
    on_edge = [n for n in notes if isinstance(n, str) and n]
    if not by_seed or 2 * len(on_edge) <= len(by_seed):
        return None
    return f"{name}: {on_edge[0]} on {len(on_edge)} of {len(by_seed)} seeds"
#: the few words a narrow cell gives for a void comparison (the control note says it in full)
VOID_REASONS = (("diverged", "diverged"), ("under-budgeted", "under-budgeted"), ("below the declared floor", "below floor"),
                ("has no result", "no result"), ("test data", "chosen on test data"))


def void_reason(note: Any) -> str:
    """Why a comparison is void, in a few words, from its control note ('under-budgeted')."""
    text = str(note or "")
    found = [short for needle, short in VOID_REASONS if needle in text]
    return ", ".join(found) if found else ("invalid control" if not text else text[:40])


def _interleaved(info: ExperimentInfo, name: str, ref: str, var_by_seed: dict[Any, dict[str, Any]],
                 key: str) -> bool:
    """The variant's runs timed the reference in the same process (`ref_<key>`; with several, the
    one their `ref_variant` names): a program that holds both models loads the one it depends on."""
    return ref in info.depends_on.get(name, []) and bool(var_by_seed) and all(
        stats.number(r.get(f"ref_{key}")) is not None and r.get("ref_variant", ref) == ref for r in var_by_seed.values())


def bases_of(by_seed: dict[str, dict[Any, dict[str, Any]]]) -> dict[Any, Any] | None:
    """seed -> the base model it fine-tuned (`base_replicate`, the language-model entries' base run
    reports it), when the seeds used at least two independently pre-trained bases; else None
    (one base, a user's model, or an entry without one: the seed is the replication unit)."""
    out: dict[Any, Any] = {}
    for results in by_seed.values():
        for seed, result in results.items():
            base = result.get("base_replicate")
            if isinstance(base, int) and not isinstance(base, bool):
                out.setdefault(seed, base)
    return out if len(set(out.values())) >= 2 else None


def bases_note(params: dict[str, Any], seeds: int) -> str | None:
    """What `lab run` says when the seeds do not cross the declared pre-trained bases evenly
    (seed s fine-tunes base s mod bases); None when they do or the entry has no bases."""
    bases = params.get("bases")
    if not isinstance(bases, int) or isinstance(bases, bool) or bases < 2 or str(params.get("model") or "").strip():
        return None
    if seeds < bases:
        return (f"{seeds} seed(s) use only {seeds} of the {bases} pre-trained bases: the variation between bases "
                f"is in no interval; give a multiple of {bases} seeds")
    if seeds % bases:
        return (f"{seeds} seeds over {bases} pre-trained bases give them unequal numbers of fine-tuning seeds; "
                f"a multiple of {bases} balances them")
    return None


def _over_bases(var: dict[Any, dict[str, Any]], ref: dict[Any, dict[str, Any]], base_of: dict[Any, Any],
                geometric: bool) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    """Both sides' results averaged per base model over the seeds both have (a pair stays a pair):
    the base, not the seed, is then the unit the intervals are over. Numbers are averaged
    (geometrically for the terms of a ratio), anything else is the first seed's; energy_mode says
    "measured" only when every seed's did."""
    shared = [s for s in var if s in ref and s in base_of]

    def collapse(side: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for s in shared:
            groups[base_of[s]].append(side[s])
        out: dict[Any, dict[str, Any]] = {}
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


def compare(info: ExperimentInfo, keys: dict[str, str], name: str, ref: str,
            var_by_seed: dict[Any, dict[str, Any]], ref_by_seed: dict[Any, dict[str, Any]],
            base_of: dict[Any, Any] | None = None) -> dict[str, Any]:
    """One variant against one reference: every number of docs/AGENTS.md's comparison. With
    `base_of` (seeds fine-tuning at least two independently pre-trained bases, issue 22 item 6),
    what the model's weights decide (quality, validation, stability, E) is compared over the bases'
    means, so its interval covers the variation between bases, and `between_bases` gives the
    variance components of the paired quality change; measured costs of the same architecture
    (time, energy, memory, size) stay paired by seed."""
    qk = keys["quality"]
    up = higher_is_better(qk)
    bounded = fraction(qk)
    seeds_v, seeds_r = var_by_seed, ref_by_seed  # the seeds' own results (controls, grids, examples)
    replicated = base_of is not None and len({base_of[s] for s in var_by_seed
                                              if s in ref_by_seed and s in base_of}) >= 2
    if replicated:
        assert base_of is not None
        var_by_seed, ref_by_seed = _over_bases(seeds_v, seeds_r, base_of, False)
        geo_v, geo_r = _over_bases(seeds_v, seeds_r, base_of, True)
    else:
        geo_v, geo_r = var_by_seed, ref_by_seed
    qv, qr = _values(var_by_seed, qk), _values(ref_by_seed, qk)
    quality = stats.by_seed(qv, qr, (-1.0, 1.0) if bounded else None)
    if replicated and quality.paired:
        quality = replace(quality, over_bases=True)
    out: dict[str, Any] = {"reference": ref, "objective": info.objective(name, ref)}
    if info.roles.get(name):
        out["role"] = info.roles[name]
    qd = _diff_json(quality)
    if replicated:
        assert base_of is not None
        sv, sr = _values(seeds_v, qk), _values(seeds_r, qk)
        diffs = {s: sv[s] - sr[s] for s in sv if s in sr}
        out["between_bases"] = stats.components(diffs, base_of).to_json()
    shared = [s for s in _values(seeds_v, qk) if s in _values(seeds_r, qk)]
    correct = [(seeds_v[s].get("test_correct"), seeds_r[s].get("test_correct")) for s in shared]
    if len(shared) >= 1 and all(isinstance(a, list) and isinstance(b, list) for a, b in correct):
        boot = stats.example_bootstrap(correct)  # type: ignore[arg-type]
        if boot is not None:
            qd["examples_ci95"] = _ci(boot[1])
    _carry_kind(qd, qk, qr)
    out["quality_delta"] = qd
    out["p_value"], out["effect_size"] = qd["p_value"], qd["effect_size"]
    out["paired"], out["n_pairs"] = quality.paired, (len(shared) if replicated else quality.n) if quality.paired else 0
    if replicated:
        out["n_bases"] = quality.n
    # quality kept: non-inferiority, on the seeds' CI and (when reported) the test examples' CI
    declared = info.quality_margin if info.quality_margin is not None else QUALITY_MARGIN
    margin = declared if bounded else declared * abs(stats.mean(list(qr.values())) if qr else 0.0)
    lows = [c[0] if up else -c[1] for c in (quality.ci95, qd.get("examples_ci95")) if c]
    out["quality_margin"] = _r(margin)
    out["quality_margin_declared"] = declared  # points of a fraction, or a share of the reference
    out["quality_kept"] = None if not lows else min(lows) >= -margin

    ratios: dict[str, stats.Ratio] = {}
    interleaved = []
    for role, label in RATIO_NAMES.items():
        key = keys.get(role)
        if key is None:
            continue
        if _interleaved(info, name, ref, seeds_v, key):
            rows = [(stats.number(r.get(f"ref_{key}")), stats.number(r.get(key))) for r in seeds_v.values()]
            num = [a for a, b in rows if a is not None and b is not None]
            den = [b for a, b in rows if a is not None and b is not None]
            got = stats.ratio_interval(num, den, True)
            interleaved.append(role)
        else:
            den_v, num_r, is_paired = _aligned(_values(seeds_v, key), _values(seeds_r, key))
            if not den_v or not num_r:
                continue
            got = stats.ratio_interval(num_r, den_v, is_paired)
        ratios[role] = got
        out[label] = _r(got.estimate, 4)
        out[f"{label}_ci95"] = _ci(got.ci95, 4)
        out[f"{role}_p_value"] = _r(got.p_value)
    if interleaved:
        out["interleaved"] = interleaved
    eff = _efficiency(keys, up, geo_v, geo_r, "energy" in interleaved)
    if replicated and eff.method is stats.CIMethod.PAIRED_T_LOG:
        eff = replace(eff, method=stats.CIMethod.PAIRED_T_LOG_BASES)
    out["efficiency_score"], out["efficiency_score_ci95"] = _r(eff.estimate, 4), _ci(eff.ci95, 4)
    out["efficiency_score_p_value"] = _r(eff.p_value)
    # how each interval was computed, and which quantities are exact (the same on every seed)
    methods = {"quality_delta": quality.ci_method}
    methods.update({RATIO_NAMES[role]: r.method for role, r in ratios.items() if r.method is not None})
    if eff.method is not None:
        methods["efficiency_score"] = eff.method
    out["ci_methods"] = {k: str(m) for k, m in methods.items()}
    out["exact"] = [RATIO_NAMES[role] for role in BY_CONSTRUCTION if role in ratios and ratios[role].exact]
    for role in BY_CONSTRUCTION:  # fixed by construction: no p-value (nothing was tested)
        if role in ratios and ratios[role].exact:
            out[f"{role}_p_value"] = None
    if eff.estimate is not None:
        ratios["efficiency"] = eff
    stability = None
    if "stability" in keys:
        sv, sr = _values(var_by_seed, keys["stability"]), _values(ref_by_seed, keys["stability"])
        if sv and sr:
            stability = stats.by_seed(sv, sr, (-1.0, 1.0) if fraction(keys["stability"]) else None)
            out["stability_delta"] = _diff_json(stability)
    valid, note = _control(info, ref, seeds_r, seeds_v, qk)
    out["control_valid"], out["control_note"] = valid, note
    # either arm tuned on a grid whose edge it chose: the optimum may lie outside, no effect points
    edges = [e for e in (edge_of_grid(name, seeds_v), edge_of_grid(ref, seeds_r)) if e]
    out["edge_of_grid"] = "; ".join(edges) if edges else None
    out["effect"] = _effect(info, keys, name, out, quality, stability, ratios, var_by_seed, ref_by_seed)
    if out["effect"].get("kind") == "difference":
        role = OBJECTIVE_ROLE[out["effect"]["objective"]]
        out["effect"]["quantity"] = q.kind_of(keys.get(role)).value
        if role == "quality":
            out["effect"]["reference_mean"] = qd.get("reference_mean")
    return out


def _carry_kind(qd: dict[str, Any], key: str, ref_values: dict[Any, float]) -> None:
    """The quality change says what it is (`contract.quantities`): its kind, the reference's mean,
    and for a perplexity or a loss the change relative to that mean."""
    kind = q.kind_of(key)
    qd["kind"] = kind.value
    ref_mean = stats.mean(list(ref_values.values())) if ref_values else None
    qd["reference_mean"] = _r(ref_mean)
    if q.info(kind).change is q.Change.RELATIVE:
        qd["relative"] = _r(q.relative(qd.get("mean"), ref_mean))
        ci = qd.get("ci95")
        qd["relative_ci95"] = None if not ci or None in ci else [_r(q.relative(ci[0], ref_mean)),
                                                                 _r(q.relative(ci[1], ref_mean))]


def _efficiency(keys: dict[str, str], up: bool, var: dict[Any, dict[str, Any]], ref: dict[Any, dict[str, Any]],
                interleaved: bool) -> stats.Ratio:
    """E = (quality / reference quality) x (reference energy / energy): paired by seed when two or
    more seeds have all four values (a t-interval on log E per seed), else unpaired (the delta
    method on log E of the means)."""
    qk, ek = keys["quality"], keys["energy"]
    rows_v, rows_r = [], []
    for s, r in var.items():
        other = ref.get(s)
        e_ref = r.get(f"ref_{ek}") if interleaved else (other or {}).get(ek)
        vals = [stats.number(r.get(qk)), stats.number(r.get(ek)), stats.number((other or {}).get(qk)), stats.number(e_ref)]
        if other is not None and None not in vals:
            rows_v.append((vals[0], vals[1]))
            rows_r.append((vals[2], vals[3]))
    if len(rows_v) >= 2:
        return stats.efficiency_interval(rows_v, rows_r, True, up)  # type: ignore[arg-type]
    gv = [(a, b) for r in var.values() if None not in (a := stats.number(r.get(qk)), b := stats.number(r.get(ek)))]
    gr = [(a, b) for r in ref.values() if None not in (a := stats.number(r.get(qk)), b := stats.number(r.get(ek)))]
    return stats.efficiency_interval(gv, gr, False, up)  # type: ignore[arg-type]


#: what a variant whose objective is exact (fixed by construction) is rated on instead: measured
#: costs, first present and measured wins (E only where energy is measured by counters)
MEASURED_FALLBACK = (("latency", "time"), ("efficiency", "efficiency"))


def _ratio_effect(r: stats.Ratio, tested: stats.Ratio, by_construction: bool = False) -> dict[str, Any]:
    """A ratio's effect fields: the estimate and CI of `r`, the test (p, MDE, same direction) of
    `tested` (the same ratio, or time where energy is modelled). `by_construction`: the ratio is a
    size or memory that is the same on every seed: exact, untested, no effect."""
    per_seed = tested.per_seed
    est_ok = r.estimate is not None and r.estimate > 1
    exact = by_construction and r.exact
    return {"kind": "ratio", "estimate": _r(r.estimate, 4), "ci95": _ci(r.ci95, 4),
            "p_value": None if exact else _r(tested.p_value),
            "mde": _r(tested.mde, 4), "ci_method": str(r.method) if r.method else None,
            "effect_kind": EXACT if exact else MEASURED,
            "significant": bool(est_ok and not exact and tested.p_value is not None and tested.p_value < ALPHA
                                and tested.estimate is not None and tested.estimate > 1),
            "consistent": (all(x > 1 for x in per_seed) if len(per_seed) >= 2 and not exact else None)}


def _measured_instead(keys: dict[str, str], role: str, ratios: dict[str, stats.Ratio],
                      energy_measured: bool) -> dict[str, Any] | None:
    """For an exact objective: the first measured cost ratio (latency, else E where energy is
    measured) the rubric judges the variant on, with its own test; None without one."""
    for objective, which in MEASURED_FALLBACK:
        got = ratios.get(which)
        if which == role or got is None or got.ci95 is None or (which == "efficiency" and not energy_measured):
            continue
        metric = "efficiency_score" if which == "efficiency" else keys.get(which)
        return {"objective": objective, "metric": metric, "tested_on": metric, **_ratio_effect(got, got)}
    return None


def _effect(info: ExperimentInfo, keys: dict[str, str], name: str, cmp: dict[str, Any], quality: stats.Difference,
            stability: stats.Difference | None, ratios: dict[str, stats.Ratio],
            var: dict[Any, dict[str, Any]], ref: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """The effect on the variant's objective: estimate, CI and how it was computed, p, MDE, what
    it was tested on, whether every paired seed points the same (good) way, and whether it was
    measured or is exact (the same on every seed: fixed by construction, nothing to test; the
    rubric then judges the variant on a measured cost, `measured`)."""
    objective = info.objective(name, cmp.get("reference"))
    role = OBJECTIVE_ROLE[objective]
    out: dict[str, Any] = {"objective": objective, "metric": keys.get(role)}
    energy_measured = energy_mode_of(list(var.values()) + list(ref.values())) == "measured"
    if role in RATIO_NAMES:
        r = ratios.get(role)
        if r is None:
            return {**out, "kind": "ratio", "estimate": None, "ci95": None, "p_value": None, "mde": None,
                    "significant": False, "consistent": None, "effect_kind": MEASURED, "ci_method": None,
                    "note": f"no {keys.get(role, role)} to compare"}
        tested, note = role, ""
        if role == "energy" and not energy_measured:
            # modelled energy is a model of CPU time, not a second measurement: time carries the test
            tested = "time"
            note = f"energy {MODELLED}: its significance is tested on {keys.get('time', 'time')}"
        t = ratios.get(tested) or stats.Ratio(None, None, None, None, 0, False)
        out.update(_ratio_effect(r, t, role in BY_CONSTRUCTION), tested_on=keys.get(tested))
        if note:
            out["note"] = note
        if tested != role and tested in ratios:
            # the rubric judges the effect's size on the smaller of the two lower bounds
            out.update(tested_estimate=_r(ratios[tested].estimate, 4), tested_ci95=_ci(ratios[tested].ci95, 4))
    else:
        d = quality if role == "quality" else stability
        if d is None or d.delta is None:
            return {**out, "kind": "difference", "estimate": None, "ci95": None, "p_value": None, "mde": None,
                    "significant": False, "consistent": None, "effect_kind": MEASURED, "ci_method": None,
                    "note": f"no {keys.get(role, role)} to compare"}
        # a gain is higher quality (lower loss), or a lower divergence rate
        sign = 1.0 if (role == "quality" and higher_is_better(keys["quality"])) else -1.0
        ci = None if d.ci95 is None else (sign * d.ci95[0], sign * d.ci95[1]) if sign > 0 else (-d.ci95[1], -d.ci95[0])
        vals_v, vals_r = _values(var, keys[role]), _values(ref, keys[role])
        per_seed = [sign * (vals_v[s] - vals_r[s]) for s in vals_v if s in vals_r] if d.paired else []
        out.update(kind="difference", estimate=_r(sign * d.delta), ci95=_ci(ci), p_value=_r(d.p_value), mde=_r(d.mde),
                   tested_on=keys.get(role), ci_method=str(d.ci_method), effect_kind=MEASURED,
                   significant=bool(sign * d.delta > 0 and d.p_value is not None and d.p_value < ALPHA),
                   consistent=(all(x > 0 for x in per_seed) if len(per_seed) >= 2 else None))
    if out["effect_kind"] == EXACT:
        out["note"] = "; ".join(x for x in (out.get("note"), f"{out['metric']} is the same on every seed: exact (fixed "
                                            "by construction), no p-value, no effect point on it") if x)
        instead = _measured_instead(keys, role, ratios, energy_measured)
        if instead is not None:
            out["measured"] = instead
    return out


def analyze(info: ExperimentInfo, runs: list[dict[str, Any]], seeds: int) -> Analysis:
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    params: dict[str, dict[str, Any]] = {}
    counts = {"total": len(runs), "succeeded": 0, "skipped": 0, "failed": 0}
    order: list[str] = []
    for run in runs:
        if run["variant"] not in order:
            order.append(run["variant"])
        params.setdefault(run["variant"], run.get("variant_params") or {})
        if run["status"] == "succeeded" and isinstance(run.get("result"), dict):
            counts["succeeded"] += 1
            results[run["variant"]].append(run)
        elif run["status"] == "skipped":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
    every = [r["result"] for rs in results.values() for r in rs]
    keys = resolve_keys(info, every)
    by_seed = {v: _seeded(results.get(v, [])) for v in order}
    base_of = bases_of(by_seed)
    samples = {v: {role: stats.clean(r.get(key) for r in by_seed[v].values()) for role, key in keys.items()}
               for v in order}
    if base_of is not None:  # what the weights decide is summarized over the bases' means
        for v in order:
            for role in WEIGHT_ROLES:
                if role in keys:
                    samples[v][role] = list(stats.group_means(_values(by_seed[v], keys[role]), base_of).values())
    variants: dict[str, dict[str, Any]] = {}
    for name in order:
        rs = list(by_seed[name].values())
        qb = (0.0, 1.0) if fraction(keys["quality"]) else None
        mode = energy_mode_of(rs)
        entry: dict[str, Any] = {
            "n": len(rs), "baseline": name == info.baseline, "params": params.get(name, {}),
            "seeds": sorted(s for s in by_seed[name] if isinstance(s, int)),
            "energy_mode": mode, "energy_estimated": None if mode is None else mode != "measured",
            "diverged": sum(1 for r in rs if r.get("diverged")),
            "skipped": sum(1 for r in runs if r["variant"] == name and r["status"] == "skipped"),
            "reference": None if info.is_reference_point(name) else info.reference(name),
        }
        for role, key in keys.items():
            # costs (energy, time, size, memory) are non-negative: their intervals never go below 0
            bounds = qb if role in ("quality", "validation") else ((0.0, 1.0) if fraction(key) else
                                                                    stats.NON_NEGATIVE if role in RATIO_NAMES else None)
            entry[role] = stats.summarize(samples[name][role], bounds).to_json()
        if base_of is not None:
            entry["between_bases"] = stats.components(_values(by_seed[name], keys["quality"]), base_of).to_json()
        steps = stats.clean(r.get("budget_steps") for r in rs)
        if steps:
            entry["budget_steps"] = _r(stats.mean(steps))
        if not info.is_reference_point(name):
            refs = info.refs(name)
            entry["references"] = refs
            comparisons = {ref: compare(info, keys, name, ref, by_seed[name], by_seed.get(ref, {}), base_of)
                           for ref in refs}
            entry.update(comparisons[refs[0]])
            entry["comparisons"] = comparisons
        variants[name] = entry
    refs_of = {n: None if info.is_reference_point(n) else info.refs(n)[0] for n in order}
    for name, per_set in eval_sets.summarize(order, by_seed, refs_of).items():
        variants[name]["eval_sets"] = per_set  # beside the rating, never in it
    provenance = (sum(1 for r in every if "seed" in r and "versions" in r), len(every))
    return Analysis(info, variants, samples, counts, choose_headline(info, variants, keys), seeds, provenance, keys)


# -- the headline ----------------------------------------------------------------------------

def _val_kept(v: dict[str, Any], variants: dict[str, dict[str, Any]], keys: dict[str, str]) -> bool | None:
    """Does the variant keep validation quality within the margin of its reference (means)?"""
    if "validation" not in keys:
        return None
    mine = (v.get("validation") or {}).get("mean")
    theirs = ((variants.get(v.get("reference") or "") or {}).get("validation") or {}).get("mean")
    if mine is None or theirs is None:
        return None
    gap = mine - theirs if higher_is_better(keys["quality"]) else theirs - mine
    return bool(gap >= -(v.get("quality_margin") or QUALITY_MARGIN))


def _gain(effect: dict[str, Any], v: dict[str, Any], keys: dict[str, str], variants: dict[str, dict[str, Any]]) -> float:
    """A comparable size of an effect: log of a ratio, or a difference relative to the reference."""
    est = effect.get("estimate")
    if not isinstance(est, (int, float)):
        return float("-inf")
    if effect.get("kind") == "ratio":
        return math.log(est) if est > 0 else float("-inf")
    if effect["objective"] == "quality" and "validation" in keys:
        mine = (v.get("validation") or {}).get("mean")
        theirs = ((variants.get(v.get("reference") or "") or {}).get("validation") or {}).get("mean")
        if mine is not None and theirs:
            return float((mine - theirs) / abs(theirs) * (1 if higher_is_better(keys["quality"]) else -1))
    return float(est)


def choose_headline(info: ExperimentInfo, variants: dict[str, dict[str, Any]],
                    keys: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The declared headline; else the candidate with the largest effect on its objective,
    chosen without test data (validation quality decides who keeps quality; a quality objective
    is ranked on validation quality), with its p-value Holm-corrected across the candidates.
    A quality objective with no validation data is chosen on test data and earns no effect points."""
    keys = keys or {**DEFAULT_KEYS, **info.keys}
    candidates = {n: v for n, v in variants.items() if not info.is_reference_point(n) and v["n"] > 0}
    if not candidates:
        return None
    declared = info.headline if info.headline in candidates else None
    if declared is not None:
        name, selection, m = declared, "declared", 1
        adjusted = {name: (candidates[name].get("effect") or {}).get("p_value")}
    else:
        def rank(n: str) -> tuple[int, int, float]:
            v = candidates[n]
            kept = _val_kept(v, variants, keys)
            return (int(bool(v.get("control_valid"))), int(kept is not False), _gain(v.get("effect") or {}, v, keys, variants))

        name = max(sorted(candidates), key=rank)
        m = len(candidates)
        quality_objective = (candidates[name].get("effect") or {}).get("objective") == "quality"
        selection = "test" if quality_objective and "validation" not in keys else (
            "validation" if "validation" in keys else "objective")
        adjusted = stats.holm({n: (v.get("effect") or {}).get("p_value") for n, v in candidates.items()})
    v = candidates[name]
    effect = dict(v.get("effect") or {})
    p_adj = adjusted.get(name)
    effect["p_adjusted"] = _r(p_adj)
    est = effect.get("estimate")
    good_direction = isinstance(est, (int, float)) and (est > 1 if effect.get("kind") == "ratio" else est > 0)
    effect["significant"] = bool(good_direction and p_adj is not None and p_adj < ALPHA)
    delta = v.get("quality_delta") or {}
    ci = delta.get("ci95")
    kind = q.kind_of(keys["quality"])
    points = kind is q.Kind.FRACTION
    return {
        "variant": name, "reference": v.get("reference"), "objective": effect.get("objective"),
        "metric": effect.get("metric"), "effect": effect.get("estimate"), "effect_ci": effect.get("ci95"),
        "e": v.get("efficiency_score"), "e_ci": v.get("efficiency_score_ci95"),
        # percentage points are said of a fraction only; a perplexity or a loss changes relatively
        "quality_delta_points": _r(delta["mean"] * 100) if points and delta.get("mean") is not None else None,
        "quality_delta_ci": [_r(ci[0] * 100), _r(ci[1] * 100)] if points and ci else None,
        "quality_key": keys["quality"], "quality_kind": kind.value, "quality_reference_mean": delta.get("reference_mean"),
        "quality_delta_relative": delta.get("relative"), "quality_delta_relative_ci": delta.get("relative_ci95"),
        "paired": bool(v.get("paired")), "control_valid": bool(v.get("control_valid")),
        "control_note": v.get("control_note"), "selection": selection, "candidates": m,
        "edge_of_grid": v.get("edge_of_grid"), "quality_margin_declared": v.get("quality_margin_declared"),
        # issue 22 item 6: the base models the intervals are over, and the variance between them
        "n_bases": v.get("n_bases"), "between_bases": v.get("between_bases"),
        "effect_detail": effect, "energy_mode": v.get("energy_mode"),
        # issue 22: measured, or exact (the same on every seed: by construction, no evidence)
        "effect_kind": effect.get("effect_kind", MEASURED), "ci_method": effect.get("ci_method"),
        "e_ci_method": (v.get("ci_methods") or {}).get("efficiency_score"),
        # the names older readers use (rubric v1 records hold only these)
        "efficiency_score": v.get("efficiency_score"), "speedup": v.get("speedup"),
        "compression": v.get("compression"), "quality_delta": delta.get("mean"), "quality_delta_ci95": ci,
        "energy_estimated": v.get("energy_estimated"), "quality_kept": bool(v.get("quality_kept")),
    }


def headline_json(h: dict[str, Any] | None, quality_key: str | None = None,
                  preliminary: bool | None = None) -> dict[str, Any] | None:
    """The headline as `lab rating --json` gives it (issues 10, 22): the comparison as data, with
    the quality's kind and how its change is said (`quality_kind`; `quality_delta_points` for a
    fraction only, `quality_delta` in the metric's unit, `quality_delta_relative` as a fraction of
    the reference for a perplexity or a loss; `quality_change` and `effect_text` as every output
    writes them). Records of rubric v1 hold fewer fields; what they lack is null. `preliminary`:
    the mark for a record rated before the validator wrote one (science/rubric.preliminary decides)."""
    if not h:
        return None
    key = str(h.get("quality_key") or quality_key or DEFAULT_KEYS["quality"])  # rubric v1: accuracy
    kind = q.Kind(h["quality_kind"]) if h.get("quality_kind") in {k.value for k in q.Kind} else q.kind_of(key)
    fields = ("variant", "reference", "objective", "metric", "effect", "effect_ci", "e", "e_ci",
              "quality_delta_points", "quality_delta_ci", "paired", "control_valid", "control_note",
              "edge_of_grid", "n_bases", "between_bases")
    out = {k: h.get(k) for k in fields}
    if out["e"] is None:
        out["e"] = h.get("efficiency_score")
    ci = h.get("quality_delta_ci95")
    if kind is q.Kind.FRACTION and out["quality_delta_points"] is None and isinstance(h.get("quality_delta"), (int, float)):
        out["quality_delta_points"] = _r(h["quality_delta"] * 100)
        out["quality_delta_ci"] = [_r(ci[0] * 100), _r(ci[1] * 100)] if ci and None not in ci else None
    if kind is not q.Kind.FRACTION:  # records written before issue 22 put the raw change here
        out["quality_delta_points"] = out["quality_delta_ci"] = None
    ref = h.get("quality_reference_mean")
    rel, rel_ci = h.get("quality_delta_relative"), h.get("quality_delta_relative_ci")
    if q.info(kind).change is q.Change.RELATIVE and rel is None and ref:
        rel = _r(q.relative(h.get("quality_delta"), ref))
        rel_ci = [_r(q.relative(ci[0], ref)), _r(q.relative(ci[1], ref))] if ci and None not in ci else None
    detail = h.get("effect_detail") or {}
    out.update(quality_key=key, quality_kind=kind.value, quality_delta=h.get("quality_delta"),
               quality_delta_ci95=ci, quality_reference_mean=ref, quality_delta_relative=rel,
               quality_delta_relative_ci=rel_ci, quality_change=quality_text(h, key), effect_text=(
                   effect_text(detail) if detail.get("estimate") is not None else None))
    out.update(selection=h.get("selection"), candidates=h.get("candidates"), p_value=detail.get("p_value"),
               p_adjusted=detail.get("p_adjusted"), significant=detail.get("significant"),
               tested_on=detail.get("tested_on"), mde=detail.get("mde"), energy_mode=h.get("energy_mode"),
               # issue 22: exact quantities are not evidence; how the effect's interval was computed;
               # a preliminary run (smoke, too few seeds) is not a finding
               effect_kind=h.get("effect_kind") or detail.get("effect_kind") or MEASURED,
               ci_method=h.get("ci_method") or detail.get("ci_method"), e_ci_method=h.get("e_ci_method"),
               preliminary=h.get("preliminary") if isinstance(h.get("preliminary"), bool) else preliminary,
               preliminary_reason=h.get("preliminary_reason"))
    measured = detail.get("measured")
    if isinstance(measured, dict):
        out["measured"] = {k: measured.get(k) for k in ("objective", "metric", "estimate", "ci95", "ci_method",
                                                         "p_value", "significant", "consistent")}
    return out


def quality_change(key: str, mean: Any, ci: Any, reference: Any = None) -> str:
    """A quality change with its 95 % CI, as its kind says it: '+1.2 points (95 % CI
    +0.3..+2.1 points)', '+0.0904 ppl (+0.06 % of the reference) (95 % CI -3.71..+3.89 ppl
    (-2.56..+2.68 %))'."""
    kind = q.kind_of(key)
    return units.with_interval(units.change(mean, kind, reference), units.change_interval(ci, kind, reference))


def margin_text(h: dict[str, Any] | None, quality_key: str = "quality") -> str:
    """The headline's non-inferiority margin as its quality's kind says it ('1 point', '3 % of the
    reference'); records written before the margin was carried: the lab's."""
    h = h or {}
    declared = h.get("quality_margin_declared")
    declared = declared if isinstance(declared, (int, float)) and not isinstance(declared, bool) else QUALITY_MARGIN
    return units.margin(declared, q.kind_of(str(h.get("quality_key") or quality_key)))


def quality_text(h: dict[str, Any], quality_key: str = "quality") -> str:
    """The headline's quality change, named: 'test_perplexity +0.0904 ppl (...)'."""
    key = str(h.get("quality_key") or quality_key)
    return f"{key} {quality_change(key, h.get('quality_delta'), h.get('quality_delta_ci95'), h.get('quality_reference_mean'))}"


def effect_text(effect: dict[str, Any], scale_points: bool | None = None) -> str:
    """The effect on the objective with its 95 % CI: a cost ratio '4.41x (95 % CI 4.20..4.60x)';
    an exact quantity (the same on every seed, by construction) without an interval; a quality
    effect as the change of its metric (variant - reference, in its kind's words, the same number
    as the quality change); a stability effect as the drop of the divergence rate in points.
    `scale_points` is ignored: the metric's kind decides (kept for older callers)."""
    est = effect.get("estimate") if "estimate" in effect else effect.get("effect")
    ci = effect.get("ci95") if "ci95" in effect else effect.get("effect_ci")
    if effect.get("effect_kind") == EXACT:  # the same on every seed: no interval to give, no evidence
        shown = units.ratio(est) if effect.get("kind", "ratio") == "ratio" else \
            units.value(est, q.kind_of(str(effect.get("metric") or "")))
        return f"{shown} (exact: the same on every seed, by construction)"
    if effect.get("kind", "ratio") == "ratio" and effect.get("objective") not in ("quality", "stability"):
        return units.with_interval(units.ratio(est), units.ratio_interval(ci))
    metric = str(effect.get("metric") or "")
    kind = q.kind_of(metric)
    if effect.get("objective") == "stability":  # the drop of a rate: positive is fewer divergences
        return units.with_interval(units.change(est, kind) + " lower", units.change_interval(ci, kind))
    if effect.get("objective") == "quality" and not higher_is_better(metric) and isinstance(est, (int, float)):
        # the effect is stored as a gain (lower perplexity: positive); it is said as the change
        est = -est
        ci = [-ci[1], -ci[0]] if ci and None not in ci else ci
    ref = effect.get("reference_mean")
    return units.with_interval(units.change(est, kind, ref), units.change_interval(ci, kind, ref))


def headline_text(h: dict[str, Any] | None, quality_key: str = "quality") -> str:
    """One sentence for the headline comparison, from the stored numbers (rubric v1 records too):
    the validator's verdict, the reports, the control room and `lab rating` all say it so."""
    if not h:
        return "no variant is compared with a reference"
    energy = f", energy {MODELLED}" if h.get("energy_estimated") or h.get("energy_mode") in ("modelled", "mixed") else ""
    quality = quality_text(h, quality_key)
    if not h.get("objective"):  # a rubric v1 record
        return (f"{h['variant']}: E = {units.ratio(h.get('efficiency_score'))}, speedup {units.ratio(h.get('speedup'))}, "
                f"compression {units.ratio(h.get('compression'))}, {quality}{energy}")
    detail = h.get("effect_detail") or {"objective": h["objective"], "estimate": h.get("effect"),
                                        "ci95": h.get("effect_ci"), "metric": h.get("metric")}
    how = {"declared": "declared headline", "validation": f"chosen on validation data among {h.get('candidates')}",
           "objective": f"chosen on its objective among {h.get('candidates')}",
           "test": f"chosen on TEST data among {h.get('candidates')}: earns no effect point"}.get(
        str(h.get("selection")), str(h.get("selection")))
    control = "control valid" if h.get("control_valid") else f"control INVALID ({h.get('control_note')}): comparison void"
    e = h.get("e", h.get("efficiency_score"))
    return (f"{h['variant']} vs {h.get('reference')} ({how}): {h['objective']} on {h.get('metric')} "
            f"{effect_text(detail)}, E = {units.with_interval(units.ratio(e), units.ratio_interval(h.get('e_ci')))}{energy}; "
            f"{quality}; {'paired by seed' if h.get('paired') else 'unpaired'}{_bases_text(h)}; {control}")


def _bases_text(h: dict[str, Any]) -> str:
    """', quality and E over 2 base models' means (between-base share of the variance 40 %)'."""
    n = h.get("n_bases")
    if not isinstance(n, int) or n < 2:
        return ""
    share = (h.get("between_bases") or {}).get("between_share")
    said = f"; between bases {share * 100:.0f} % of its variance" if isinstance(share, (int, float)) else ""
    return f", quality and E over {n} pre-trained base models' means{said}"
