"""Joule Lab's database room: the SQLite schema, its migrations and the async store.

The only code that speaks SQL. Imports nothing of the lab and nothing heavy.
"""

from db.connection import DatabaseError, SchemaTooNew
from db.control import LabSettings, RunsWait
from db.experiments import NewExperiment, NotFound
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
from db.runs import IngestBatch, RunOutcome, StaleIngest
from db.states import ExperimentState, IllegalTransition, RequestStatus, RunState, SprintStage
from db.store import Store
from db.totals import AgentUsage, EnergyTotals, MetricPoint, Proposed, RunCosts, Spend

__all__ = [
    "AgentUsage", "DatabaseError", "EnergyTotals", "EngineRow", "Event", "Experiment",
    "ExperimentState", "FamilyMember", "GpuReading", "IllegalTransition", "IngestBatch",
    "LabSettings", "LlmEndpoint", "Message", "MetricPoint", "NewExperiment", "NotFound",
    "PlanError", "Proposed", "Request", "RequestStatus", "Run", "RunCosts", "RunDefaults",
    "RunOutcome", "RunState", "RunsWait", "SchemaTooNew", "Spend", "Sprint", "SprintStage",
    "StaleIngest", "Store", "StoredFinding", "SystemSample",
]
