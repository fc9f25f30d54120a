"""The roadmap steers the research: each candidate topic is matched with the unmet roadmap
criterion it serves (an area never run, a top experiment below 8 to re-run with the validator's
suggestions, a combination to try, a real dataset), and the candidates serving the current phase
come first. The proposal carries the criterion (`metadata.research.criterion`)."""

from __future__ import annotations

from agents.state import LabState
from agents.topic import Topic
from contract.child_kinds import TopicKind
from db import Experiment
from science import roadmap_doc as doc
from science.roadmap_standing import Facts, Standing, evaluate, machine_counters
from science.rubric import preliminary, preliminary_reason

BASELINE = {name for name, _ in doc.BASELINE_AREAS}
K = TopicKind


def standing(state: LabState) -> Standing:
    return evaluate(state.experiments, Facts(energy_counters=machine_counters()))


def _parent(state: LabState, topic: Topic) -> Experiment | None:
    return state.get(topic.parent_id)


def _counts(topic: Topic, parent: Experiment) -> bool:
    """Whether the topic's experiment would count (not preliminary) once rated."""
    seeds = topic.seeds if topic.seeds is not None else int(parent.seeds or 0)
    return preliminary_reason(topic.params.get("profile"), seeds) is None


def serves(state: LabState, topic: Topic, unmet: set[str]) -> str:
    """The unmet criterion this topic serves, or '' (the most specific first)."""
    parent = _parent(state, topic)
    wanted: list[str] = []
    if topic.params.get("dataset") in doc.REAL_DATASETS:
        wanted.append("p3.real_data")
    if topic.kind in (K.SWEEP, K.FORCED, K.RETRY) and topic.catalog in BASELINE:
        wanted.append("p1.areas")
    if topic.kind in (K.COMBINATION, K.GENERATED):
        wanted += ["p3.combined", "p2.efficiency"]
    if topic.kind in (K.FOLLOW_UP, K.ADOPT) and parent is not None:
        if preliminary(parent) and parent.catalog in BASELINE:
            if _counts(topic, parent):
                wanted.append("p1.areas")    # a preliminary line re-run at the profile and seeds that make it count
        elif parent.rating is not None and parent.rating < doc.TOP_RATING:
            wanted += ["p1.two_good", "p2.three_top", "p1.average", "p2.efficiency"]
    return next((c for c in wanted if c in unmet), "")


def steer(state: LabState, topics: list[Topic]) -> list[Topic]:
    """Each topic with its criterion; a proposal already waiting (adopt) first, as the strategy
    orders it, then those of the current phase, in the roadmap's order of criteria, then later
    phases', then the rest, each group in the strategy's own order."""
    now = standing(state)
    unmet = {c.id for c in now.unmet()}
    current = now.current_phase or len(doc.PHASES) + 1
    for topic in topics:
        topic.criterion = serves(state, topic, unmet)

    order = list(doc.SPECS)

    def rank(topic: Topic) -> tuple[int, int]:
        if topic.kind == K.ADOPT:
            return -1, 0
        if not topic.criterion:
            return 2, 0
        return (0 if doc.PHASE_OF[topic.criterion] <= current else 1), order.index(topic.criterion)
    return sorted(topics, key=rank)


def served_text(topic: Topic) -> str:
    """The proposal's line naming the criterion it serves."""
    if not topic.criterion:
        return ""
    return (f"Roadmap: serves phase {doc.PHASE_OF[topic.criterion]} criterion {topic.criterion} "
            f"({doc.SPECS[topic.criterion].text}), unmet.")
