"""An experiment's data integrity, as the published payload's `data_integrity_checks_passed`
reports it: every succeeded run has a result whose numbers are all finite and the data versions it
read (sha256 and source, experiments/data_versions.py); every run read the same version of each
dataset; no run's data file changed on disk since it was read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contract import units
from contract.digests import file_sha256
from contract.jsonvalue import JsonObject, JsonValue, json_object, text_at
from db import Run, RunState


@dataclass(frozen=True)
class DataVersion:
    """One dataset a run read: its name, where it came from, its sha256 (None: generated)."""
    name: str
    source: str
    sha256: str | None
    path: str | None = None

    @classmethod
    def from_json(cls, given: JsonValue) -> DataVersion | None:
        raw = json_object(given)
        name = None if raw is None else text_at(raw, "name")
        if raw is None or name is None:
            return None
        return cls(name, str(raw.get("source") or units.MISSING), text_at(raw, "sha256"), text_at(raw, "path"))

    def to_json(self) -> JsonObject:
        return {"name": self.name, "source": self.source, "sha256": self.sha256, "path": self.path}


@dataclass(frozen=True)
class Integrity:
    passed: bool
    lines: tuple[str, ...]


def versions_of(result: Mapping[str, JsonValue] | None) -> list[DataVersion] | None:
    """The data versions a run's result recorded; None when it recorded none."""
    raw = None if result is None else result.get("data_versions")
    if not isinstance(raw, list):
        return None
    return [v for v in (DataVersion.from_json(x) for x in raw) if v is not None]


def changed_on_disk(version: DataVersion) -> str | None:
    """Why the file a version names is no longer that version (moved, removed, changed), or None."""
    if version.sha256 is None or version.path is None:
        return None
    path = Path(version.path)
    if not path.is_file():
        return f"{version.name}: {path} is gone"
    now = file_sha256(path)
    return None if now == version.sha256 else f"{version.name}: {path} changed (sha256 {version.sha256} -> {now})"


def _non_finite(result: Mapping[str, JsonValue]) -> list[str]:
    return [k for k, v in result.items() if isinstance(v, float) and not math.isfinite(v)]


def check(runs: Sequence[Run]) -> Integrity:
    done = [r for r in runs if r.status == RunState.SUCCEEDED]
    if not done:
        return Integrity(False, ("data integrity: no succeeded run to check",))
    problems: list[str] = []
    missing = [r.id for r in done if not isinstance(r.result, dict)]
    problems += [f"run {i}: no result" for i in missing]
    seen: dict[str, set[str | None]] = {}
    unrecorded = []
    for r in done:
        result = r.result if isinstance(r.result, dict) else {}
        if bad := _non_finite(result):
            problems.append(f"run {r.id}: {', '.join(bad[:3])} not finite")
        versions = versions_of(result)
        if versions is None:
            unrecorded.append(r.id)
            continue
        for v in versions:
            seen.setdefault(v.name, set()).add(v.sha256)
    if unrecorded:
        problems.append(f"run(s) {', '.join(map(str, unrecorded))}: no data versions recorded")
    problems += [f"{name}: the runs read {len(d)} different versions" for name, d in seen.items() if len(d) > 1]
    checked = {v.name: v for r in done for v in versions_of(r.result) or []}
    problems += [why for v in checked.values() if (why := changed_on_disk(v))]
    if problems:
        return Integrity(False, tuple(f"data integrity: {p}" for p in problems[:6]))
    names = ", ".join(f"{v.name} ({v.source}" + (f", sha256 {v.sha256[:12]})" if v.sha256 else ", generated)")
                      for v in checked.values())
    return Integrity(True, (f"data integrity: {len(done)} run(s), finite results, one version of each dataset, "
                            f"unchanged on disk: {names or 'no dataset'}",))
