"""The results of an experiment in the published pipeline format (README "Job files"): written
into its record folder as `results_payload.json` when it is recorded, and printed by
`lab show <id> --results-json`.

`status` is `completed` (the experiment is done, every run succeeded and every deliverable
passed), `partial_success` (done, but a run failed, a deliverable failed or could not be
checked, or it was not rated), or `failed` (it failed, was cancelled or rejected, or no run
succeeded); while it has not finished, `pending` or `running`. `deliverables_status` is the
validator's check of each deliverable (`passed`, `failed`, `not_applicable`, `not_checked`);
`summary_metrics` are the validator's numbers (every key carries its unit, energy says whether
it was estimated); `analysis` answers the job's `analysis_pipeline` steps from the same numbers
(every step for a job in the lab's own format). Nothing here computes a statistic: the numbers
come from the rating breakdown, so the engine can write the payload without scipy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agents import deliverables as dl
from agents.jobs import ANALYSES, external_id

FORMAT_VERSION = 1
FINISHED_BAD = ("failed", "cancelled", "rejected")
WAITING = ("proposed", "awaiting_approval")


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _run_counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"total": len(runs), "succeeded": 0, "failed": 0, "skipped": 0, "other": 0}
    for r in runs:
        status = r["status"]
        if status == "succeeded":
            counts["succeeded"] += 1
        elif status == "skipped":
            counts["skipped"] += 1
        elif status in ("failed", "timed_out", "cancelled", "interrupted"):
            counts["failed"] += 1
        else:
            counts["other"] += 1
    return counts


def _deliverable_status(d: dict[str, Any]) -> dict[str, Any]:
    ok = d.get("ok")
    status = d.get("status")  # set by deliverables.check_all; older ratings have only `ok`
    if status not in ("passed", "failed", "not_applicable", "not_checked"):
        status = {True: "passed", False: "failed"}.get(ok) if isinstance(ok, bool) else \
            "not_checked" if "not checked" in str(d.get("detail", "")) else "not_applicable"
    out = {"name": d.get("name") or d.get("type") or d.get("kind"), "type": d.get("type"),
           "validation": d.get("kind"), "status": status, "detail": d.get("detail")}
    for key in ("variant", "path", "artifact_kind", "target", "key", "keys", "sections"):
        if key in d:
            out[key] = d[key]
    return out


def deliverables_status(exp: dict[str, Any], report: Path | None = None) -> list[dict[str, Any]]:
    """Each deliverable as the validator checked it; one about the lab's report is checked now
    against `report` (it is written after the rating)."""
    breakdown = exp.get("rating_breakdown") or {}
    checked = breakdown.get("deliverables") if isinstance(breakdown.get("deliverables"), list) else None
    if checked is None:
        return [_deliverable_status({**d, "ok": None, "status": "not_checked",
                                     "detail": "not checked: the experiment was not rated"})
                for d in exp.get("deliverables") or [] if isinstance(d, dict)]
    out = []
    for d in checked:
        if d.get("kind") == "contains_sections" and d.get("target") == dl.REPORT_TARGET and report is not None:
            ctx = dl.Context([], "", {}, report=report)
            ok, detail = dl.CHECKS["contains_sections"](d, ctx, None)
            d = {**d, "ok": ok, "status": "passed" if ok else "failed", "detail": detail}
        out.append(_deliverable_status(d))
    return out


def _summary(v: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": v.get("n"), "energy_estimated": v.get("energy_estimated")}
    for role in ("quality", "energy", "time", "size"):
        s = v.get(role) or {}
        out[keys.get(role, role)] = {k: s.get(k) for k in ("mean", "std", "ci95") if k in s}
    return out


def _comparison(v: dict[str, Any]) -> dict[str, Any]:
    return {"reference": v.get("reference"), "quality_delta": v.get("quality_delta"),
            "quality_p_value": v.get("p_value"), "effect_size_hedges_g": v.get("effect_size"),
            "energy_p_value": v.get("energy_p_value"), "time_p_value": v.get("time_p_value"),
            "efficiency_score": v.get("efficiency_score"), "speedup": v.get("speedup"),
            "compression": v.get("compression"), "quality_kept": v.get("quality_kept")}


def analyses(exp: dict[str, Any], steps: list[str]) -> dict[str, Any]:
    """The validator's analysis, arranged as the steps of an analysis pipeline."""
    b = exp.get("rating_breakdown") or {}
    variants: dict[str, dict[str, Any]] = b.get("variants") or {}
    keys: dict[str, str] = b.get("keys") or {}
    if not variants:
        return {step: {"available": False, "why": "the experiment was not rated"} for step in steps}
    compared = {n: v for n, v in variants.items() if v.get("reference")}
    out: dict[str, Any] = {}
    for step in steps:
        if step == "performance_analysis":
            out[step] = {"variants": {n: _summary(v, keys) for n, v in variants.items()}}
        elif step == "baseline_comparison":
            out[step] = {"baseline": b.get("baseline"), "headline": b.get("headline"),
                         "variants": {n: _comparison(v) for n, v in compared.items()}}
        elif step == "ablation_study":
            rows = {}
            for name, v in compared.items():
                ref = variants.get(v["reference"], {})
                mine, theirs = v.get("params") or {}, ref.get("params") or {}
                changed = {k: {"from": theirs.get(k), "to": mine.get(k)} for k in sorted(set(mine) | set(theirs))
                           if mine.get(k) != theirs.get(k)}
                rows[name] = {"reference": v["reference"], "changed": changed,
                              "quality_delta": v.get("quality_delta"), "quality_p_value": v.get("p_value"),
                              "energy_ratio_reference_over_variant": _ratio((ref.get("energy") or {}).get("mean"),
                                                                            (v.get("energy") or {}).get("mean")),
                              "energy_p_value": v.get("energy_p_value")}
            out[step] = {"variants": rows}
        out[step]["method"] = ANALYSES[step]
    return out


def _ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return round(float(a) / float(b), 6)
    return None


def status_of(exp: dict[str, Any], runs: list[dict[str, Any]], delivered: list[dict[str, Any]]) -> str:
    state = exp["status"]
    if state in FINISHED_BAD:
        return "failed"
    if state in WAITING:
        return "pending"
    if state != "done":
        return "running"
    counts = _run_counts(runs)
    if counts["succeeded"] == 0:
        return "failed"
    if counts["failed"] or exp.get("rating") is None or any(d["status"] in ("failed", "not_checked") for d in delivered):
        return "partial_success"
    return "completed"


def payload(exp: dict[str, Any], runs: list[dict[str, Any]], report: Path | None = None) -> dict[str, Any]:
    """The results of one experiment in the published format."""
    job = (exp.get("metadata") or {}).get("job")
    job = job if isinstance(job, dict) else {}
    steps = [s["step"] for s in job.get("analysis_pipeline", []) if isinstance(s, dict) and s.get("step") in ANALYSES] \
        if job.get("format") == "published" else list(ANALYSES)
    delivered = deliverables_status(exp, report)
    b = exp.get("rating_breakdown") or {}
    energy = [r["energy_kwh"] for r in runs if isinstance(r.get("energy_kwh"), (int, float))]
    modes = {r.get("energy_mode") for r in runs if isinstance(r.get("energy_kwh"), (int, float))}
    summary: dict[str, Any] = {
        "rating": exp.get("rating"), "rating_max": 10, "rubric_version": b.get("rubric_version"),
        "baseline": b.get("baseline"), "keys": b.get("keys"), "seeds": exp.get("seeds"),
        "headline": b.get("headline"), "runs": _run_counts(runs),
        "energy_kwh_total": round(sum(energy), 9) if energy else None,
        "energy_estimated": None if not energy else modes != {"measured"},
    }
    if isinstance(b.get("variants"), dict):
        summary["variants"] = {n: _summary(v, b.get("keys") or {}) for n, v in b["variants"].items()}
    return {
        "format_version": FORMAT_VERSION,
        "experiment_id": external_id(exp),
        "lab_experiment_id": exp["id"],
        "name": exp.get("name"),
        "description": job.get("description", ""),
        "status": status_of(exp, runs, delivered),
        "lab_status": exp["status"],
        "error": exp.get("error"),
        "config": {"experiment": exp.get("catalog"), **(exp.get("params") or {})},
        "deliverables_status": delivered,
        "summary_metrics": summary,
        "analysis": analyses(exp, steps),
        "findings": list(b.get("findings") or []),
        "created_at": _iso(exp.get("created_at")),
        "started_at": _iso(exp.get("started_at")),
        "finished_at": _iso(exp.get("finished_at")),
        "git_sha": exp.get("git_sha"),
    }
