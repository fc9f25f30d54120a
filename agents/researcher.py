"""The researcher: picks what to study next (agents/strategy.py) and states the hypothesis and
the research question, citing its evidence."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agents.dialogue import Dialogue
from agents.grounding import ungrounded
from agents.research_settings import ResearchSettings
from agents.state import GENERATED, LabState
from agents.steering import served_text
from agents.strategy import candidates, first_sentence, forced, rejected_notes
from agents.topic import Topic
from contract import quantities, units
from contract.catalog_answer import CatalogEntry
from contract.child_kinds import TopicKind
from contract.jsonvalue import JsonObject, text_at
from db import Run
from science import text as t
from science.catalog import Catalog, CatalogError, InvalidParamsError, Plan, margin_text
from science.thresholds import QUALITY_MARGIN

K = TopicKind
KIND_LABEL = {K.SWEEP: "baseline sweep", K.FORCED: "requested", K.ADOPT: "follow-up taken up",
              K.FOLLOW_UP: "follow-up", K.COMBINATION: "combination", K.GENERATED: "combination in new code",
              K.RETRY: "retry"}
LLM_CHOICES = 5
TIER = {K.SWEEP: 0, K.FORCED: 0, K.ADOPT: 1, K.FOLLOW_UP: 1, K.COMBINATION: 2, K.GENERATED: 2, K.RETRY: 3}



def choice_schema(candidates: int) -> JsonObject:
    """The schema of the model's choice among `candidates` numbered from 0."""
    return {"type": "object", "required": ["choice", "hypothesis", "research_question"],
            "properties": {"choice": {"type": "integer", "minimum": 0, "maximum": candidates - 1},
                           "hypothesis": {"type": "string", "minLength": 10, "maxLength": 600},
                           "research_question": {"type": "string", "minLength": 10, "maxLength": 400}}}


@dataclass(frozen=True)
class Choice:
    """The model's choice of a candidate (its number) with the hypothesis and research question."""

    choice: int
    hypothesis: str
    research_question: str

    @classmethod
    def of(cls, answer: JsonObject) -> Choice:
        choice = answer.get("choice")
        if not isinstance(choice, int):
            raise ValueError("choice must be the number of a candidate")
        return cls(choice, text_at(answer, "hypothesis") or "", text_at(answer, "research_question") or "")


def _variant_names(plan: Plan | None) -> tuple[str, list[str]]:
    """The plan's baseline and its other variants (units.MISSING and none without a plan)."""
    variants = plan.variants if plan else ()
    base = next((v.name for v in variants if v.baseline), variants[0].name if variants else units.MISSING)
    return base, [v.name for v in variants if v.name != base]


def offline_texts(topic: Topic, entry: CatalogEntry | None, plan: Plan | None,
                  settings: ResearchSettings, state: LabState) -> tuple[str, str]:
    """Hypothesis and research question from the catalog and the evidence."""
    if topic.hypothesis and topic.research_question:  # a proposal taken up, a follow-up rule's texts
        return topic.hypothesis, topic.research_question
    keys = entry.metrics if entry else {}
    quality, energy = keys.get("quality", "quality"), keys.get("energy", "energy")
    base, others = _variant_names(plan)
    seeds = topic.seeds or settings.seeds
    if topic.kind in (K.SWEEP, K.FORCED):
        lit = first_sentence(entry.literature) if entry else ""
        summary = (entry.summary.rstrip(".") + ".") if entry and entry.summary else f"{topic.catalog}."
        if not others:
            return (f"{summary} The literature: {lit}".strip(),
                    f"What {quality}, {keys.get('time', 'time')} and {energy} does {base} reach over {seeds} seeds?")
        return (f"{summary} The literature: {lit} We expect the same direction on this lab's data.",
                f"How much {energy}{f' ({entry.gain_phase} phase)' if entry else ''} and {keys.get('time', 'time')} do "
                f"{t.listing(others)} save against {base}, and at what change in {quality}?")
    changes = ", ".join(f"{k}={v}" for k, v in topic.changes.items()) or "the same parameters"
    if topic.kind == K.COMBINATION:
        return (f"The best setting of experiment {topic.from_experiment} ({changes}) carries over to "
                f"{topic.catalog}: its variants keep their efficiency gains and {quality}.",
                f"Do the gains of {topic.catalog} (experiment {topic.parent_id}) hold or compound with {changes}?")
    if topic.kind == K.GENERATED:
        return (f"Combining the best variants of experiments {' and '.join(map(str, topic.pair or ()))} "
                f"compounds their efficiency gains while {quality} stays within "
                f"{margin_text(entry) if entry else units.margin(QUALITY_MARGIN, quantities.kind_of(quality))}.",
                "Do the two techniques compound when applied together?")
    return (f"The failure of experiment {topic.parent_id} has the diagnosed cause; with {changes} it completes.",
            f"Does experiment {topic.parent_id} complete with {changes}, and what does it then show?")


class Researcher:
    def __init__(self, catalog: Catalog, settings: ResearchSettings, dialogue: Dialogue) -> None:
        self.catalog = catalog
        self.settings = settings
        self.dialogue = dialogue

    async def choose(self, state: LabState, runs_of: dict[int, list[Run]],
                     forced_name: str | None = None) -> Topic | None:
        llm_code = self.dialogue.backend == "openai" and self.settings.llm.allow_generated_code
        if forced_name is not None:
            options = [forced(state, forced_name)]
        else:
            options = candidates(state, self.settings, runs_of, llm_code=llm_code)
        if not options:
            return None
        choice, texts = options[0], None
        # the model chooses within the strategy's first step that has candidates, never across steps
        top = [c for c in options if TIER[c.kind] == TIER[options[0].kind]][:LLM_CHOICES]
        if len(top) > 1 and self.dialogue.backend == "openai":
            evidence = "\n".join(f"{i}: [{KIND_LABEL[c.kind]}] {c.catalog}: {c.rationale}. Evidence: "
                                 f"{'; '.join(c.evidence)}" for i, c in enumerate(top))
            answer = await self.dialogue.decide(
                "researcher", "Choose the most promising next experiment among these candidates (the lab's "
                "strategy lists them in its preferred order) and state its hypothesis and research question.",
                evidence, choice_schema(len(top)), Choice.of)
            if answer is not None:
                choice = top[answer.choice]
                claim = answer.hypothesis + " " + answer.research_question
                if choice.kind != K.ADOPT and not ungrounded(claim, evidence):  # a proposal keeps its own
                    texts = (answer.hypothesis, answer.research_question)
        await self.elaborate(choice, state, texts)
        return choice

    async def elaborate(self, topic: Topic, state: LabState, texts: tuple[str, str] | None) -> None:
        entry = state.all_entries.get(topic.catalog)
        plan = None
        if entry is not None and topic.catalog != GENERATED:
            params = {**topic.params, "profile": topic.params.get("profile", self.settings.profile)}
            try:
                plan = await asyncio.to_thread(self.catalog.plan, topic.catalog, params)
            except (InvalidParamsError, CatalogError):  # the architect reports it; the texts do without names
                plan = None
        offline = offline_texts(topic, entry, plan, self.settings, state)
        topic.hypothesis, topic.research_question = texts or offline

    def proposal_text(self, topic: Topic, state: LabState) -> str:
        notes = rejected_notes(state)
        lines = [f"Proposal ({KIND_LABEL[topic.kind]}): {topic.catalog}"
                 + (f", a child of experiment {topic.parent_id}" if topic.parent_id else "")
                 + (f" (proposal {topic.adopt_id})" if topic.adopt_id else "") + ": " + topic.rationale + ".",
                 f"Hypothesis: {topic.hypothesis}",
                 f"Research question: {topic.research_question}"]
        if topic.evidence:
            lines.append("Evidence: " + "; ".join(topic.evidence))
        if topic.criterion:
            lines.append(served_text(topic))
        if notes:
            lines.append("Left aside after a person's rejection: " + "; ".join(notes))
        return "\n".join(lines)
