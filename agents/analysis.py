"""Per-variant evidence of one experiment: statistics over seeds against the baseline, the
efficiency score E, speedup and compression (docs/RECORDS.md, `rating_breakdown.variants`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from agents import stats
from agents.thresholds import QUALITY_MARGIN

DEFAULT_KEYS = {"quality": "test_accuracy", "energy": "energy_kwh", "time": "train_time_s",
                "size": "model_size_bytes"}


@dataclass(frozen=True)
class ExperimentInfo:
    """What the validator needs to know about the experiment's catalog entry."""

    catalog: str
    baseline: str
    gain_phase: str = "training"
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    deliverables: list[dict[str, Any]] = field(default_factory=list)
    list_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {type, min, max}
    #: variant -> the variant it is compared with (its control); absent: the baseline
    references: dict[str, str] = field(default_factory=dict)

    def reference(self, variant: str) -> str:
        return self.references.get(variant, self.baseline)

    def is_reference_point(self, variant: str) -> bool:
        """The baseline, or a variant declared its own reference: compared with nothing."""
        return variant == self.baseline or self.reference(variant) == variant


@dataclass
class Analysis:
    info: ExperimentInfo
    variants: dict[str, dict[str, Any]]
    samples: dict[str, dict[str, list[float]]]   # variant -> role -> values over seeds
    run_counts: dict[str, int]
    headline: dict[str, Any] | None
    seeds: int
    provenance: tuple[int, int] = (0, 0)  # results that record their seed and versions, of all results

    @property
    def baseline(self) -> dict[str, Any] | None:
        return self.variants.get(self.info.baseline)


def _values(results: list[dict[str, Any]], key: str) -> list[float]:
    return stats.clean([r.get(key) for r in results])


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
            results[run["variant"]].append(run["result"])
        elif run["status"] == "skipped":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
    keys = info.keys
    samples = {v: {role: _values(results.get(v, []), key) for role, key in keys.items()} for v in order}
    empty = {role: [] for role in keys}
    variants: dict[str, dict[str, Any]] = {}
    for name in order:
        rs = results.get(name, [])
        s = samples[name]
        quality = stats.summarize(s["quality"])
        means = {role: stats.summarize(s[role]).mean for role in keys}
        entry: dict[str, Any] = {
            "n": len(rs), "baseline": name == info.baseline, "params": params.get(name, {}),
            "quality": _bounded(quality.to_json()),
            "energy": stats.summarize(s["energy"]).to_json(),
            "time": stats.summarize(s["time"]).to_json(),
            "size": stats.summarize(s["size"]).to_json(),
            "energy_estimated": _estimated(rs),
            "diverged": sum(1 for r in rs if r.get("diverged")),
            "skipped": sum(1 for r in runs if r["variant"] == name and r["status"] == "skipped"),
            "reference": None if info.is_reference_point(name) else info.reference(name),
        }
        if not info.is_reference_point(name):
            base = samples.get(info.reference(name), empty)
            base_mean = {role: stats.summarize(base[role]).mean for role in keys}
            cmp_q = stats.compare(s["quality"], base["quality"])
            cmp_e = stats.compare(s["energy"], base["energy"])
            cmp_t = stats.compare(s["time"], base["time"])
            e_ratio = stats.ratio(base_mean["energy"], means["energy"])
            q_ratio = stats.ratio(means["quality"], base_mean["quality"])
            entry.update({
                "quality_delta": {"mean": _r(cmp_q.delta),
                                  # a difference of two fractions lies within [-1, 1]
                                  "ci95": None if cmp_q.delta_ci95 is None else
                                  [_r(max(-1.0, cmp_q.delta_ci95[0])), _r(min(1.0, cmp_q.delta_ci95[1]))]},
                "p_value": _r(cmp_q.p_value), "effect_size": _r(cmp_q.effect_size),
                "energy_p_value": _r(cmp_e.p_value), "time_p_value": _r(cmp_t.p_value),
                "efficiency_score": _r(None if e_ratio is None or q_ratio is None else q_ratio * e_ratio, 4),
                "speedup": _r(stats.ratio(base_mean["time"], means["time"]), 4),
                "compression": _r(stats.ratio(base_mean["size"], means["size"]), 4),
                "quality_kept": None if cmp_q.delta is None else cmp_q.delta >= -QUALITY_MARGIN,
            })
        variants[name] = entry
    every = [r for rs in results.values() for r in rs]
    provenance = (sum(1 for r in every if "seed" in r and "versions" in r), len(every))
    return Analysis(info, variants, samples, counts, choose_headline(info, variants), seeds, provenance)


def _bounded(summary: dict[str, Any]) -> dict[str, Any]:
    """A quality is a fraction: its t-interval is shown within [0, 1]."""
    ci = summary.get("ci95")
    if ci:
        summary["ci95"] = [max(0.0, ci[0]), min(1.0, ci[1])]
    return summary


def _r(value: float | None, digits: int = 6) -> float | None:
    return stats.significant(value, digits)


def _estimated(results: list[dict[str, Any]]) -> bool | None:
    modes = {r.get("energy_mode") for r in results}
    if not results:
        return None
    return modes != {"measured"}


def _gain(v: dict[str, Any]) -> tuple[float, ...]:
    """How much a variant gains, for ranking: E first, then speedup, compression, quality change."""
    def val(x: Any) -> float:
        return float(x) if isinstance(x, (int, float)) else float("-inf")

    return (val(v.get("efficiency_score")), val(v.get("speedup")), val(v.get("compression")),
            val((v.get("quality_delta") or {}).get("mean")))


def choose_headline(info: ExperimentInfo, variants: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The best variant that keeps quality within 1 point of its reference; else the best one."""
    candidates = {n: v for n, v in variants.items() if not info.is_reference_point(n) and v["n"] > 0}
    if not candidates:
        return None
    kept = {n: v for n, v in candidates.items() if v.get("quality_kept")}
    pool = kept or candidates
    name = max(sorted(pool), key=lambda n: _gain(pool[n]))
    v = pool[name]
    delta = v.get("quality_delta") or {}
    return {"variant": name, "reference": v.get("reference"),
            "efficiency_score": v.get("efficiency_score"), "speedup": v.get("speedup"),
            "compression": v.get("compression"), "quality_delta": delta.get("mean"),
            "quality_delta_ci95": delta.get("ci95"), "energy_estimated": v.get("energy_estimated"),
            "quality_kept": bool(v.get("quality_kept"))}
