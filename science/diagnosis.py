"""Why an experiment failed, read from its runs, and what a retry should change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from contract.catalog_answer import CatalogEntry
from contract.params import ParamValue, ParamValues
from db import Run, RunState
from db.states import RUN_BAD

LIGHTER = {"full": "default", "default": "smoke"}


@dataclass(frozen=True)
class Diagnosis:
    text: str
    changes: ParamValues = field(default_factory=dict)
    retry: bool = True  # False: a retry would only repeat the failure


def diagnose(runs: list[Run], entry: CatalogEntry | None, params: Mapping[str, ParamValue],
             is_retry: bool) -> Diagnosis:
    bad = [r for r in runs if r.status in RUN_BAD]
    if not bad:
        return Diagnosis("no run failed", retry=False)
    # a run failed because its dependency failed: the dependency's error is the cause
    root = [r for r in bad if not (r.error or "").startswith("dependency ")] or bad
    errors = Counter((r.error or f"{r.status} without a message") for r in root)
    first, count = errors.most_common(1)[0]
    ids = ", ".join(str(r.id) for r in root[:6])
    where = f"{len(root)} run(s) (runs {ids}) failed; the commonest error ({count}x): {first}"
    declared = {p.name for p in entry.params} if entry else set()
    profile = params.get("profile", "default")
    if any("needs a GPU" in (r.error or "") for r in root) and params.get("device") == "cuda":
        return Diagnosis(f"{where}. The runs needed a GPU this lab does not have: retry on the CPU",
                         {"device": "cpu"})
    if any(r.status == RunState.TIMED_OUT for r in root):
        if profile in LIGHTER:
            return Diagnosis(f"{where}. They ran past their timeout: retry at the lighter profile "
                             f"{LIGHTER[profile]}", {"profile": LIGHTER[profile]})
        epochs = params.get("epochs")
        if "epochs" in declared and isinstance(epochs, int) and epochs > 1:
            return Diagnosis(f"{where}. They ran past their timeout at the smoke profile: retry with "
                             f"{epochs // 2} epochs", {"epochs": epochs // 2})
        return Diagnosis(f"{where}. They ran past their timeout at the lightest settings: a retry would "
                         "time out again; raise [runs] timeout_s instead", retry=False)
    if any("out of memory" in (r.error or "") for r in root):
        batch = params.get("batch_size")
        if "batch_size" in declared and isinstance(batch, int) and batch > 1:
            return Diagnosis(f"{where}. They ran out of memory: retry with batch_size {batch // 2}",
                             {"batch_size": batch // 2})
        if profile in LIGHTER:
            return Diagnosis(f"{where}. They ran out of memory: retry at the lighter profile "
                             f"{LIGHTER[profile]}", {"profile": LIGHTER[profile]})
        return Diagnosis(f"{where}. They ran out of memory at the lightest settings: raise "
                         "[runs] mem_limit_mb instead", retry=False)
    if is_retry:
        return Diagnosis(f"{where}. This experiment was already a retry with no parameter implicated: "
                         "the failure is deterministic and needs a fix in the program", retry=False)
    return Diagnosis(f"{where}. No parameter is implicated: one unchanged retry tells a transient "
                     "failure from a deterministic one")
