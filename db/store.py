"""The one async store API: the only code in the lab that writes SQL."""

from __future__ import annotations

from db.control import ControlMixin
from db.health import HealthMixin
from db.research import ResearchMixin
from db.runs import RunsMixin
from db.telemetry import TelemetryMixin


class Store(RunsMixin, TelemetryMixin, ControlMixin, ResearchMixin, HealthMixin):
    """Experiments, runs, metrics, messages, events, samples, requests, settings,
    sprints, findings and language-model health of one lab.

    Open with `await Store.open(path)` (creates and migrates the file); every method is one
    short transaction.
    """
