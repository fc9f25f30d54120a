"""The architect: turns a topic into a plan the catalog accepts (parameters within the declared
ranges, variants, seeds, deliverables, success criteria) with time and energy estimated from
past runs."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from agents.dialogue import Dialogue
from agents.research_settings import ResearchSettings
from agents.state import LabState
from agents.topic import Topic
from contract import quantities, units
from contract.child_kinds import TopicKind
from contract.experiment_metadata import Estimate, ExperimentMetadata
from contract.jsonvalue import JsonObject
from contract.limits import MAX_SEEDS
from contract.modifications import Modifications
from contract.params import ParamValues, param_values
from db import Experiment, NewExperiment, Store
from science import text as t
from science.catalog import Catalog, InvalidParamsError, margin_text
from science.jobs import Job, JobError, build_experiment
from science.thresholds import QUALITY_MARGIN

HIGH_VARIANCE_STD = 0.02   # earlier quality std above 2 points (2 % of the mean of a perplexity): more seeds
HIGH_VARIANCE_SEEDS = 5

PARAMS_SCHEMA: JsonObject = {
    "type": "object", "required": ["changes", "rationale"],
    "properties": {"changes": {"type": "object"}, "seeds": {"type": "integer", "minimum": 1, "maximum": MAX_SEEDS},
                   "rationale": {"type": "string", "maxLength": 400}},
}


@dataclass(frozen=True)
class ParamsAnswer:
    """The model's adjustment of a plan (PARAMS_SCHEMA): parameters to change (the catalog checks
    them), the seeds (None: unchanged) and why."""

    changes: ParamValues
    seeds: int | None
    rationale: str

    @classmethod
    def of(cls, answer: JsonObject) -> ParamsAnswer:
        changes = param_values(answer.get("changes"))
        if changes is None:
            raise ValueError("changes must map parameter names to numbers, strings, booleans or lists of them")
        seeds = answer.get("seeds")
        return cls(changes, seeds if isinstance(seeds, int) else None, str(answer.get("rationale", "")))


@dataclass
class Design:
    new: NewExperiment
    estimate: Estimate
    success: list[str]
    notes: list[str] = field(default_factory=list)


class PlanRefusedError(ValueError):
    """The catalog refused the plan's parameters; the message lists why."""


def _max_quality_std(state: LabState, catalog: str) -> tuple[float, int | None, str]:
    """The largest spread of quality over seeds among the entry's experiments: a fraction's std
    (in points), another quality's std as a share of its mean (a perplexity of 145 +- 3 is 2 %);
    with the experiment and the spread as said (`contract.quantities`)."""
    worst, where, said = 0.0, None, ""
    for e in state.by_catalog(catalog):
        b = e.breakdown
        kind = quantities.kind_of(b.keys.get("quality", "test_accuracy"))
        for v in b.variants.values():
            std, mean = v.quality.std, v.quality.mean
            if std is None:
                continue
            if kind is quantities.Kind.FRACTION:
                spread, text = std, f"{units.change(std, kind).lstrip('+')} (std)"
            elif mean:
                spread = std / abs(mean)
                text = f"{units.percent(spread)} of its mean (std {units.value(std, kind, 3)})"
            else:
                continue
            if spread > worst:
                worst, where, said = spread, e.id, text
    return worst, where, said


class Architect:
    def __init__(self, catalog: Catalog, settings: ResearchSettings, dialogue: Dialogue, store: Store,
                 cpu_slots: int = 2) -> None:
        self.catalog = catalog
        self.settings = settings
        self.dialogue = dialogue
        self.store = store
        self.cpu_slots = max(1, cpu_slots)

    def seeds(self, topic: Topic, state: LabState, notes: list[str]) -> int:
        if topic.seeds is not None:
            return topic.seeds
        std, where, said = _max_quality_std(state, topic.catalog)
        if std > HIGH_VARIANCE_STD and self.settings.seeds < HIGH_VARIANCE_SEEDS:
            notes.append(f"{HIGH_VARIANCE_SEEDS} seeds instead of {self.settings.seeds}: quality varied by "
                         f"{said} in experiment {where}")
            return HIGH_VARIANCE_SEEDS
        return self.settings.seeds

    async def design(self, topic: Topic, state: LabState, *, source: str = "agents",
                     metadata: ExperimentMetadata | None = None) -> Design:
        notes: list[str] = []
        params = dict(topic.params)
        if topic.kind in (TopicKind.SWEEP, TopicKind.FORCED):
            params["profile"] = self.settings.profile
        seeds = self.seeds(topic, state, notes)
        parent = state.get(topic.parent_id)
        if self.dialogue.backend == "openai" and topic.kind != TopicKind.GENERATED:
            params, seeds = await self._ask_model(topic, state, params, seeds, notes)
        entry = state.all_entries.get(topic.catalog)
        deliverables = ((entry.deliverables if entry else ()) + topic.deliverables) if topic.deliverables else ()
        job = Job(experiment=topic.catalog, params=params, name=self._name(topic), hypothesis=topic.hypothesis,
                  research_question=topic.research_question, seeds=seeds, parent=topic.parent_id,
                  deliverables=deliverables,
                  metadata=metadata or ExperimentMetadata(),
                  modifications=topic.modifications(parent.seeds if parent else None) or Modifications())
        try:
            new = await asyncio.to_thread(build_experiment, job, self.catalog, source)
        except JobError as exc:
            raise PlanRefusedError("; ".join(exc.problems)) from None
        return Design(new, await self.estimate(new), self.success(new, state), notes)

    async def _ask_model(self, topic: Topic, state: LabState, params: ParamValues, seeds: int,
                         notes: list[str]) -> tuple[ParamValues, int]:
        entry = state.all_entries[topic.catalog]
        ranges = "\n".join(f"{p.name} ({p.type}, {p.describe_range()}, default {p.default!r}): {p.help}"
                           for p in entry.params if p.name not in ("device", "dataset"))
        answer = await self.dialogue.decide(
            "architect", f"Adjust the parameters of this {topic.catalog} experiment if the evidence calls for it "
            "(changes: only parameters listed, within their ranges; an empty object keeps the plan).",
            f"Topic: {topic.rationale}\nCurrent parameters: {params}\nSeeds: {seeds}\nParameters:\n{ranges}",
            PARAMS_SCHEMA, ParamsAnswer.of)
        if answer is None or (not answer.changes and answer.seeds is None):
            return params, seeds
        proposed = {**params, **answer.changes}
        try:
            await asyncio.to_thread(self.catalog.plan, topic.catalog, proposed)
        except InvalidParamsError as exc:
            await self.dialogue.notice(f"the model's parameters for {topic.catalog} were refused by the catalog "
                                       f"({exc}); the architect keeps its own plan")
            return params, seeds
        notes.append(f"adjusted by the model: {answer.changes} ({answer.rationale})")
        return proposed, seeds if answer.seeds is None else answer.seeds

    async def adopt(self, exp: Experiment, state: LabState) -> Design:
        """The design of a proposal that already exists (a follow-up the validator wrote)."""
        new = NewExperiment(name=exp.name, catalog=exp.catalog, params=exp.params, plan=exp.plan,
                            seeds=exp.seeds, hypothesis=exp.hypothesis,
                            research_question=exp.research_question, deliverables=exp.deliverables,
                            metadata=exp.metadata, parent_id=exp.parent_id,
                            modifications=exp.modifications, source=exp.source)
        return await self.wrap(new, state)

    async def wrap(self, new: NewExperiment, state: LabState) -> Design:
        """Estimate and success criteria for an experiment built elsewhere (taken up, or generated)."""
        return Design(new, await self.estimate(new), self.success(new, state))

    def _name(self, topic: Topic) -> str:
        if topic.parent_id is None:
            return topic.catalog
        return f"{topic.catalog}-{topic.kind.replace('_', '-')}-of-{topic.parent_id}"[:80]

    async def estimate(self, new: NewExperiment) -> Estimate:
        """Run time, wall time on the CPU slots, and energy, from past runs of the same entry."""
        catalog, runs, given = new.catalog, len(new.plan) * new.seeds, new.params.get("profile")
        profile = given if isinstance(given, str) else None
        costs = await self.store.run_costs(catalog, profile)
        basis = f"{costs.n} past {catalog} run(s) at profile {profile}"
        if not costs.n:
            costs = await self.store.run_costs(catalog)
            basis = f"{costs.n} past {catalog} run(s) at other profiles"
        if not costs.n or costs.mean_s is None:
            return Estimate(runs, None, None, None, f"no past {catalog} run to estimate from")
        run_s = runs * costs.mean_s
        wall_s = math.ceil(runs / self.cpu_slots) * costs.mean_s
        kwh = runs * costs.mean_kwh if costs.mean_kwh is not None else None
        return Estimate(runs, run_s, wall_s, kwh, basis)

    def success(self, new: NewExperiment, state: LabState) -> list[str]:
        entry = state.all_entries.get(new.catalog)
        keys = entry.metrics if entry else {}
        quality, energy = keys.get("quality", "quality"), keys.get("energy", "energy")
        margin = margin_text(entry) if entry else units.margin(QUALITY_MARGIN, quantities.kind_of(quality))
        criteria = [f"every deliverable met ({t.listing([d.kind or units.MISSING for d in new.deliverables]) or 'none'})"]
        if len(new.plan) > 1:
            criteria += ["the headline variant's control is valid (its reference neither diverged nor got a "
                         "smaller budget)",
                         f"it keeps {quality}: the 95 % CI of its change, paired by seed, stays within "
                         f"{margin} of its reference",
                         f"its effect on its declared objective (by default lower {energy}) is significant after "
                         f"correction over {new.seeds} paired seeds, its CI clearing no effect"]
        else:
            criteria.append(f"the baseline's {quality} has a 95 % CI within ±{margin} over {new.seeds} seeds")
        return criteria

    def plan_text(self, exp_id: int, design: Design) -> str:
        new, est = design.new, design.estimate
        variants = [v.name + (" (baseline)" if v.baseline else "") for v in new.plan]
        changed = new.modifications.changed
        lines = [f"Plan for experiment {exp_id}: {new.catalog} at profile {new.params.get('profile', units.MISSING)}, "
                 f"{len(new.plan)} variant(s) ({t.listing(variants)}) x {new.seeds} seed(s) = {est.runs} runs."]
        if changed:
            lines.append("Changed against the parent: " + ", ".join(f"{k}={v}" for k, v in changed.items()) + ".")
        if est.run_s is not None:
            lines.append(f"Estimate: {units.duration(est.run_s)} of run time (about {units.duration(est.wall_s)} on "
                         f"{self.cpu_slots} CPU slot(s)), {units.energy(est.kwh)}, from {est.basis}.")
        else:
            lines.append(f"Estimate: none yet ({est.basis}).")
        lines.append("Success: " + "; ".join(design.success) + ".")
        lines += [f"Note: {n}." for n in design.notes]
        return "\n".join(lines)
