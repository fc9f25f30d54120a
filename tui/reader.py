"""Reading the lab for the control room: plain, comparable snapshots built from the Store.

Every method is a coroutine on the store's own thread (aiosqlite), so the event loop never
waits on SQLite. Snapshots are frozen dataclasses and tuples: a widget compares the new one with
the one it shows and redraws only when they differ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from contract.config import Budgets
from db import (
    EnergyTotals,
    EngineRow,
    Experiment,
    ExperimentState,
    FamilyMember,
    LabSettings,
    LlmEndpoint,
    QueueRun,
    Run,
    RunCosts,
    Store,
    SystemSample,
)
from db import Message as Message  # the dialogue's messages are the store's rows (re-exported for the screens)
from db.states import EXPERIMENT_ACTIVE, EXPERIMENT_FINISHED, EXPERIMENT_WAITING
from db.states import ExperimentState as E
from tui.ratings import LeaderRow, leader_rows

WAITING = [s.value for s in EXPERIMENT_WAITING]
ACTIVE = [s.value for s in EXPERIMENT_ACTIVE]
FINISHED = [s.value for s in EXPERIMENT_FINISHED]
RECENT_FINISHED = 12   # finished experiments kept in the queue view
RATED = 100_000        # the rated experiments the Ratings panel's counting reads (all of them)
QUEUE_ORDER = (E.AWAITING_APPROVAL, E.PROPOSED, E.RUNNING, E.ANALYZING, E.APPROVED)  # how the queue lists them
DIALOGUE = 120         # messages kept in the dashboard's dialogue


T = TypeVar("T")


@dataclass(frozen=True)
class EngineInfo:
    running: bool
    pid: int | None = None
    since: float | None = None      # started (running) or went down (not running)
    known: bool = True              # False before the first probe


@dataclass(frozen=True)
class LlmDown:
    """A language-model endpoint the lab skips (db/health.py): which, why, since and until when."""

    label: str
    reason: str
    since: float | None
    retry_at: float | None


def llm_down(endpoints: list[LlmEndpoint]) -> tuple[LlmDown, ...]:
    return tuple(LlmDown(e.label, e.reason, e.since, e.retry_at) for e in endpoints)


@dataclass(frozen=True)
class StatusReading:
    """What one refresh reads for the status line (`LabReader.status`)."""

    engine_row: EngineRow | None
    settings: LabSettings
    proposals: int
    experiments_last_hour: int
    kwh_today: float
    usd_today: float
    llm_down: list[LlmEndpoint]


@dataclass(frozen=True)
class Status:
    engine: EngineInfo = EngineInfo(False, known=False)
    autonomy: int = 1
    research: bool = False
    paused: bool = False
    proposals: int = 0
    experiments_last_hour: int = 0
    kwh_today: float = 0.0
    usd_today: float = 0.0
    budgets: Budgets = field(default_factory=Budgets)
    db_problem: str | None = None
    loaded: bool = False
    llm_down: tuple[LlmDown, ...] = ()
    unsandboxed: bool = False   # generated code may run without a sandbox ([llm.sandbox] allow_unsandboxed)
    runs_wait: str | None = None   # why queued runs do not start (engine.control.runs_wait), None: they do


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    util_pct: float | None
    mem_used: int | None
    mem_total: int | None
    power_w: float | None
    temp_c: float | None


@dataclass(frozen=True)
class Energy:
    kwh: float = 0.0
    co2_kg: float = 0.0
    estimated: bool = False
    runs: int = 0


@dataclass(frozen=True)
class Gauges:
    sampled_at: float | None = None
    cpu_pct: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    gpus: tuple[Gpu, ...] = ()
    today: Energy = Energy()
    total: Energy = Energy()
    usd_today: float = 0.0
    usd_total: float = 0.0
    tokens_total: int = 0
    loaded: bool = False


@dataclass(frozen=True)
class QueueExperiment:
    id: int
    name: str
    catalog: str
    status: ExperimentState
    priority: int
    source: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    rating: float | None
    runs: tuple[QueueRun, ...] = ()


@dataclass
class ExperimentDetail:
    experiment: Experiment
    runs: list[Run] = field(default_factory=list)
    family: list[FamilyMember] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Proposal:
    experiment: Experiment
    parent: Experiment | None
    history: RunCosts
    messages: list[Message] = field(default_factory=list)


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class LabReader:
    """Reads for the screens, each cached against the change stamps of the tables it depends on
    (`Store.change_stamps`, read once per refresh): a table that did not change is not read."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stamps: dict[str, str] = {}
        self._cache: dict[str, tuple[tuple[Any, ...], Any]] = {}

    async def update_stamps(self) -> dict[str, str]:
        self.stamps = await self.store.change_stamps()
        return self.stamps

    def changed(self, name: str, *deps: str, extra: Any = None) -> bool:
        """True when a read keyed `name` depending on `deps` would return something new."""
        key = (*(self.stamps.get(d) for d in deps), extra)
        hit = self._cache.get(name)
        return not self.stamps or hit is None or hit[0] != key

    async def _cached(self, name: str, deps: tuple[str, ...], read: Callable[[], Awaitable[T]],
                      extra: Any = None) -> T:
        key = (*(self.stamps.get(d) for d in deps), extra)
        hit = self._cache.get(name)
        if self.stamps and hit is not None and hit[0] == key:
            return cast(T, hit[1])
        value = await read()
        self._cache[name] = (key, value)
        return value

    async def status(self, *, now: float, today: float, budgets: Budgets) -> StatusReading:
        async def counts() -> tuple[int, int]:
            c = await self.store.experiment_counts()
            return (sum(c.get(s, 0) for s in EXPERIMENT_WAITING),
                    await self.store.experiments_approved_since(now - 3600))

        proposals, last_hour = await self._cached("counts", ("experiments",), counts, extra=int(now // 60))
        return StatusReading(
            engine_row=await self._cached("engine_row", ("engine",), self.store.engine_row),
            settings=await self._cached("settings", ("settings",), self.store.settings),
            proposals=proposals, experiments_last_hour=last_hour,
            kwh_today=(await self.energy(today))[0].kwh,
            usd_today=(await self.spend(today))[0],
            llm_down=await self._cached("llm_down", ("llm",), self.store.degraded_llms))

    async def engine_row(self) -> EngineRow | None:
        """The engine's row, read now (its heartbeat is not in the stamps)."""
        return await self.store.engine_row()

    async def energy(self, today: float) -> tuple[Energy, Energy]:
        def energy(e: EnergyTotals) -> Energy:
            return Energy(e.energy_kwh, e.co2_kg, e.estimated and e.runs > 0, e.runs)

        async def read() -> tuple[Energy, Energy]:
            return energy(await self.store.energy_totals(today)), energy(await self.store.energy_totals(0.0))

        return await self._cached("energy", ("energy",), read, extra=today)

    async def spend(self, today: float) -> tuple[float, float, int]:
        async def read() -> tuple[float, float, int]:
            t = await self.store.llm_spend(today)
            a = await self.store.llm_spend(0.0)
            return t.cost_usd, a.cost_usd, a.tokens_in + a.tokens_out

        return await self._cached("spend", ("messages",), read, extra=today)

    async def gauges(self, *, today: float) -> Gauges:
        async def sample() -> SystemSample | None:
            rows = await self.store.system_samples(limit=1)
            return rows[-1] if rows else None

        sample_row = await self._cached("sample", ("system",), sample)
        gpus = tuple(
            Gpu(int(g.get("index", i)), str(g.get("name") or f"GPU {i}"), _num(g.get("util_pct")),
                g.get("mem_used_bytes"), g.get("mem_total_bytes"), _num(g.get("power_w")), _num(g.get("temp_c")))
            for i, g in enumerate(sample_row.gpus if sample_row else []) if isinstance(g, dict))
        e_today, e_total = await self.energy(today)
        usd_today, usd_total, tokens = await self.spend(today)
        return Gauges(
            sampled_at=sample_row.t if sample_row else None,
            cpu_pct=sample_row.cpu_pct if sample_row else None,
            mem_used=sample_row.mem_used if sample_row else None,
            mem_total=sample_row.mem_total if sample_row else None,
            gpus=gpus, today=e_today, total=e_total, usd_today=usd_today, usd_total=usd_total,
            tokens_total=tokens, loaded=True)

    async def queue(self) -> tuple[QueueExperiment, ...]:
        async def experiments() -> tuple[list[Experiment], list[Experiment]]:
            return (await self.store.list_experiments(statuses=WAITING + ACTIVE),
                    await self.store.list_experiments(statuses=FINISHED, limit=RECENT_FINISHED))

        live, done = await self._cached("queue_experiments", ("experiments",), experiments)
        active_ids = [e.id for e in live if e.status in EXPERIMENT_ACTIVE]

        async def runs() -> list[QueueRun]:
            return await self.store.queue_runs(active_ids)

        run_rows = await self._cached("queue_runs", ("runs",), runs, extra=tuple(active_ids))

        async def build() -> tuple[QueueExperiment, ...]:
            by_exp: dict[int, list[QueueRun]] = {}
            for r in run_rows:
                by_exp.setdefault(r.experiment_id, []).append(r)
            order = {s: i for i, s in enumerate(QUEUE_ORDER)}
            waiting = sorted((e for e in live if e.status in EXPERIMENT_WAITING), key=lambda e: (order[e.status], e.id))
            active = sorted((e for e in live if e.status in EXPERIMENT_ACTIVE),
                            key=lambda e: (order[e.status], -e.priority, e.id))
            return tuple(
                QueueExperiment(e.id, e.name, e.catalog, e.status, e.priority, e.source,
                                e.created_at, e.started_at, e.finished_at, e.rating,
                                tuple(by_exp.get(e.id, ())))
                for e in [*waiting, *active, *done])

        return await self._cached("queue", ("experiments", "runs"), build, extra=tuple(active_ids))

    async def leaderboard(self) -> tuple[LeaderRow, ...]:
        async def read() -> tuple[LeaderRow, ...]:
            # every rated experiment: a re-run that supersedes a top rating may itself rate lower
            return leader_rows(await self.store.rated_experiments(RATED))

        return await self._cached("leaderboard", ("experiments",), read)

    async def messages(self, *, experiment_id: int | None = None, changed_since: float | None = None,
                       limit: int = DIALOGUE) -> list[Message]:
        return await self.store.messages(experiment_id=experiment_id, changed_since=changed_since, limit=limit)

    async def proposals(self) -> list[Experiment]:
        async def read() -> list[Experiment]:
            rows = await self.store.list_experiments(statuses=WAITING)
            return sorted(rows, key=lambda e: e.id)

        return list(await self._cached("proposals", ("experiments",), read))

    async def proposal(self, exp: Experiment) -> Proposal:
        parent = await self.store.get_experiment(exp.parent_id) if exp.parent_id else None
        history = await self.store.run_history(exp.catalog)
        messages = await self.messages(experiment_id=exp.id, limit=20)
        return Proposal(exp, parent, history, messages)

    async def experiment(self, exp_id: int) -> ExperimentDetail | None:
        async def read() -> ExperimentDetail | None:
            exp = await self.store.get_experiment(exp_id)
            if exp is None:
                return None
            return ExperimentDetail(exp, await self.store.list_runs(exp_id),
                                    await self.store.experiment_family(exp_id),
                                    await self.messages(experiment_id=exp_id, limit=200))

        return await self._cached("experiment", ("experiments", "runs", "messages"), read, extra=exp_id)

    async def curve(self, run_id: int, attempt: int, after_step: int) -> dict[str, list[tuple[int, float]]]:
        return await self.store.metric_points_after(run_id, attempt, after_step)
