"""The validator: after the runs, checks the deliverables, computes the statistics, rates the
experiment with the published rubric, writes the findings and proposes follow-ups.

Runs in its own process (`python -m agents validate <id> --dir <lab>`), started by the engine's
finisher: it asks the catalog (a subprocess), may load numpy for the bootstrap over test examples,
and writes findings and follow-ups, none of which the engine's loop should wait on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from agents.dialogue import Dialogue
from agents.proposals import approval_for, ask_approval, duplicate_of, lineage_depth
from agents.research_settings import ResearchSettings
from agents.state import GENERATED, declared_lists
from contract.deliverable import CheckedDeliverable
from contract.event_data import RUN_ARTIFACT, ArtifactReported
from contract.experiment_metadata import ExperimentMetadata, ProgramRecord, ResearchNote
from contract.jsonvalue import JsonObject
from contract.plan import PlanStep
from contract.rating_record import Breakdown, ProposedFollowUp, RubricLine
from db import Experiment, MessageKind, Store
from db import ExperimentState as E
from science import deliverables as dl
from science.analysis import Analysis, analyze
from science.catalog import Catalog, CatalogError, InvalidParamsError
from science.experiment_info import DEFAULT_KEYS, ExperimentInfo
from science.findings import findings
from science.followups import FollowUp, suggest
from science.headline import headline_text
from science.jobs import Job, JobError, build_experiment
from science.rubric import RUBRIC_VERSION, marks_of, preliminary_text, rate

RATEABLE = (E.ANALYZING, E.DONE, E.FAILED)
TEAM_SOURCES = ("agents", "validator")  # experiments the research team proposed


class NotRateableError(ValueError):
    """The experiment cannot be rated (yet); the message says why."""


@dataclass(frozen=True)
class PlanDeclarations:
    """What a plan declares per variant (science/experiment_info.ExperimentInfo's fields of the same names)."""

    references: dict[str, str | list[str]]
    objectives: dict[str, str | None]
    reference_objectives: dict[str, dict[str, str]]
    roles: dict[str, str]
    depends_on: dict[str, list[str]]

    def applied_to(self, info: ExperimentInfo) -> ExperimentInfo:
        return replace(info, references=self.references, objectives=self.objectives,
                       reference_objectives=self.reference_objectives, roles=self.roles, depends_on=self.depends_on)


def _proposed(fu: FollowUp) -> ProposedFollowUp:
    """The rating's record of a follow-up (what came of it is added once it is known)."""
    return ProposedFollowUp(fu.kind, fu.changes, fu.seeds, fu.rationale)


def plan_declarations(plan: Sequence[PlanStep]) -> PlanDeclarations:
    """What the plan declares per variant: references (primary first; [] for a reference point),
    objective, role and dependencies. Plans written before issue 10 name at most one `reference`."""
    refs: dict[str, str | list[str]] = {}
    objectives: dict[str, str | None] = {}
    by_reference: dict[str, dict[str, str]] = {}
    roles: dict[str, str] = {}
    depends: dict[str, list[str]] = {}
    for v in plan:
        name = v.name
        if v.references is not None:
            refs[name] = list(v.references)
        elif v.reference is not None:
            refs[name] = v.reference
        if v.objective is not None:
            objectives[name] = v.objective
        if v.reference_objectives is not None:
            by_reference[name] = dict(v.reference_objectives)
        if v.role:
            roles[name] = v.role
        depends[name] = list(v.depends_on)
    return PlanDeclarations(refs, objectives, by_reference, roles, depends)


def _declared_headline(catalog: Catalog, exp: Experiment, entry_headline: str | None) -> str | None:
    """The headline the catalog declares for this experiment's parameters (the plan answer), else
    the entry's (declared at the default parameters) when the plan has that variant. A catalog
    that declares no headline at all is not asked again."""
    if entry_headline is None:
        return None
    try:
        plan = catalog.plan(exp.catalog, exp.params)
        if plan.headline is not None:
            return plan.headline
    except (CatalogError, InvalidParamsError):
        pass
    names = {v.name for v in exp.plan}
    return entry_headline if entry_headline in names else None


async def experiment_info(exp: Experiment, catalog: Catalog) -> tuple[ExperimentInfo, str]:
    """The keys, baseline, references, objectives, headline and deliverables the rating uses;
    and where they came from."""
    plan_baseline = next((v.name for v in exp.plan if v.baseline), exp.plan[0].name if exp.plan else "baseline")
    declared = plan_declarations(exp.plan)
    profile = (exp.params or {}).get("profile")
    profile = profile if isinstance(profile, str) else None
    if exp.catalog == GENERATED:
        gen = exp.metadata.generated or ProgramRecord()
        return declared.applied_to(ExperimentInfo(
            GENERATED, plan_baseline if gen.baseline is None else gen.baseline, gen.gain_phase or "training",
            {**DEFAULT_KEYS, **(gen.metrics or {})}, profile=profile)), "the generated program's declaration"
    try:
        entry = await asyncio.to_thread(catalog.get, exp.catalog)
    except (CatalogError, InvalidParamsError) as exc:
        return (declared.applied_to(ExperimentInfo(exp.catalog, plan_baseline, profile=profile)),
                f"default keys: the catalog could not be asked ({exc})")
    keys = {**DEFAULT_KEYS, **entry.metrics}
    headline = await asyncio.to_thread(_declared_headline, catalog, exp, entry.headline)
    return (declared.applied_to(ExperimentInfo(
        exp.catalog, plan_baseline, entry.gain_phase, keys, entry.deliverables, declared_lists(entry),
        headline=headline, speedup_batch=entry.speedup_batch, quality_margin=entry.quality_margin, profile=profile)),
        "the catalog")


async def artifacts(store: Store, exp_id: int) -> dict[int, list[JsonObject]]:
    """The artifacts each run reported (its `run.artifact` events' data), by run id."""
    out: dict[int, list[JsonObject]] = {}
    after = 0
    while True:
        batch = await store.events_after(after, experiment_id=exp_id, limit=1000)
        if not batch:
            return out
        for ev in batch:
            if ev.kind == RUN_ARTIFACT and ev.run_id is not None and isinstance(ev.data, ArtifactReported):
                out.setdefault(ev.run_id, []).append(ev.data.to_json())
        after = batch[-1].id


def breakdown_of(exp: Experiment, a: Analysis, rating: int, criteria: list[RubricLine],
                 checked: list[CheckedDeliverable], found: list[str], keys_from: str) -> Breakdown:
    per_variant_ok: dict[str, bool] = {}
    for d in checked:
        if d.ok is False:
            variant = d.deliverable.variant
            for name in ([variant] if variant is not None and variant in a.variants else a.variants):
                per_variant_ok[name] = False
    variants = {name: replace(v, deliverables_met=per_variant_ok.get(name, True) if v.n else False)
                for name, v in a.variants.items()}
    marks = marks_of(a, rating, criteria)
    headline = None if a.headline is None else replace(
        a.headline, preliminary=marks.preliminary, preliminary_reason=marks.preliminary_reason,
        effect_kind=marks.effect_kind, ci_method=marks.ci_method)
    return Breakdown(rating=rating, rubric_version=RUBRIC_VERSION, criteria=tuple(criteria), baseline=a.info.baseline,
                     gain_phase=a.info.gain_phase, keys=a.keys or a.info.keys, keys_from=keys_from, seeds=exp.seeds,
                     runs=a.run_counts, variants=variants, headline=headline, declared_headline=a.info.headline,
                     speedup_batch=a.info.speedup_batch, deliverables=tuple(checked), findings=tuple(found),
                     preliminary=marks.preliminary, preliminary_reason=marks.preliminary_reason,
                     effect_kind=marks.effect_kind, ci_method=marks.ci_method, points=marks.points)


def verdict_text(exp: Experiment, breakdown: Breakdown) -> str:
    earned = [c for c in breakdown.criteria if c.points]
    missed = [c for c in breakdown.criteria if not c.points]
    h = breakdown.headline
    head = (f" Headline: {headline_text(h, breakdown.quality_key)}." if h else
            " No variant is compared with a reference.")
    return (f"Experiment {exp.id} ({exp.catalog}) rated {breakdown.rating}/10 (rubric v{RUBRIC_VERSION})."
            + (f" {prelim}." if (prelim := preliminary_text(replace(exp, rating_breakdown=breakdown))) else "")
            + head
            + (f" Earned: {_with_evidence(earned)}." if earned else "")
            + (f" Missed: {_with_evidence(missed)}." if missed else ""))


def _with_evidence(criteria: Sequence[RubricLine]) -> str:
    """Each criterion with its evidence, the evidence said once: a criterion whose evidence an
    earlier one's holds (the five effect points of a void comparison, missed for the reason the
    controls point gives) is named with that one."""
    groups: list[tuple[str, list[str]]] = []
    for c in criteria:
        same = next((names for evidence, names in groups if c.evidence and c.evidence in evidence), None)
        if same is None:
            groups.append((c.evidence, [c.label]))
        else:
            same.append(c.label)
    return "; ".join(f"{', '.join(names)} ({evidence})" for evidence, names in groups)


class Validator:
    def __init__(self, store: Store, catalog: Catalog, settings: ResearchSettings, dialogue: Dialogue) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.dialogue = dialogue

    async def validate(self, exp_id: int, *, force: bool = False, follow_ups: bool = True) -> Breakdown | None:
        """Rate the experiment; None when another validator rated it first (nothing done here)."""
        exp = await self.store.get_experiment(exp_id)
        if exp is None:
            raise NotRateableError(f"no experiment with id {exp_id} (see `lab status`)")
        if exp.status not in RATEABLE:
            raise NotRateableError(f"experiment {exp_id} is {exp.status}: it is rated once its runs have ended")
        runs = await self.store.list_runs(exp_id)
        last_run = max((r.finished_at or 0.0 for r in runs), default=0.0)
        previous = exp.rating_breakdown
        # rated already, unless runs were retried since: then the old rating is out of date
        rerate = previous is not None and (previous.runs_finished_at or 0.0) < last_run
        if previous is not None and not (force or rerate):
            return None
        info, keys_from = await experiment_info(exp, self.catalog)
        a = analyze(info, runs, exp.seeds)
        ctx = dl.Context(runs, info.baseline, info.keys, await artifacts(self.store, exp_id))
        checked = dl.check_all(exp.deliverables or info.deliverables, ctx)
        rating, criteria = rate(a, checked)
        found = findings(exp_id, a, runs)
        rated = replace(breakdown_of(exp, a, rating, criteria, checked, [f.text for f in found], keys_from),
                        runs_finished_at=last_run)
        if not await self.store.set_rating(exp_id, float(rating), rated, replace=force or rerate):
            return None
        await self.store.replace_findings(exp_id, exp.catalog, [f.row() for f in found])
        verdict = verdict_text(exp, rated)
        await self.dialogue.say("validator", verdict, kind=MessageKind.VERDICT, experiment_id=exp_id,
                                ask="Comment briefly on what this evidence means for energy-efficient training.",
                                evidence="\n".join(f.text for f in found))
        for f in found:
            await self.store.add_message("validator", f.text, experiment_id=exp_id, kind=MessageKind.FINDING)
        if follow_ups and exp.status != E.FAILED and a.run_counts.succeeded:
            if exp.source in TEAM_SOURCES or self.settings.background:
                proposed = await self.propose(exp, rated, info)
            else:
                proposed = await self.suggest_only(exp, rated, info)
            if proposed:
                rated = replace(rated, follow_ups=tuple(proposed))
                await self.store.update_experiment(exp_id, rating_breakdown=rated)
        return rated

    async def suggest_only(self, exp: Experiment, breakdown: Breakdown,
                           info: ExperimentInfo) -> list[ProposedFollowUp]:
        """A person's own experiment while research is off: follow-ups are named, not created
        (a sprint takes them up: `lab sprint`)."""
        out = []
        for fu in suggest(exp, breakdown, info.list_params):
            out.append(replace(_proposed(fu), suggested=True))
            await self.dialogue.say("validator", f"Suggested follow-up of experiment {exp.id} "
                                    f"({fu.kind.replace('_', ' ')}): {fu.rationale}. Research is off and this "
                                    "experiment was a person's, so nothing is proposed; `lab sprint` takes it up.",
                                    experiment_id=exp.id)
        return out

    async def propose(self, exp: Experiment, breakdown: Breakdown, info: ExperimentInfo) -> list[ProposedFollowUp]:
        if exp.catalog == GENERATED:
            return []
        depth = await lineage_depth(self.store, exp)
        suggestions = suggest(exp, breakdown, info.list_params)
        if suggestions and depth + 1 > self.settings.max_depth:
            await self.dialogue.say("validator", f"{len(suggestions)} follow-up(s) of experiment {exp.id} not "
                                    f"proposed: the line is {depth + 1} generation(s) deep, the limit "
                                    f"([research] max_depth) is {self.settings.max_depth}.", experiment_id=exp.id)
            return []
        out = []
        for fu in suggestions:
            out.append(await self._propose_one(exp, breakdown, fu))
        return out

    async def _propose_one(self, exp: Experiment, breakdown: Breakdown, fu: FollowUp) -> ProposedFollowUp:
        record = _proposed(fu)
        hypothesis, question = fu.texts(exp.id, exp.seeds, breakdown.keys["quality"], str(breakdown.baseline),
                                        breakdown.headline.quality_margin_declared if breakdown.headline else None)
        catalog = fu.catalog or exp.catalog  # a child may be of another entry (followups.CHILD_ENTRIES)
        job = Job(experiment=catalog, params=fu.params if fu.params is not None else {**exp.params, **fu.changes},
                  name=f"{catalog}-{fu.kind.replace('_', '-')}-of-{exp.id}"[:80], hypothesis=hypothesis,
                  research_question=question, seeds=fu.seeds, parent=exp.id,
                  deliverables=(exp.deliverables + fu.deliverables) if fu.deliverables else (),
                  metadata=ExperimentMetadata(research=ResearchNote(proposed_by="validator", rule=fu.kind)),
                  modifications=fu.modifications(exp.seeds))
        try:
            new = await asyncio.to_thread(build_experiment, job, self.catalog, "validator")
        except (JobError, CatalogError) as exc:
            await self.dialogue.say("validator", f"Follow-up ({fu.kind}) of experiment {exp.id} not proposed: "
                                    f"the catalog refused it ({exc}).", experiment_id=exp.id, kind=MessageKind.ERROR)
            return replace(record, error=str(exc))
        dup = await duplicate_of(self.store, new.catalog, new.params, new.seeds)
        if dup is not None:
            return replace(record, duplicate_of=dup)
        profile = new.params.get("profile")
        costs = await self.store.run_costs(new.catalog, profile if isinstance(profile, str) else None)
        estimate = None if costs.mean_kwh is None else costs.mean_kwh * len(new.plan) * new.seeds
        child = await self.store.create_experiment(new)
        decision = await approval_for(self.store, self.settings, parent=exp, estimate_kwh=estimate)
        if decision.approve:
            await ask_approval(self.store, child, decision, "validator")
        record = replace(record, experiment_id=child, approved=decision.approve, decision=decision.reason)
        changes = ", ".join(f"{k}={v}" for k, v in fu.changes.items()) or "no parameter change"
        await self.dialogue.say(
            "validator", f"Follow-up proposed: experiment {child} ({fu.kind.replace('_', ' ')}, a child of "
            f"experiment {exp.id}): {changes}, {fu.seeds} seed(s). Why: {fu.rationale}. "
            + ("Approved: " if decision.approve else "Waiting: ") + decision.reason + ".",
            kind=MessageKind.PROPOSAL, experiment_id=child)
        return record
