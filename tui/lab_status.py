"""The status line's state, built at each refresh from what was read: the engine (running since,
or down since, and whether it just went down), the lab's settings, the day's spend and budgets."""

from __future__ import annotations

from typing import Any

from engine.control import runs_wait
from tui.reader import EngineInfo, Status, llm_down
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

    def seen(self, pid: int | None, row: dict[str, Any], now: float) -> tuple[EngineInfo, bool]:
        """The engine as shown, and whether it went down since the last look."""
        running = pid is not None
        if running:
            if self.up_seen is None:
                self.up_seen = now
            since = row.get("started_at") if row.get("pid") == pid else self.up_seen
        else:
            self.up_seen = None
            since = row.get("stopped_at") or row.get("heartbeat_at")
        went_down = bool(self.was_running) and not running
        self.was_running = running
        return EngineInfo(running, pid if pid and pid > 0 else None, since), went_down


def build_status(raw: dict[str, Any], engine: EngineInfo, ui: UISettings, db_problem: str | None) -> Status:
    """The status of one refresh: `raw` as read by `LabReader.status`, the engine as seen."""
    settings = raw.get("settings") or {}
    autonomy = settings.get("autonomy", ui.autonomy)
    running = engine.running
    return Status(
        engine=engine,
        autonomy=autonomy if isinstance(autonomy, int) else ui.autonomy,
        research=bool(settings.get("research", ui.research)),
        paused=bool(settings.get("paused", False)),
        proposals=raw.get("proposals", 0),
        experiments_last_hour=raw.get("experiments_last_hour", 0),
        kwh_today=raw.get("kwh_today", 0.0) or 0.0,
        usd_today=raw.get("usd_today", 0.0) or 0.0,
        budgets=ui.budgets,
        db_problem=db_problem,
        loaded=True,
        llm_down=llm_down(raw),
        unsandboxed=ui.unsandboxed,
        runs_wait=runs_wait(settings, running) if running and not settings.get("paused") else None,
    )
