"""`lab reproduce <id>`: an experiment re-run from its committed git record (tag `exp/<id>`), never
from its database row, as a child experiment; the new results are then compared with the 95 %
confidence intervals stored in the record's rating breakdown (science/reproduction.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from contract import codesnap
from contract.child_kinds import CommandKind
from contract.digests import file_sha256
from contract.experiment_metadata import ExperimentMetadata, ReproductionNote
from contract.jsonvalue import JsonObject, json_object
from contract.modifications import Modifications, RecordRef
from db import Experiment, NewExperiment
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
    #: the experiment as recorded: experiment.json with its plan (plan.json) and rating breakdown
    #: (rating.json; None: not rated)
    experiment: Experiment
    code_sha256: str | None
    notes: list[str] = field(default_factory=list)
    #: each run's data versions as recorded (run id -> its datasets)
    data_versions: dict[str, list[DataVersion]] = field(default_factory=dict)


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

    def read(name: str) -> JsonObject | None:
        try:
            return json_object(json.loads((folder / name).data_stream.read()))
        except KeyError:
            return None

    experiment, plan = read("experiment.json"), read("plan.json")
    if experiment is None or plan is None:
        raise RecordMissingError(f"the record {folder.path} (tag {tag}) lacks experiment.json or plan.json")
    rating = read("rating.json") or {}
    try:
        exp = Experiment.of({**experiment, "plan": plan.get("variants"), "rating_breakdown": rating.get("breakdown")})
    except (TypeError, ValueError) as exc:
        raise RecordMissingError(f"the record {folder.path} (tag {tag}) holds no experiment ({exc})") from None
    try:
        code = (folder / "code" / "SHA256").data_stream.read().decode().strip() or None
    except KeyError:
        code = None
    versions = read("data_versions.json")
    if versions is None:  # a record from before data versions: the runs' results may hold them
        results = read("results.json") or {}
        versions = {k: v.get("data_versions") for k, v in results.items() if isinstance(v, Mapping)}
    return Record(exp_id, tag, commit.hexsha, str(folder.path), exp, code, data_versions=_data_versions(versions))


def _data_versions(raw: JsonObject) -> dict[str, list[DataVersion]]:
    """Each run's datasets as recorded (a list of {name, source, sha256, path} per run id)."""
    out = {}
    for run_id, listed in raw.items():
        versions = (DataVersion.from_json(x) for x in (listed if isinstance(listed, list) else []))
        out[run_id] = [v for v in versions if v is not None]
    return out


def data_changes(record: Record) -> list[str]:
    """Each dataset the record's runs read whose file is no longer that version: its name, path and
    both sha256 (recorded, now); empty when the data is as recorded (or generated)."""
    seen: dict[tuple[str, str], DataVersion] = {}
    for versions in record.data_versions.values():
        for v in versions:
            if v.sha256 and v.path:
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
    if record.code_sha256 is None or record.experiment.catalog == GENERATED:
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
    name = (rec.name or rec.catalog)[: NAME_LIMIT - len(suffix)] + suffix
    breakdown = rec.breakdown
    quality = breakdown.quality_key
    metadata = ExperimentMetadata(reproduction=ReproductionNote(exp_id, record.tag, record.sha),
                                  generated=rec.metadata.generated if rec.catalog == GENERATED else None)
    return NewExperiment(
        name=name, catalog=rec.catalog, params=dict(rec.params), plan=rec.plan,
        seeds=int(rec.seeds),
        hypothesis=(f"Re-running experiment {exp_id} from its git record reproduces it: each variant's mean "
                    f"{quality} falls within the original 95 % confidence interval."),
        research_question=f"Does experiment {exp_id} reproduce from its record ({record.tag})?",
        deliverables=rec.deliverables, metadata=metadata,
        parent_id=exp_id if parent_exists else None,
        modifications=Modifications(
            kind=CommandKind.REPRODUCTION, of=exp_id, params={}, seeds={"from": rec.seeds, "to": rec.seeds},
            rationale=f"reproduction of experiment {exp_id} from its git record ({record.tag}, commit {record.sha[:10]})",
            record=RecordRef(record.tag, record.sha, record.folder), original=original_intervals(breakdown)),
        source="cli")
