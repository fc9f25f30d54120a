"""The control room's only contact with the engine process: is it there, and start it.

Everything else goes through the database (requests). Tests inject a stand-in.
"""

from __future__ import annotations

from typing import Protocol

from contract.layout import LabDir


class EngineLink(Protocol):
    def probe(self) -> int | None:
        """The engine's pid when one runs for the lab, else None (fast, no waiting)."""

    def start(self) -> int:
        """Start a detached engine (or find the running one); its pid. May take seconds."""


class RealEngine:
    def __init__(self, lab: LabDir) -> None:
        self.lab = lab

    def probe(self) -> int | None:
        if not self.lab.lock.exists():
            return None
        from engine.lock import holder  # the probe needs only the lock, not the daemon

        return holder(self.lab.lock)

    def start(self) -> int:
        from engine import control

        return control.start_detached(self.lab)
