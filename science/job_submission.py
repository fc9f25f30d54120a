"""A job made ready to record, in one pass: its parent found (by lab id or external id), a genealogy
child's configuration taken from the parent with the modifications applied, then the catalog's
check; every problem of the file, from its shape to its parameters, in one JobError."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from contract import config
from contract.experiment_metadata import ExperimentMetadata, ModelAlias, PublishedJob
from contract.jsonvalue import JsonObject
from contract.modifications import Modifications
from db import Experiment, NewExperiment
from science import job_genealogy
from science.catalog import Catalog, InvalidParamsError
from science.jobs import Job, JobError, check, check_name, external_id

CHILD_SUFFIX = "-child"
MODELS = "models"          # config.toml's section of model aliases
MODEL_PARAM = "model_name"


class Experiments(Protocol):
    """What this needs of the store."""

    async def get_experiment(self, exp_id: int) -> Experiment | None: ...

    async def list_experiments(self, statuses: list[str] | None = None,
                               limit: int | None = None) -> list[Experiment]: ...


async def find_parent(store: Experiments, lineage: job_genealogy.Lineage, problems: list[str]) -> Experiment | None:
    """The parent experiment a lineage names, or a problem saying why there is none."""
    ref = lineage.parent
    if isinstance(ref, int):
        found = await store.get_experiment(ref)
        if found is None:
            problems.append(f"{lineage.field}: no experiment with id {ref} (see `lab status`)")
        return found
    matches = [e for e in await store.list_experiments() if external_id(e) == ref]
    if len(matches) > 1:
        problems.append(f"{lineage.field}: the external id {ref!r} names experiments "
                        f"{', '.join(str(e.id) for e in matches)}; give the lab id of the one you mean")
        return None
    if not matches:
        problems.append(f"{lineage.field}: no experiment has the external id {ref!r} (nor is it a lab id); "
                        "`lab status` lists them")
        return None
    return matches[0]


def _job_meta(job: Job, parent: Experiment) -> ExperimentMetadata:
    """The child's metadata: its own, with the parent's published description and analysis
    pipeline where the child gave none."""
    theirs, mine = parent.metadata.job, job.metadata.job
    base = mine or theirs
    if base is None:
        return job.metadata
    inherited = theirs is not None and "description" not in job.given
    steps_inherited = theirs is not None and "analysis_pipeline" not in job.given
    merged = PublishedJob(mine.experiment_id if mine else None,
                          theirs.description if inherited and theirs else base.description,
                          theirs.analysis_pipeline if steps_inherited and theirs else base.analysis_pipeline)
    return replace(job.metadata, job=merged)


def _inherited(job: Job, parent: Experiment, declared: list[str], problems: list[str]) -> Job:
    """The child: the parent's configuration (or the job's own entry and parameters), changed as
    the lineage says, with what the file left out taken from the parent."""
    lineage = job.lineage
    assert lineage is not None
    label = f"experiment {parent.id}" + (f" ({ext})" if (ext := external_id(parent)) else "")
    base: JsonObject
    if lineage.inherit:
        base, experiment = dict(parent.params), parent.catalog
    else:
        base, experiment = dict(job.params), job.experiment
        implied = tuple(job_genealogy.Change(k, v, parent.params[k], True) for k, v in job.params.items()
                        if experiment == parent.catalog and k in parent.params and parent.params[k] != v
                        and all(c.parameter != k for c in lineage.changes))
        lineage = replace(lineage, changes=lineage.changes + implied)
    params = job_genealogy.apply(lineage, parent.params, base, declared, label, problems)
    name = job.name if job.name and check_name(job.name) is None else \
        (str(parent.name)[: 80 - len(CHILD_SUFFIX)] + CHILD_SUFFIX)
    record = job_genealogy.record(lineage, parent.params, parent.id, external_id(parent))
    mods = Modifications.from_json({**job.modifications.to_json(), **record.to_json()})
    if "seeds" not in job.given:
        mods = replace(mods, seeds={"from": parent.seeds, "to": parent.seeds})
    return replace(
        job, experiment=experiment, params=params, name=name, parent=int(parent.id), modifications=mods,
        seeds=job.seeds if "seeds" in job.given else int(parent.seeds),
        priority=job.priority if "priority" in job.given else int(parent.priority),
        deliverables=job.deliverables if "deliverables" in job.given else parent.deliverables,
        research_question=job.research_question or str(parent.research_question or ""),
        metadata=_job_meta(job, parent))


def _declared(catalog: Catalog, entry: str, problems: list[str]) -> list[str]:
    try:
        return [p.name for p in catalog.get(entry).params]
    except InvalidParamsError as exc:
        problems += [m for _, m in exc.errors]
        return []


def model_aliases(config_file: Path) -> dict[str, str]:
    """config.toml's `[models]`: a model name -> the local folder it stands for (a relative path is
    taken from the lab directory); ConfigError names a bad entry."""
    section = config.table(config.read(config_file), MODELS)
    out = {}
    for name, value in section.items():
        if not isinstance(value, str) or not value.strip():
            raise config.ConfigError(f"[{MODELS}] {name!r} must be the path of a local model folder, got {value!r}")
        path = Path(os.path.expanduser(value))
        out[str(name)] = str(path if path.is_absolute() else (config_file.parent / path).resolve())
    return out


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_models(job: Job, aliases: Mapping[str, str], problems: list[str]) -> Job:
    """`model_name` given as an alias from config.toml `[models]` becomes its folder (the alias is
    kept in the metadata); a hub id on a machine that says it is offline is a problem."""
    name = job.params.get(MODEL_PARAM)
    if not isinstance(name, str) or not name.strip():
        return job
    if name in aliases:
        return replace(job, params={**job.params, MODEL_PARAM: aliases[name]},
                       metadata=replace(job.metadata, model_alias=ModelAlias(name, aliases[name])))
    local = name.startswith(("/", "~", ".")) or (os.sep in name and Path(os.path.expanduser(name)).exists())
    if not local and _offline():
        known = f" (its aliases: {', '.join(sorted(aliases))})" if aliases else ""
        problems.append(f"params.{MODEL_PARAM}: {name!r} is not a local folder nor an alias in config.toml "
                        f"[{MODELS}]{known}, and HF_HUB_OFFLINE says this machine cannot download it: add "
                        f"[{MODELS}] \"{name}\" = \"/path/to/its/folder\" to config.toml")
    return job


async def prepare(job: Job, problems: list[str], catalog: Catalog, store: Experiments,
                  source: str = "job", models: Mapping[str, str] | None = None) -> NewExperiment:
    """The experiment to record; JobError with every problem found (those of the file's shape,
    `problems`, included). `models`: config.toml's model aliases."""
    problems = list(problems)
    if job.lineage is not None:
        parent = await find_parent(store, job.lineage, problems)
        if parent is not None:
            entry = parent.catalog if job.lineage.inherit else job.experiment
            declared = await asyncio.to_thread(_declared, catalog, entry, problems) if entry else []
            job = _inherited(job, parent, declared, problems)
    job = resolve_models(job, models or {}, problems)
    if job.experiment or (job.published is not None and not job.published.entry_named and job.lineage is None):
        new, more = await asyncio.to_thread(check, job, catalog, source)
        problems += more
    else:
        new = None
    if problems or new is None:
        raise JobError(problems or ["experiment: expected the name of a catalog entry (see `lab list`)"])
    return new
