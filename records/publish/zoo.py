"""The model zoo: each headline finding's model exported (by `python -m experiments.zoo export`,
a child process: torch stays out of the lab) into `zoo/<slug>/` with its model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agents.subprocesses import run_python
from contract.layout import LabDir
from contract.zoo import PackedForm
from db import Run
from records.publish.cards import card, weights_note
from records.publish.findings import Finding
from records.reports.lab import LabData

EXPORT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ZooModel:
    finding: Finding
    folder: Path
    kind: str                     # image-classifier or causal-lm
    weights_bytes: int
    packed: PackedForm | None = None   # a compressed LM: the packed form its weights were decoded from


def _hardware(lab: LabDir, f: Finding) -> str:
    device = str((f.run.device if f.run else None) or "cpu")
    for env in sorted(lab.exp.glob(f"{f.id}-*/environment.json")):
        try:
            cpu = json.loads(env.read_text()).get("cpu")
        except (OSError, ValueError):
            continue
        if cpu:
            return f"{device} ({cpu})" if device == "cpu" else device
    return device


def _base_model(f: Finding, namespace: str) -> str | None:
    """The reference the variant was made from (a conversion or fine-tune of it), as a zoo name."""
    step = next((v for v in f.exp.plan if v.name == f.variant), None)
    if f.reference and step is not None and f.reference in step.depends_on:
        return f"{namespace}/exp{f.id}-{f.catalog}-{f.reference}".lower().replace("_", "-")
    return None


def _source_run(data: LabData, f: Finding, checkpoint: str | None) -> Run | None:
    """The run whose folder holds the exported weights (the variant's own, or the model it converts)."""
    if checkpoint:
        folder = str(Path(checkpoint).parent)
        hit = next((r for r in data.runs_of(f.id) if r.run_dir and str(Path(r.run_dir)) == folder), None)
        if hit is not None:
            return hit
    return f.run


def _job(f: Finding, folder: Path) -> dict[str, object]:
    """What the exporting child needs for one finding (`python -m experiments.zoo export-many`)."""
    assert f.run is not None
    extra = {"recorded": {"metric": f.quality_key, "value": (f.run.result or {}).get(f.quality_key)},
             "experiment": f.id}
    return {"run_dir": str(f.run.run_dir), "out": str(folder), "extra": extra}


def _model(lab: LabDir, data: LabData, f: Finding, folder: Path, namespace: str, kind: str,
           checkpoint: str | None, weights_bytes: int, packed: PackedForm | None) -> ZooModel:
    (folder / "README.md").write_text(card(f, data, kind, namespace, _base_model(f, namespace), _hardware(lab, f),
                                           _source_run(data, f, checkpoint), weights_note(weights_bytes, packed)))
    return ZooModel(f, folder, kind, weights_bytes, packed)


async def build_zoo(lab: LabDir, data: LabData, found: list[Finding], zoo: Path,
                    namespace: str) -> tuple[list[ZooModel], list[str]]:
    """(the exported models, one line per finding whose model could not be exported). Every
    export runs in one child, which imports torch once for the whole zoo."""
    problems = [f"model zoo: exp {f.id} {f.variant}: no succeeded run to export"
                for f in found if f.run is None or not f.run.run_dir]
    todo = [f for f in found if f.run is not None and f.run.run_dir]
    if not todo:
        if problems:
            write_index(zoo, [], problems)
        return [], problems
    zoo.mkdir(parents=True, exist_ok=True)
    jobs = zoo / ".exports.json"
    jobs.write_text(json.dumps([_job(f, zoo / f.slug) for f in todo]))
    try:
        done = await run_python(["-m", "experiments.zoo", "export-many", str(jobs)],
                                timeout=EXPORT_TIMEOUT_S * len(todo), stdout=True)
    finally:
        jobs.unlink(missing_ok=True)
    answers = json.loads(done.out) if done.ok else [{"ok": False, "error": done.why}] * len(todo)
    models = []
    for f, info in zip(todo, answers):
        if info.get("ok"):
            checkpoint = info.get("checkpoint")
            models.append(_model(lab, data, f, zoo / f.slug, namespace, str(info["kind"]),
                                 str(checkpoint) if checkpoint else None, int(info.get("weights_bytes") or 0),
                                 PackedForm.from_json(info.get("packed"))))
        else:
            problems.append(f"model zoo: exp {f.id} {f.variant}: {info.get('error')}")
    write_index(zoo, models, problems)
    return models, problems


def write_index(zoo: Path, models: list[ZooModel], problems: list[str]) -> Path:
    """zoo/INDEX.md: each exported model, and each headline finding whose model is not here with
    why, one line each (never silently missing)."""
    zoo.mkdir(parents=True, exist_ok=True)
    lines = ["# The model zoo", "", "Each headline finding's model, in its folder with its model card (README.md).", ""]
    lines += [f"- `{m.folder.name}/`: exp {m.finding.id} {m.finding.variant} ({m.finding.catalog}), {m.kind}" +
              (", compressed model decoded to FP32 (its packed form in packed/)" if m.packed else "")
              + "".join(f"; re-run from its record as exp {r.id}: {r.outcome}"
                        for r in (m.finding.result.reproductions if m.finding.result else ()))
              + "".join(f"; supersedes exp {x.id}" for x in (m.finding.result.supersedes if m.finding.result else ()))
              for m in models]
    if problems:
        lines += ["", "## Not exported", ""] + [f"- {p.removeprefix('model zoo: ')}" for p in problems]
    path = zoo / "INDEX.md"
    path.write_text("\n".join(lines) + "\n")
    return path
