"""What an experiment ran on, for people and for `lab reproduce`: the data versions its runs read
(sha256 and source, per dataset) and its environment snapshot (records/snapshot.py), as lines for
`lab show` and as differences for `lab diff`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract import units
from db import Experiment, Run
from records import snapshot
from science.job_integrity import DataVersion, changed_on_disk, versions_of


@dataclass(frozen=True)
class DatasetUse:
    """One dataset as an experiment's runs read it: its versions (one, unless the data changed
    between runs) and the runs that read it."""
    name: str
    source: str
    versions: tuple[DataVersion, ...]
    runs: tuple[int, ...]

    def text(self) -> str:
        digests = ", ".join(f"sha256 {v.sha256[:16]}" if v.sha256 else "generated from the seed" for v in self.versions)
        where = next((v.path for v in self.versions if v.path), None)
        return f"{self.name} ({self.source}{', ' + where if where else ''}): {digests} in {len(self.runs)} run(s)"


def record_folder(exp_root: Path, exp_id: int) -> Path | None:
    """An experiment's record folder (exp/<id>-<slug>/), when it has been written."""
    found = sorted(exp_root.glob(f"{exp_id}-*")) if exp_root.exists() else []
    return found[0] if found else None


def datasets(runs: list[Run]) -> dict[str, DatasetUse]:
    found: dict[str, tuple[str, dict[str | None, DataVersion], list[int]]] = {}
    for r in runs:
        for v in versions_of(r.result) or []:
            _source, by_sha, ids = found.setdefault(v.name, (v.source, {}, []))
            by_sha.setdefault(v.sha256, v)
            ids.append(int(r.id))
    return {name: DatasetUse(name, source, tuple(by_sha.values()), tuple(ids))
            for name, (source, by_sha, ids) in found.items()}


def environment(runs: list[Run], folder: Path | None) -> tuple[snapshot.EnvSnapshot, str]:
    """The committed snapshot when the record exists, else the one taken now; and which it is."""
    if folder is not None and (snap := snapshot.read(folder)) is not None:
        return snap, f"{folder.name}/{snapshot.FOLDER}/Dockerfile"
    return snapshot.take(runs), "taken now (committed with the record)"


def lines(exp: Experiment, runs: list[Run], folder: Path | None) -> list[str]:
    out = []
    for use in datasets(runs).values():
        out.append(f"data: {use.text()}")
    finished = [r for r in runs if isinstance(r.result, dict)]
    if finished:
        snap, where = environment(finished, folder)
        out.append(f"environment: {snap.summary()} ({where})")
    return out


def data_changes(runs: list[Run]) -> list[str]:
    """Each dataset whose file is no longer what the runs read (gone, or another sha256)."""
    seen: dict[str, DataVersion] = {}
    for r in runs:
        for v in versions_of(r.result) or []:
            seen.setdefault(f"{v.name}:{v.sha256}", v)
    return [why for v in seen.values() if (why := changed_on_disk(v))]


def dataset_differences(a: list[Run], b: list[Run]) -> list[tuple[str, str, str]]:
    """(dataset, versions in a, versions in b) where they differ."""
    da, db = datasets(a), datasets(b)

    def shown(use: DatasetUse | None) -> str:
        if use is None:
            return units.MISSING
        return ", ".join((v.sha256 or "generated")[:16] for v in use.versions)
    return [(name, shown(da.get(name)), shown(db.get(name))) for name in sorted(set(da) | set(db))
            if shown(da.get(name)) != shown(db.get(name))]
