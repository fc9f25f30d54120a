"""GPUs through NVML (nvidia-ml-py). A machine without a GPU or driver simply has none."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


class Gpus:
    """Lazily initialised NVML; every failure means 'no GPUs', never an error."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._tried = False

    def _init(self) -> None:
        if self._tried:
            return
        self._tried = True
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self._nvml = pynvml
        except Exception as exc:  # no library, no driver, no device: all mean "no GPU"
            log.info("no GPUs: %s", exc)
            self._handles = []

    def count(self) -> int:
        self._init()
        return len(self._handles)

    def sample(self) -> list[dict[str, Any]]:
        """Per GPU: utilisation %, memory bytes, power W, temperature C."""
        self._init()
        out: list[dict[str, Any]] = []
        nv = self._nvml
        for index, handle in enumerate(self._handles):
            row: dict[str, Any] = {"index": index}
            for key, read in (
                ("name", lambda h: _text(nv.nvmlDeviceGetName(h))),
                ("util_pct", lambda h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                ("mem_used_bytes", lambda h: int(nv.nvmlDeviceGetMemoryInfo(h).used)),
                ("mem_total_bytes", lambda h: int(nv.nvmlDeviceGetMemoryInfo(h).total)),
                ("power_w", lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0),
                ("temp_c", lambda h: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))),
            ):
                try:
                    row[key] = read(handle)
                except Exception:  # one unsupported reading must not hide the others
                    row[key] = None
            out.append(row)
        return out

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
