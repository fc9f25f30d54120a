"""A research sprint asked from the control room (`s`): run as `lab sprint --json` in a child
process, announced while it runs, its outcome said when it ends. The team's words reach the
database as they are said, so the dialogue panel shows them live."""

from __future__ import annotations

import json

from textual.notifications import Notification

from agents.sprint_outcome import Outcome
from db import SprintStage
from tui.engine_control import EngineControls
from tui.workers import db_work


def sprint_outcome(code: int | None, out: str, why: str) -> tuple[str, str, str]:
    """(message, title, severity) of a finished `lab sprint --json`."""
    try:
        outcome = Outcome.of_json(json.loads(out)) if code in (0, 1) else None
    except ValueError:  # not JSON (json.JSONDecodeError is one), or not an outcome
        outcome = None
    if outcome is None:
        return f"the sprint could not run: {why}", "sprint", "error"
    exp, note = outcome.experiment_id, outcome.note
    head = f"sprint {outcome.sprint_id}: "
    if outcome.stage == SprintStage.AWAITING_APPROVAL:
        return head + f"experiment #{exp} awaits your approval (p to review it)", "sprint", "information"
    if outcome.stage == SprintStage.IDLE:
        return head + (note or "nothing left to study"), "sprint", "information"
    where = f" (experiment #{exp})" if exp else ""
    return head + f"{outcome.stage}{where}" + (f": {note}" if note else ""), "sprint", \
        "information" if code == 0 else "warning"


class SprintDesk(EngineControls):
    _sprint_note: Notification | None = None  # the running sprint's announcement, taken down when it ends

    def ask_sprint(self) -> None:
        """One research sprint now, unless one asked from here still runs."""
        if not self.allowed("ask the research team for a sprint"):
            return
        if self.session.sprint_since is not None:
            self.notify("the research team is already on the sprint asked from here: its dialogue is in the "
                        "Dialogue panel", title="sprint", severity="warning")
            return
        self.session.sprint_since = self.session.clock()
        self._sprint_note = self.notify("the research team is discussing a sprint: its dialogue appears in the "
                                        "Dialogue panel", title="sprint")
        self._run_sprint()
        self.poll_soon()

    def sprint_command(self) -> list[str]:
        return ["-m", "cli", "--dir", str(self.session.lab.root), "sprint", "--json"]

    @db_work(group="sprint", exclusive=True, where="the research sprint")
    async def _run_sprint(self) -> None:
        from agents.subprocesses import run_python

        try:
            # no time limit: at autonomy 2 and 3 the sprint follows its runs; it ends with the app
            # (the team takes an unfinished sprint up again: `lab research`, background research)
            done = await run_python(self.sprint_command(), timeout=None, stdout=True)
        finally:
            self.session.sprint_since = None
            self.unnotify(self._sprint_note)  # its announcement ends with it
            self._sprint_note = None
            self.poll_soon()
        message, title, severity = sprint_outcome(done.code, done.out, done.why)
        self.notify(message, title=title, severity=severity, timeout=10)
