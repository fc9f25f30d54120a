"""What the store sums up over many rows, as typed values: a run's curve points, the costs of past
runs, energy and language-model spend, who proposed what, what each agent said."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from db.rows import Convert, Row
from db.states import ExperimentState, RunState


@dataclass(frozen=True)
class MetricPoint(Row):
    """One point of a run's curve (`metrics`)."""

    run_id: int
    attempt: int
    step: int
    key: str
    value: float | None
    t: float


@dataclass(frozen=True)
class QueueRun(Row):
    """A run as the control room's queue lists it (`queue_runs`): its columns that the queue
    shows, the device it got or else the kind it asks for; read each second while runs stream,
    without the run's JSON columns and the rest of `Run`."""

    CONVERT: ClassVar[dict[str, Convert]] = {"status": RunState}
    COLUMNS: ClassVar[str] = ("id, experiment_id, variant, seed, status, progress_done, progress_total, "
                              "COALESCE(device, device_kind) AS device, started_at, finished_at, attempt, error")

    id: int
    experiment_id: int
    variant: str
    seed: int
    status: RunState
    progress_done: float | None
    progress_total: float | None
    device: str
    started_at: float | None
    finished_at: float | None
    attempt: int
    error: str | None


@dataclass(frozen=True)
class RunCosts(Row):
    """Succeeded runs of a catalog entry: how many, their mean duration (s) and energy (kWh), and
    whether any energy was modelled rather than measured (`run_history` says; `run_costs` does not)."""

    CONVERT: ClassVar[dict[str, Convert]] = {"n": lambda v: int(v or 0), "estimated": bool}

    n: int = 0
    mean_s: float | None = None
    mean_kwh: float | None = None
    estimated: bool = False


@dataclass(frozen=True)
class EnergyTotals(Row):
    """Energy of finished runs since a time: kWh, CO2 kg, how many runs, whether any was modelled."""

    energy_kwh: float = 0.0
    co2_kg: float = 0.0
    runs: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class Spend(Row):
    """What the language models cost since a time: dollars and tokens."""

    CONVERT: ClassVar[dict[str, Convert]] = {"cost_usd": lambda v: float(v or 0.0), "tokens_in": lambda v: int(v or 0),
                                             "tokens_out": lambda v: int(v or 0)}

    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True)
class Proposed(Row):
    """An experiment with who proposed it (the validator, the researcher or a person), where it
    stands, whether it was approved, and its rating (the research tracker's contributions)."""

    CONVERT: ClassVar[dict[str, Convert]] = {"status": ExperimentState, "approved": bool}

    experiment_id: int
    proposer: str
    status: ExperimentState
    approved: bool
    rating: float | None = None


@dataclass(frozen=True)
class AgentUsage(Row):
    """What one agent said: messages, tokens in and out, dollars."""

    CONVERT: ClassVar[dict[str, Convert]] = {"tokens_in": lambda v: int(v or 0), "tokens_out": lambda v: int(v or 0),
                                             "cost_usd": lambda v: float(v or 0.0)}

    agent: str
    messages: int
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
