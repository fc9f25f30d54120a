"""Joule Lab's database room: the SQLite schema, its migrations and the async store.

The only code that speaks SQL. Imports nothing of the lab and nothing heavy.
"""

from db.connection import DatabaseError, SchemaTooNew
from db.experiments import NewExperiment, NotFound
from db.plans import PlanError, RunDefaults
from db.runs import IngestBatch, RunOutcome, StaleIngest
from db.states import ExperimentState, IllegalTransition, RunState
from db.store import Store

__all__ = [
    "DatabaseError", "ExperimentState", "IllegalTransition", "IngestBatch", "NewExperiment",
    "NotFound", "PlanError", "RunDefaults", "RunOutcome", "RunState", "SchemaTooNew",
    "StaleIngest", "Store",
]
