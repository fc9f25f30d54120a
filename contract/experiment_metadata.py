"""What an experiment's `metadata` column says of it, typed: how the research team came to it,
the program a language model wrote for it, the model alias and the git record it was given, and
what a job file put there. The store decodes the column once into `ExperimentMetadata` (db/rows.py)
and writes it back through `to_json`; every part it does not say is left out of the JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Self, cast

from contract.jsonvalue import JsonObject, JsonValue
from contract.params import ParamValues
from contract.plan import PlanStep
from contract.record_json import OPT, JsonRecord, read


@dataclass(frozen=True)
class Estimate(JsonRecord):
    """Run time, wall time on the CPU slots and energy of a plan, from past runs of its entry
    (None: no past run to estimate from), as the architect wrote it."""

    runs: int = 0
    run_s: float | None = None
    wall_s: float | None = None
    kwh: float | None = None
    basis: str = ""


@dataclass(frozen=True)
class ResearchNote(JsonRecord):
    """How the research team came to the experiment (`metadata.research`): the sprint, its
    autonomy and language-model backend, the topic's kind, rationale and evidence, the roadmap
    criterion it serves, who proposed it by which rule, and the architect's estimate and success
    criteria."""

    sprint_id: int | None = field(default=None, metadata=OPT)
    autonomy: int | None = field(default=None, metadata=OPT)
    kind: str | None = field(default=None, metadata=OPT)
    rationale: str | None = field(default=None, metadata=OPT)
    evidence: tuple[str, ...] | None = field(default=None, metadata=OPT)
    backend: str | None = field(default=None, metadata=OPT)
    criterion: str | None = field(default=None, metadata=OPT)
    proposed_by: str | None = field(default=None, metadata=OPT)
    rule: str | None = field(default=None, metadata=OPT)
    estimate: Estimate | None = field(default=None, metadata=OPT)
    success: tuple[str, ...] | None = field(default=None, metadata=OPT)


@dataclass(frozen=True)
class ProgramRecord(JsonRecord):
    """The program a language model wrote for the experiment (`metadata.generated`): where it is
    and its hash, its source, the model and its explanation, what it declares (metrics, phase,
    baseline) and where it runs (`sandbox`: "bubblewrap", or why it runs without one)."""

    path: str | None = field(default=None, metadata=OPT)
    sha256: str | None = field(default=None, metadata=OPT)
    source: str | None = field(default=None, metadata=OPT)
    model: str | None = field(default=None, metadata=OPT)
    explanation: str | None = field(default=None, metadata=OPT)
    metrics: dict[str, str] | None = field(default=None, metadata=OPT)
    gain_phase: str | None = field(default=None, metadata=OPT)
    baseline: str | None = field(default=None, metadata=OPT)
    sandbox: str | None = field(default=None, metadata=OPT)
    title: str | None = field(default=None, metadata=OPT)


@dataclass(frozen=True)
class ModelAlias(JsonRecord):
    """The `[models]` alias of config.toml a job named, and the path it stands for."""

    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class ReproductionNote(JsonRecord):
    """The git record a reproduction re-runs: the experiment, its tag and commit."""

    of: int | None = None
    tag: str = ""
    sha: str = ""


def _kept(data: Mapping[str, JsonValue], key: str) -> ParamValues | None:
    """Parameter values as written (a list of floats stays one; a generated program's object too)."""
    value = data.get(key)
    return cast(ParamValues, dict(value)) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class SpecRun(JsonRecord):
    """One run the engine will start: its variant and seed, the variants it waits for (same seed)
    and the variant's own parameters."""

    variant: str = ""
    seed: int = 0
    depends_on: tuple[str, ...] = ()
    variant_params: ParamValues = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        run = super().from_json({k: v for k, v in data.items() if k != "variant_params"})
        params = _kept(data, "variant_params")
        return run if params is None else replace(run, variant_params=params)


@dataclass(frozen=True)
class ExperimentSpec(JsonRecord):
    """What the engine will run for an experiment, exactly (`metadata.spec`, agents/coder.py writes
    it): the runner, its command, the entry, parameters, seeds and plan, every run, the generated
    program's path and sha256, and the sha256 of the spec without it."""

    module: str = ""
    command: str = ""
    catalog: str = ""
    params: ParamValues = field(default_factory=dict)
    seeds: int = 0
    plan: tuple[PlanStep, ...] = ()
    runs: tuple[SpecRun, ...] = ()
    generated: dict[str, str] | None = field(default=None, metadata=OPT)
    sha256: str | None = field(default=None, metadata=OPT)

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        spec = super().from_json({k: v for k, v in data.items() if k != "params"})
        params = _kept(data, "params")
        return spec if params is None else replace(spec, params=params)


@dataclass(frozen=True)
class AnalysisStep(JsonRecord):
    """One analysis_pipeline step of a published job and the options the file gave with it (the
    step's own: open, kept as given)."""

    step: str = ""
    options: JsonObject = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {"step": self.step, **self.options}

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        step = data.get("step")
        return cls(step if isinstance(step, str) else "", {k: v for k, v in data.items() if k != "step"})


@dataclass(frozen=True)
class PublishedJob(JsonRecord):
    """What a published job said beyond the lab's own fields (`metadata.job`, science/job_published.py
    reads it): its external id, description and analysis pipeline."""

    experiment_id: str | None = None
    description: str = ""
    analysis_pipeline: tuple[AnalysisStep, ...] = ()

    def to_json(self) -> JsonObject:
        return {"format": "published", **super().to_json()}


@dataclass(frozen=True)
class ExperimentMetadata(JsonRecord):
    """The experiment's metadata: the lab's parts, each typed (None: not said), and `given`: what a
    job file's own `metadata` held beyond them (its keys are the file's own: open, kept as given)."""

    research: ResearchNote | None = field(default=None, metadata=OPT)
    generated: ProgramRecord | None = field(default=None, metadata=OPT)
    model_alias: ModelAlias | None = field(default=None, metadata=OPT)
    reproduction: ReproductionNote | None = field(default=None, metadata=OPT)
    job: PublishedJob | None = field(default=None, metadata=OPT)
    spec: ExperimentSpec | None = field(default=None, metadata=OPT)
    given: JsonObject = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        out = dict(self.given)
        out.update({k: v for k, v in super().to_json().items() if k != "given"})
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        parts = {f.name for f in fields(cls)} - {"given"}
        typed = super().from_json({k: v for k, v in data.items() if k in parts})
        untyped = {k: v for k, v in data.items() if k in parts and getattr(typed, k) is None}
        return replace(typed, given={k: v for k, v in data.items() if k not in parts} | untyped)


def metadata_of(value: object) -> ExperimentMetadata:
    """The column as JSON holds it, typed (an empty one for anything but an object)."""
    return read(ExperimentMetadata, value) or ExperimentMetadata()

