"""Job files and other experiment submissions: validated completely before anything is recorded.

A job (JSON): `name`, `experiment` (catalog entry), `params`, `hypothesis`, `research_question`,
`seeds`, `priority`, `deliverables`, `metadata`, optional `parent`. Every problem is reported
at once, one line each, naming the field and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.catalog import Catalog, InvalidParams
from db import NewExperiment

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$")
MAX_SEEDS = 20
JOB_FIELDS = {"name", "experiment", "params", "hypothesis", "research_question", "seeds", "priority",
              "deliverables", "metadata", "parent"}


class JobError(ValueError):
    """A submission that cannot be accepted; `problems` holds one line per problem."""

    def __init__(self, problems: list[str], source: str = "job") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass
class Job:
    experiment: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    hypothesis: str = ""
    research_question: str = ""
    seeds: int = 1
    priority: int = 0
    deliverables: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    parent: int | None = None
    modifications: dict[str, Any] = field(default_factory=dict)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_name(name: Any) -> str | None:
    """The problem with an experiment name, or None."""
    if not isinstance(name, str) or not name:
        return "name: expected a non-empty string"
    if "/" in name or "\\" in name or ".." in name:
        return f"name: {name!r} must not contain path separators or '..'"
    if not NAME_PATTERN.match(name):
        return f"name: {name!r} must be 1-80 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
    return None


def parse_job(data: Any) -> Job:
    """Check a job's shape (not yet its parameters, which the catalog checks)."""
    if not isinstance(data, dict):
        raise JobError([f"expected a JSON object with the fields {', '.join(sorted(JOB_FIELDS))}, "
                        f"got {type(data).__name__}"])
    problems = [f"{k}: unknown field (known: {', '.join(sorted(JOB_FIELDS))})" for k in data if k not in JOB_FIELDS]
    experiment = data.get("experiment")
    if not isinstance(experiment, str) or not experiment:
        problems.append("experiment: expected the name of a catalog entry (see `lab list`)")
    name = data.get("name", experiment if isinstance(experiment, str) else "")
    if (problem := check_name(name)) is not None:
        problems.append(problem)
    for key, kind, label in (("params", dict, "an object of parameter values"),
                             ("metadata", dict, "an object"),
                             ("deliverables", list, "a list of deliverable objects"),
                             ("hypothesis", str, "a string"), ("research_question", str, "a string")):
        if key in data and not isinstance(data[key], kind):
            problems.append(f"{key}: expected {label}, got {json.dumps(data[key])[:40]}")
    seeds = data.get("seeds", 1)
    if not _is_int(seeds) or not 1 <= seeds <= MAX_SEEDS:
        problems.append(f"seeds: expected an integer from 1 to {MAX_SEEDS}, got {json.dumps(seeds)[:40]}")
    priority = data.get("priority", 0)
    if not _is_int(priority) or not -1000 <= priority <= 1000:
        problems.append(f"priority: expected an integer from -1000 to 1000, got {json.dumps(priority)[:40]}")
    parent = data.get("parent")
    if parent is not None and (not _is_int(parent) or parent < 1):
        problems.append(f"parent: expected the id of an existing experiment, got {json.dumps(parent)[:40]}")
    for i, deliverable in enumerate(data.get("deliverables", []) if isinstance(data.get("deliverables"), list) else []):
        if not isinstance(deliverable, dict) or not isinstance(deliverable.get("kind"), str):
            problems.append(f"deliverables[{i}]: expected an object with a 'kind'")
    if problems:
        raise JobError(problems)
    return Job(experiment=experiment, params=dict(data.get("params", {})), name=name,
               hypothesis=data.get("hypothesis", ""), research_question=data.get("research_question", ""),
               seeds=seeds, priority=priority, deliverables=list(data.get("deliverables", [])),
               metadata=dict(data.get("metadata", {})), parent=parent)


def read_job_file(path: str | Path) -> Job:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise JobError([f"no such file; give the path of a JSON job file"], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError([f"cannot read it: {exc}"], str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobError([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"], str(path)) from None
    try:
        return parse_job(data)
    except JobError as exc:
        raise JobError(exc.problems, str(path)) from None


def build_experiment(job: Job, catalog: Catalog, source: str = "cli") -> NewExperiment:
    """Validate the parameters against the catalog and expand the plan; JobError otherwise."""
    try:
        entry = catalog.get(job.experiment)
        plan = catalog.plan(job.experiment, job.params)
    except InvalidParams as exc:
        raise JobError([f"params.{p}: {m}" if p else m for p, m in exc.errors]) from None
    deliverables = job.deliverables or entry.deliverables
    return NewExperiment(
        name=job.name or job.experiment, catalog=job.experiment, params=plan.params, plan=plan.variants,
        seeds=job.seeds, hypothesis=job.hypothesis, research_question=job.research_question,
        priority=job.priority, deliverables=deliverables, metadata=job.metadata, parent_id=job.parent,
        modifications=job.modifications, source=source,
    )
