"""Proposals waiting for approval, one at a time: approve, reject with a reason, or edit the
parameters; j/k (or the arrows) for the next and previous."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult

from contract import requests as rq
from db import Experiment
from tui import keys
from tui.messages import RefreshWanted
from tui.reader import LabReader, Proposal
from tui.screens.base import LabScreen
from tui.session import Session
from tui.widgets.footer import LabFooter
from tui.widgets.proposal_view import ProposalView
from tui.workers import db_work


class ApprovalScreen(LabScreen):
    BINDINGS = keys.bindings(keys.APPROVAL)
    KEY_SCOPES = (keys.APPROVAL,)

    def __init__(self, session: Session, start_id: int | None = None) -> None:
        super().__init__(session)
        self.current_id = start_id
        self.proposals: list[Experiment] = []
        self.proposal: Proposal | None = None
        self._decided: set[int] = set()
        self._version = -1
        self._shown_key: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield from self.status_line()
        yield ProposalView(id="proposal")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(ProposalView).focus()

    # -- data ----------------------------------------------------------------------------------

    async def poll(self, version: int, now: float) -> None:
        if version == self._version:
            return
        self._version = version
        reader = self.session.reader
        assert reader is not None
        self.proposals = [p for p in await reader.proposals() if p.id not in self._decided]
        await self._load_current(reader)

    async def _load_current(self, reader: LabReader) -> None:
        ids = [p.id for p in self.proposals]
        if self.current_id not in ids:
            # keep the position: the next one after the one that went away
            later = [i for i in ids if self.current_id is not None and i > self.current_id]
            self.current_id = later[0] if later else (ids[-1] if ids else None)
        exp = next((p for p in self.proposals if p.id == self.current_id), None)
        self.proposal = await reader.proposal(exp) if exp is not None else None
        position = (ids.index(self.current_id) + 1 if self.current_id in ids else 0, len(ids))
        key = (exp and exp.updated_at, self.current_id, position,
               self.proposal and len(self.proposal.messages))
        if key != self._shown_key:
            self._shown_key = key
            self.query_one(ProposalView).show(self.proposal, position)

    @db_work(group="approval", exclusive=True, where="reading the proposals")
    async def reload(self) -> None:
        reader = self.session.reader
        if reader is not None:
            await self._load_current(reader)

    # -- actions ---------------------------------------------------------------------------------

    def _move(self, step: int) -> None:
        ids = [p.id for p in self.proposals]
        if not ids:
            return
        index = ids.index(self.current_id) if self.current_id in ids else 0
        new = ids[max(0, min(len(ids) - 1, index + step))]
        if new != self.current_id:
            self.current_id = new
            self.reload()

    def action_next(self) -> None:
        self._move(1)

    def action_prev(self) -> None:
        self._move(-1)

    def _target(self, what: str) -> int | None:
        if self.current_id is None:
            self.notify("no proposal is waiting", severity="warning")
            return None
        if not self.allowed(f"{what} #{self.current_id}"):
            return None
        return self.current_id

    def action_approve(self) -> None:
        exp_id = self._target("approve")
        if exp_id is not None:
            self._decide(rq.Approve(exp_id), f"approve #{exp_id}")

    def action_reject(self) -> None:
        exp_id = self._target("reject")
        if exp_id is None:
            return
        from tui.screens.prompt import PromptScreen

        def done(reason: str | None) -> None:
            if reason:
                self._decide(rq.Reject(exp_id, reason), f"reject #{exp_id}")

        self.app.push_screen(PromptScreen(f"Reject proposal #{exp_id}", "Why? The researcher reads it.",
                                          check=lambda t: None if t.strip() else "say why, in a few words",
                                          placeholder="e.g. the baseline already covers this"), done)

    def action_edit(self) -> None:
        exp_id = self._target("edit")
        if exp_id is None or self.proposal is None:
            return
        from tui.screens.edit_params import EditParamsScreen

        def edited(_: bool | None) -> None:
            self.app.post_message(RefreshWanted())

        self.app.push_screen(EditParamsScreen(self.session, self.proposal.experiment), edited)

    @db_work(group="decide", where="deciding")
    async def _decide(self, request: rq.Approve | rq.Reject, what: str) -> None:
        exp_id = request.exp_id
        req_id = await self.session.actions.request(request, what=what, notify=False)
        self._decided.add(exp_id)
        self.proposals = [p for p in self.proposals if p.id != exp_id]
        reader = self.session.reader
        if reader is not None:
            await self._load_current(reader)
        if not self.session.status.engine.running:
            return
        answer = await self.session.actions.answer(req_id)
        if answer.ok:
            self.notify(answer.message, title=what)
        else:
            self._decided.discard(exp_id)
            self.notify(answer.message, title=f"could not {what}", severity="error", timeout=10)
            self._version = -1
        self.app.post_message(RefreshWanted())
