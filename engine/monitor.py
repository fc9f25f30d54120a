"""The system monitor: CPU, memory and GPUs about once a second into the bounded history."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from db import GpuReading, Store
from engine.gpus import Gpus


@dataclass(frozen=True)
class SystemReading:
    """The machine's load at one moment (a row of the bounded history)."""

    cpu_pct: float
    mem_used: int
    mem_total: int
    gpus: list[GpuReading]


class SystemMonitor:
    def __init__(self, store: Store, gpus: Gpus, keep: int) -> None:
        self._store = store
        self._gpus = gpus
        self._keep = keep
        psutil.cpu_percent(None)  # the first reading is meaningless; prime it

    def read(self) -> SystemReading:
        mem = psutil.virtual_memory()
        return SystemReading(psutil.cpu_percent(None), int(mem.total - mem.available), int(mem.total),
                             self._gpus.sample())

    async def sample(self) -> None:
        reading = self.read()
        await self._store.add_system_sample(reading.cpu_pct, reading.mem_used, reading.mem_total, reading.gpus,
                                            keep=self._keep)
