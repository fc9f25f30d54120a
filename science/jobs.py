"""Job files and other experiment submissions: validated completely before anything is recorded.

Three shapes are accepted (README "Job files"):

- the lab's own: `name`, `experiment` (catalog entry), `params`, `hypothesis`,
  `research_question`, `seeds`, `priority` (a number), `deliverables` (each with a `kind`),
  `metadata`, optional `parent` (a lab id or an external id), `modifications`, `rationale`;
- the published pipeline format (science/job_published.py): `experiment_id`, `config`,
  `deliverables` with a `type` and a `validation`, `analysis_pipeline`, `metadata.priority` ...;
- its genealogy file: `parent_experiment`, `modifications` (`parameter`, `from`, `to`),
  `rationale`, `hypothesis` (science/job_genealogy.py): the parent's configuration, changed.

A file is JSON with comments (science/jobfile.py). Every problem is reported at once, one line
each, naming the field and what was expected: the file's shape (`draft`), its parent
(science/job_submission.py) and what the catalog says of its parameters and plan (`check`), in one
answer. Deliverables of a kind the lab cannot check are refused (science/deliverable_spec.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from contract.catalog_answer import CatalogEntry
from contract.deliverable import Deliverable
from contract.experiment_metadata import ExperimentMetadata, PublishedJob, metadata_of
from contract.jsonvalue import JsonObject, JsonValue, json_object, text_at
from contract.limits import MAX_PRIORITY, MAX_SEEDS, MIN_PRIORITY, MIN_SEEDS, priority_problem, seeds_problem
from contract.modifications import Modifications
from db import Experiment, NewExperiment
from science import deliverable_spec as spec
from science import job_published as pub
from science import jobfile
from science.catalog import Catalog, InvalidParamsError
from science.job_genealogy import Lineage
from science.job_genealogy import parse as parse_lineage

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$")
MAX_JOB_BYTES = jobfile.MAX_JOB_BYTES
JOB_FIELDS = {"name", "experiment", "params", "hypothesis", "research_question", "seeds", "priority",
              "deliverables", "metadata", "parent", "modifications", "rationale"}
PUBLISHED_FIELDS = pub.FIELDS
ANALYSES = pub.ANALYSES
COMPARING = ("baseline_comparison", "ablation_study")  # need a plan with a reference and another variant
WANDB_PROJECT, WANDB_ENTITY = "wandb_project", "wandb_entity"


class JobError(ValueError):
    """A submission that cannot be accepted; `problems` holds one line per problem."""

    def __init__(self, problems: list[str], source: str = "job") -> None:
        self.problems = list(dict.fromkeys(one_line(p) for p in problems))  # a problem two checks found, once
        self.source = one_line(source)
        super().__init__("\n".join(f"{self.source}: {p}" for p in self.problems))


def one_line(text: str) -> str:
    """`text` with control characters escaped (a name from a job file may hold a newline)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


@dataclass(frozen=True)
class Job:
    """A submission as the lab reads it. `lineage`: the parent it derives from and the changes,
    resolved against the parent when it is submitted (then `parent` holds the parent's lab id);
    `published`: what a published job said beyond the lab's fields. The parameters, deliverables,
    metadata and modifications are the file's JSON, checked: the catalog coerces the parameters
    (`check`), the deliverables are checked by kind (science/deliverables.py)."""
    experiment: str
    params: Mapping[str, JsonValue] = field(default_factory=dict)
    name: str = ""
    hypothesis: str = ""
    research_question: str = ""
    seeds: int = 1
    priority: int = 0
    deliverables: tuple[Deliverable, ...] = ()
    metadata: ExperimentMetadata = field(default_factory=ExperimentMetadata)
    parent: int | None = None
    modifications: Modifications = field(default_factory=Modifications)
    lineage: Lineage | None = None
    published: pub.Published | None = None
    #: fields the file gave (a genealogy child takes the others from its parent)
    given: frozenset[str] = frozenset()

    @property
    def analyses(self) -> list[str]:
        """The analysis_pipeline steps asked for (published format), in order."""
        job = self.metadata.job
        return [s.step for s in job.analysis_pipeline if s.step] if job else []


def check_name(name: object) -> str | None:
    """The problem with an experiment name, or None."""
    if not isinstance(name, str) or not name:
        return "name: expected a non-empty string"
    if "/" in name or "\\" in name or ".." in name:
        return f"name: {name!r} must not contain path separators or '..'"
    if not NAME_PATTERN.match(name):
        return f"name: {name!r} must be 1-80 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
    return None


def _finite_json(value: JsonValue) -> bool:
    """No NaN or infinity anywhere (JSON has none; Python's parser accepts them). Iterative: a
    value from elsewhere than a job file may be deep."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


@dataclass(frozen=True)
class _Common:
    """The fields every format shares."""
    name: str
    hypothesis: str
    research_question: str
    seeds: int


def _common(data: JsonObject, problems: list[str], *, default_name: str) -> _Common:
    """The fields every format shares: name, hypothesis, research question, seeds."""
    name = data.get("name", default_name)
    if (problem := check_name(name)) is not None and ("name" in data or default_name):
        problems.append(problem)
    for key in ("hypothesis", "research_question"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key}: expected a string, got {pub.show(data[key])}")
    seeds = data.get("seeds", 1)
    if seeds_problem(seeds) or not isinstance(seeds, int):
        problems.append(f"seeds: expected an integer from {MIN_SEEDS} to {MAX_SEEDS}, got {pub.show(seeds)}")
        seeds = 1
    return _Common(name if isinstance(name, str) else "", text_at(data, "hypothesis") or "",
                   text_at(data, "research_question") or "", seeds)


def _lab_format(data: JsonObject, problems: list[str]) -> Job:
    problems += [f"{k}: unknown field (known: {', '.join(sorted(JOB_FIELDS))})" for k in data if k not in JOB_FIELDS]
    lineage = parse_lineage(data, problems, inherit="experiment" not in data)
    experiment = data.get("experiment")
    if not (isinstance(experiment, str) and experiment) and not (lineage and lineage.inherit):
        problems.append("experiment: expected the name of a catalog entry (see `lab list`)")
    experiment = experiment if isinstance(experiment, str) else ""
    common = _common(data, problems, default_name=experiment)
    for key, label in (("params", "an object of parameter values"), ("metadata", "an object")):
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{key}: expected {label}, got {pub.show(data[key])}")
    priority = data.get("priority", 0)
    if priority_problem(priority) or not isinstance(priority, int):
        problems.append(f"priority: expected an integer from {MIN_PRIORITY} to {MAX_PRIORITY}, got "
                        f"{pub.show(priority)}")
        priority = 0
    items = data.get("deliverables", [])
    deliverables: list[Deliverable] = []
    if not isinstance(items, list):
        problems.append(f"deliverables: expected a list of deliverable objects, got {pub.show(items)}")
    else:
        for i, d in enumerate(items):
            problems += [f"deliverables[{i}]: {p}" for p in spec.problems(d)]
            if (obj := json_object(d)) is not None:
                deliverables.append(Deliverable.of(obj))
    params = json_object(data.get("params")) or {}
    metadata = json_object(data.get("metadata")) or {}
    return Job(experiment=experiment, params=dict(params), priority=priority, deliverables=tuple(deliverables),
               metadata=metadata_of(metadata), lineage=lineage, given=frozenset(data), name=common.name,
               hypothesis=common.hypothesis, research_question=common.research_question, seeds=common.seeds)


def _published(data: JsonObject, problems: list[str]) -> Job:
    problems += [f"{k}: unknown field of the published format (known: {', '.join(sorted(pub.FIELDS))})"
                 for k in data if k not in pub.FIELDS and k not in ("experiment", "params")]
    if "experiment" in data or "params" in data:
        problems.append("experiment/params: a published job names its entry and parameters in `config` "
                        "(config.experiment and the other config keys); use one format or the other")
    external = pub.external_id(data.get("experiment_id"), problems)
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description: expected a string, got {pub.show(description)}")
        description = ""
    lineage = pub.lineage(data, problems)
    experiment, params, named = pub.config(data, problems, inherit=lineage is not None)
    given_metadata = data.get("metadata", {})
    metadata = json_object(given_metadata)
    if metadata is None:
        problems.append(f"metadata: expected an object, got {pub.show(given_metadata)}")
        metadata = {}
    priority = pub.priority(metadata, problems)
    ext_name = external if external is not None and check_name(external) is None else experiment
    common = _common(data, problems, default_name=ext_name)
    deliverables = pub.deliverables(data.get("deliverables", []), problems)
    steps = pub.analysis_steps(data.get("analysis_pipeline", []), problems)
    published = pub.Published(PublishedJob(external, description, steps), tuple(params), named)
    given = frozenset(data) | (frozenset({"priority"}) if "priority" in metadata else frozenset())
    return Job(experiment=experiment, params=params, priority=priority, deliverables=deliverables,
               metadata=replace(metadata_of(metadata), job=published.job), lineage=lineage, published=published,
               given=given, name=common.name, hypothesis=common.hypothesis,
               research_question=common.research_question, seeds=common.seeds)


def draft(given: JsonValue) -> tuple[Job, list[str]]:
    """The job as far as it reads, with every problem of its shape (none: it is well formed)."""
    data = json_object(given)
    if data is None:
        return Job(""), [f"expected a JSON object: the lab's job ({', '.join(sorted(JOB_FIELDS))}) or the "
                         f"published format ({', '.join(sorted(pub.FIELDS))}), got {type(given).__name__}"]
    if not _finite_json(data):
        return Job(""), ["NaN or Infinity is not a JSON number: give finite numbers"]
    problems: list[str] = []
    job = _published(data, problems) if any(k in data for k in pub.MARKS) else _lab_format(data, problems)
    return job, problems


def parse_job(data: JsonValue) -> Job:
    """Check a job's shape, in any format (not yet its parameters, which the catalog checks)."""
    job, problems = draft(data)
    if problems:
        raise JobError(problems)
    return job


def parse_published(data: JsonObject) -> Job:
    return parse_job(data)


def read_job(path: str | Path) -> tuple[Job, list[str]]:
    """A job file read as far as it goes; JobError (one line) when the file itself is unreadable."""
    try:
        return draft(jobfile.read(Path(path)))
    except jobfile.UnreadableJobError as exc:
        raise JobError([str(exc)], str(path)) from None


def read_job_file(path: str | Path) -> Job:
    job, problems = read_job(path)
    if problems:
        raise JobError(problems, str(path))
    return job


def entry_for(job: Job, catalog: Catalog) -> tuple[str, list[str]]:
    """The catalog entry a published config without `experiment` means: the one entry that takes
    every key it gives."""
    keys = set(job.published.config_keys if job.published else job.params)
    entries = catalog.entries()
    fits = sorted(n for n, e in entries.items() if keys <= {p.name for p in e.params})
    if len(fits) == 1:
        return fits[0], []
    listed = ", ".join(sorted(keys)) or "no parameter"
    if not fits:
        near = max(entries.values(), key=lambda e: len(keys & {p.name for p in e.params}), default=None)
        hint = "" if near is None else f" (closest: {near.name}, which lacks " \
            f"{', '.join(sorted(keys - {p.name for p in near.params}))})"
        return "", [f"config.experiment: missing, and no catalog entry takes {listed}{hint}; name the entry as "
                    "config.experiment (see `lab list`)"]
    return "", [f"config.experiment: missing, and {', '.join(fits)} all take {listed}; name one as config.experiment"]


def _scoped(deliverables: tuple[Deliverable, ...], entry: CatalogEntry) -> tuple[Deliverable, ...]:
    """A submitted deliverable that names no variant is checked on the variant the entry declares
    for them (e.g. the fine-tuned model, not the base model it is compared with)."""
    if not entry.deliverables_variant:
        return deliverables
    return tuple(d if "variant" in d.given else Deliverable.of({**d.given, "variant": entry.deliverables_variant})
                 for d in deliverables)


def _tracked(job: Job, entry: CatalogEntry, problems: list[str]) -> JsonObject:
    """The parameters, with the W&B project of a `synced_and_downloadable` deliverable given to an
    entry that logs to W&B (`wandb_project`); a problem for an entry that does not."""
    params = dict(job.params)
    for i, d in enumerate(job.deliverables):
        project, entity = d.project, d.text("entity")
        if d.kind != spec.DeliverableKind.SYNCED_AND_DOWNLOADABLE or project is None:
            continue
        if entry.param(WANDB_PROJECT) is None:
            problems.append(f"deliverables[{i}]: {entry.name} does not log its runs to W&B (the finetune entry "
                            "does); `lab export --wandb` sends any experiment's runs")
            continue
        params.setdefault(WANDB_PROJECT, project)
        if entity is not None:
            params.setdefault(WANDB_ENTITY, entity)
    return params


def check(job: Job, catalog: Catalog, source: str = "cli") -> tuple[NewExperiment | None, list[str]]:
    """The experiment the job makes, or the problems the catalog finds (its entry, parameters,
    plan and the deliverables' fit), every one of them."""
    problems = [f"deliverables[{i}]: {p}" for i, d in enumerate(job.deliverables) for p in spec.problems(d.given)]
    experiment = job.experiment
    if not experiment and job.published is not None and not job.published.entry_named:
        experiment, more = entry_for(job, catalog)
        problems += more
        if experiment:
            job = replace(job, experiment=experiment, name=job.name or experiment)
    if not experiment:
        return None, problems
    try:
        entry = catalog.get(experiment)
        params = _tracked(job, entry, problems)
        plan = catalog.plan(experiment, params)
    except InvalidParamsError as exc:
        return None, problems + [f"params.{p}: {m}" if p else m for p, m in exc.errors]
    comparing = [s for s in job.analyses if s in COMPARING]
    if comparing and len(plan.variants) < 2:
        names = ", ".join(v.name for v in plan.variants)
        problems.append(f"analysis_pipeline: {' and '.join(comparing)} compare variants with a baseline: "
                        f"{experiment} with these parameters plans only {names}; drop the step or choose an "
                        "entry with variants (see `lab list`)")
    if problems:
        return None, problems
    deliverables = _scoped(job.deliverables, entry) if job.deliverables else entry.deliverables
    return NewExperiment(
        name=job.name or experiment, catalog=experiment, params=plan.params, plan=plan.variants,
        seeds=job.seeds, hypothesis=job.hypothesis, research_question=job.research_question,
        priority=job.priority, deliverables=deliverables, metadata=job.metadata, parent_id=job.parent,
        modifications=job.modifications, source=source,
    ), []


def build_experiment(job: Job, catalog: Catalog, source: str = "cli") -> NewExperiment:
    """Validate the parameters against the catalog and expand the plan; JobError otherwise."""
    new, problems = check(job, catalog, source)
    if new is None:
        raise JobError(problems or ["experiment: expected the name of a catalog entry (see `lab list`)"])
    return new


def external_id(exp: Experiment) -> str | None:
    """The id a published job gave the experiment, or None."""
    return exp.metadata.job.experiment_id if exp.metadata.job else None
