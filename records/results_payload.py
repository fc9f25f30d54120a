"""The results of an experiment in the published pipeline document's shape (section 2, "Results Payload
Structure"): written into its record folder as `results_payload.json` when recorded; `lab show <id> --results-json`.

- `status`: `completed` (done, every run succeeded, every deliverable met), `partial_success` (done, but a run
  failed, a deliverable was unmet or could not be checked, or it was not rated), `failed` (failed, cancelled or
  rejected, or no run succeeded); `pending` / `running` before.
- `completed_at`, `duration_seconds` (from its first run's start to its end).
- `deliverables_status`: keyed by the deliverable's `type` (its name, else its kind; a second of the same type
  gets `#2`), each with `status` (`Delivery`), `validated`, `validation_method`, the `detail` the check gave,
  and its `path` / `project` / `run_id` (the W&B run ids the runs made).
- `summary_metrics`: `final_train_loss`, `final_eval_loss` (means over the seeds of the focus variant: the
  headline, e.g. the fine-tuned model), `best_accuracy` (the best of its runs), `total_training_time` (every
  run's training, "2h05m") beside the lab's own summary.
- `validation_results`: `all_deliverables_met`, `performance_targets_met` (the threshold and
  statistical-test deliverables; null when none was declared), `data_integrity_checks_passed`
  (science/job_integrity.py), with the lines that explain them.
- `artifacts`: the files the runs wrote that the deliverables name, by their path in the lab.
- `analysis_reports`: the analysis pipeline's reports in the record folder (records/analysis_reports.py).

Nothing here computes a statistic: the numbers come from the runs and the rating breakdown, so the engine can
write the payload without scipy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from contract import units
from contract.comparison import Spread
from contract.deliverable import CheckedDeliverable
from contract.jsonvalue import JsonObject, JsonValue, number_at
from contract.rating_record import Headline, VariantResult
from contract.record_json import OPT, JsonRecord
from db import Experiment, ExperimentState, Run, RunState
from records import analysis_reports
from science import deliverables as dl
from science import job_integrity
from science.deliverable_spec import DeliverableKind
from science.jobs import ANALYSES, external_id

FORMAT_VERSION = 2
FINISHED_BAD = (ExperimentState.FAILED, ExperimentState.CANCELLED, ExperimentState.REJECTED)
WAITING = (ExperimentState.PROPOSED, ExperimentState.AWAITING_APPROVAL)
RUN_FAILED = (RunState.FAILED, RunState.TIMED_OUT, RunState.CANCELLED, RunState.INTERRUPTED)


class Delivery(StrEnum):  # a deliverable's `status` in the payload
    DELIVERED = "delivered"
    UNMET = "unmet"
    NOT_APPLICABLE = "not_applicable"
    NOT_CHECKED = "not_checked"


D = Delivery
#: the payload's status for the check's own status word (science/deliverables.py)
STATUS = {"passed": D.DELIVERED, "failed": D.UNMET, "not_applicable": D.NOT_APPLICABLE, "not_checked": D.NOT_CHECKED}
TARGET_KINDS = ("threshold", "statistical_test")
SHOWN_FIELDS = ("path", "project", "entity", "variant", "artifact_kind", "target", "key", "keys", "sections", "value",
                "op")


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class DeliverableStatus(JsonRecord):
    """One deliverable as the validator checked it, with the fields it was declared with that say
    what it is about (`SHOWN_FIELDS`, its `run_id` and `name`: as declared)."""

    type: str
    status: Delivery
    validated: bool
    validation_method: str
    detail: str
    shown: JsonObject

    def to_json(self) -> JsonObject:
        return {"type": self.type, "status": self.status, "validated": self.validated,
                "validation_method": self.validation_method, "detail": self.detail, **self.shown}


@dataclass(frozen=True)
class VariantSummary(JsonRecord):
    """A variant's runs and its summary per metric role, written under the metric's name (`{}`
    where it has none)."""

    n: int
    energy_estimated: bool | None
    by_metric: dict[str, Spread | None]

    def to_json(self) -> JsonObject:
        return {"n": self.n, "energy_estimated": self.energy_estimated,
                **{k: {} if s is None else s.to_json() for k, s in self.by_metric.items()}}


@dataclass(frozen=True)
class LabSummary(JsonRecord):
    """The lab's own summary beside the document's metrics: the rating, its keys and headline,
    how the runs ended, the energy, and each variant's summaries once rated."""

    rating: float | None
    rating_max: int
    rubric_version: int | None
    baseline: str | None
    keys: dict[str, str] | None
    seeds: int
    headline: Headline | None
    runs: dict[str, int]
    energy_kwh_total: float | None
    energy_estimated: bool | None
    best_accuracy_of: str | None
    variants: dict[str, VariantSummary] | None = field(default=None, metadata=OPT)


@dataclass(frozen=True)
class SummaryMetrics(JsonRecord):
    final_train_loss: float | None
    final_eval_loss: float | None
    best_accuracy: float | None
    total_training_time: str
    total_training_time_s: float
    focus_variant: str | None
    lab: LabSummary

    def to_json(self) -> JsonObject:
        out = super().to_json()
        del out["lab"]
        return {**out, **self.lab.to_json()}


@dataclass(frozen=True)
class ValidationResults(JsonRecord):
    all_deliverables_met: bool
    performance_targets_met: bool | None
    data_integrity_checks_passed: bool
    checks: tuple[str, ...] = ()


def _run_counts(runs: Sequence[Run]) -> dict[str, int]:
    counts = {"total": len(runs), "succeeded": 0, "failed": 0, "skipped": 0, "other": 0}
    for r in runs:
        key = "succeeded" if r.status == RunState.SUCCEEDED else "skipped" if r.status == RunState.SKIPPED else \
            "failed" if r.status in RUN_FAILED else "other"
        counts[key] += 1
    return counts


def _checked(exp: Experiment, folder: Path | None) -> list[CheckedDeliverable]:
    """Each deliverable with the validator's verdict; one about the lab's report is checked now
    against the report in `folder` (it is written after the rating)."""
    if exp.rating_breakdown is None:
        return [CheckedDeliverable(d, None, "not_checked", "not checked: the experiment was not rated") for d in exp.deliverables]
    out = []
    for c in exp.rating_breakdown.deliverables:
        d = c.deliverable
        if d.kind == DeliverableKind.CONTAINS_SECTIONS and d.target == dl.REPORT_TARGET and folder is not None:
            report = dl.Context([], "", {}, report=folder / "report.md")
            ok, detail = dl.CHECKS[DeliverableKind.CONTAINS_SECTIONS](d, report, None)
            c = CheckedDeliverable(d, ok, "passed" if ok else "failed", detail)
        out.append(c)
    return out


def _wandb_ids(runs: Sequence[Run], variant: JsonValue) -> str | list[str] | None:
    ids = [run_id for r in runs if r.result is not None
           and isinstance(run_id := r.result.get("wandb_run_id"), str) and (variant is None or r.variant == variant)]
    return ids[0] if len(ids) == 1 else (ids or None)


def _shown(c: CheckedDeliverable, runs: Sequence[Run]) -> JsonObject:
    """The fields a deliverable was declared with that say what it is about."""
    declared = c.deliverable.given
    shown = {k: declared[k] for k in SHOWN_FIELDS if k in declared}
    if declared.get("kind") == DeliverableKind.SYNCED_AND_DOWNLOADABLE:
        shown["run_id"] = _wandb_ids(runs, declared.get("variant")) or declared.get("run_id")
    if declared.get("name"):
        shown["name"] = declared["name"]
    return shown


def deliverables_status(checked: list[CheckedDeliverable], runs: Sequence[Run]) -> dict[str, DeliverableStatus]:
    out: dict[str, DeliverableStatus] = {}
    for c in checked:
        status = STATUS.get(c.status, D.NOT_CHECKED) if c.status is not None else \
            D.DELIVERED if c.ok is True else D.UNMET if c.ok is False else D.NOT_APPLICABLE
        declared = c.deliverable.given
        what = str(declared.get("type") or declared.get("name") or declared.get("kind"))
        key, n = what, 1
        while key in out:
            n += 1
            key = f"{what}#{n}"
        out[key] = DeliverableStatus(what, status, status == D.DELIVERED, str(declared.get("kind")), c.detail,
                                     _shown(c, runs))
    return out


def status_of(exp: Experiment, runs: Sequence[Run], delivered: Mapping[str, DeliverableStatus]) -> str:
    if exp.status in FINISHED_BAD:
        return "failed"
    if exp.status in WAITING:
        return "pending"
    if exp.status != ExperimentState.DONE:
        return "running"
    counts = _run_counts(runs)
    if counts["succeeded"] == 0:
        return "failed"
    if counts["failed"] or exp.rating is None or \
            any(d.status in (D.UNMET, D.NOT_CHECKED) for d in delivered.values()):
        return "partial_success"
    return "completed"


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def focus_variant(exp: Experiment) -> str | None:
    """The variant the summary is about: the rating's headline, else the entry's declared one."""
    headline = exp.breakdown.headline
    if headline is not None and headline.variant:
        return headline.variant
    scoped = {d.variant for d in exp.deliverables if d.variant}
    return scoped.pop() if len(scoped) == 1 else None


def _numbers(runs: Sequence[Run], *keys: str) -> list[float]:
    out = []
    for r in runs:
        res = r.result or {}
        value = next((x for k in keys if units.is_number(res.get(k)) and (x := number_at(res, k)) is not None), None)
        if value is not None:
            out.append(float(value))
    return out


def _lab_summary(exp: Experiment, runs: Sequence[Run], focus: str | None, accuracy: list[float]) -> LabSummary:
    b = exp.breakdown
    rated = exp.rating_breakdown is not None
    energy = _numbers(runs, "energy_kwh")
    modes = {r.result.get("energy_mode") for r in runs if r.result is not None
             and units.is_number(r.result.get("energy_kwh"))}
    return LabSummary(
        exp.rating, 10, b.rubric_version, b.baseline, b.keys if rated else None, exp.seeds, b.headline,
        _run_counts(runs), round(sum(energy), 9) if energy else None, None if not energy else modes != {"measured"},
        f"the best of {len(accuracy)} run(s) of {focus or 'every variant'} (mean {_mean(accuracy)})"
        if accuracy else None,
        {n: _variant(v, b.keys) for n, v in b.variants.items()} if rated else None)


def summary(exp: Experiment, runs: Sequence[Run]) -> SummaryMetrics:
    focus = focus_variant(exp)
    done = [r for r in runs if r.status == RunState.SUCCEEDED and (focus is None or r.variant == focus)]
    quality = str(exp.breakdown.keys.get("quality") or "")
    accuracy_keys = ("final_accuracy",) + ((quality,) if "accuracy" in quality else ()) + ("test_accuracy",)
    accuracy = _numbers(done, *accuracy_keys)
    trained = sum(_numbers(runs, "train_time_s"))
    return SummaryMetrics(_mean(_numbers(done, "train_loss")), _mean(_numbers(done, "eval_loss", "val_loss", "test_loss")),
                          round(max(accuracy), 6) if accuracy else None, units.duration(trained, "0 s"),
                          round(trained, 3), focus, _lab_summary(exp, runs, focus, accuracy))


def _variant(v: VariantResult, keys: dict[str, str]) -> VariantSummary:
    return VariantSummary(v.n, v.energy_estimated,
                          {keys.get(role, role): v.summaries.get(role) for role in ("quality", "energy", "time", "size")})


def validation(delivered: Mapping[str, DeliverableStatus], runs: Sequence[Run]) -> ValidationResults:
    applicable = [d for d in delivered.values() if d.status != D.NOT_APPLICABLE]
    targets = [d for d in applicable if d.validation_method in TARGET_KINDS]
    integrity = job_integrity.check(runs)
    lines = [f"{len([d for d in applicable if d.validated])} of {len(applicable)} deliverable(s) met"]
    lines.append(f"{len([d for d in targets if d.validated])} of {len(targets)} performance target(s) met"
                 if targets else "no performance target declared (threshold or statistical_test deliverable)")
    return ValidationResults(bool(applicable) and all(d.validated for d in applicable),
                             all(d.validated for d in targets) if targets else None,
                             integrity.passed, tuple(lines) + integrity.lines)


def artifacts(checked: list[CheckedDeliverable], runs: Sequence[Run], lab_root: Path | None) -> list[str]:
    """Each file a deliverable names, in each succeeded run, as a path in the lab (folders end with /)."""
    out: list[str] = []
    ctx = dl.Context(runs, "", {})
    for c in checked:
        d = c.deliverable
        if d.path is None and d.artifact_kind is None:
            continue
        for run in ctx.succeeded(d.variant):
            for path in ctx.files(d, run)[0]:
                shown = str(path.relative_to(lab_root)) if lab_root and path.is_relative_to(lab_root) else str(path)
                out.append(shown + ("/" if path.is_dir() else ""))
    return list(dict.fromkeys(out))


def steps_of(exp: Experiment) -> list[str]:
    """The analyses the published job asked for (every one for an experiment that came another way)."""
    job = exp.metadata.job
    if job is None:
        return list(ANALYSES)
    return [s.step for s in job.analysis_pipeline if s.step in ANALYSES]


@dataclass(frozen=True)
class LabRecord(JsonRecord):
    """The lab's own keys of the payload: the experiment as the lab knows it, its configuration,
    the analysis pipeline's steps as data, the findings and its times."""

    lab_experiment_id: int
    name: str
    description: JsonValue
    lab_status: str
    error: str | None
    config: JsonObject
    analysis: dict[str, analysis_reports.Step]
    findings: tuple[str, ...]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    git_sha: str | None


@dataclass(frozen=True)
class ResultsPayload(JsonRecord):
    """The document's payload: its keys first, then the lab's own."""

    experiment_id: str | None
    status: str
    completed_at: str | None
    duration_seconds: int | None
    deliverables_status: dict[str, DeliverableStatus]
    summary_metrics: SummaryMetrics
    validation_results: ValidationResults
    artifacts: tuple[str, ...]
    analysis_reports: tuple[str, ...]
    lab: LabRecord

    def to_json(self) -> JsonObject:
        out = super().to_json()
        del out["lab"]
        return {**out, "format_version": FORMAT_VERSION, **self.lab.to_json()}


def _lab_record(exp: Experiment) -> LabRecord:
    return LabRecord(exp.id, exp.name, exp.metadata.job.description if exp.metadata.job else "", exp.status.value, exp.error,
                     {"experiment": exp.catalog, **exp.params}, analysis_reports.analyses(exp, steps_of(exp)),
                     exp.breakdown.findings, _iso(exp.created_at), _iso(exp.started_at), _iso(exp.finished_at),
                     exp.git_sha)


def results(exp: Experiment, runs: Sequence[Run], folder: Path | None = None,
            lab_root: Path | None = None) -> ResultsPayload:
    """The results of one experiment in the published format; `folder`: its record folder."""
    checked = _checked(exp, folder)
    delivered = deliverables_status(checked, runs)
    started, finished = exp.started_at, exp.finished_at
    reports = tuple(f"reports/{name}" for name in analysis_reports.NAMES.values()
                    if folder is not None and (folder / "reports" / name).is_file())
    return ResultsPayload(
        external_id(exp), status_of(exp, runs, delivered),
        _iso(finished) if exp.status == ExperimentState.DONE else None,
        round(finished - started) if finished and started else None, delivered, summary(exp, runs),
        validation(delivered, runs), tuple(artifacts(checked, runs, lab_root)), reports, _lab_record(exp))


def payload(exp: Experiment, runs: Sequence[Run], folder: Path | None = None,
            lab_root: Path | None = None) -> JsonObject:
    """`results` as JSON (the file committed with the record, `lab show --results-json`)."""
    return results(exp, runs, folder, lab_root).to_json()
