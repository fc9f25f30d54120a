"""Job files and other experiment submissions: validated completely before anything is recorded.

Two formats are accepted (README "Job files"):

- the lab's own: `name`, `experiment` (catalog entry), `params`, `hypothesis`,
  `research_question`, `seeds`, `priority` (a number), `deliverables` (each with a `kind`),
  `metadata`, optional `parent`;
- the published pipeline format: `experiment_id` (an external id, kept and shown), `description`,
  `config` (`config.experiment` names the catalog entry, its other keys are the entry's
  parameters), `deliverables` (each with a `type`, what it is, and a `validation`, how it is
  checked: one of the lab's deliverable kinds, as a name or an object with its parameters),
  `analysis_pipeline` (steps `performance_analysis`, `ablation_study`, `baseline_comparison`,
  mapped onto the validator's analyses) and `metadata` (`priority`: high / normal / low); the
  lab's optional fields (`name`, `hypothesis`, `research_question`, `seeds`, `parent`) may be
  added. The published extras are kept in the experiment's metadata under `job`.

Every problem is reported at once, one line each, naming the field and what was expected.
Deliverables of a kind the lab cannot check are refused (agents/deliverables.py lists them).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents import deliverables as dl
from agents.catalog import Catalog, InvalidParams
from contract.limits import MAX_PRIORITY, MAX_SEEDS, MIN_PRIORITY, MIN_SEEDS, priority_problem, seeds_problem
from db import NewExperiment

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$")
MAX_JOB_BYTES = 1024 * 1024
JOB_FIELDS = {"name", "experiment", "params", "hypothesis", "research_question", "seeds", "priority",
              "deliverables", "metadata", "parent"}
PUBLISHED_FIELDS = {"experiment_id", "description", "config", "deliverables", "analysis_pipeline", "metadata",
                    "name", "hypothesis", "research_question", "seeds", "parent"}
PUBLISHED_MARKS = ("experiment_id", "config", "analysis_pipeline", "description")
PRIORITY_LEVELS = {"high": 10, "normal": 0, "low": -10}
#: analysis_pipeline steps -> what of the validator's analysis answers them (agents/job_results.py)
ANALYSES = {
    "performance_analysis": "each variant's quality, energy, time and size over seeds (mean, std, 95 % CI)",
    "baseline_comparison": "each variant against its reference: quality change with its 95 % CI, paired-t p over seeds, "
                           "efficiency score E, speedup, compression",
    "ablation_study": "each variant's changed parameters against its reference, and what they did to quality "
                      "and energy",
}
COMPARING = ("baseline_comparison", "ablation_study")  # need a plan with a reference and another variant
#: a published deliverable's `type` -> how it is checked when no `validation` says so
DEFAULT_VALIDATION = {"checkpoint": "exists_and_loadable", "model": "exists_and_loadable",
                      "tokenizer": "exists_and_loadable", "file": "exists", "artifact": "exists",
                      "metrics": "contains_keys", "results": "contains_keys", "report": "contains_sections"}
#: ... and which file it names when it names none (artifact kinds the harness reports; the lab's report)
DEFAULT_TARGET: dict[str, dict[str, str]] = {"checkpoint": {"artifact_kind": "checkpoint"},
                                             "model": {"artifact_kind": "checkpoint"},
                                             "tokenizer": {"artifact_kind": "tokenizer"},
                                             "report": {"target": dl.REPORT_TARGET}}


class JobError(ValueError):
    """A submission that cannot be accepted; `problems` holds one line per problem."""

    def __init__(self, problems: list[str], source: str = "job") -> None:
        self.problems = [one_line(p) for p in problems]
        self.source = one_line(source)
        problems = self.problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def one_line(text: str) -> str:
    """`text` with control characters escaped (a name from a job file may hold a newline)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


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

    @property
    def analyses(self) -> list[str]:
        """The analysis_pipeline steps asked for (published format), in order."""
        job = self.metadata.get("job") if isinstance(self.metadata.get("job"), dict) else {}
        return [s["step"] for s in job.get("analysis_pipeline", []) if isinstance(s, dict)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def check_name(name: Any) -> str | None:
    """The problem with an experiment name, or None."""
    if not isinstance(name, str) or not name:
        return "name: expected a non-empty string"
    if "/" in name or "\\" in name or ".." in name:
        return f"name: {name!r} must not contain path separators or '..'"
    if not NAME_PATTERN.match(name):
        return f"name: {name!r} must be 1-80 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
    return None


def _finite_json(value: Any) -> bool:
    """No NaN or infinity anywhere (JSON has none; Python's parser accepts them)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_json(v) for v in value)
    return True


def _common(data: dict[str, Any], problems: list[str], *, default_name: str) -> dict[str, Any]:
    """The fields both formats share: name, hypothesis, research question, seeds, parent."""
    name = data.get("name", default_name)
    if (problem := check_name(name)) is not None:
        problems.append(problem)
    for key in ("hypothesis", "research_question"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{key}: expected a string, got {_show(data[key])}")
    seeds = data.get("seeds", 1)
    if seeds_problem(seeds):
        problems.append(f"seeds: expected an integer from {MIN_SEEDS} to {MAX_SEEDS}, got {_show(seeds)}")
    parent = data.get("parent")
    if parent is not None and (not _is_int(parent) or parent < 1):
        problems.append(f"parent: expected the id of an existing experiment, got {_show(parent)}")
    return {"name": name, "hypothesis": data.get("hypothesis", ""),
            "research_question": data.get("research_question", ""), "seeds": seeds, "parent": parent}


def _deliverable_problems(items: Any, problems: list[str], label: str = "deliverables") -> None:
    if not isinstance(items, list):
        problems.append(f"{label}: expected a list of deliverable objects, got {_show(items)}")
        return
    for i, d in enumerate(items):
        problems += [f"{label}[{i}]: {p}" for p in dl.problems(d)]


def parse_job(data: Any) -> Job:
    """Check a job's shape, in either format (not yet its parameters, which the catalog checks)."""
    if not isinstance(data, dict):
        raise JobError([f"expected a JSON object: the lab's job ({', '.join(sorted(JOB_FIELDS))}) or the "
                        f"published format ({', '.join(sorted(PUBLISHED_FIELDS))}), got {type(data).__name__}"])
    if not _finite_json(data):
        raise JobError(["NaN or Infinity is not a JSON number: give finite numbers"])
    if any(k in data for k in PUBLISHED_MARKS):
        return parse_published(data)
    problems = [f"{k}: unknown field (known: {', '.join(sorted(JOB_FIELDS))})" for k in data if k not in JOB_FIELDS]
    experiment = data.get("experiment")
    if not isinstance(experiment, str) or not experiment:
        problems.append("experiment: expected the name of a catalog entry (see `lab list`)")
    common = _common(data, problems, default_name=experiment if isinstance(experiment, str) else "")
    for key, kind, label in (("params", dict, "an object of parameter values"), ("metadata", dict, "an object")):
        if key in data and not isinstance(data[key], kind):
            problems.append(f"{key}: expected {label}, got {_show(data[key])}")
    priority = data.get("priority", 0)
    if priority_problem(priority):
        problems.append(f"priority: expected an integer from {MIN_PRIORITY} to {MAX_PRIORITY}, got {_show(priority)}")
    _deliverable_problems(data.get("deliverables", []), problems)
    if problems:
        raise JobError(problems)
    return Job(experiment=experiment, params=dict(data.get("params", {})), priority=priority,
               deliverables=list(data.get("deliverables", [])), metadata=dict(data.get("metadata", {})), **common)


def _priority(metadata: dict[str, Any], problems: list[str]) -> int:
    value = metadata.get("priority", "normal")
    if isinstance(value, str) and value.lower() in PRIORITY_LEVELS:
        return PRIORITY_LEVELS[value.lower()]
    if not priority_problem(value):
        return int(value)
    problems.append(f"metadata.priority: expected {', '.join(PRIORITY_LEVELS)} (or an integer from {MIN_PRIORITY} "
                    f"to {MAX_PRIORITY}), got {_show(value)}")
    return 0


def _published_deliverable(i: int, d: Any, problems: list[str]) -> dict[str, Any] | None:
    """A published deliverable (`type`, `validation`) as the lab's (`kind` and its parameters)."""
    where = f"deliverables[{i}]"
    if not isinstance(d, dict):
        problems.append(f"{where}: expected an object with a 'type' and a 'validation'")
        return None
    kind_of = d.get("type")
    if "kind" in d and "validation" not in d:  # the lab's own form inside a published job
        out = dict(d)
    else:
        if not isinstance(kind_of, str) or not kind_of:
            problems.append(f"{where}.type: expected what the deliverable is (e.g. checkpoint, metrics, report)")
            return None
        validation = d.get("validation", DEFAULT_VALIDATION.get(kind_of.lower()))
        if validation is None:
            problems.append(f"{where}.validation: say how to check a {kind_of!r} (one of {', '.join(dl.KINDS)})")
            return None
        params: dict[str, Any] = {}
        if isinstance(validation, dict):
            params = {k: v for k, v in validation.items() if k not in ("kind", "type", "method")}
            validation = validation.get("kind", validation.get("type", validation.get("method")))
        if not isinstance(validation, str):
            problems.append(f"{where}.validation: expected one of {', '.join(dl.KINDS)} (a name, or an object "
                            "with a 'kind' and its parameters)")
            return None
        out = {**{k: v for k, v in d.items() if k != "validation"}, **params, "kind": validation}
        names_file = any(k in out for k in ("path", "artifact_kind", "target"))
        if out["kind"] in ("exists", "exists_and_loadable", "contains_sections") and not names_file:
            out.update(DEFAULT_TARGET.get(kind_of.lower(), {}))
    problems += [f"{where}: {p}" for p in dl.problems(out)]
    return out


def _analysis_steps(steps: Any, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(steps, list):
        problems.append(f"analysis_pipeline: expected a list of steps ({', '.join(ANALYSES)}), got {_show(steps)}")
        return []
    out = []
    for i, step in enumerate(steps):
        params: dict[str, Any] = {}
        if isinstance(step, dict):
            params = {k: v for k, v in step.items() if k not in ("step", "type", "name")}
            step = step.get("step", step.get("type", step.get("name")))
        if not isinstance(step, str) or step not in ANALYSES:
            problems.append(f"analysis_pipeline[{i}]: unknown step {_show(step)} (the lab's analyses: "
                            f"{', '.join(ANALYSES)})")
            continue
        out.append({"step": step, **params})
    return out


def parse_published(data: dict[str, Any]) -> Job:
    """A job in the published pipeline format, as the lab's Job (extras kept in metadata.job)."""
    problems = [f"{k}: unknown field of the published format (known: {', '.join(sorted(PUBLISHED_FIELDS))})"
                for k in data if k not in PUBLISHED_FIELDS and k not in ("experiment", "params")]
    if "experiment" in data or "params" in data:
        problems.append("experiment/params: a published job names its entry and parameters in `config` "
                        "(config.experiment and the other config keys); use one format or the other")
    external = data.get("experiment_id")
    if external is not None and not (isinstance(external, (str, int)) and not isinstance(external, bool)
                                     and 0 < len(str(external)) <= 200 and str(external).isprintable()):
        problems.append(f"experiment_id: expected a printable id of 1-200 characters, got {_show(external)}")
        external = None
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description: expected a string, got {_show(description)}")
        description = ""
    config = data.get("config")
    experiment, params = "", {}
    if not isinstance(config, dict):
        problems.append("config: expected an object with `experiment` (the catalog entry, see `lab list`) and "
                        "its parameters")
    else:
        experiment = config.get("experiment")
        if not isinstance(experiment, str) or not experiment:
            problems.append("config.experiment: expected the name of a catalog entry (see `lab list`)")
            experiment = ""
        params = {k: v for k, v in config.items() if k != "experiment"}
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        problems.append(f"metadata: expected an object, got {_show(metadata)}")
        metadata = {}
    priority = _priority(metadata, problems)
    ext_name = str(external) if external is not None and check_name(str(external)) is None else experiment
    common = _common(data, problems, default_name=ext_name)
    items = data.get("deliverables", [])
    deliverables: list[dict[str, Any]] = []
    if not isinstance(items, list):
        problems.append(f"deliverables: expected a list of deliverable objects, got {_show(items)}")
    else:
        deliverables = [d for i, item in enumerate(items) if (d := _published_deliverable(i, item, problems))]
    steps = _analysis_steps(data.get("analysis_pipeline", []), problems)
    if problems:
        raise JobError(problems)
    job_meta = {"format": "published", "experiment_id": None if external is None else str(external),
                "description": description, "analysis_pipeline": steps}
    return Job(experiment=experiment, params=params, priority=priority, deliverables=deliverables,
               metadata={**metadata, "job": job_meta}, **common)


def read_job_file(path: str | Path) -> Job:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JOB_BYTES:
            raise JobError([f"larger than {MAX_JOB_BYTES // 1024} KiB: a job is a small JSON object"], str(path))
        text = path.read_text()
    except FileNotFoundError:
        raise JobError(["no such file; give the path of a JSON job file"], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobError([f"cannot read it: {exc}"], str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobError([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"], str(path)) from None
    except RecursionError:
        raise JobError(["nested too deeply to be a job"], str(path)) from None
    try:
        return parse_job(data)
    except JobError as exc:
        raise JobError(exc.problems, str(path)) from None


def build_experiment(job: Job, catalog: Catalog, source: str = "cli") -> NewExperiment:
    """Validate the parameters against the catalog and expand the plan; JobError otherwise."""
    problems = [f"deliverables[{i}]: {p}" for i, d in enumerate(job.deliverables) for p in dl.problems(d)]
    if problems:
        raise JobError(problems)
    try:
        entry = catalog.get(job.experiment)
        plan = catalog.plan(job.experiment, job.params)
    except InvalidParams as exc:
        raise JobError([f"params.{p}: {m}" if p else m for p, m in exc.errors]) from None
    comparing = [s for s in job.analyses if s in COMPARING]
    if comparing and len(plan.variants) < 2:
        names = ", ".join(v["name"] for v in plan.variants)
        raise JobError([f"analysis_pipeline: {' and '.join(comparing)} compare variants with a baseline: "
                        f"{job.experiment} with these parameters plans only {names}; drop the step or choose an "
                        "entry with variants (see `lab list`)"])
    deliverables = job.deliverables or entry.deliverables
    return NewExperiment(
        name=job.name or job.experiment, catalog=job.experiment, params=plan.params, plan=plan.variants,
        seeds=job.seeds, hypothesis=job.hypothesis, research_question=job.research_question,
        priority=job.priority, deliverables=deliverables, metadata=job.metadata, parent_id=job.parent,
        modifications=job.modifications, source=source,
    )


def external_id(exp: dict[str, Any]) -> str | None:
    """The id a published job gave the experiment, or None."""
    job = (exp.get("metadata") or {}).get("job")
    value = job.get("experiment_id") if isinstance(job, dict) else None
    return value if isinstance(value, str) else None
