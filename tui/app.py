"""The control room: a full-screen Textual client of the lab database.

It reads the lab in workers (aiosqlite: the event loop never waits on SQLite), about once a
second (`[tui] refresh_s`, never faster than 4 Hz), skips the heavy reads when the database did
not change (`PRAGMA data_version`), and hands comparable snapshots to widgets that redraw only
what changed. Every changing action is a request row the engine carries out.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.command import Provider
from textual.notifications import Notification, Notify
from textual.screen import Screen

from contract.layout import LabDir
from db import Store
from db.watch import ChangeWatcher
from engine.control import runs_wait
from tui import keys
from tui.actions import Actions
from tui.client import LabClient
from tui.clock import Clock, start_of_day, system_clock
from tui.engine_link import EngineLink, RealEngine
from tui.errors import DbProblem, ErrorHandler, Outcome
from tui.messages import ExperimentSubmitted, RequestAnswered, RequestSent, WorkerFailed
from tui.palette import LiteralCommandsProvider
from tui.reader import EngineInfo, LabReader, Status, llm_down
from tui.repaint import install as send_only_changed_spans
from tui.ui_settings import UISettings, load_ui_settings
from tui.workers import db_work

if TYPE_CHECKING:
    from science.catalog import Catalog

send_only_changed_spans()  # each changed line from its change, not from its widget's left edge

HERE = Path(__file__).parent
# every style of the control room: one .tcss beside each widget and screen, all loaded here
STYLES: list[str | PurePath] = [*sorted(str(p) for p in (HERE / "widgets").glob("*.tcss")),
          *sorted(str(p) for p in (HERE / "screens").glob("*.tcss")), str(HERE / "app.tcss")]
ENV_STARTUP_FILE = "JOULELAB_TUI_STARTUP_FILE"
ENGINE_PROBE_S = 1.0  # the engine's lock is checked at least this often  # where to write the time to the first full frame


def process_age() -> float:
    """Seconds since this process started, from /proc (psutil's create_time rounds the boot time
    to whole seconds, which can put it most of a second off)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - float(psutil.Process().create_time())


TRACE = os.environ.get("JOULELAB_TUI_TRACE")  # a file: start-up milestones, for diagnosis


def trace(what: str) -> None:
    if TRACE:
        cpu = os.times()
        with open(TRACE, "a") as fh:
            fh.write(f"{process_age():7.3f} s  cpu {cpu.user + cpu.system:6.3f} s  {what}\n")


def sprint_outcome(code: int | None, out: str, why: str) -> tuple[str, str, str]:
    """(message, title, severity) of a finished `lab sprint --json`."""
    import json

    try:
        outcome = json.loads(out) if out.strip() else {}
    except json.JSONDecodeError:
        outcome = {}
    if code not in (0, 1) or not isinstance(outcome, dict) or "stage" not in outcome:
        return f"the sprint could not run: {why}", "sprint", "error"
    stage, exp, note = outcome.get("stage"), outcome.get("experiment_id"), outcome.get("note") or ""
    head = f"sprint {outcome.get('sprint_id')}: "
    if stage == "awaiting_approval":
        return head + f"experiment #{exp} awaits your approval (p to review it)", "sprint", "information"
    if stage == "idle":
        return head + (note or "nothing left to study"), "sprint", "information"
    where = f" (experiment #{exp})" if exp else ""
    return head + f"{stage}{where}" + (f": {note}" if note else ""), "sprint", \
        "information" if code == 0 else "warning"


TOAST_GONE_S = 0.1  # after a notification ends: its toast has been removed by then


class ControlRoomApp(App[None]):
    TITLE = "Joule Lab"
    CSS_PATH = STYLES
    BINDINGS = keys.bindings(keys.APP)
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {LiteralCommandsProvider}  # no markup

    def __init__(self, lab: LabDir, *, readonly: bool = False, clock: Clock = system_clock,
                 engine: EngineLink | None = None, settings: UISettings | None = None,
                 start_engine: bool = True, catalog: Catalog | None = None, refresh_s: float | None = None) -> None:
        super().__init__()
        self.lab = lab
        self.readonly = readonly
        self.clock = clock
        self.engine = engine or RealEngine(lab)
        self.settings = settings or load_ui_settings(lab)
        if refresh_s is not None:
            from tui.ui_settings import clamp_refresh

            self.settings = UISettings(**{**self.settings.__dict__, "refresh_s": clamp_refresh(refresh_s)})
        self.auto_start_engine = start_engine and not readonly
        self.store: Store | None = None
        self.reader: LabReader | None = None
        self.watcher: ChangeWatcher | None = None
        self._watch_lock = threading.Lock()
        self.errors = ErrorHandler(lab.root)
        self.actions = Actions(readonly=readonly, client=self.client, catalog=self.get_catalog, post=self.post_message)
        self.status = Status(budgets=self.settings.budgets)
        self.data_version = 0
        self.ready = asyncio.Event()
        self._catalog = catalog
        self._catalog_lock: asyncio.Lock | None = None
        self._raw_status: dict[str, Any] | None = None
        self._busy = False
        self._again = False
        self._engine_up_seen: float | None = None
        self._engine_was_running: bool | None = None
        self._db_problem: str | None = None
        self.exit_note: str | None = None
        self._bindings_key: tuple[Any, ...] | None = None
        self.sprint_since: float | None = None  # a sprint asked from here is running since (clock time)
        self._sprint_note: Notification | None = None  # its announcement, taken down when it ends

    # -- start ----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        trace("composing")
        from tui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def on_mount(self) -> None:
        trace("mounted")
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        for problem in self.settings.problems:
            self.notify(problem, title="settings", severity="warning", timeout=10)
        if self.lab.exists():
            self.open_lab()
        else:
            from tui.screens.lab_missing import LabMissingScreen

            self.push_screen(LabMissingScreen(self.lab, self.readonly), self._lab_missing_answered)

    def _lab_missing_answered(self, create: bool | None) -> None:
        if not create:
            self.exit_note = f"lab: no lab at {self.lab.root} (nothing created)"
            self.exit(return_code=1)
            return
        self.lab.ensure()
        self.notify(f"created the lab at {self.lab.root}", title="lab")
        self.open_lab()

    @db_work(group="open", where="opening the lab")
    async def open_lab(self) -> None:
        # the first reads hop to the database thread a few dozen times while this thread is busy
        # laying out the screen: hand the GIL over faster until the first frame is shown
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.store = await Store.open(self.lab.db)
        trace("store open")
        self.reader = LabReader(self.store)
        self.watcher = await asyncio.to_thread(ChangeWatcher, self.lab.db)
        trace("watcher")
        if self.auto_start_engine and await asyncio.to_thread(self.engine.probe) is None:
            self.start_engine(quiet=True)
        await self.refresh_lab()
        trace("first refresh read and shown")
        self.set_interval(self.settings.refresh_s, self.poll_soon, name="refresh")
        if self.settings.refresh_s > ENGINE_PROBE_S:  # a dead engine is shown within 2 s whatever the rate
            self.set_interval(ENGINE_PROBE_S, self._probe_engine, name="engine probe")

    async def on_unmount(self) -> None:
        with self._watch_lock:
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None
        if self.store is not None:
            await self.store.close()
        from tui.widgets import curves

        if curves._plotext is not None:  # its C objects are freed here, not during interpreter exit
            curves._plotext.figure.clear()

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the lab is not open yet")
        return self.store

    def client(self) -> LabClient:
        """The lab client (requests, new experiments) the command line uses too."""
        return LabClient(self.lab, self.require_store(), "tui")

    async def get_catalog(self) -> Catalog:
        """The catalog, asked of the experiment programs once, in a thread."""
        from science.catalog import Catalog

        if self._catalog_lock is None:
            self._catalog_lock = asyncio.Lock()
        async with self._catalog_lock:
            if self._catalog is None:
                self._catalog = Catalog()
            await asyncio.to_thread(self._catalog.entries)
            return self._catalog

    # -- the refresh loop ---------------------------------------------------------------------

    def poll_soon(self) -> None:
        if self.reader is None:
            return
        if self._busy:
            self._again = True
            return
        self._refresh_worker()

    @db_work(group="refresh", where="refresh")
    async def _refresh_worker(self) -> None:
        await self.refresh_lab()

    @db_work(group="probe", exclusive=True, where="probing the engine")
    async def _probe_engine(self) -> None:
        pid = await asyncio.to_thread(self.engine.probe)
        if (pid is not None) != self.status.engine.running:
            self.poll_soon()

    def _probe(self) -> tuple[bool, int | None]:
        """In a worker thread: did the database change, and which engine holds the lock."""
        with self._watch_lock:  # never while the connection is being closed (that would crash)
            changed = self.watcher.changed() if self.watcher is not None else True
        return changed, self.engine.probe()

    async def refresh_lab(self) -> None:
        """One refresh: engine, status, then whatever the screen on top shows."""
        if self.reader is None or self._busy:
            return
        self._busy = True
        try:
            changed, pid = await asyncio.to_thread(self._probe)
            now = self.clock()
            if changed or not self.reader.stamps:
                before = self.reader.stamps
                if await self.reader.update_stamps() != before:
                    self.data_version += 1
            raw = await self.reader.status(now=now, today=start_of_day(now), budgets=self.settings.budgets)
            if (pid is not None) != bool(self._engine_was_running) and pid is None:
                raw = {**raw, "engine_row": await self.reader.engine_row()}  # its last heartbeat
            self._raw_status = raw
            self.status = self._build_status(raw, pid, now)
            screen = self.screen
            self.show_status_now(screen)
            from tui.screens.base import LabScreen

            if isinstance(screen, LabScreen):
                await screen.poll(self.data_version, now)
            self.show_outcomes(self.errors.success())
            if not self.ready.is_set():
                self.ready.set()
                self.call_after_refresh(self._first_frame)
        finally:
            self._busy = False
        if self._again:
            self._again = False
            self.poll_soon()

    def _first_frame(self) -> None:
        """Write `<unix time> <process age s> <cpu s>` at the first full frame (benchmarks)."""
        trace("first full frame")
        sys.setswitchinterval(getattr(self, "_switch_interval", 0.005))
        path = os.environ.get(ENV_STARTUP_FILE)
        if not path:
            return
        try:
            cpu = os.times()
            Path(path).write_text(f"{time.time():.3f} {process_age():.3f} {cpu.user + cpu.system:.3f}\n")
        except Exception:  # measuring must never break the control room
            pass

    def _build_status(self, raw: dict[str, Any], pid: int | None, now: float) -> Status:
        row = raw.get("engine_row") or {}
        running = pid is not None
        if running:
            if self._engine_up_seen is None:
                self._engine_up_seen = now
            since = row.get("started_at") if row.get("pid") == pid else self._engine_up_seen
        else:
            self._engine_up_seen = None
            since = row.get("stopped_at") or row.get("heartbeat_at")
        if self._engine_was_running and not running and not self.readonly:
            self.notify("The engine has stopped: no new run starts and requests wait. Press S to restart it.",
                        title="engine down", severity="error", timeout=15)
        self._engine_was_running = running
        settings = raw.get("settings") or {}
        autonomy = settings.get("autonomy", self.settings.autonomy)
        return Status(
            engine=EngineInfo(running, pid if pid and pid > 0 else None, since),
            autonomy=autonomy if isinstance(autonomy, int) else self.settings.autonomy,
            research=bool(settings.get("research", self.settings.research)),
            paused=bool(settings.get("paused", False)),
            proposals=raw.get("proposals", 0),
            experiments_last_hour=raw.get("experiments_last_hour", 0),
            kwh_today=raw.get("kwh_today", 0.0) or 0.0,
            usd_today=raw.get("usd_today", 0.0) or 0.0,
            budgets=self.settings.budgets,
            db_problem=self._db_problem,
            loaded=True,
            llm_down=llm_down(raw),
            unsandboxed=self.settings.unsandboxed,
            runs_wait=runs_wait(settings, running) if running and not settings.get("paused") else None,
        )

    def show_status_now(self, screen: Screen[Any]) -> None:
        from tui.screens.base import LabScreen

        if isinstance(screen, LabScreen):
            screen.show_status(self.status, self.clock())
        # the footer is rebuilt on refresh_bindings: only when what it shows may change
        key = (id(screen), self.status.engine.running, self.status.engine.known, self.reader is not None)
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def set_db_problem(self, problem: str | None) -> None:
        self._db_problem = problem
        self.status = Status(**{**self.status.__dict__, "db_problem": problem})
        self.show_status_now(self.screen)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = True) -> Notification:
        """Every notification is plain text: its message often carries an experiment name, an
        engine's answer or a model's words, any of which may hold brackets. Returns it, so that
        what it announces can take it down when it ends (`unnotify`)."""
        note = Notification(message, title, severity, self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
                            markup=False)
        self.post_message(Notify(note))
        return note

    def unnotify(self, note: Notification | None) -> None:
        """Take a notification down now, if it is still shown."""
        if note is not None and note in self._notifications:
            self._unnotify(note)

    def _unnotify(self, notification: Notification, refresh: bool = True) -> None:
        """A notification goes (its time is up, or what it announced ended): once its toast is
        removed, the screen is painted again where it was. Textual's partial repaint after the
        removal can leave the toast's picture on the terminal (seen in tmux at 80x24 and 160x50,
        and in the browser: the sprint's notice stayed over the panels for minutes)."""
        super()._unnotify(notification, refresh=refresh)
        self.set_timer(TOAST_GONE_S, self._repaint_where_toasts_were)

    def _repaint_where_toasts_were(self) -> None:
        screen = self.screen
        screen.refresh(screen.region)

    # -- requests and their answers -------------------------------------------------------------

    def allowed(self, what: str) -> bool:
        """False (and says why) in read-only mode."""
        if self.readonly:
            self.notify(f"read-only mode: cannot {what} (started with --readonly)", title="read-only",
                        severity="warning")
            return False
        return True

    # -- what workers and actions report (tui/messages.py) --------------------------------------

    def report_error(self, exc: BaseException, where: str) -> None:
        self.show_outcomes(self.errors.classify(exc, where))

    def show_outcomes(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, DbProblem):
                self.set_db_problem(outcome.text)
            else:
                self.notify(outcome.text, title=outcome.title, severity=outcome.severity, timeout=outcome.timeout)

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.report_error(message.error, message.where)

    def on_request_sent(self, message: RequestSent) -> None:
        if not self.status.engine.running:
            self.notify(f"{message.what}: asked; the engine is down, so it waits until the engine runs "
                        "(press S to start it)", severity="warning", timeout=8)
        elif message.follow:
            self._follow(message.request_id, message.what)

    def on_request_answered(self, message: RequestAnswered) -> None:
        answer, what = message.answer, message.what
        if answer.ok:
            self.notify(answer.message, title=what)
        else:
            self.notify(answer.message, title=f"could not {what}", severity="warning" if answer.pending else "error",
                        timeout=10)
        self.poll_soon()

    def on_experiment_submitted(self, message: ExperimentSubmitted) -> None:
        if not self.status.engine.running:
            self.start_engine(quiet=True)

    @db_work(group="answers", where="request")
    async def _follow(self, req_id: int, what: str) -> None:
        self.post_message(RequestAnswered(req_id, what, await self.actions.answer(req_id)))

    # -- the engine -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_engine":
            return (not self.status.engine.running and self.status.engine.known and self.reader is not None
                    and not self.readonly)
        if action == "back":
            return len(self.screen_stack) > 1
        return True

    def action_start_engine(self) -> None:
        if not self.allowed("start the engine"):
            return
        if self.status.engine.running:
            self.notify(f"the engine is already running (pid {self.status.engine.pid})")
            return
        self.start_engine()

    def start_engine(self, quiet: bool = False) -> None:
        self._start_engine(quiet)

    @db_work(group="engine", exclusive=True, where="starting the engine")
    async def _start_engine(self, quiet: bool) -> None:
        if not quiet:
            self.notify("starting the engine…", title="engine")
        pid = await asyncio.to_thread(self.engine.start)
        self._engine_was_running = True
        if not quiet:
            self.notify(f"the engine is running (pid {pid})", title="engine")
        self.poll_soon()

    # -- the research team -------------------------------------------------------------------

    def ask_sprint(self) -> None:
        """One research sprint now, run as `lab sprint` in a child process; the team's words reach
        the database as they are said, so the dialogue shows them live."""
        if not self.allowed("ask the research team for a sprint"):
            return
        if self.sprint_since is not None:
            self.notify("the research team is already on the sprint asked from here: its dialogue is in the "
                        "Dialogue panel", title="sprint", severity="warning")
            return
        self.sprint_since = self.clock()
        self._sprint_note = self.notify("the research team is discussing a sprint: its dialogue appears in the "
                                        "Dialogue panel", title="sprint")
        self._run_sprint()
        self.poll_soon()

    def sprint_command(self) -> list[str]:
        return ["-m", "cli", "--dir", str(self.lab.root), "sprint", "--json"]

    @db_work(group="sprint", exclusive=True, where="the research sprint")
    async def _run_sprint(self) -> None:
        from agents.subprocesses import run_python

        try:
            # no time limit: at autonomy 2 and 3 the sprint follows its runs; it ends with the app
            # (the team takes an unfinished sprint up again: `lab research`, background research)
            done = await run_python(self.sprint_command(), timeout=None, stdout=True)
        finally:
            self.sprint_since = None
            self.unnotify(self._sprint_note)  # its announcement ends with it
            self._sprint_note = None
            self.poll_soon()
        message, title, severity = sprint_outcome(done.code, done.out, done.why)
        self.notify(message, title=title, severity=severity, timeout=10)

    # -- keys, help, palette ---------------------------------------------------------------------

    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def screen_keys(self, screen: Screen[Any]) -> list[tuple[str, list[keys.Key]]]:
        """The bindings in force on a screen, by scope, for help and the palette."""
        scopes = [(name, scope) for name, scope in keys.SCOPES.items()
                  if any(scope is s for s in getattr(screen, "KEY_SCOPES", []))]
        return [*scopes, ("app", keys.APP)]

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for scope_name, scope in self.screen_keys(screen):
            for key in scope:
                if key.id == "app.palette":
                    continue
                shown = keys.display_keys(keys.keys_for(key.id, self.settings.keymap))
                target = self if scope_name == "app" else screen
                yield SystemCommand(f"{key.description} [{shown}]", key.help or key.description,
                                    partial(self._run_from_palette, target, key.action))
        extra = getattr(screen, "extra_commands", None)
        if extra is not None:
            yield from extra()
        yield from super().get_system_commands(screen)

    def _run_from_palette(self, target: Any, action: str) -> None:
        self.call_later(target.run_action, action)

    def handle_bindings_clash(self, clashed: set[Any], node: Any) -> None:
        names = ", ".join(sorted(b.id or b.action for b in clashed))
        key = f"clash:{names}"
        if key not in getattr(self, "_clashes", set()):
            self._clashes = getattr(self, "_clashes", set()) | {key}
            self.notify(f"two bindings share a key: {names}; change one in [keys]", severity="warning")
