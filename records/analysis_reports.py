"""The analysis pipeline's three reports (the published document's section 4), written into the
record folder's `reports/` when the experiment is recorded and listed in its results payload:

- `performance_analysis.md`: each run's curves (first, best and last loss; accuracy per epoch),
  anomalies (divergence, loss spikes, a validation loss rising while the training loss falls,
  no learning), bottlenecks (where the wall time, memory and energy went) and recommendations;
- `ablation_study.md`: what each compared variant changed against its reference and what it did,
  then follow-up designs that change one variable at a time, each a genealogy file ready for
  `lab queue add`;
- `baseline_comparison.md`: each variant against its declared reference with the validator's
  statistics (quality change and its 95 % CI, p-value, E, speedup, compression, quality kept).

`analyses` gives the same steps as data for the payload. Nothing here computes a statistic: the
numbers are the runs' and the rating's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contract import units
from contract.comparison import QualityChange, Spread
from contract.jsonvalue import JsonObject, JsonValue, number_at
from contract.rating_record import Breakdown, Headline, VariantResult
from contract.record_json import JsonRecord
from db import Experiment, Run, RunState
from science.headline import headline_text, quality_change
from science.job_published import ANALYSES

NAMES = {"performance_analysis": "performance_analysis.md", "ablation_study": "ablation_study.md",
         "baseline_comparison": "baseline_comparison.md"}
TUNABLE = ("learning_rate", "lr", "epochs", "batch_size", "weight_decay", "steps", "rank")
RISE = 1.02  # a final validation loss 2 % above its best: the model started to overfit
ROLES = ("quality", "energy", "time", "size")


@dataclass(frozen=True)
class Unavailable(JsonRecord):
    """A step the experiment cannot answer (it was not rated)."""

    available: bool = False
    why: str = "the experiment was not rated"


@dataclass(frozen=True)
class RoleSpreads(JsonRecord):
    """A variant's summary per metric role (`{}` for a role it has none of)."""

    quality: Spread | None = None
    energy: Spread | None = None
    time: Spread | None = None
    size: Spread | None = None

    def to_json(self) -> JsonObject:
        return {role: {} if s is None else s.to_json() for role in ROLES for s in (getattr(self, role),)}


@dataclass(frozen=True)
class PerformanceStep(JsonRecord):
    variants: dict[str, RoleSpreads]
    method: str = ANALYSES["performance_analysis"]


@dataclass(frozen=True)
class ComparedFigures(JsonRecord):
    """A compared variant's figures as the payload gives them (the names of the rating's JSON)."""

    reference: str | None
    quality_delta: QualityChange | None
    p_value: float | None
    efficiency_score: float | None
    speedup: float | None
    compression: float | None
    quality_kept: bool | None


@dataclass(frozen=True)
class BaselineStep(JsonRecord):
    baseline: str | None
    headline: Headline | None
    variants: dict[str, ComparedFigures]
    method: str = ANALYSES["baseline_comparison"]


@dataclass(frozen=True)
class ParamChange(JsonRecord):
    """A parameter's value in the reference (`from`) and in the variant (`to`)."""

    was: JsonValue
    now: JsonValue

    def to_json(self) -> JsonObject:
        return {"from": self.was, "to": self.now}


@dataclass(frozen=True)
class AblatedVariant(JsonRecord):
    reference: str | None
    changed: dict[str, ParamChange]
    quality_delta: QualityChange | None
    quality_p_value: float | None


@dataclass(frozen=True)
class AblationStep(JsonRecord):
    variants: dict[str, AblatedVariant]
    method: str = ANALYSES["ablation_study"]


Step = Unavailable | PerformanceStep | BaselineStep | AblationStep


def _compared(exp: Experiment) -> dict[str, VariantResult]:
    return {n: v for n, v in exp.breakdown.variants.items() if v.reference}


def _changed(exp: Experiment, name: str, reference: str) -> dict[str, ParamChange]:
    variants = exp.breakdown.variants
    mine = (variants.get(name) or VariantResult()).params
    theirs = (variants.get(reference) or VariantResult()).params
    return {k: ParamChange(theirs.get(k), mine.get(k)) for k in sorted(set(mine) | set(theirs))
            if mine.get(k) != theirs.get(k)}


def _roles(v: VariantResult) -> RoleSpreads:
    return RoleSpreads(**{r: v.summaries[r] for r in ROLES if r in v.summaries})


def _compared_figures(v: VariantResult) -> ComparedFigures:
    c = v.compared
    return ComparedFigures(v.reference, c.quality_delta, c.p_value, c.efficiency_score, c.speedup, c.compression,
                           c.quality_kept)


def _step(exp: Experiment, b: Breakdown, step: str) -> Step:
    if step == "performance_analysis":
        return PerformanceStep({n: _roles(v) for n, v in b.variants.items()})
    if step == "baseline_comparison":
        return BaselineStep(b.baseline, b.headline, {n: _compared_figures(v) for n, v in _compared(exp).items()})
    return AblationStep({n: AblatedVariant(v.reference, _changed(exp, n, str(v.reference)), v.compared.quality_delta,
                                           v.compared.p_value)
                         for n, v in _compared(exp).items()})


def analyses(exp: Experiment, steps: list[str]) -> dict[str, Step]:
    """The validator's analysis arranged as the pipeline's steps (data for the payload)."""
    b = exp.breakdown
    if not b.variants:
        return {step: Unavailable() for step in steps}
    return {step: _step(exp, b, step) for step in steps}


# -- performance analysis ----------------------------------------------------------------------

def _history(run: Run) -> dict[str, list[float]]:
    h = (run.result or {}).get("loss_history")
    return h if isinstance(h, dict) else {}


def _curve_lines(run: Run) -> tuple[list[str], list[str], list[str]]:
    """(curve lines, anomalies, recommendations) of one run."""
    res = run.result or {}
    h = _history(run)
    curves, anomalies, advice = [], [], []
    train, val, acc = h.get("train_loss") or [], h.get("eval_loss") or [], h.get("accuracy") or []
    if train:
        curves.append(f"training loss per epoch {', '.join(units.num(x, 4) for x in train)} (nats per token)")
    if val:
        best = min(range(len(val)), key=lambda i: val[i])
        curves.append(f"validation loss {', '.join(units.num(x, 4) for x in val)}, best after epoch {best + 1}")
        if len(val) > 1 and val[-1] > RISE * val[best] and train and train[-1] < train[best]:
            anomalies.append(f"run {run.id}: the validation loss rose from {units.num(val[best], 4)} (epoch {best + 1}) "
                             f"to {units.num(val[-1], 4)} while the training loss kept falling: overfitting")
            advice.append(f"stop after epoch {best + 1} (epochs={best + 1}) or lower the learning rate")
    if acc:
        curves.append(f"validation next-token accuracy {', '.join(units.percent(x) for x in acc)}")
    if len(train) > 1 and train[-1] >= train[0]:
        anomalies.append(f"run {run.id}: the training loss did not fall "
                         f"({units.num(train[0], 4)} -> {units.num(train[-1], 4)})")
        advice.append("raise the learning rate or check the data: the model did not learn")
    if res.get("diverged"):
        anomalies.append(f"run {run.id}: diverged")
        advice.append("lower the learning rate")
    if isinstance(spikes := res.get("loss_spikes"), int) and spikes > 0:
        anomalies.append(f"run {run.id}: {spikes} loss spike(s)")
    return curves, anomalies, advice


def _bottleneck(run: Run) -> tuple[str, list[str]]:
    res = run.result or {}
    wall = number_at(res, "wall_time_s")
    train = number_at(res, "train_time_s") or 0.0
    ev = (number_at(res, "eval_time_s") or 0.0) + (number_at(res, "epoch_eval_time_s") or 0.0)
    parts = [f"training {units.duration(train)}", f"evaluation {units.duration(ev)}"]
    advice = []
    if wall is not None and wall > 0:
        other = max(0.0, wall - train - ev)
        parts.append(f"loading and saving {units.duration(other)} of {units.duration(wall)} wall time")
        if other > 0.5 * wall:
            advice.append("most of the wall time is loading and saving, not training: a longer run amortises it")
        if ev > train > 0:
            advice.append("evaluation takes longer than training: score fewer tokens or evaluate less often")
    if units.is_number(res.get("train_tokens_per_s")):
        parts.append(f"{res['train_tokens_per_s']:.0f} training tokens/s")
    if units.is_number(peak := res.get("peak_mem_bytes")) and isinstance(peak, int | float):
        parts.append(f"peak memory {units.size(peak)}")
        if not res.get("gradient_checkpointing") and peak > 8 * 2**30:
            advice.append("peak memory above 8 GiB: gradient_checkpointing=true trades compute for memory")
    if units.is_number(res.get("energy_kwh")):
        parts.append(f"energy {units.energy(res['energy_kwh'], res.get('energy_mode') != 'measured')}")
    return ", ".join(parts), advice


def performance(exp: Experiment, runs: Sequence[Run]) -> str:
    done = [r for r in runs if r.status == RunState.SUCCEEDED and isinstance(r.result, dict)]
    lines = [f"# Performance analysis: experiment {exp.id} ({exp.name})", "",
             f"{ANALYSES['performance_analysis'][0].upper()}{ANALYSES['performance_analysis'][1:]}.", "",
             "## Training curves", ""]
    anomalies, advice = [], []
    for run in done:
        curves, bad, fix = _curve_lines(run)
        lines.append(f"- run {run.id} ({run.variant}, seed {run.seed}): " + ("; ".join(curves) or
                     "no history (a run that did not train)"))
        figure = Path(run.run_dir or "") / "output" / "training_curves.png"
        if run.run_dir and figure.is_file():
            lines.append(f"  figure: {figure}")
        anomalies += bad
        advice += fix
    lines += ["", "## Anomalies", ""] + ([f"- {a}" for a in anomalies] or ["- none seen (no divergence, spike, "
                                                                          "overfitting or stalled loss)"])
    lines += ["", "## Bottlenecks", ""]
    for run in done:
        where, fix = _bottleneck(run)
        lines.append(f"- run {run.id} ({run.variant}): {where}")
        advice += fix
    failed = [r for r in runs if r.status not in (RunState.SUCCEEDED, RunState.SKIPPED)]
    lines += [f"- run {r.id} ({r.variant}) {r.status}: {r.error or 'no reason recorded'}" for r in failed]
    lines += ["", "## Recommendations", ""] + ([f"- {a}" for a in dict.fromkeys(advice)] or
                                               ["- none: the curves show no problem to act on"])
    return "\n".join(lines) + "\n"


# -- ablation study ----------------------------------------------------------------------------

def _variants(value: object) -> list[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return []
    if isinstance(value, int):
        return sorted({max(1, value // 2), value * 2} - {value})
    return [float(f"{value / 2:.6g}"), float(f"{value * 2:.6g}")]


@dataclass(frozen=True)
class Modification(JsonRecord):
    """One parameter changed: from the experiment's value to the design's."""

    parameter: str
    was: JsonValue
    now: JsonValue

    def to_json(self) -> JsonObject:
        return {"parameter": self.parameter, "from": self.was, "to": self.now}


@dataclass(frozen=True)
class Design(JsonRecord):
    """A follow-up design as a genealogy file (`lab queue add FILE`)."""

    parent_experiment: str | int
    modifications: tuple[Modification, ...]
    rationale: str
    hypothesis: str


def designs(exp: Experiment) -> list[Design]:
    """One genealogy file per change of one tunable parameter (halved and doubled)."""
    parent = exp.metadata.job.experiment_id if exp.metadata.job else None
    params = exp.params
    out = []
    for key in TUNABLE:
        was = params.get(key)
        for value in _variants(was):
            out.append(Design(parent or exp.id, (Modification(key, was, value),),
                              f"isolates {key}: everything else as in experiment {exp.id}",
                              f"{key} {'above' if isinstance(was, int | float) and value > was else 'below'} {was} changes "
                              "the held-out quality beyond the seed-to-seed spread"))
    return out


def ablation(exp: Experiment) -> str:
    lines = [f"# Ablation study: experiment {exp.id} ({exp.name})", "", "## What each variant changed", ""]
    for name, v in _compared(exp).items():
        changed = _changed(exp, name, str(v.reference))
        what = ", ".join(f"{k} {json.dumps(c.was)} -> {json.dumps(c.now)}" for k, c in changed.items())
        c = v.compared
        lines.append(f"- {name} against {v.reference}: {what or 'no parameter (a different form of the same model)'}"
                     f"; quality change {units.num(c.quality_delta.mean if c.quality_delta else None, 4)} "
                     f"({units.p_equals(c.p_value)}), E = {units.num(c.efficiency_score)}")
    if not _compared(exp):
        lines.append("- the experiment was not rated, or compares no variant with a reference")
    lines += ["", "## Follow-up designs", "",
              "Each changes one variable of this experiment and keeps the rest; save one as a file and queue it "
              "with `lab queue add FILE`.", ""]
    for design in designs(exp):
        lines += ["```json", json.dumps(design.to_json(), indent=2), "```", ""]
    if not designs(exp):
        lines.append("- no tunable numeric parameter was set in this experiment")
    return "\n".join(lines) + "\n"


# -- baseline comparison -----------------------------------------------------------------------

def comparison(exp: Experiment) -> str:
    b = exp.breakdown
    quality = b.quality_key
    lines = [f"# Baseline comparison: experiment {exp.id} ({exp.name})", "",
             f"Against the declared reference of each variant (baseline: {b.baseline or 'none'}), with the "
             "validator's statistics (paired by seed where seeds are shared).", "",
             "## Headline", "", headline_text(b.headline, quality), "", "## Each variant", ""]
    for name, v in _compared(exp).items():
        c = v.compared
        delta = c.quality_delta
        lines.append(f"- {name} vs {v.reference}: {quality} change "
                     f"{quality_change(quality, delta.mean if delta else None, delta.ci95 if delta else None)}, "
                     f"{units.p_equals(c.p_value)}, E = {units.ratio(c.efficiency_score)}, "
                     f"speedup {units.ratio(c.speedup)}, compression {units.ratio(c.compression)}, "
                     f"quality kept: {c.quality_kept}")
    if not _compared(exp):
        lines.append("- not rated, or no variant is compared with a reference")
    rating = exp.rating
    lines += ["", f"Rating: {rating:g}/10 (`lab rating {exp.id}`)" if rating is not None else "", ""]
    return "\n".join(lines)


def write(folder: Path, exp: Experiment, runs: Sequence[Run], steps: list[str]) -> list[Path]:
    """The reports of `steps` in `folder/reports/`; their paths."""
    makers = {"performance_analysis": lambda: performance(exp, runs), "ablation_study": lambda: ablation(exp),
              "baseline_comparison": lambda: comparison(exp)}
    out = []
    for step in steps:
        path = folder / "reports" / NAMES[step]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(makers[step]())
        out.append(path)
    return out
