"""The status line's state, built at each refresh from what was read: the engine (running since,
or down since, and whether it just went down), the lab's settings, the day's spend and budgets."""

from __future__ import annotations

from db import EngineRow
from engine.control import runs_wait
from tui.reader import EngineInfo, Status, StatusReading, llm_down
from tui.ui_settings import UISettings


class EngineWatch:
    """The engine across refreshes: since when it is seen running, and whether it just stopped."""

    def __init__(self) -> None:
        self.up_seen: float | None = None
        self.was_running: bool | None = None
        self.starts = 0  # engines this control room started (or found running when it went to start one)
        self._started_pid: int | None = None

    def started(self, pid: int) -> None:
        """An engine start of this control room ended: `pid` runs (its own, or the engine another
        client started first, which refused this one's at the lock)."""
        self.starts += 1
        self._started_pid = pid
        self.was_running = True

    def probed(self, pid: int | None, starts: int) -> int | None:
        """What a probe of the lock says, taken when `starts` starts had ended: no engine there and
        a start ended since is a stale look (the refresh reads for a while after its probe), not an
        engine going down: the engine the start found is shown, and the next refresh looks again."""
        if pid is None and starts != self.starts:
            return self._started_pid
        return pid

    def just_stopped(self, pid: int | None) -> bool:
        """No engine now where one ran at the last look (its row then says when it stopped)."""
        return pid is None and bool(self.was_running)

    def seen(self, pid: int | None, row: EngineRow | None, now: float) -> tuple[EngineInfo, bool]:
        """The engine as shown, and whether it went down since the last look."""
        running = pid is not None
        if running:
            if self.up_seen is None:
                self.up_seen = now
            since: float | None = row.started_at if row is not None and row.pid == pid else self.up_seen
        else:
            self.up_seen = None
            since = (row.stopped_at or row.heartbeat_at) if row is not None else None
        went_down = bool(self.was_running) and not running
        self.was_running = running
        return EngineInfo(running, pid if pid and pid > 0 else None, since), went_down


def build_status(raw: StatusReading, engine: EngineInfo, ui: UISettings, db_problem: str | None) -> Status:
    """The status of one refresh: `raw` as read by `LabReader.status`, the engine as seen."""
    settings = raw.settings
    running = engine.running
    return Status(
        engine=engine,
        autonomy=ui.autonomy if settings.autonomy is None else settings.autonomy,
        research=ui.research if settings.research is None else settings.research,
        paused=settings.paused,
        proposals=raw.proposals,
        experiments_last_hour=raw.experiments_last_hour,
        kwh_today=raw.kwh_today or 0.0,
        usd_today=raw.usd_today or 0.0,
        budgets=ui.budgets,
        db_problem=db_problem,
        loaded=True,
        llm_down=llm_down(raw.llm_down),
        unsandboxed=ui.unsandboxed,
        runs_wait=runs_wait(settings, running) if running and not settings.paused else None,
    )
