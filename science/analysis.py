"""Per-variant evidence of one experiment (docs/AGENTS.md, `rating_breakdown.variants`): every
variant against each of its references, paired by seed (science/comparing.py: the efficiency score
E, speedup, compression and memory ratios with t-intervals on their logs, quality kept as
non-inferiority, whether the control is valid, the effect on the variant's declared objective);
each variant's summaries; and the headline (science/headline.py). The result is typed
(contract/rating_record.py's `VariantResult` and `Headline`), written to the record as JSON by the
validator.

What the catalog declares and how older records are read: science/experiment_info.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from contract.comparison import RATIO_NAMES, Spread
from contract.params import ParamValue, ParamValues
from contract.rating_record import Headline, RunCounts, VariantResult
from db.rows import Run
from db.states import RunState
from science import eval_sets, stats
from science.comparing import compare
from science.comparison import between_bases_of, spread_of
from science.experiment_info import (
    BySeed,
    ExperimentInfo,
    bases_of,
    energy_mode_of,
    fraction,
    resolve_keys,
    seed_values,
    seeded,
)
from science.headline import choose_headline

#: the roles a model's weights decide: with independently pre-trained bases (issue 22 item 6) their
#: summaries and comparisons are over the bases' means; time, energy, memory and size of one
#: architecture do not depend on the weights' values and stay over seeds
WEIGHT_ROLES = ("quality", "validation", "stability")


@dataclass(frozen=True)
class Analysis:
    info: ExperimentInfo
    variants: dict[str, VariantResult]
    samples: dict[str, dict[str, list[float]]]   # variant -> role -> values over seeds
    run_counts: RunCounts
    headline: Headline | None
    seeds: int
    provenance: tuple[int, int] = (0, 0)  # results that record their seed and versions, of all results
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def baseline(self) -> VariantResult | None:
        return self.variants.get(self.info.baseline)


def bases_note(params: Mapping[str, ParamValue], seeds: int) -> str | None:
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


@dataclass(frozen=True)
class _Runs:
    """The experiment's runs by variant, in plan order: the succeeded ones' results, each variant's
    parameters, and how many runs ended how."""

    order: list[str]
    results: dict[str, list[Run]]  # with a result
    params: dict[str, ParamValues]
    counts: RunCounts
    skipped: dict[str, int]

    @classmethod
    def of(cls, runs: Sequence[Run]) -> _Runs:
        results: dict[str, list[Run]] = defaultdict(list)
        params: dict[str, ParamValues] = {}
        counts = {"succeeded": 0, "skipped": 0, "failed": 0}
        skipped: dict[str, int] = defaultdict(int)
        order: list[str] = []
        for run in runs:
            if run.variant not in order:
                order.append(run.variant)
            params.setdefault(run.variant, run.variant_params)
            if run.status == RunState.SUCCEEDED and run.result is not None:
                counts["succeeded"] += 1
                results[run.variant].append(run)
            elif run.status == RunState.SKIPPED:
                counts["skipped"] += 1
                skipped[run.variant] += 1
            else:
                counts["failed"] += 1
        return cls(order, results, params, RunCounts(total=len(runs), **counts), skipped)


def _summaries(keys: dict[str, str], samples: dict[str, list[float]]) -> dict[str, Spread]:
    """Each role's summary; costs (energy, time, size, memory) are non-negative: their intervals
    never go below 0."""
    qb = (0.0, 1.0) if fraction(keys["quality"]) else None
    out = {}
    for role, key in keys.items():
        bounds = qb if role in ("quality", "validation") else ((0.0, 1.0) if fraction(key) else
                                                                stats.NON_NEGATIVE if role in RATIO_NAMES else None)
        out[role] = spread_of(stats.summarize(samples[role], bounds))
    return out


def _variant(info: ExperimentInfo, keys: dict[str, str], name: str, runs: _Runs, samples: dict[str, list[float]],
             by_seed: Mapping[str, BySeed], base_of: Mapping[int, int] | None) -> VariantResult:
    rs = list(by_seed[name].values())
    mode = energy_mode_of(rs)
    steps = stats.clean(r.get("budget_steps") for r in rs)
    refs = None if info.is_reference_point(name) else info.refs(name)
    return VariantResult(
        n=len(rs), baseline=name == info.baseline, params=runs.params.get(name, {}),
        seeds=tuple(sorted(s for s in by_seed[name] if isinstance(s, int))),
        energy_mode=mode, energy_estimated=None if mode is None else mode != "measured",
        diverged=sum(1 for r in rs if r.get("diverged")), skipped=runs.skipped.get(name, 0),
        reference=None if refs is None else info.reference(name), summaries=_summaries(keys, samples),
        between_bases=None if base_of is None else between_bases_of(
            stats.components(seed_values(by_seed[name], keys["quality"]), base_of)),
        budget_steps=stats.significant(stats.mean(steps)) if steps else None,
        references=None if refs is None else tuple(refs),
        comparisons=None if refs is None else {
            ref: compare(info, keys, name, ref, by_seed[name], by_seed.get(ref, {}), base_of) for ref in refs})


def analyze(info: ExperimentInfo, runs: Sequence[Run], seeds: int) -> Analysis:
    """Every variant's evidence, its comparisons and the headline, from the experiment's runs."""
    grouped = _Runs.of(runs)
    order = grouped.order
    every = [r.result for rs in grouped.results.values() for r in rs if r.result is not None]
    keys = resolve_keys(info, every)
    by_seed = {v: seeded(grouped.results.get(v, [])) for v in order}
    base_of = bases_of(by_seed)
    samples = {v: {role: stats.clean(r.get(key) for r in by_seed[v].values()) for role, key in keys.items()}
               for v in order}
    if base_of is not None:  # what the weights decide is summarized over the bases' means
        for v in order:
            for role in WEIGHT_ROLES:
                if role in keys:
                    samples[v][role] = list(stats.group_means(seed_values(by_seed[v], keys[role]), base_of).values())
    variants = {name: _variant(info, keys, name, grouped, samples[name], by_seed, base_of) for name in order}
    refs_of = {n: None if info.is_reference_point(n) else info.refs(n)[0] for n in order}
    for name, per_set in eval_sets.summarize(order, by_seed, refs_of).items():
        variants[name] = replace(variants[name], eval_sets=per_set)  # beside the rating, never in it
    provenance = (sum(1 for r in every if "seed" in r and "versions" in r), len(every))
    return Analysis(info, variants, samples, grouped.counts, choose_headline(info, variants, keys), seeds,
                    provenance, keys)
