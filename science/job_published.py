"""Jobs in the published pipeline format (the automated-pipeline document, sections 2 and 8),
read into the lab's Job: `experiment_id`, `name`, `description`, `hypothesis`,
`research_question`, `config` (the entry's parameters; `config.experiment` names the entry, or
the one entry that takes every config key is chosen), `deliverables` (a `type`, what it is, and a
`validation`, how it is checked), `analysis_pipeline`, `metadata` (`priority` high / normal /
low), and the genealogy fields (`parent_experiment`, `modifications`, `rationale`). The published
extras are kept in the experiment's metadata under `job` (`Published.to_json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from contract.deliverable import Deliverable, normalize
from contract.experiment_metadata import AnalysisStep, PublishedJob
from contract.jsonvalue import JsonObject, JsonValue, json_object
from contract.limits import MAX_PRIORITY, MIN_PRIORITY, priority_problem
from science import deliverable_spec as spec
from science import job_genealogy

FIELDS = {"experiment_id", "name", "description", "hypothesis", "research_question", "config", "deliverables",
          "analysis_pipeline", "metadata", "seeds", "parent", "parent_experiment", "modifications", "rationale"}
#: fields that say a job is in the published format (the lab's own has `experiment` and `params`)
MARKS = ("experiment_id", "config", "analysis_pipeline", "description", "parent_experiment", "modifications")
PRIORITY_LEVELS = {"high": 10, "normal": 0, "low": -10}
#: analysis_pipeline steps -> what answers them (records/results_payload.py, records/analysis_reports.py)
ANALYSES = {
    "performance_analysis": "training curves, anomalies (divergence, loss spikes, overfitting), bottlenecks "
                            "(where the time and memory went) and recommendations, from each run's history; "
                            "each variant's quality, energy, time and size over seeds (mean, std, 95 % CI)",
    "baseline_comparison": "each variant against its declared reference with the validator's statistics: quality "
                           "change with its 95 % CI, paired-t p over seeds, efficiency score E, speedup, compression",
    "ablation_study": "each variant's changed parameters against its reference and what they did to quality and "
                      "energy; follow-up designs that isolate each variable, as genealogy files",
}
#: a deliverable's `type` -> how it is checked when no `validation` says so (the document's list)
DEFAULT_VALIDATION = {
    "checkpoint": "exists_and_loadable", "model": "exists_and_loadable", "model_checkpoint": "exists_and_loadable",
    "tokenizer": "exists_and_loadable", "file": "exists", "artifact": "exists", "plot": "exists", "plots": "exists",
    "system_metrics": "exists", "metrics": "contains_keys", "results": "contains_keys",
    "training_metrics": "contains_keys", "evaluation_results": "threshold", "report": "contains_sections",
    "reports": "contains_sections", "comparison": "statistical_test", "comparisons": "statistical_test",
    "config": "matches_expected", "wandb_run": "synced_and_downloadable",
}
#: ... and which file it names when it names none (artifact kinds the harness reports; the lab's report)
DEFAULT_TARGET: dict[str, dict[str, str]] = {"checkpoint": {"artifact_kind": "checkpoint"},
                                             "model": {"artifact_kind": "checkpoint"},
                                             "model_checkpoint": {"artifact_kind": "checkpoint"},
                                             "tokenizer": {"artifact_kind": "tokenizer"},
                                             "report": {"target": spec.REPORT_TARGET},
                                             "reports": {"target": spec.REPORT_TARGET}}
NAMES_A_FILE = ("exists", "exists_and_loadable", "contains_sections")


@dataclass(frozen=True)
class Published:
    """What a published job says beyond the lab's own fields: what is kept as metadata.job, and the
    parameters `config` gave and whether it named its entry (to find the entry when it names none)."""
    job: PublishedJob
    config_keys: tuple[str, ...] = ()
    entry_named: bool = True


def show(value: object) -> str:
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError):
        return repr(value)[:40]


def priority(metadata: Mapping[str, JsonValue], problems: list[str]) -> int:
    value = metadata.get("priority", "normal")
    if isinstance(value, str) and value.lower() in PRIORITY_LEVELS:
        return PRIORITY_LEVELS[value.lower()]
    if not priority_problem(value) and isinstance(value, int):
        return value
    problems.append(f"metadata.priority: expected {', '.join(PRIORITY_LEVELS)} (or an integer from {MIN_PRIORITY} "
                    f"to {MAX_PRIORITY}), got {show(value)}")
    return 0


def deliverable(i: int, item: JsonValue, problems: list[str]) -> JsonObject | None:
    """A published deliverable (`type`, `validation`, the document's field names) as the lab's
    (`kind` and its parameters, the lab's names)."""
    where = f"deliverables[{i}]"
    given = json_object(item)
    if given is None:
        problems.append(f"{where}: expected an object with a 'type' and a 'validation'")
        return None
    d, renamed = normalize(given)
    problems += [f"{where}: {p}" for p in renamed]
    kind_of = d.get("type")
    if "kind" in d and "validation" not in d:  # the lab's own form inside a published job
        out = dict(d)
    else:
        if not isinstance(kind_of, str) or not kind_of:
            problems.append(f"{where}.type: expected what the deliverable is (e.g. model_checkpoint, "
                            "training_metrics, report)")
            return None
        validation = d.get("validation", DEFAULT_VALIDATION.get(kind_of.lower()))
        if validation is None:
            problems.append(f"{where}.validation: say how to check a {kind_of!r} (one of {', '.join(spec.KINDS)})")
            return None
        params: JsonObject = {}
        if isinstance(validation, Mapping):
            params, more = normalize({k: v for k, v in validation.items() if k not in ("kind", "type", "method")})
            problems += [f"{where}.validation: {p}" for p in more]
            validation = validation.get("kind", validation.get("type", validation.get("method")))
        if not isinstance(validation, str):
            problems.append(f"{where}.validation: expected one of {', '.join(spec.KINDS)} (a name, or an object "
                            "with a 'kind' and its parameters)")
            return None
        out = {**{k: v for k, v in d.items() if k != "validation"}, **params, "kind": validation}
        names_file = any(k in out for k in ("path", "artifact_kind", "target"))
        if out["kind"] in NAMES_A_FILE and not names_file:
            out.update(DEFAULT_TARGET.get(kind_of.lower(), {}))
    problems += [f"{where}: {p}" for p in spec.problems(out)]
    return out


def deliverables(items: JsonValue, problems: list[str]) -> tuple[Deliverable, ...]:
    if not isinstance(items, list):
        problems.append(f"deliverables: expected a list of deliverable objects, got {show(items)}")
        return ()
    return tuple(Deliverable.of(d) for i, item in enumerate(items) if (d := deliverable(i, item, problems)))


def analysis_steps(steps: JsonValue, problems: list[str]) -> tuple[AnalysisStep, ...]:
    if not isinstance(steps, list):
        problems.append(f"analysis_pipeline: expected a list of steps ({', '.join(ANALYSES)}), got {show(steps)}")
        return ()
    out = []
    for i, given in enumerate(steps):
        options: JsonObject = {}
        step = given
        if isinstance(given, Mapping):
            options = {k: v for k, v in given.items() if k not in ("step", "type", "name")}
            step = given.get("step", given.get("type", given.get("name")))
        if not isinstance(step, str) or step not in ANALYSES:
            problems.append(f"analysis_pipeline[{i}]: unknown step {show(step)} (the lab's analyses: "
                            f"{', '.join(ANALYSES)})")
            continue
        out.append(AnalysisStep(step, options))
    return tuple(out)


def external_id(value: JsonValue, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and 0 < len(str(value)) <= 200 \
            and str(value).isprintable():
        return str(value)
    problems.append(f"experiment_id: expected a printable id of 1-200 characters, got {show(value)}")
    return None


def config(data: Mapping[str, JsonValue], problems: list[str], *, inherit: bool) -> tuple[str, JsonObject, bool]:
    """(entry, parameters, whether the entry was named) from `config`; a genealogy file without a
    config takes its parent's."""
    value = data.get("config")
    if value is None and inherit:
        return "", {}, False
    if not isinstance(value, Mapping):
        problems.append("config: expected an object of the entry's parameters (and `experiment`, the catalog "
                        "entry, see `lab list`)")
        return "", {}, False
    entry = value.get("experiment")
    if entry is not None and (not isinstance(entry, str) or not entry):
        problems.append("config.experiment: expected the name of a catalog entry (see `lab list`)")
        entry = ""
    return entry or "", {k: v for k, v in value.items() if k != "experiment"}, bool(entry)


def lineage(data: Mapping[str, JsonValue], problems: list[str]) -> job_genealogy.Lineage | None:
    inherit = "config" not in data
    return job_genealogy.parse(data, problems, inherit=inherit)
