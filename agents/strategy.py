"""The researcher's strategy, in order: catalog experiments never run (the baseline sweep);
follow-ups of promising results; combinations of the best techniques; retries of failed
experiments with a diagnosis. Each candidate carries its evidence (experiment ids, numbers)."""

from __future__ import annotations

import re

from agents.research_settings import ResearchSettings
from agents.state import GENERATED, LabState, declared_lists
from agents.steering import steer
from agents.topic import Topic
from contract import units
from contract.child_kinds import FollowUpKind, TopicKind
from db import Experiment, Run
from db import ExperimentState as E
from science import followups
from science import stacks as stacking
from science import text as t
from science.diagnosis import diagnose
from science.headline import quality_text

WINNER_E = 1.1


SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)\.\s+(?=[A-Z(])")


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph ("et al." and "e.g." do not end one)."""
    text = text.strip()
    return (SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".") + ".") if text else ""


def studied(state: LabState) -> str:
    rated = [e for e in state.experiments if e.rating is not None]
    if not rated:
        return "no experiment has been rated yet"
    return "rated so far: " + t.listing([f"{e.catalog} (experiment {e.id}, {e.rating:g}/10)"
                                        for e in rated[-6:]])


def rejected_notes(state: LabState) -> list[str]:
    """Catalog entries whose every proposal a person rejected, with the reasons."""
    notes = []
    for name in state.entries:
        exps = state.by_catalog(name)
        if exps and all(e.status == E.REJECTED for e in exps):
            last = exps[-1]
            notes.append(f"{name} (experiment {last.id} rejected: {last.reject_reason or 'no reason'})")
    return notes


def sweep(state: LabState) -> list[Topic]:
    out = []
    for name, entry in state.entries.items():
        if state.by_catalog(name):
            continue  # run, running, waiting or rejected: not "never run"
        literature = first_sentence(entry.literature)
        out.append(Topic(TopicKind.SWEEP, name, f"{name} has never run in this lab; the baseline sweep comes first",
                         [f"no {name} experiment yet; {studied(state)}"]
                         + ([f"literature ({entry.references[0] if entry.references else 'catalog'}): "
                             f"{literature}"] if literature else [])))
    return out


def forced(state: LabState, name: str) -> Topic:
    previous = state.by_catalog(name)
    evidence = [f"asked for {name} by a person"]
    if previous:
        evidence.append("earlier: " + t.listing([f"experiment {e.id} {e.status}"
                                                 + (f" {e.rating:g}/10" if e.rating is not None else "")
                                                 for e in previous[-4:]]))
    return Topic(TopicKind.FORCED, name, f"{name} was asked for", evidence)


def adoptable(state: LabState) -> list[Topic]:
    out = []
    for e in state.experiments:
        if e.status != E.AWAITING_APPROVAL or e.parent_id is None or e.id in state.in_sprint:
            continue
        mods = e.modifications
        parent = state.get(e.parent_id)
        out.append(Topic(TopicKind.ADOPT, e.catalog, mods.rationale or f"a follow-up of experiment {e.parent_id}",
                         list(mods.evidence or ()), base_params=e.params, seeds=e.seeds,
                         parent_id=e.parent_id, adopt_id=e.id, hypothesis=e.hypothesis,
                         research_question=e.research_question,
                         parent_rating=parent.rating if parent else None))
    return sorted(out, key=lambda tp: -(tp.parent_rating or 0))


def _rated(state: LabState) -> list[Experiment]:
    return [e for e in state.experiments if e.status == E.DONE and e.rating_breakdown
            and e.catalog in state.all_entries]


def new_followups(state: LabState, settings: ResearchSettings) -> list[Topic]:
    out = []
    for e in sorted(_rated(state), key=lambda x: -(x.rating or 0)):
        if state.depth(e.id) + 1 > settings.max_depth or e.catalog not in state.entries:
            continue
        declared = declared_lists(state.all_entries[e.catalog])
        rated = e.breakdown
        for fu in followups.suggest(e, rated, declared):
            catalog, base = fu.catalog or e.catalog, e.params if fu.params is None else fu.params
            params = {**base, **fu.changes}
            if catalog not in state.entries or state.exists(catalog, params, fu.seeds):
                continue
            hypothesis, question = fu.texts(e.id, e.seeds, rated.keys["quality"], str(rated.baseline),
                                            state.all_entries[e.catalog].quality_margin)
            out.append(Topic(TopicKind.FOLLOW_UP, catalog, fu.rationale, fu.evidence, base_params=base,
                             changes=fu.changes, seeds=fu.seeds, parent_id=e.id, hypothesis=hypothesis,
                             research_question=question, deliverables=fu.deliverables, rule=fu.kind))
    return out


def _winners(state: LabState) -> list[Experiment]:
    def gain(e: Experiment) -> float:
        h = e.breakdown.headline
        return max(h.efficiency_score or 0, h.speedup or 0) if h else 0.0

    def kept(e: Experiment) -> bool:
        h = e.breakdown.headline
        return h is not None and bool(h.quality_kept) and h.control_valid is not False and h.selection != "test"

    # a void comparison (invalid control) or a headline chosen on test data is no winner to build on
    out = [e for e in _rated(state) if kept(e) and gain(e) > WINNER_E]
    return sorted(out, key=lambda e: (-gain(e), e.id))


def stacks(state: LabState, settings: ResearchSettings) -> list[Topic]:
    """Stacks of two rated techniques (science/stacks.STACKS): the best-rated experiment of each entry,
    the stack a child of the host's experiment."""
    out: list[Topic] = []
    rated = _rated(state)
    for rule in stacking.STACKS:
        if rule.catalog not in state.entries:
            continue
        best = {}
        for role, catalog in (("host", rule.host), ("other", rule.other)):
            exps = [e for e in rated if e.catalog == catalog]
            best[role] = max(exps, key=lambda e: (e.rating or 0, e.id)) if exps else None
        host, other = best["host"], best["other"]
        if host is None or other is None or state.depth(host.id) + 1 > settings.max_depth:
            continue
        declared = declared_lists(state.all_entries[rule.host])
        fu = stacking.stack(rule, host, other, declared)
        if fu is None or fu.params is None or state.exists(rule.catalog, fu.params, fu.seeds):
            continue
        out.append(Topic(TopicKind.COMBINATION, rule.catalog, fu.rationale, fu.evidence, base_params=fu.params,
                         changes=fu.changes, seeds=fu.seeds, parent_id=host.id, hypothesis=fu.hypothesis,
                         research_question=fu.question, from_experiment=other.id, rule=FollowUpKind.STACK))
    return out


def combinations(state: LabState, settings: ResearchSettings, llm_code: bool) -> list[Topic]:
    """Stacks of rated techniques (``stacks``), then the best variant's settings of one
    experiment applied to another's scalar parameters."""
    winners = _winners(state)
    out: list[Topic] = stacks(state, settings)
    seen_catalogs: set[tuple[str, str]] = set()
    for a in winners:
        rated_a = a.breakdown
        ha = rated_a.headline
        assert ha is not None  # a winner has a headline
        a_params = rated_a.variants[ha.variant].params
        for b in winners:
            if b.catalog == a.catalog or b.catalog not in state.entries \
                    or (a.catalog, b.catalog) in seen_catalogs:
                continue
            seen_catalogs.add((a.catalog, b.catalog))
            if state.depth(b.id) + 1 > settings.max_depth:
                continue
            declared = declared_lists(state.all_entries[b.catalog])
            changes = {k: v for k, v in a_params.items()
                       if k in declared and declared[k].type not in followups.LIST_TYPES and b.params.get(k) != v}
            if not changes:
                continue
            rated_b = b.breakdown
            hb = rated_b.headline
            assert hb is not None  # a winner has a headline
            changes.update(followups.focus(rated_b.variants[hb.variant].params, b.params, declared))
            if state.exists(b.catalog, {**b.params, **changes}, b.seeds):
                continue
            why = (f"{ha.variant} of experiment {a.id} ({a.catalog}) reached E = {units.num(ha.efficiency_score)} "
                   f"keeping quality ({quality_text(ha, ha.quality_key or 'quality')}); {hb.variant} of experiment "
                   f"{b.id} ({b.catalog}) reached E = {units.num(hb.efficiency_score)}")
            out.append(Topic(TopicKind.COMBINATION, b.catalog, f"apply {', '.join(f'{k}={v}' for k, v in changes.items())} "
                             f"from {a.catalog} to {b.catalog}: {why}", [why], base_params=b.params,
                             changes=changes, seeds=b.seeds, parent_id=b.id,
                             from_experiment=a.id))
    if not out and llm_code and len({w.catalog for w in winners}) >= 2:
        a = winners[0]
        b = next(w for w in winners if w.catalog != a.catalog)
        ha, hb = a.breakdown.headline, b.breakdown.headline
        assert ha is not None and hb is not None  # winners have headlines
        why = (f"{ha.variant} of experiment {a.id} ({a.catalog}, E = {units.num(ha.efficiency_score)}) and "
               f"{hb.variant} of experiment {b.id} ({b.catalog}, E = {units.num(hb.efficiency_score)}) share "
               "no parameter, so combining them needs new code")
        out.append(Topic(TopicKind.GENERATED, GENERATED, f"combine {a.catalog} and {b.catalog} in a new program: {why}",
                         [why], parent_id=b.id, seeds=max(a.seeds, b.seeds),
                         from_experiment=a.id, pair=(a.id, b.id)))
    return out


def retries(state: LabState, settings: ResearchSettings, runs_of: dict[int, list[Run]]) -> list[Topic]:
    out = []
    for e in state.experiments:
        if e.status != E.FAILED or e.catalog not in state.entries:
            continue
        if any(c.modifications.kind == TopicKind.RETRY for c in state.children(e.id)):
            continue
        if state.depth(e.id) + 1 > settings.max_depth:
            continue
        is_retry = e.modifications.kind == TopicKind.RETRY
        d = diagnose(runs_of.get(e.id, []), state.all_entries.get(e.catalog), e.params, is_retry)
        if not d.retry:
            continue
        out.append(Topic(TopicKind.RETRY, e.catalog, f"retry experiment {e.id}: {d.text}", [f"experiment {e.id}: {d.text}"],
                         base_params=e.params, changes=d.changes, seeds=e.seeds, parent_id=e.id))
    return out


def candidates(state: LabState, settings: ResearchSettings, runs_of: dict[int, list[Run]], *,
               llm_code: bool = False) -> list[Topic]:
    """Every candidate, those serving an unmet criterion of the roadmap's current phase first, then
    those serving a later phase's (agents/steering.py), each group in the strategy's order."""
    return steer(state, in_strategy_order(state, settings, runs_of, llm_code=llm_code))


def in_strategy_order(state: LabState, settings: ResearchSettings, runs_of: dict[int, list[Run]], *,
                      llm_code: bool = False) -> list[Topic]:
    """Every candidate in the strategy's own order, before the roadmap steers it: the sweep,
    waiting proposals to adopt, follow-ups, combinations, diagnosed retries."""
    return (sweep(state) + adoptable(state) + new_followups(state, settings)
            + combinations(state, settings, llm_code) + retries(state, settings, runs_of))
