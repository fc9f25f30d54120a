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
from pathlib import Path
from typing import Any

from contract import units
from contract.comparison import QualityChange
from contract.rating_record import Breakdown, VariantResult
from db import RunState
from science.headline import headline_text, quality_change
from science.job_published import ANALYSES

NAMES = {"performance_analysis": "performance_analysis.md", "ablation_study": "ablation_study.md",
         "baseline_comparison": "baseline_comparison.md"}
TUNABLE = ("learning_rate", "lr", "epochs", "batch_size", "weight_decay", "steps", "rank")
RISE = 1.02  # a final validation loss 2 % above its best: the model started to overfit


def _breakdown(exp: dict[str, Any]) -> Breakdown:
    return Breakdown.read(exp.get("rating_breakdown"))


def _compared(exp: dict[str, Any]) -> dict[str, VariantResult]:
    return {n: v for n, v in _breakdown(exp).variants.items() if v.reference}


def _changed(exp: dict[str, Any], name: str, reference: str) -> dict[str, dict[str, Any]]:
    variants = _breakdown(exp).variants
    mine = (variants.get(name) or VariantResult()).params
    theirs = (variants.get(reference) or VariantResult()).params
    return {k: {"from": theirs.get(k), "to": mine.get(k)} for k in sorted(set(mine) | set(theirs))
            if mine.get(k) != theirs.get(k)}


def analyses(exp: dict[str, Any], steps: list[str]) -> dict[str, Any]:
    """The validator's analysis arranged as the pipeline's steps (data for the payload)."""
    b = _breakdown(exp)
    variants = b.variants
    if not variants:
        return {step: {"available": False, "why": "the experiment was not rated"} for step in steps}
    out: dict[str, Any] = {}
    for step in steps:
        if step == "performance_analysis":
            out[step] = {"variants": {n: {r: v.summaries[r].to_json() if r in v.summaries else {}
                                          for r in ("quality", "energy", "time", "size")}
                                      for n, v in variants.items()}}
        elif step == "baseline_comparison":
            out[step] = {"baseline": b.baseline, "headline": None if b.headline is None else b.headline.to_json(),
                         "variants": {n: _compared_json(v) for n, v in _compared(exp).items()}}
        else:
            out[step] = {"variants": {n: {"reference": v.reference, "changed": _changed(exp, n, str(v.reference)),
                                          "quality_delta": _json(v.compared.quality_delta),
                                          "quality_p_value": v.compared.p_value}
                                      for n, v in _compared(exp).items()}}
        out[step]["method"] = ANALYSES[step]
    return out


def _json(change: QualityChange | None) -> dict[str, Any] | None:
    return None if change is None else change.to_json()


def _compared_json(v: VariantResult) -> dict[str, Any]:
    """A compared variant's figures as the payload gives them (the names of the rating's JSON)."""
    c = v.compared
    return {"reference": v.reference, "quality_delta": _json(c.quality_delta), "p_value": c.p_value,
            "efficiency_score": c.efficiency_score, "speedup": c.speedup, "compression": c.compression,
            "quality_kept": c.quality_kept}


# -- performance analysis ----------------------------------------------------------------------

def _history(result: dict[str, Any]) -> dict[str, list[Any]]:
    h = result.get("loss_history")
    return h if isinstance(h, dict) else {}


def _curve_lines(run: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(curve lines, anomalies, recommendations) of one run."""
    res = run["result"]
    h = _history(res)
    curves, anomalies, advice = [], [], []
    train, val, acc = h.get("train_loss") or [], h.get("eval_loss") or [], h.get("accuracy") or []
    if train:
        curves.append(f"training loss per epoch {', '.join(units.num(x, 4) for x in train)} (nats per token)")
    if val:
        best = min(range(len(val)), key=lambda i: val[i])
        curves.append(f"validation loss {', '.join(units.num(x, 4) for x in val)}, best after epoch {best + 1}")
        if len(val) > 1 and val[-1] > RISE * val[best] and train and train[-1] < train[best]:
            anomalies.append(f"run {run['id']}: the validation loss rose from {units.num(val[best], 4)} (epoch {best + 1}) "
                             f"to {units.num(val[-1], 4)} while the training loss kept falling: overfitting")
            advice.append(f"stop after epoch {best + 1} (epochs={best + 1}) or lower the learning rate")
    if acc:
        curves.append(f"validation next-token accuracy {', '.join(units.percent(x) for x in acc)}")
    if len(train) > 1 and train[-1] >= train[0]:
        anomalies.append(f"run {run['id']}: the training loss did not fall "
                         f"({units.num(train[0], 4)} -> {units.num(train[-1], 4)})")
        advice.append("raise the learning rate or check the data: the model did not learn")
    if res.get("diverged"):
        anomalies.append(f"run {run['id']}: diverged")
        advice.append("lower the learning rate")
    if isinstance(res.get("loss_spikes"), int) and res["loss_spikes"] > 0:
        anomalies.append(f"run {run['id']}: {res['loss_spikes']} loss spike(s)")
    return curves, anomalies, advice


def _bottleneck(run: dict[str, Any]) -> tuple[str, list[str]]:
    res = run["result"]
    wall = res.get("wall_time_s")
    train, ev = res.get("train_time_s") or 0.0, (res.get("eval_time_s") or 0.0) + (res.get("epoch_eval_time_s") or 0.0)
    parts = [f"training {units.duration(train)}", f"evaluation {units.duration(ev)}"]
    advice = []
    if units.is_number(wall) and wall > 0:
        other = max(0.0, wall - train - ev)
        parts.append(f"loading and saving {units.duration(other)} of {units.duration(wall)} wall time")
        if other > 0.5 * wall:
            advice.append("most of the wall time is loading and saving, not training: a longer run amortises it")
        if ev > train > 0:
            advice.append("evaluation takes longer than training: score fewer tokens or evaluate less often")
    if units.is_number(res.get("train_tokens_per_s")):
        parts.append(f"{res['train_tokens_per_s']:.0f} training tokens/s")
    if units.is_number(res.get("peak_mem_bytes")):
        parts.append(f"peak memory {res['peak_mem_bytes'] / 2**20:.0f} MiB")
        if not res.get("gradient_checkpointing") and res["peak_mem_bytes"] > 8 * 2**30:
            advice.append("peak memory above 8 GiB: gradient_checkpointing=true trades compute for memory")
    if units.is_number(res.get("energy_kwh")):
        parts.append(f"energy {units.energy(res['energy_kwh'], res.get('energy_mode') != 'measured')}")
    return ", ".join(parts), advice


def performance(exp: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    done = [r for r in runs if r["status"] == RunState.SUCCEEDED and isinstance(r.get("result"), dict)]
    lines = [f"# Performance analysis: experiment {exp['id']} ({exp['name']})", "",
             f"{ANALYSES['performance_analysis'][0].upper()}{ANALYSES['performance_analysis'][1:]}.", "",
             "## Training curves", ""]
    anomalies, advice = [], []
    for run in done:
        curves, bad, fix = _curve_lines(run)
        lines.append(f"- run {run['id']} ({run['variant']}, seed {run['seed']}): " + ("; ".join(curves) or
                     "no history (a run that did not train)"))
        figure = Path(run.get("run_dir") or "") / "output" / "training_curves.png"
        if run.get("run_dir") and figure.is_file():
            lines.append(f"  figure: {figure}")
        anomalies += bad
        advice += fix
    lines += ["", "## Anomalies", ""] + ([f"- {a}" for a in anomalies] or ["- none seen (no divergence, spike, "
                                                                          "overfitting or stalled loss)"])
    lines += ["", "## Bottlenecks", ""]
    for run in done:
        where, fix = _bottleneck(run)
        lines.append(f"- run {run['id']} ({run['variant']}): {where}")
        advice += fix
    failed = [r for r in runs if r["status"] not in (RunState.SUCCEEDED, RunState.SKIPPED)]
    lines += [f"- run {r['id']} ({r['variant']}) {r['status']}: {r.get('error') or 'no reason recorded'}" for r in failed]
    lines += ["", "## Recommendations", ""] + ([f"- {a}" for a in dict.fromkeys(advice)] or
                                               ["- none: the curves show no problem to act on"])
    return "\n".join(lines) + "\n"


# -- ablation study ----------------------------------------------------------------------------

def _variants(value: Any) -> list[Any]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return []
    if isinstance(value, int):
        return sorted({max(1, value // 2), value * 2} - {value})
    return [float(f"{value / 2:.6g}"), float(f"{value * 2:.6g}")]


def designs(exp: dict[str, Any]) -> list[dict[str, Any]]:
    """One genealogy file per change of one tunable parameter (halved and doubled)."""
    parent = (exp.get("metadata") or {}).get("job", {}).get("experiment_id") if isinstance(
        (exp.get("metadata") or {}).get("job"), dict) else None
    params = exp.get("params") or {}
    out = []
    for key in TUNABLE:
        for value in _variants(params.get(key)):
            out.append({"parent_experiment": parent or exp["id"],
                        "modifications": [{"parameter": key, "from": params[key], "to": value}],
                        "rationale": f"isolates {key}: everything else as in experiment {exp['id']}",
                        "hypothesis": f"{key} {'above' if value > params[key] else 'below'} {params[key]} changes "
                                      "the held-out quality beyond the seed-to-seed spread"})
    return out


def ablation(exp: dict[str, Any]) -> str:
    lines = [f"# Ablation study: experiment {exp['id']} ({exp['name']})", "", "## What each variant changed", ""]
    for name, v in _compared(exp).items():
        changed = _changed(exp, name, str(v.reference))
        what = ", ".join(f"{k} {json.dumps(c['from'])} -> {json.dumps(c['to'])}" for k, c in changed.items())
        c = v.compared
        lines.append(f"- {name} against {v.reference}: {what or 'no parameter (a different form of the same model)'}"
                     f"; quality change {units.num(c.quality_delta.mean if c.quality_delta else None, 4)} "
                     f"(p = {units.num(c.p_value)}), E = {units.num(c.efficiency_score)}")
    if not _compared(exp):
        lines.append("- the experiment was not rated, or compares no variant with a reference")
    lines += ["", "## Follow-up designs", "",
              "Each changes one variable of this experiment and keeps the rest; save one as a file and queue it "
              "with `lab queue add FILE`.", ""]
    for design in designs(exp):
        lines += ["```json", json.dumps(design, indent=2), "```", ""]
    if not designs(exp):
        lines.append("- no tunable numeric parameter was set in this experiment")
    return "\n".join(lines) + "\n"


# -- baseline comparison -----------------------------------------------------------------------

def comparison(exp: dict[str, Any]) -> str:
    b = _breakdown(exp)
    quality = b.quality_key
    lines = [f"# Baseline comparison: experiment {exp['id']} ({exp['name']})", "",
             f"Against the declared reference of each variant (baseline: {b.baseline or 'none'}), with the "
             "validator's statistics (paired by seed where seeds are shared).", "",
             "## Headline", "", headline_text(b.headline, quality), "", "## Each variant", ""]
    for name, v in _compared(exp).items():
        c = v.compared
        delta = c.quality_delta
        lines.append(f"- {name} vs {v.reference}: {quality} change "
                     f"{quality_change(quality, delta.mean if delta else None, delta.ci95 if delta else None)}, "
                     f"p = {units.pvalue(c.p_value)}, E = {units.ratio(c.efficiency_score)}, "
                     f"speedup {units.ratio(c.speedup)}, compression {units.ratio(c.compression)}, "
                     f"quality kept: {c.quality_kept}")
    if not _compared(exp):
        lines.append("- not rated, or no variant is compared with a reference")
    rating = exp.get("rating")
    lines += ["", f"Rating: {rating:g}/10 (`lab rating {exp['id']}`)" if rating is not None else "", ""]
    return "\n".join(lines)


def write(folder: Path, exp: dict[str, Any], runs: list[dict[str, Any]], steps: list[str]) -> list[Path]:
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
