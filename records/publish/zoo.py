"""The model zoo: each headline finding's model exported (by `python -m experiments.zoo export`,
a child process: torch stays out of the lab) into `zoo/<slug>/` with its model card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.subprocesses import run_python
from contract.layout import LabDir
from records.publish.cards import card
from records.publish.findings import Finding
from records.reports.lab import LabData

EXPORT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ZooModel:
    finding: Finding
    folder: Path
    kind: str                     # image-classifier or causal-lm
    weights_bytes: int


def _hardware(lab: LabDir, f: Finding) -> str:
    device = str((f.run or {}).get("device") or "cpu")
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
    plan = {v.get("name"): v for v in f.exp.get("plan") or [] if isinstance(v, dict)}
    if f.reference and f.reference in ((plan.get(f.variant) or {}).get("depends_on") or []):
        return f"{namespace}/exp{f.id}-{f.catalog}-{f.reference}".lower().replace("_", "-")
    return None


def _source_run(data: LabData, f: Finding, checkpoint: str | None) -> dict[str, Any] | None:
    """The run whose folder holds the exported weights (the variant's own, or the model it converts)."""
    if checkpoint:
        folder = str(Path(checkpoint).parent)
        hit = next((r for r in data.runs_of(f.id) if r.get("run_dir") and str(Path(r["run_dir"])) == folder), None)
        if hit is not None:
            return hit
    return f.run


async def export_one(lab: LabDir, data: LabData, f: Finding, zoo: Path, namespace: str) -> ZooModel:
    if f.run is None or not f.run.get("run_dir"):
        raise RuntimeError(f"exp {f.id} {f.variant}: no succeeded run to export")
    folder = zoo / f.slug
    extra = {"recorded": {"metric": f.quality_key, "value": (f.run.get("result") or {}).get(f.quality_key)},
             "experiment": f.id}
    done = await run_python(["-m", "experiments.zoo", "export", "--run-dir", str(f.run["run_dir"]), "--out",
                             str(folder), "--extra", json.dumps(extra)], timeout=EXPORT_TIMEOUT_S, stdout=True)
    if not done.ok:
        raise RuntimeError(f"exp {f.id} {f.variant}: {done.why}")
    info = json.loads(done.out)
    kind = str(info["kind"])
    hardware = _hardware(lab, f)
    (folder / "README.md").write_text(card(f, data, kind, namespace, _base_model(f, namespace), hardware,
                                           _source_run(data, f, info.get("checkpoint"))))
    return ZooModel(f, folder, kind, int(info.get("weights_bytes") or 0))


async def build_zoo(lab: LabDir, data: LabData, found: list[Finding], zoo: Path,
                    namespace: str) -> tuple[list[ZooModel], list[str]]:
    """(the exported models, one line per finding whose model could not be exported)."""
    models, problems = [], []
    for f in found:
        try:
            models.append(await export_one(lab, data, f, zoo, namespace))
        except (RuntimeError, ValueError, OSError) as exc:
            problems.append(f"model zoo: {exc}")
    return models, problems
