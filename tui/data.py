"""Reading the lab for the control room: plain, comparable snapshots built from the Store.

Every method is a coroutine on the store's own thread (aiosqlite), so the event loop never
waits on SQLite. Snapshots are frozen dataclasses and tuples: a widget compares the new one with
the one it shows and redraws only when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db import Store
from db.states import EXPERIMENT_ACTIVE, EXPERIMENT_FINISHED, EXPERIMENT_WAITING
from tui.settings import Budgets

WAITING = [s.value for s in EXPERIMENT_WAITING]
ACTIVE = [s.value for s in EXPERIMENT_ACTIVE]
FINISHED = [s.value for s in EXPERIMENT_FINISHED]
RECENT_FINISHED = 12   # finished experiments kept in the queue view
LEADERBOARD = 30
DIALOGUE = 120         # messages kept in the dashboard's dialogue


@dataclass(frozen=True)
class EngineInfo:
    running: bool
    pid: int | None = None
    since: float | None = None      # started (running) or went down (not running)
    known: bool = True              # False before the first probe


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
    budgets: Budgets = Budgets()
    db_problem: str | None = None
    loaded: bool = False


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
class QueueRun:
    id: int
    experiment_id: int
    variant: str
    seed: int
    status: str
    progress_done: float | None
    progress_total: float | None
    device: str
    started_at: float | None
    finished_at: float | None
    attempt: int
    error: str | None


@dataclass(frozen=True)
class QueueExperiment:
    id: int
    name: str
    catalog: str
    status: str
    priority: int
    source: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    rating: float | None
    runs: tuple[QueueRun, ...] = ()


@dataclass(frozen=True)
class LeaderRow:
    id: int
    name: str
    catalog: str
    rating: float
    variant: str | None
    efficiency: float | None
    speedup: float | None
    compression: float | None
    quality_delta: float | None
    delta_ci: tuple[float, float] | None
    estimated: bool


@dataclass(frozen=True)
class Message:
    id: int
    experiment_id: int | None
    agent: str
    kind: str
    text: str
    streaming: bool
    created_at: float
    updated_at: float
    cost_usd: float
    backend: str


@dataclass
class ExperimentDetail:
    experiment: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    family: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Proposal:
    experiment: dict[str, Any]
    parent: dict[str, Any] | None
    history: dict[str, Any]
    messages: list[Message] = field(default_factory=list)


def _queue_run(r: dict[str, Any]) -> QueueRun:
    return QueueRun(r["id"], r["experiment_id"], r["variant"], r["seed"], r["status"], r["progress_done"],
                    r["progress_total"], r["device"] or r["device_kind"], r["started_at"], r["finished_at"],
                    r["attempt"], r["error"])


def message(row: dict[str, Any]) -> Message:
    return Message(row["id"], row["experiment_id"], row["agent"], row["kind"], row["text"] or "",
                   bool(row["streaming"]), row["created_at"], row["updated_at"], row["cost_usd"] or 0.0,
                   row["backend"] or "")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def leader_row(exp: dict[str, Any]) -> LeaderRow:
    breakdown = exp.get("rating_breakdown") or {}
    head = breakdown.get("headline") or {} if isinstance(breakdown, dict) else {}
    ci = head.get("quality_delta_ci95")
    ci_pair = (float(ci[0]), float(ci[1])) if isinstance(ci, list) and len(ci) == 2 and \
        all(_num(v) is not None for v in ci) else None
    return LeaderRow(exp["id"], exp["name"], exp["catalog"], float(exp["rating"]), head.get("variant"),
                     _num(head.get("efficiency_score")), _num(head.get("speedup")),
                     _num(head.get("compression")), _num(head.get("quality_delta")), ci_pair,
                     bool(head.get("energy_estimated", False)))


class LabReader:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def status(self, *, now: float, today: float, budgets: Budgets) -> dict[str, Any]:
        settings = await self.store.settings()
        counts = await self.store.experiment_counts()
        return {
            "engine_row": await self.store.engine_row(),
            "settings": settings,
            "proposals": sum(counts.get(s, 0) for s in WAITING),
            "experiments_last_hour": await self.store.experiments_approved_since(now - 3600),
            "kwh_today": (await self.store.energy_totals(today))["energy_kwh"],
            "usd_today": (await self.store.llm_spend(today)).get("cost_usd", 0.0),
        }

    async def gauges(self, *, today: float) -> Gauges:
        samples = await self.store.system_samples(limit=1)
        sample = samples[-1] if samples else None
        gpus = tuple(
            Gpu(int(g.get("index", i)), str(g.get("name") or f"GPU {i}"), _num(g.get("util_pct")),
                g.get("mem_used_bytes"), g.get("mem_total_bytes"), _num(g.get("power_w")), _num(g.get("temp_c")))
            for i, g in enumerate((sample or {}).get("gpus") or []) if isinstance(g, dict))
        e_today = await self.store.energy_totals(today)
        e_total = await self.store.energy_totals(0.0)
        s_today = await self.store.llm_spend(today)
        s_total = await self.store.llm_spend(0.0)

        def energy(e: dict[str, Any]) -> Energy:
            return Energy(e["energy_kwh"], e["co2_kg"], bool(e["estimated"]) and e["runs"] > 0, e["runs"])

        return Gauges(
            sampled_at=sample["t"] if sample else None,
            cpu_pct=sample["cpu_pct"] if sample else None,
            mem_used=sample["mem_used"] if sample else None,
            mem_total=sample["mem_total"] if sample else None,
            gpus=gpus, today=energy(e_today), total=energy(e_total),
            usd_today=s_today.get("cost_usd", 0.0), usd_total=s_total.get("cost_usd", 0.0),
            tokens_total=int(s_total.get("tokens_in", 0) + s_total.get("tokens_out", 0)), loaded=True)

    async def queue(self) -> tuple[QueueExperiment, ...]:
        live = await self.store.list_experiments(statuses=WAITING + ACTIVE)
        done = await self.store.list_experiments(statuses=FINISHED, limit=RECENT_FINISHED)
        runs = await self.store.runs_for_experiments([e["id"] for e in live if e["status"] in ACTIVE])
        by_exp: dict[int, list[QueueRun]] = {}
        for r in runs:
            by_exp.setdefault(r["experiment_id"], []).append(_queue_run(r))
        order = {s: i for i, s in enumerate(["awaiting_approval", "proposed", "running", "analyzing", "approved"])}
        waiting = sorted((e for e in live if e["status"] in WAITING), key=lambda e: (order[e["status"]], e["id"]))
        active = sorted((e for e in live if e["status"] in ACTIVE),
                        key=lambda e: (order[e["status"]], -e["priority"], e["id"]))
        return tuple(
            QueueExperiment(e["id"], e["name"], e["catalog"], e["status"], e["priority"], e["source"],
                            e["created_at"], e["started_at"], e["finished_at"], e["rating"],
                            tuple(by_exp.get(e["id"], ())))
            for e in [*waiting, *active, *done])

    async def leaderboard(self) -> tuple[LeaderRow, ...]:
        return tuple(leader_row(e) for e in await self.store.rated_experiments(LEADERBOARD))

    async def messages(self, *, experiment_id: int | None = None, changed_since: float | None = None,
                       limit: int = DIALOGUE) -> list[Message]:
        rows = await self.store.messages(experiment_id=experiment_id, changed_since=changed_since, limit=limit)
        return [message(r) for r in rows]

    async def proposals(self) -> list[dict[str, Any]]:
        rows = await self.store.list_experiments(statuses=WAITING)
        return sorted(rows, key=lambda e: e["id"])

    async def proposal(self, exp: dict[str, Any]) -> Proposal:
        parent = await self.store.get_experiment(exp["parent_id"]) if exp.get("parent_id") else None
        history = await self.store.run_history(exp["catalog"])
        messages = await self.messages(experiment_id=exp["id"], limit=20)
        return Proposal(exp, parent, history, messages)

    async def experiment(self, exp_id: int) -> ExperimentDetail | None:
        exp = await self.store.get_experiment(exp_id)
        if exp is None:
            return None
        return ExperimentDetail(exp, await self.store.list_runs(exp_id), await self.store.experiment_family(exp_id),
                                await self.messages(experiment_id=exp_id, limit=200))

    async def curve(self, run_id: int, attempt: int, after_step: int) -> dict[str, list[tuple[int, float]]]:
        return await self.store.metric_points_after(run_id, attempt, after_step)
