"""What a deliverable promises, as submitted: its kinds and what is wrong with one (`problems`).
The deliverable's type and the published pipeline document's field names beside the lab's own
(`normalize`) are contract/deliverable.py; how each kind is checked against the runs is
science/deliverables.py."""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TypeGuard

from contract.deliverable import normalize
from contract.jsonvalue import JsonObject, JsonValue

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
ROLES = ("quality", "energy", "time", "size")


class DeliverableKind(StrEnum):
    """What a deliverable asks a result to contain (science/deliverables.py checks each)."""

    EXISTS = "exists"
    EXISTS_AND_LOADABLE = "exists_and_loadable"
    MATCHES_EXPECTED = "matches_expected"
    CONTAINS_SECTIONS = "contains_sections"
    CONTAINS_KEYS = "contains_keys"
    THRESHOLD = "threshold"
    STATISTICAL_TEST = "statistical_test"
    SYNCED_AND_DOWNLOADABLE = "synced_and_downloadable"


KINDS = tuple(DeliverableKind)
EXPECT = ("different", "greater", "less", "not_worse")
REPORT_TARGET = "report"
AUTO_RUN_ID = "auto-generated"
_WANDB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: JsonValue) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _path_problem(value: JsonValue) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "path: expected a file name relative to the run's folder"
    p = PurePosixPath(value.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        return f"path: {value!r} must stay inside the run's folder (relative, no '..')"
    return None


def _target_problems(d: JsonObject, *, report_ok: bool = False) -> list[str]:
    if report_ok and d.get("target") == REPORT_TARGET:
        return []
    if "target" in d:
        return [f"target: only {REPORT_TARGET!r} (the lab's report of the experiment) is known, got "
                f"{json.dumps(d['target'])[:40]}"]
    if "path" in d:
        return [p] if (p := _path_problem(d["path"])) else []
    if isinstance(d.get("artifact_kind"), str) and d["artifact_kind"]:
        return []
    where = "`path`, `artifact_kind` or `target: \"report\"`" if report_ok else "`path` or `artifact_kind`"
    return [f"needs {where} to say which file"]


def problems(d: object) -> list[str]:
    """What is wrong with a deliverable as submitted (empty: it can be checked)."""
    if not isinstance(d, dict):
        return [f"expected an object with a 'kind' (one of {', '.join(KINDS)})"]
    d, out = normalize(d)
    kind = d.get("kind")
    if kind not in KINDS:
        return [f"unknown kind {json.dumps(kind)[:40]}: the lab checks {', '.join(KINDS)}"]
    if "variant" in d and d["variant"] is not None and not (isinstance(d["variant"], str) and d["variant"]):
        out.append("variant: expected the name of a variant of the plan")
    of_kind = _KIND_PROBLEMS.get(str(kind))
    return out + (of_kind(d) if of_kind else [])


def _sections_problems(d: JsonObject) -> list[str]:
    out = [] if _strings(d.get("sections")) else ["sections: expected a non-empty list of section titles"]
    return out + _target_problems(d, report_ok=True)


def _optional_path_problems(d: JsonObject) -> list[str]:
    return [p] if "path" in d and (p := _path_problem(d["path"])) else []


def _keys_problems(d: JsonObject) -> list[str]:
    out = [] if _strings(d.get("keys")) else ["keys: expected a non-empty list of result keys"]
    return out + _optional_path_problems(d)


def _threshold_problems(d: JsonObject) -> list[str]:
    out = []
    if not isinstance(d.get("key"), str) or not d["key"]:
        out.append("key: expected the result key to compare")
    if not isinstance(d.get("op", ">="), str) or d.get("op", ">=") not in OPS:
        out.append(f"op: expected one of {', '.join(OPS)}, got {json.dumps(d.get('op'))[:20]}")
    if not _finite(d.get("value")):
        out.append(f"value: expected a finite number, got {json.dumps(d.get('value'))[:40]}")
    return out + _optional_path_problems(d)


def _statistical_problems(d: JsonObject) -> list[str]:
    out = []
    if "key" in d and not (isinstance(d["key"], str) and d["key"]):
        out.append("key: expected a result key")
    if "role" in d and d["role"] not in ROLES:
        out.append(f"role: expected one of {', '.join(ROLES)}")
    if d.get("expect", "different") not in EXPECT:
        out.append(f"expect: expected one of {', '.join(EXPECT)}, got {json.dumps(d.get('expect'))[:30]}")
    alpha = d.get("alpha", 0.05)
    if not _finite(alpha) or not 0 < alpha < 1:
        out.append(f"alpha: expected a number between 0 and 1, got {json.dumps(alpha)[:30]}")
    margin = d.get("margin", 0.01)
    if not _finite(margin) or margin < 0:
        out.append(f"margin: expected a number >= 0, got {json.dumps(margin)[:30]}")
    if "against" in d and not (isinstance(d["against"], str) and d["against"]):
        out.append("against: expected the name of a variant (or 'baseline')")
    return out


def _wandb_problems(d: JsonObject) -> list[str]:
    out: list[str] = []
    project = d.get("project")
    if not (isinstance(project, str) and _WANDB_NAME.match(project)):
        out.append(f"project: expected a W&B project name (letters, digits, '.', '_', '-'; at most 128), got "
                   f"{json.dumps(project)[:40]}")
    run_id = d.get("run_id", AUTO_RUN_ID)
    if not (isinstance(run_id, str) and (run_id == AUTO_RUN_ID or _WANDB_NAME.match(run_id))):
        out.append(f"run_id: expected {AUTO_RUN_ID!r} (each run names its own) or a W&B run id, got "
                   f"{json.dumps(run_id)[:40]}")
    if "entity" in d and not (isinstance(d["entity"], str) and _WANDB_NAME.match(d["entity"])):
        out.append("entity: expected a W&B entity (user or team) name")
    if "required_metrics" in d and not _strings(d["required_metrics"]):
        out.append("required_metrics: expected a non-empty list of metric names")
    return out


def _matches_problems(d: JsonObject) -> list[str]:
    out: list[str] = []
    for name in ("tolerance", "rel_tolerance"):
        if name in d and (not _finite(tol := d[name]) or tol < 0):
            out.append(f"{name}: expected a number >= 0, got {json.dumps(d[name])[:30]}")
    if "key" in d:
        if not isinstance(d["key"], str) or not d["key"]:
            out.append("key: expected the result key to compare")
        if "expected" not in d:
            out.append("expected: the value the result should have is missing")
        elif isinstance(d["expected"], float) and not math.isfinite(d["expected"]):
            out.append("expected: expected a finite number")
        if d.get("aggregate", "each") not in ("each", "mean"):
            out.append("aggregate: expected 'each' (every run) or 'mean' (the mean over seeds)")
        return out
    out += _target_problems(d)
    if "sha256" in d:
        digest = d["sha256"]
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower())):
            out.append("sha256: expected 64 hexadecimal digits")
    elif "expected" not in d:
        out.append("needs `key` and `expected` (a result value), or a file and its `sha256` or `expected` content")
    return out


#: each kind's own fields, checked (a kind not listed has none beyond the common ones)
_KIND_PROBLEMS: dict[str, Callable[[JsonObject], list[str]]] = {
    "exists": _target_problems, "exists_and_loadable": _target_problems, "contains_sections": _sections_problems,
    "contains_keys": _keys_problems, "threshold": _threshold_problems, "statistical_test": _statistical_problems,
    "matches_expected": _matches_problems, "synced_and_downloadable": _wandb_problems,
}
