"""`lab reproduce <id>`: an experiment re-run from its committed git record (tag `exp/<id>`), never
from its database row, as a child experiment; the new results are then compared with the 95 %
confidence intervals stored in the record's rating breakdown (science/reproduction.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from contract import codesnap
from contract.digests import file_sha256
from contract.rating_record import Breakdown
from db import NewExperiment
from science.job_integrity import DataVersion
from science.reproduction import original_intervals

GENERATED = "generated"
NAME_LIMIT = 80


class RecordMissingError(LookupError):
    """No committed record of that experiment."""


@dataclass
class Record:
    exp_id: int
    tag: str
    sha: str
    folder: str
    experiment: dict[str, Any]
    plan: dict[str, Any]
    rating: dict[str, Any] | None
    code_sha256: str | None
    notes: list[str] = field(default_factory=list)
    #: each run's data versions as recorded (run id -> [{name, source, sha256, path}])
    data_versions: dict[str, Any] = field(default_factory=dict)


def read_record(lab_root: Path, exp_id: int) -> Record:
    """The committed record of experiment `exp_id`; RecordMissingError when there is none."""
    try:
        repo = git.Repo(lab_root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RecordMissingError(f"the lab has no git repository yet ({lab_root})") from None
    tag = f"exp/{exp_id}"
    if tag not in repo.tags:
        raise RecordMissingError(f"no tag {tag} in the lab's repository")
    commit = repo.tags[tag].commit
    try:
        folder = next(t for t in (commit.tree / "exp").trees if t.name.split("-", 1)[0] == str(exp_id))
    except (KeyError, StopIteration):
        raise RecordMissingError(f"tag {tag} holds no folder exp/{exp_id}-*") from None

    def read(name: str) -> Any:
        try:
            return json.loads((folder / name).data_stream.read())
        except KeyError:
            return None

    experiment, plan = read("experiment.json"), read("plan.json")
    if not isinstance(experiment, dict) or not isinstance(plan, dict):
        raise RecordMissingError(f"the record {folder.path} (tag {tag}) lacks experiment.json or plan.json")
    try:
        code = (folder / "code" / "SHA256").data_stream.read().decode().strip() or None
    except KeyError:
        code = None
    versions = read("data_versions.json")
    if not isinstance(versions, dict):  # a record from before data versions: the runs' results may hold them
        results = read("results.json")
        versions = {k: v.get("data_versions") for k, v in results.items() if isinstance(v, dict)} \
            if isinstance(results, dict) else {}
    return Record(exp_id, tag, commit.hexsha, str(folder.path), experiment, plan, read("rating.json"), code,
                  data_versions=versions)


def data_changes(record: Record) -> list[str]:
    """Each dataset the record's runs read whose file is no longer that version: its name, path and
    both sha256 (recorded, now); empty when the data is as recorded (or generated)."""
    seen: dict[tuple[str, str], DataVersion] = {}
    for raw in record.data_versions.values():
        for v in (DataVersion.from_json(x) for x in (raw if isinstance(raw, list) else [])):
            if v is not None and v.sha256 and v.path:
                seen.setdefault((v.name, v.sha256), v)
    out = []
    for v in seen.values():
        path = Path(v.path or "")
        if not path.is_file():
            out.append(f"{v.name}: {path} is gone (recorded sha256 {v.sha256})")
        elif (now := file_sha256(path)) != v.sha256:
            out.append(f"{v.name}: {path} changed: recorded sha256 {v.sha256}, now {now}")
    return out


def code_note(record: Record, module: str | None = None) -> str:
    """Whether the code that will run is the code the record holds."""
    if record.code_sha256 is None or record.experiment.get("catalog") == GENERATED:
        return ""
    module = module or os.environ.get("JOULELAB_EXPERIMENTS_MODULE") or "experiments"
    try:
        now = codesnap.tree_hash(codesnap.source_files(module))
    except codesnap.CodeNotFoundError:
        return f"the experiment package {module!r} cannot be found to compare its code with the record"
    if now == record.code_sha256:
        return f"code identical to the record (sha256 {now[:12]})"
    return (f"the code changed since the record (sha256 {record.code_sha256[:12]} -> {now[:12]}): the reproduction "
            f"runs today's code; `git diff {record.tag} -- {record.folder}/code` in the lab shows the record's")


def reproduction_of(record: Record, parent_exists: bool) -> NewExperiment:
    """The child experiment that re-runs the record: same entry, parameters, plan, seeds and
    deliverables; its modifications name the record and hold the CIs to compare with."""
    rec, exp_id = record.experiment, record.exp_id
    suffix = f"-repro-of-{exp_id}"
    name = str(rec.get("name") or rec["catalog"])[: NAME_LIMIT - len(suffix)] + suffix
    breakdown = Breakdown.read((record.rating or {}).get("breakdown"))
    quality = breakdown.quality_key
    metadata: dict[str, Any] = {"reproduction": {"of": exp_id, "tag": record.tag, "sha": record.sha}}
    if rec["catalog"] == GENERATED and "generated" in (rec.get("metadata") or {}):
        metadata["generated"] = rec["metadata"]["generated"]
    return NewExperiment(
        name=name, catalog=rec["catalog"], params=dict(rec["params"]), plan=list(record.plan["variants"]),
        seeds=int(rec["seeds"]),
        hypothesis=(f"Re-running experiment {exp_id} from its git record reproduces it: each variant's mean "
                    f"{quality} falls within the original 95 % confidence interval."),
        research_question=f"Does experiment {exp_id} reproduce from its record ({record.tag})?",
        deliverables=list(rec.get("deliverables") or []), metadata=metadata,
        parent_id=exp_id if parent_exists else None,
        modifications={"kind": "reproduction", "of": exp_id, "params": {},
                       "seeds": {"from": rec["seeds"], "to": rec["seeds"]},
                       "rationale": f"reproduction of experiment {exp_id} from its git record ({record.tag}, "
                                    f"commit {record.sha[:10]})",
                       "record": {"tag": record.tag, "sha": record.sha, "folder": record.folder},
                       "original": original_intervals(breakdown).to_json()},
        source="cli")
