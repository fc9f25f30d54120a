"""The published rating rubric (docs/AGENTS.md): ten criteria of one point each, every point
tied to evidence from the runs. The rating is the sum, at least 1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.analysis import Analysis
from agents.thresholds import ALPHA, MIN_SEEDS, QUALITY_MARGIN, REPRODUCIBLE_STD

RUBRIC_VERSION = 1


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    rule: str  # what earns the point, as published


RUBRIC: tuple[Criterion, ...] = (
    Criterion("produced", "produced results", "at least one run succeeded and wrote a result"),
    Criterion("executed", "executed fully", "every run succeeded, or was skipped with a reason "
              "(a device that cannot run it); none failed, timed out or was cancelled"),
    Criterion("deliverables", "deliverables met", "every applicable deliverable of the plan passed"),
    Criterion("seeds", f"at least {MIN_SEEDS} seeds with CIs", f"every variant with results has at least "
              f"{MIN_SEEDS} seeds, so its 95 % confidence interval is computed"),
    Criterion("significant", "significant effect", f"the headline variant's energy (or, without energy, "
              f"its time) is lower than the baseline's with Welch's t-test p < {ALPHA}"),
    Criterion("quality_kept", "quality kept within 1 point", "the headline variant's mean quality is at "
              f"most {QUALITY_MARGIN * 100:g} point below the baseline's"),
    Criterion("e2", "E >= 2", "the headline variant's efficiency score E = (quality / baseline quality) "
              "x (baseline energy / energy) is at least 2"),
    Criterion("e5", "E >= 5", "the headline variant's efficiency score E is at least 5"),
    Criterion("measured", "energy measured", "every result's energy was measured by hardware counters "
              "(energy_mode = measured), not estimated"),
    Criterion("reproducible", "reproducible", f"the baseline's quality varies by at most "
              f"{REPRODUCIBLE_STD * 100:g} point (std) over at least 2 seeds, and every result records "
              "its seed and library versions"),
)


def _pts(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:+.{digits}f}"


def _produced(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    c = a.run_counts
    return c["succeeded"] > 0, f"{c['succeeded']} of {c['total']} runs succeeded with a result"


def _executed(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    c = a.run_counts
    skipped = f", {c['skipped']} skipped with a reason" if c["skipped"] else ""
    failed = f", {c['failed']} failed, timed out or were cancelled" if c["failed"] else ""
    return c["total"] > 0 and c["failed"] == 0, f"{c['succeeded']} of {c['total']} runs succeeded{skipped}{failed}"


def _deliverables(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    applicable = [d for d in deliverables if d.get("ok") is not None]
    failed = [d for d in applicable if not d["ok"]]
    if not applicable:
        return False, "no applicable deliverable to check"
    if failed:
        return False, f"{len(failed)} of {len(applicable)} failed: " + "; ".join(
            f"{d['kind']}: {d['detail']}" for d in failed[:3])
    return True, f"{len(applicable)} of {len(applicable)} deliverables met"


def _seeds(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    ns = {name: v["n"] for name, v in a.variants.items() if v["n"] > 0}
    if not ns:
        return False, "no variant has results"
    low = min(ns.values())
    few = [f"{n} ({k})" for n, k in ns.items() if k < MIN_SEEDS]
    if few:
        return False, f"{low} seed(s) for {', '.join(few[:4])}; {MIN_SEEDS} are needed for CIs"
    return True, f"at least {low} seeds for each of {len(ns)} variant(s), 95 % CIs over seeds"


def _headline(a: Analysis) -> tuple[str | None, dict[str, Any]]:
    if a.headline is None:
        return None, {}
    name = a.headline["variant"]
    return name, a.variants[name]


NO_HEADLINE = "no variant to compare with the baseline"


def _significant(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    name, v = _headline(a)
    if name is None:
        return False, NO_HEADLINE
    ref_name = v.get("reference") or a.info.baseline
    ref = a.variants.get(ref_name) or {}
    for role, p_key in (("energy", "energy_p_value"), ("time", "time_p_value")):
        mean, base = (v[role] or {}).get("mean"), (ref.get(role) or {}).get("mean")
        p = v.get(p_key)
        if mean is None or base is None:
            continue
        key = a.info.keys[role]
        if p is None:
            return False, f"{name}: {key} cannot be tested ({v['n']} and {ref.get('n', 0)} seeds)"
        lower = mean < base
        ok = lower and p < ALPHA
        direction = "lower" if lower else "not lower"
        return ok, (f"{name}: {key} {direction} than {ref_name} ({mean:.4g} vs {base:.4g}), "
                    f"Welch p = {p:.3g}")
    return False, f"{name}: neither {a.info.keys['energy']} nor {a.info.keys['time']} was measured"


def _quality_kept(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    name, v = _headline(a)
    if name is None:
        return False, NO_HEADLINE
    delta = v.get("quality_delta") or {}
    if delta.get("mean") is None:
        return False, f"{name}: no {a.info.keys['quality']} to compare"
    ci = delta.get("ci95")
    ci_text = f" (95 % CI {_pts(ci[0])}..{_pts(ci[1])})" if ci else ""
    ok = delta["mean"] >= -QUALITY_MARGIN
    return ok, f"{name} changes {a.info.keys['quality']} by {_pts(delta['mean'])} points{ci_text}"


def _e_at_least(threshold: float) -> Callable[[Analysis, list[dict[str, Any]]], tuple[bool, str]]:
    def check(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
        name, v = _headline(a)
        if name is None:
            return False, NO_HEADLINE
        e = v.get("efficiency_score")
        if e is None:
            return False, f"{name}: E cannot be computed (no {a.info.keys['energy']} or quality)"
        return e >= threshold, f"{name}: E = {e:.2f} ({a.info.keys['energy']}, {a.info.gain_phase} phase)"
    return check


def _measured(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    flags = [v["energy_estimated"] for v in a.variants.values() if v["energy_estimated"] is not None]
    if not flags:
        return False, "no energy recorded"
    estimated = sum(1 for f in flags if f)
    if estimated:
        return False, f"energy estimated (not measured) for {estimated} of {len(flags)} variant(s)"
    return True, f"energy measured by hardware counters for all {len(flags)} variant(s)"


def _reproducible(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    base = a.baseline
    if base is None or base["n"] < 2:
        return False, f"the baseline {a.info.baseline} has {0 if base is None else base['n']} seed(s); 2 are needed"
    std = base["quality"]["std"]
    if std is None:
        return False, f"the baseline {a.info.baseline} has no {a.info.keys['quality']}"
    with_provenance, results = a.provenance
    recorded = with_provenance == results
    note = "" if recorded else f"; {results - with_provenance} of {results} results lack their seed or versions"
    ok = std <= REPRODUCIBLE_STD and recorded
    return ok, (f"{a.info.baseline} {a.info.keys['quality']} std {std * 100:.2f} points over {base['n']} seeds"
                f"{note}")


CHECKS: dict[str, Callable[[Analysis, list[dict[str, Any]]], tuple[bool, str]]] = {
    "produced": _produced, "executed": _executed, "deliverables": _deliverables, "seeds": _seeds,
    "significant": _significant, "quality_kept": _quality_kept, "e2": _e_at_least(2.0),
    "e5": _e_at_least(5.0), "measured": _measured, "reproducible": _reproducible,
}


def rate(analysis: Analysis, deliverables: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """The rating 1-10 and its criteria, each with the evidence that earned (or missed) its point."""
    criteria = []
    for c in RUBRIC:
        ok, evidence = CHECKS[c.id](analysis, deliverables)
        criteria.append({"id": c.id, "label": c.label, "points": int(ok), "max": 1, "evidence": evidence})
    return max(1, sum(c["points"] for c in criteria)), criteria
