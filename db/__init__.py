"""Joule Lab's database room: the SQLite schema, its migrations and the async store.

The only code that speaks SQL. Imports nothing of the lab and nothing heavy.
"""

from db.connection import DatabaseError, SchemaTooNewError
from db.experiments import NewExperiment, NotFoundError
from db.plans import PlanError, RunDefaults
from db.runs import IngestBatch, RunOutcome, StaleIngestError
from db.states import ExperimentState, IllegalTransitionError, RunState
from db.store import Store

__all__ = [
    "DatabaseError", "ExperimentState", "IllegalTransitionError", "IngestBatch", "NewExperiment",
    "NotFoundError", "PlanError", "RunDefaults", "RunOutcome", "RunState", "SchemaTooNewError",
    "StaleIngestError", "Store",
]
