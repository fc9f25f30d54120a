"""GPUs through NVML (nvidia-ml-py). A machine without a GPU or driver simply has none."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from db import GpuReading

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _reading(read: Callable[[Any], _T], handle: Any) -> _T | None:
    try:
        return read(handle)
    except Exception:  # one unsupported reading must not hide the others
        return None


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

    def sample(self) -> list[GpuReading]:
        """Per GPU: utilisation %, memory bytes, power W, temperature C."""
        self._init()
        nv = self._nvml
        return [GpuReading(
            index=index,
            name=_reading(lambda h: _text(nv.nvmlDeviceGetName(h)), handle),
            util_pct=_reading(lambda h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu), handle),
            mem_used_bytes=_reading(lambda h: int(nv.nvmlDeviceGetMemoryInfo(h).used), handle),
            mem_total_bytes=_reading(lambda h: int(nv.nvmlDeviceGetMemoryInfo(h).total), handle),
            power_w=_reading(lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0, handle),
            temp_c=_reading(lambda h: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)), handle),
        ) for index, handle in enumerate(self._handles)]

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
