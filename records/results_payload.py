"""The results of an experiment in the published pipeline document's shape (section 2, "Results
Payload Structure"): written into its record folder as `results_payload.json` when it is
recorded, and printed by `lab show <id> --results-json`.

- `status`: `completed` (done, every run succeeded, every deliverable met), `partial_success`
  (done, but a run failed, a deliverable was unmet or could not be checked, or it was not rated),
  `failed` (failed, cancelled or rejected, or no run succeeded); `pending` / `running` before.
- `completed_at`, `duration_seconds` (from its first run's start to its end).
- `deliverables_status`: keyed by the deliverable's `type` (its name, else its kind; a second of
  the same type gets `#2`), each with `status` (`delivered`, `unmet`, `not_applicable`,
  `not_checked`), `validated`, `validation_method`, the `detail` the check gave, and its `path` /
  `project` / `run_id` (the W&B run ids the runs made).
- `summary_metrics`: `final_train_loss`, `final_eval_loss` (means over the seeds of the focus
  variant: the headline, e.g. the fine-tuned model), `best_accuracy` (the best of its runs),
  `total_training_time` (every run's training, "2h05m") beside the lab's own summary.
- `validation_results`: `all_deliverables_met`, `performance_targets_met` (the threshold and
  statistical-test deliverables; null when none was declared), `data_integrity_checks_passed`
  (science/job_integrity.py), with the lines that explain them.
- `artifacts`: the files the runs wrote that the deliverables name, by their path in the lab.
- `analysis_reports`: the analysis pipeline's reports in the record folder (records/analysis_reports.py).

Nothing here computes a statistic: the numbers come from the runs and the rating breakdown, so
the engine can write the payload without scipy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import units
from contract.rating_record import Breakdown, VariantResult
from db import Experiment, Run
from records import analysis_reports
from science import deliverables as dl
from science import job_integrity
from science.jobs import ANALYSES, external_id

FORMAT_VERSION = 2
FINISHED_BAD = ("failed", "cancelled", "rejected")
WAITING = ("proposed", "awaiting_approval")
STATUS = {"passed": "delivered", "failed": "unmet", "not_applicable": "not_applicable", "not_checked": "not_checked"}
TARGET_KINDS = ("threshold", "statistical_test")
SHOWN_FIELDS = ("path", "project", "entity", "variant", "artifact_kind", "target", "key", "keys", "sections", "value",
                "op")


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class DeliverableStatus:
    """One deliverable as the validator checked it."""
    type: str
    status: str
    validated: bool
    validation_method: str
    detail: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "validated": self.validated,
                "validation_method": self.validation_method, "detail": self.detail, **self.fields}


@dataclass(frozen=True)
class SummaryMetrics:
    final_train_loss: float | None
    final_eval_loss: float | None
    best_accuracy: float | None
    total_training_time: str
    total_training_time_s: float
    focus_variant: str | None
    lab: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"final_train_loss": self.final_train_loss, "final_eval_loss": self.final_eval_loss,
                "best_accuracy": self.best_accuracy, "total_training_time": self.total_training_time,
                "total_training_time_s": self.total_training_time_s, "focus_variant": self.focus_variant, **self.lab}


@dataclass(frozen=True)
class ValidationResults:
    all_deliverables_met: bool
    performance_targets_met: bool | None
    data_integrity_checks_passed: bool
    checks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"all_deliverables_met": self.all_deliverables_met,
                "performance_targets_met": self.performance_targets_met,
                "data_integrity_checks_passed": self.data_integrity_checks_passed, "checks": list(self.checks)}


def _run_counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"total": len(runs), "succeeded": 0, "failed": 0, "skipped": 0, "other": 0}
    for r in runs:
        status = r["status"]
        key = "succeeded" if status == "succeeded" else "skipped" if status == "skipped" else \
            "failed" if status in ("failed", "timed_out", "cancelled", "interrupted") else "other"
        counts[key] += 1
    return counts


def _checked(exp: dict[str, Any], folder: Path | None) -> list[dict[str, Any]]:
    """Each deliverable with the validator's verdict; one about the lab's report is checked now
    against the report in `folder` (it is written after the rating)."""
    stored = exp.get("rating_breakdown")
    rated = isinstance(stored, dict) and isinstance(stored.get("deliverables"), list)
    checked = list(Breakdown.read(stored).deliverables) if rated else None
    if checked is None:
        return [{**d, "ok": None, "status": "not_checked", "detail": "not checked: the experiment was not rated"}
                for d in exp.get("deliverables") or [] if isinstance(d, dict)]
    out = []
    for d in checked:
        if d.get("kind") == "contains_sections" and d.get("target") == dl.REPORT_TARGET and folder is not None:
            report = dl.Context([], "", {}, report=folder / "report.md")
            ok, detail = dl.CHECKS["contains_sections"](dl.Deliverable.of(d), report, None)
            d = {**d, "ok": ok, "status": "passed" if ok else "failed", "detail": detail}
        out.append(d)
    return out


def _wandb_ids(runs: list[dict[str, Any]], variant: str | None) -> str | list[str] | None:
    ids = [r["result"]["wandb_run_id"] for r in runs if isinstance(r.get("result"), dict)
           and isinstance(r["result"].get("wandb_run_id"), str) and (variant is None or r["variant"] == variant)]
    return ids[0] if len(ids) == 1 else (ids or None)


def deliverables_status(checked: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, DeliverableStatus]:
    out: dict[str, DeliverableStatus] = {}
    for d in checked:
        raw, ok = d.get("status"), d.get("ok")
        status = STATUS.get(raw, "not_checked") if isinstance(raw, str) else \
            "delivered" if ok is True else "unmet" if ok is False else "not_applicable"
        what = str(d.get("type") or d.get("name") or d.get("kind"))
        key, n = what, 1
        while key in out:
            n += 1
            key = f"{what}#{n}"
        fields = {k: d[k] for k in SHOWN_FIELDS if k in d}
        if d.get("kind") == "synced_and_downloadable":
            fields["run_id"] = _wandb_ids(runs, d.get("variant")) or d.get("run_id")
        if d.get("name"):
            fields["name"] = d["name"]
        out[key] = DeliverableStatus(what, status, status == "delivered", str(d.get("kind")),
                                     str(d.get("detail") or ""), fields)
    return out


def status_of(exp: dict[str, Any], runs: list[dict[str, Any]], delivered: Mapping[str, DeliverableStatus]) -> str:
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
    if counts["failed"] or exp.get("rating") is None or \
            any(d.status in ("unmet", "not_checked") for d in delivered.values()):
        return "partial_success"
    return "completed"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def focus_variant(exp: dict[str, Any]) -> str | None:
    """The variant the summary is about: the rating's headline, else the entry's declared one."""
    headline = Breakdown.read(exp.get("rating_breakdown")).headline
    if headline is not None and headline.variant:
        return headline.variant
    scoped = {d.get("variant") for d in exp.get("deliverables") or [] if isinstance(d, dict) and d.get("variant")}
    return scoped.pop() if len(scoped) == 1 else None


def _numbers(runs: list[dict[str, Any]], *keys: str) -> list[float]:
    out = []
    for r in runs:
        res: dict[str, Any] = r["result"] if isinstance(r.get("result"), dict) else {}
        value = next((res[k] for k in keys if units.is_number(res.get(k))), None)
        if value is not None:
            out.append(float(value))
    return out


def summary(exp: dict[str, Any], runs: list[dict[str, Any]]) -> SummaryMetrics:
    stored = exp.get("rating_breakdown")
    b = Breakdown.read(stored)
    focus = focus_variant(exp)
    done = [r for r in runs if r["status"] == "succeeded" and (focus is None or r["variant"] == focus)]
    quality = str(b.keys.get("quality") or "")
    accuracy_keys = ("final_accuracy",) + ((quality,) if "accuracy" in quality else ()) + ("test_accuracy",)
    accuracy = _numbers(done, *accuracy_keys)
    trained = sum(_numbers(runs, "train_time_s"))
    energy = _numbers(runs, "energy_kwh")
    modes = {r["result"].get("energy_mode") for r in runs if isinstance(r.get("result"), dict)
             and units.is_number(r["result"].get("energy_kwh"))}
    lab: dict[str, Any] = {
        "rating": exp.get("rating"), "rating_max": 10, "rubric_version": b.rubric_version,
        "baseline": b.baseline, "keys": b.keys if isinstance(stored, dict) and "keys" in stored else None,
        "seeds": exp.get("seeds"), "headline": None if b.headline is None else b.headline.to_json(),
        "runs": _run_counts(runs),
        "energy_kwh_total": round(sum(energy), 9) if energy else None,
        "energy_estimated": None if not energy else modes != {"measured"},
        "best_accuracy_of": f"the best of {len(accuracy)} run(s) of {focus or 'every variant'} "
                            f"(mean {_mean(accuracy)})" if accuracy else None,
    }
    if isinstance(stored, dict) and isinstance(stored.get("variants"), dict):
        lab["variants"] = {n: _variant(v, b.keys) for n, v in b.variants.items()}
    return SummaryMetrics(_mean(_numbers(done, "train_loss")), _mean(_numbers(done, "eval_loss", "val_loss", "test_loss")),
                          round(max(accuracy), 6) if accuracy else None, units.duration(trained, "0 s"),
                          round(trained, 3), focus, lab)


def _variant(v: VariantResult, keys: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": v.n, "energy_estimated": v.energy_estimated}
    for role in ("quality", "energy", "time", "size"):
        out[keys.get(role, role)] = v.summaries[role].to_json() if role in v.summaries else {}
    return out


def validation(checked: list[dict[str, Any]], delivered: Mapping[str, DeliverableStatus],
               runs: list[dict[str, Any]]) -> ValidationResults:
    applicable = [d for d in delivered.values() if d.status != "not_applicable"]
    targets = [d for d in applicable if d.validation_method in TARGET_KINDS]
    integrity = job_integrity.check(Run.many(runs))
    lines = [f"{len([d for d in applicable if d.validated])} of {len(applicable)} deliverable(s) met"]
    lines.append(f"{len([d for d in targets if d.validated])} of {len(targets)} performance target(s) met"
                 if targets else "no performance target declared (threshold or statistical_test deliverable)")
    return ValidationResults(bool(applicable) and all(d.validated for d in applicable),
                             all(d.validated for d in targets) if targets else None,
                             integrity.passed, tuple(lines) + integrity.lines)


def artifacts(checked: list[dict[str, Any]], runs: list[dict[str, Any]], lab_root: Path | None) -> list[str]:
    """Each file a deliverable names, in each succeeded run, as a path in the lab (folders end with /)."""
    out: list[str] = []
    ctx = dl.Context(Run.many(runs), "", {})
    for d in checked:
        if not (isinstance(d.get("path"), str) or isinstance(d.get("artifact_kind"), str)):
            continue
        for run in ctx.succeeded(d.get("variant") if isinstance(d.get("variant"), str) else None):
            for path in ctx.files(dl.Deliverable.of(d), run)[0]:
                shown = str(path.relative_to(lab_root)) if lab_root and path.is_relative_to(lab_root) else str(path)
                out.append(shown + ("/" if path.is_dir() else ""))
    return list(dict.fromkeys(out))


def steps_of(exp: dict[str, Any]) -> list[str]:
    job = (exp.get("metadata") or {}).get("job")
    job = job if isinstance(job, dict) else {}
    if job.get("format") != "published":
        return list(ANALYSES)
    return [s["step"] for s in job.get("analysis_pipeline", []) if isinstance(s, dict) and s.get("step") in ANALYSES]


@dataclass(frozen=True)
class ResultsPayload:
    """The document's payload: its keys first, then the lab's own."""
    experiment_id: str | None
    status: str
    completed_at: str | None
    duration_seconds: int | None
    deliverables_status: Mapping[str, DeliverableStatus]
    summary_metrics: SummaryMetrics
    validation_results: ValidationResults
    artifacts: tuple[str, ...]
    analysis_reports: tuple[str, ...]
    lab: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "status": self.status, "completed_at": self.completed_at,
                "duration_seconds": self.duration_seconds,
                "deliverables_status": {k: d.to_json() for k, d in self.deliverables_status.items()},
                "summary_metrics": self.summary_metrics.to_json(),
                "validation_results": self.validation_results.to_json(),
                "artifacts": list(self.artifacts), "analysis_reports": list(self.analysis_reports),
                "format_version": FORMAT_VERSION, **self.lab}


def results(exp: dict[str, Any], runs: list[dict[str, Any]], folder: Path | None = None,
            lab_root: Path | None = None) -> ResultsPayload:
    """The results of one experiment in the published format; `folder`: its record folder."""
    job = (exp.get("metadata") or {}).get("job")
    job = job if isinstance(job, dict) else {}
    checked = _checked(exp, folder)
    delivered = deliverables_status(checked, runs)
    started, finished = exp.get("started_at"), exp.get("finished_at")
    reports = tuple(f"reports/{name}" for name in analysis_reports.NAMES.values()
                    if folder is not None and (folder / "reports" / name).is_file())
    lab = {"lab_experiment_id": exp["id"], "name": exp.get("name"), "description": job.get("description", ""),
           "lab_status": exp["status"], "error": exp.get("error"),
           "config": {"experiment": exp.get("catalog"), **(exp.get("params") or {})},
           "analysis": analysis_reports.analyses(exp, steps_of(exp)),
           "findings": list(Breakdown.read(exp.get("rating_breakdown")).findings),
           "created_at": _iso(exp.get("created_at")), "started_at": _iso(started), "finished_at": _iso(finished),
           "git_sha": exp.get("git_sha")}
    return ResultsPayload(
        external_id(Experiment.of(exp)), status_of(exp, runs, delivered), _iso(finished) if exp["status"] == "done" else None,
        round(finished - started) if finished and started else None, delivered, summary(exp, runs),
        validation(checked, delivered, runs), tuple(artifacts(checked, runs, lab_root)), reports, lab)


def payload(exp: dict[str, Any], runs: list[dict[str, Any]], folder: Path | None = None,
            lab_root: Path | None = None) -> dict[str, Any]:
    """`results` as JSON (the file committed with the record, `lab show --results-json`)."""
    return results(exp, runs, folder, lab_root).to_json()
