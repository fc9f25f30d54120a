"""The sprint pipeline, a library a host drives: discussion -> approval -> implementation ->
runs -> validation -> follow-ups.

A host (`lab sprint`, `lab research`, or the engine's background driver) claims a sprint in the
database and works it; every step is conditional on still holding it (db/research.py), so two
hosts never work the same sprint. The engine runs the training and, through its finisher, the
validator; the pipeline waits for those and closes the sprint with a summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.architect import Architect, Design, PlanRefusedError
from agents.coder import Coder
from agents.dialogue import Dialogue
from agents.proposals import approval_for, ask_approval, duplicate_of
from agents.research_settings import ResearchSettings
from agents.researcher import KIND_LABEL, Researcher
from agents.sprint_outcome import Outcome, Unheld
from agents.state import LabState, load_state
from agents.strategy import candidates, studied
from agents.topic import Topic
from contract import units
from contract.child_kinds import TopicKind
from contract.experiment_metadata import ExperimentMetadata, ResearchNote
from db import Experiment, MessageKind, Sprint, SprintStage, Store
from db import ExperimentState as E
from db.research import SprintLostError
from science import text as t
from science.catalog import Catalog
from science.headline import quality_text

STALE_S = 90.0            # a host silent this long loses its sprints to whoever takes them up
HEARTBEAT_S = 10.0
VALIDATE_GRACE_S = 20.0   # after this, the sprint's host rates an unrated finished experiment itself
RETRY_START_S = 60.0      # after a sprint could not start, the background waits this long


def host_id(kind: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{kind}"


class SprintPipeline:
    def __init__(self, store: Store, catalog: Catalog, settings: ResearchSettings, *, host: str,
                 lab_root: Path, module: str | None = None, cpu_slots: int = 2) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.host = host
        self.lab_root = Path(lab_root)
        self.dialogue = Dialogue(store, settings)
        self.researcher = Researcher(catalog, settings, self.dialogue)
        self.architect = Architect(catalog, settings, self.dialogue, store, cpu_slots)
        self.coder = Coder(store, self.dialogue, settings, module or catalog.module, self.lab_root)
        self._idle_at: tuple[Any, ...] | None = None
        self._said_idle = False
        self._next_start = 0.0

    async def close(self) -> None:
        """Let go of the sprints this host holds (another host, or this one later, takes them up)."""
        with contextlib.suppress(Exception):  # the store may be closing with the host
            for sprint in await self.store.list_sprints(open_only=True):
                if sprint.host == self.host:
                    await self.store.release_sprint(sprint.id, self.host)
        await self.dialogue.close()

    def _stale_before(self) -> float:
        return time.time() - STALE_S

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        """Keep this host's sprints alive while a long step (a model's answer) runs."""
        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_S)
                await self.store.sprint_heartbeat(self.host)

        task = asyncio.ensure_future(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- discussion ---------------------------------------------------------------------------

    async def start(self, forced: str | None = None) -> Outcome:
        """Open a sprint and discuss it up to the approval decision."""
        await self.dialogue.refresh()  # a model degraded lab-wide: this sprint is offline from the start
        sprint_id = await self.store.open_sprint(self.host, self.settings.autonomy, self.dialogue.backend,
                                                 stale_before=self._stale_before())
        if sprint_id is None:
            return Outcome(None, Unheld.BUSY, note="another host is discussing a sprint right now")
        try:
            async with self._beating():
                return await self._discuss(sprint_id, forced)
        except SprintLostError as exc:
            return Outcome(sprint_id, Unheld.LOST, note=str(exc))
        except Exception as exc:  # recorded, the discussion slot freed, then reported to the host
            note = str(exc) or exc.__class__.__name__
            with contextlib.suppress(Exception):
                await self.store.add_message("lab", f"sprint {sprint_id} stopped: {note}", kind=MessageKind.ERROR)
                await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.FAILED, note=note[:300])
            raise

    async def _discuss(self, sprint_id: int, forced: str | None) -> Outcome:
        state = await load_state(self.store, self.catalog, self.settings)
        runs_of = {e.id: await self.store.list_runs(e.id) for e in state.experiments if e.status == E.FAILED}
        topic = await self.researcher.choose(state, runs_of, forced)
        if topic is None:
            note = (f"nothing to study: every entry in scope ({t.listing(list(state.entries))}) has run, no "
                    f"follow-up, combination or retry is pending; {studied(state)}")
            return await self._idle(sprint_id, "researcher", note)
        # a person's request whose design is an existing experiment again: the entry's own next step
        # (a waiting proposal, a follow-up, a retry) instead, else nothing (AGENTS.md: never twice)
        fallbacks = ([c for c in candidates(state, self.settings, runs_of) if c.catalog == forced
                      and c.kind not in (TopicKind.SWEEP, TopicKind.FORCED)] if forced is not None else [])
        while True:
            msg = await self.dialogue.say("researcher", self.researcher.proposal_text(topic, state), kind=MessageKind.PROPOSAL,
                                          ask="Comment on this choice of experiment in one or two sentences.")
            try:
                design = await self._design(topic, state, sprint_id)
            except PlanRefusedError as exc:
                await self.dialogue.say("architect", f"The catalog refused the plan for {topic.catalog}: {exc}.",
                                        kind=MessageKind.ERROR)
                await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.FAILED, note=f"plan refused: {exc}"[:300])
                return Outcome(sprint_id, SprintStage.FAILED, note=f"the catalog refused the plan: {exc}")
            if design is None:
                note = "no program could be generated for the combination"
                await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.FAILED, note=note)
                return Outcome(sprint_id, SprintStage.FAILED, note=note)
            dup = None if topic.adopt_id is not None else await duplicate_of(
                self.store, design.new.catalog, design.new.params, design.new.seeds)
            if dup is None:
                break
            same = (f"experiment {dup} already is this design ({design.new.catalog}, the same parameters and "
                    f"{design.new.seeds} seeds)")
            if not fallbacks:
                note = (f"{same}: nothing new to propose; change a parameter or the seeds (`lab run "
                        f"{design.new.catalog} -p ... --seeds N`) or follow experiment {dup} up once it is rated")
                return await self._idle(sprint_id, "architect", note)
            await self.dialogue.say("architect", f"{same[0].upper() + same[1:]}; the researcher takes up the "
                                                 f"entry's next step instead.")
            topic = fallbacks.pop(0)
            await self.researcher.elaborate(topic, state, None)
        return await self._propose(sprint_id, topic, design, msg, state)

    async def _idle(self, sprint_id: int, agent: str, note: str) -> Outcome:
        """The sprint ends with nothing to run; ``agent`` says why."""
        await self.dialogue.say(agent, note[0].upper() + note[1:] + ".")
        await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.IDLE, note=note[:300])
        return Outcome(sprint_id, SprintStage.IDLE, note=note)

    async def _propose(self, sprint_id: int, topic: Topic, design: Design, msg: int, state: LabState) -> Outcome:
        """Record the designed experiment (or adopt the proposal's), show its plan and spec, and
        approve it or leave it to a person as the settings say."""
        exp_id = topic.adopt_id or await self.store.create_experiment(design.new)
        await self.store.update_message(msg, experiment_id=exp_id)
        await self.store.update_sprint(sprint_id, self.host, experiment_id=exp_id,
                                       topic=f"{KIND_LABEL[topic.kind]}: {topic.catalog}")
        await self.dialogue.say("architect", self.architect.plan_text(exp_id, design), kind=MessageKind.PLAN,
                                experiment_id=exp_id)
        await self.coder.record_spec(exp_id)
        decision = await approval_for(self.store, self.settings, parent=state.get(topic.parent_id),
                                      estimate_kwh=design.estimate.kwh)
        if decision.approve:
            await ask_approval(self.store, exp_id, decision, "research team")
            await self.dialogue.notice(f"experiment {exp_id} approved: {decision.reason}", exp_id)
            await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.RUNNING)
            return Outcome(sprint_id, SprintStage.RUNNING, exp_id, decision.reason)
        await self.dialogue.notice(f"experiment {exp_id} awaits approval: {decision.reason} (`lab approve "
                                   f"{exp_id}`, or `a` in the control room)", exp_id)
        await self.store.update_sprint(sprint_id, self.host, stage=SprintStage.AWAITING_APPROVAL)
        return Outcome(sprint_id, SprintStage.AWAITING_APPROVAL, exp_id, decision.reason)

    async def _design(self, topic: Topic, state: LabState, sprint_id: int) -> Design | None:
        research = ResearchNote(sprint_id=sprint_id, autonomy=self.settings.autonomy, kind=topic.kind,
                                rationale=topic.rationale, evidence=tuple(topic.evidence), backend=self.dialogue.backend,
                                criterion=topic.criterion or None)
        if topic.adopt_id is not None:
            exp = state.get(topic.adopt_id)
            assert exp is not None
            design = await self.architect.adopt(exp, state)
        elif topic.kind == TopicKind.GENERATED:
            new = await self.coder.generate(topic, state)
            if new is None:
                return None
            design = await self.architect.wrap(new, state)
        else:
            design = await self.architect.design(topic, state, metadata=ExperimentMetadata(research=research))
        research = replace(research, estimate=design.estimate, success=tuple(design.success))
        design.new.metadata = replace(design.new.metadata, research=research)
        if topic.adopt_id is not None:
            await self.store.update_experiment(topic.adopt_id, metadata=design.new.metadata)
        return design

    # -- after the discussion ---------------------------------------------------------------------

    async def advance(self, sprint: Sprint) -> Outcome:
        """Move a sprint this host holds as far as the lab allows now; never blocks on the runs."""
        sid, exp_id = sprint.id, sprint.experiment_id
        exp = await self.store.get_experiment(exp_id) if exp_id is not None else None
        if exp is None:
            note = "its discussion ended before an experiment was proposed"
            await self.store.update_sprint(sid, self.host, stage=SprintStage.ABANDONED, note=note)
            return Outcome(sid, SprintStage.ABANDONED, note=note)
        exp_id, status = exp.id, exp.status
        if status in (E.PROPOSED, E.AWAITING_APPROVAL):
            if sprint.stage != SprintStage.AWAITING_APPROVAL:
                await self.store.update_sprint(sid, self.host, stage=SprintStage.AWAITING_APPROVAL)
            return Outcome(sid, SprintStage.AWAITING_APPROVAL, exp_id)
        if status == E.REJECTED:
            note = f"experiment {exp_id} rejected: {exp.reject_reason or 'no reason given'}"
            await self.dialogue.say("researcher", f"Noted: {note}. I will not propose {exp.catalog} again on my "
                                    f"own; a person can still ask for it (lab sprint --experiment {exp.catalog}).",
                                    experiment_id=exp_id)
            await self.store.update_sprint(sid, self.host, stage=SprintStage.REJECTED, note=note[:300])
            return Outcome(sid, SprintStage.REJECTED, exp_id, note)
        if sprint.stage == SprintStage.AWAITING_APPROVAL:
            spec = exp.metadata.spec
            edited = spec is None or (spec.params, spec.seeds, spec.plan) != (exp.params, exp.seeds, exp.plan)
            if edited:
                await self.coder.record_spec(exp_id, edited=True)
            await self.store.update_sprint(sid, self.host, stage=SprintStage.RUNNING)
        if status == E.CANCELLED:
            note = f"experiment {exp_id} cancelled: {exp.error or 'no reason given'}"
            await self.store.update_sprint(sid, self.host, stage=SprintStage.CANCELLED, note=note[:300])
            return Outcome(sid, SprintStage.CANCELLED, exp_id, note)
        if status not in (E.DONE, E.FAILED):
            return Outcome(sid, SprintStage.RUNNING, exp_id)
        if exp.rating_breakdown is None:
            if time.time() - (exp.finished_at or time.time()) < VALIDATE_GRACE_S:
                return Outcome(sid, SprintStage.RUNNING, exp_id)
            await self.store.update_sprint(sid, self.host, stage=SprintStage.VALIDATING)
            await self._validate_here(exp_id)
            exp = await self.store.get_experiment(exp_id) or exp
        return await self._close(sid, exp)

    async def _validate_here(self, exp_id: int) -> None:
        """The engine's validator did not rate it (an older engine, a crash): rate it from here."""
        await self.dialogue.notice(f"experiment {exp_id} finished without a rating; the sprint's host rates it", exp_id)
        from agents.subprocesses import run_validator

        done = await run_validator(str(self.lab_root), exp_id)
        if not done.ok:
            why = "the validator ran out of time" if done.code is None else done.err.strip()[-300:]
            await self.dialogue.notice(f"experiment {exp_id} could not be rated: {why}", exp_id)

    async def _close(self, sid: int, exp: Experiment) -> Outcome:
        children = await self.store.child_experiments(exp.id)
        b = exp.breakdown
        h = b.headline
        rated = f"rated {exp.rating:g}/10" if exp.rating is not None else "not rated"
        head = (f"; headline {h.variant}: E = {units.ratio(h.efficiency_score)}, "
                f"{quality_text(h, b.quality_key)}") if h else ""
        follow = ("; follow-ups: " + t.listing([f"{c.id} ({c.modifications.kind or units.MISSING}, "
                                                f"{c.status})" for c in children])) if children else "; no follow-up"
        note = f"experiment {exp.id} ({exp.catalog}) {exp.status}, {rated}{head}{follow}"
        await self.dialogue.say("researcher", f"Sprint {sid} closed: {note}.", experiment_id=exp.id)
        stage = SprintStage.DONE if exp.status == E.DONE else SprintStage.FAILED
        await self.store.update_sprint(sid, self.host, stage=stage, note=note[:300])
        return Outcome(sid, stage, exp.id, note)

    # -- driving ---------------------------------------------------------------------------------

    async def follow(self, outcome: Outcome, *, wait_for_approval: bool, poll_s: float = 0.5) -> Outcome:
        """Advance one sprint until it finishes (or, without wait_for_approval, until it waits for a
        person, when it is let go so that another host may take it up)."""
        if outcome.sprint_id is None:
            return outcome
        last_beat = 0.0
        while not outcome.finished:
            if outcome.stage == SprintStage.AWAITING_APPROVAL and not wait_for_approval:
                await self.store.release_sprint(outcome.sprint_id, self.host)
                return outcome
            await asyncio.sleep(poll_s)
            if time.monotonic() - last_beat > HEARTBEAT_S:
                last_beat = time.monotonic()
                await self.store.sprint_heartbeat(self.host)
            sprint = await self.store.get_sprint(outcome.sprint_id)
            if sprint is None or sprint.host not in (None, self.host):
                return Outcome(outcome.sprint_id, Unheld.LOST, outcome.experiment_id, "another host took the sprint over")
            if sprint.host is None and not await self.store.claim_sprint(sprint.id, self.host,
                                                                           stale_before=self._stale_before()):
                return Outcome(outcome.sprint_id, Unheld.LOST, outcome.experiment_id, "another host took the sprint over")
            try:
                outcome = await self.advance(sprint)
            except SprintLostError as exc:
                return Outcome(outcome.sprint_id, Unheld.LOST, outcome.experiment_id, str(exc))
        return outcome

    async def take_up(self) -> list[Outcome]:
        """Claim the open sprints nobody works (released, or whose host went silent) and advance
        each once; a discussion in progress elsewhere is left alone."""
        outcomes = []
        for sprint in await self.store.claimable_sprints(self.host, stale_before=self._stale_before()):
            if sprint.stage == SprintStage.DISCUSSING and sprint.host != self.host:
                continue  # open_sprint abandons a stale discussion
            if await self.store.claim_sprint(sprint.id, self.host, stale_before=self._stale_before()):
                try:
                    outcomes.append(await self.advance(sprint))
                except SprintLostError:
                    continue
        return outcomes

    async def _fingerprint(self) -> tuple[Any, ...]:
        exps = await self.store.list_experiments()
        return tuple((e.id, e.status, e.rating) for e in exps)

    async def tick(self) -> list[Outcome]:
        """One look at the lab by the background driver: advance what it holds or can take up,
        and open a new sprint when fewer than `parallel` are open and none waits for a person."""
        await self.store.sprint_heartbeat(self.host)
        outcomes = await self.take_up()
        open_now = await self.store.list_sprints(open_only=True)
        if any(s.stage == SprintStage.AWAITING_APPROVAL for s in open_now) or len(open_now) >= self.settings.parallel:
            return outcomes
        if time.monotonic() < self._next_start:
            return outcomes
        fingerprint = await self._fingerprint()
        if fingerprint == self._idle_at:
            return outcomes  # nothing changed since the researcher found nothing to study
        if self._said_idle and not await self._has_topic():
            self._idle_at = fingerprint  # still nothing: the researcher said so once already
            return outcomes
        try:
            outcome = await self.start()
        except Exception:
            self._next_start = time.monotonic() + RETRY_START_S
            raise
        self._said_idle = outcome.stage == SprintStage.IDLE
        if outcome.stage == SprintStage.IDLE:
            self._idle_at = await self._fingerprint()
        elif outcome.stage == SprintStage.FAILED:
            self._next_start = time.monotonic() + RETRY_START_S
        outcomes.append(outcome)
        return outcomes

    async def _has_topic(self) -> bool:
        state = await load_state(self.store, self.catalog, self.settings)
        runs_of = {e.id: await self.store.list_runs(e.id) for e in state.experiments if e.status == E.FAILED}
        llm_code = self.dialogue.backend == "openai" and self.settings.llm.allow_generated_code
        return bool(candidates(state, self.settings, runs_of, llm_code=llm_code))
