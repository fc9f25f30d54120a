"""The system monitor: CPU, memory and GPUs about once a second into the bounded history."""

from __future__ import annotations

from typing import Any

import psutil

from db import Store
from engine.gpus import Gpus


class SystemMonitor:
    def __init__(self, store: Store, gpus: Gpus, keep: int) -> None:
        self._store = store
        self._gpus = gpus
        self._keep = keep
        psutil.cpu_percent(None)  # the first reading is meaningless; prime it

    def read(self) -> dict[str, Any]:
        mem = psutil.virtual_memory()
        return {"cpu_pct": psutil.cpu_percent(None), "mem_used": int(mem.total - mem.available),
                "mem_total": int(mem.total), "gpus": self._gpus.sample()}

    async def sample(self) -> None:
        reading = self.read()
        await self._store.add_system_sample(reading["cpu_pct"], reading["mem_used"],
                                            reading["mem_total"], reading["gpus"], keep=self._keep)
