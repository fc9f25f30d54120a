"""Joule Lab's database room: the SQLite schema, its migrations and the async store.

The only code that speaks SQL. Imports only the contract (the typed values its JSON columns are
decoded into) and nothing heavy.
"""

from db.connection import DatabaseError, SchemaTooNewError
from db.control import LabSettings, RunsWait
from db.experiments import NewExperiment, NotFoundError
from db.plans import PlanError, RunDefaults
from db.rows import (
    EngineRow,
    Event,
    Experiment,
    FamilyMember,
    GpuReading,
    LlmEndpoint,
    Message,
    Request,
    Run,
    Sprint,
    StoredFinding,
    SystemSample,
)
from db.runs import IngestBatch, RunOutcome, StaleIngestError
from db.states import ExperimentState, IllegalTransitionError, MessageKind, RequestStatus, RunState, SprintStage
from db.store import Store
from db.totals import AgentUsage, EnergyTotals, MetricPoint, Proposed, QueueRun, RunCosts, Spend

__all__ = [
    "AgentUsage", "DatabaseError", "EnergyTotals", "EngineRow", "Event", "Experiment",
    "ExperimentState", "FamilyMember", "GpuReading", "IllegalTransitionError", "IngestBatch", "LabSettings",
    "LlmEndpoint", "Message", "MessageKind", "MetricPoint", "NewExperiment", "NotFoundError", "PlanError", "Proposed",
    "QueueRun", "Request", "RequestStatus", "Run", "RunCosts", "RunDefaults", "RunOutcome", "RunState", "RunsWait",
    "SchemaTooNewError", "Spend", "Sprint", "SprintStage", "StaleIngestError", "Store", "StoredFinding",
    "SystemSample",
]
