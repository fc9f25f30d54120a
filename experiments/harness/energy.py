"""Energy and CO2 per phase from codecarbon's offline tracker, with an honest fallback.

codecarbon reports energy from hardware counters only when it found them (RAPL on Intel/AMD
Linux, Power Gadget, powermetrics on Apple silicon, NVML on NVIDIA GPUs); otherwise it models
the CPU from its TDP and the process's load. We record which of the two happened. When the
tracker fails or returns nothing we estimate from the process's CPU time and say so.
"""

from __future__ import annotations

import dataclasses

import logging
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

#: fallback model: watts per busy core (a 200 W, 16-core server CPU) and grid intensity
#: (IEA world average, kg CO2e per kWh)
EST_WATTS_PER_CORE = 12.5
EST_KG_CO2_PER_KWH = 0.475
MEASURED_CPU_MODES = {"intel_rapl", "intel_power_gadget", "windows_emi"}


@dataclass
class PhaseEnergy:
    kwh: float
    co2_kg: float
    mode: str      # "measured" | "estimated"
    source: str    # e.g. "codecarbon:intel_rapl+nvml", "codecarbon:cpu_load", "cpu_time_estimate"
    duration_s: float
    cpu_s: float


def _quiet_codecarbon() -> None:
    logger = logging.getLogger("codecarbon")
    logger.disabled = True
    logger.propagate = False


def _prime_cpu_model() -> None:
    """codecarbon asks py-cpuinfo for the CPU model, which spawns a subprocess (~1.2 s per run);
    on Linux /proc/cpuinfo has the same name, so fill codecarbon's cached answer from it."""
    try:
        import codecarbon.core.util as ccu
        import cpuinfo
        detect = ccu.detect_cpu_model
        if detect.cache_info().currsize:
            return
        with open("/proc/cpuinfo") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
        if not name:
            return
        original = cpuinfo.get_cpu_info
        cpuinfo.get_cpu_info = lambda: {"brand_raw": name}
        try:
            detect()
        finally:
            cpuinfo.get_cpu_info = original
    except Exception:
        return  # codecarbon then detects the model itself, only slower


def _hardware_source(tracker: Any) -> tuple[str, str]:
    """(mode, source) from what the tracker really used."""
    parts, measured = [], False
    for hw in getattr(tracker, "_hardware", []) or []:
        kind = type(hw).__name__
        if kind == "CPU":
            mode = str(getattr(hw, "_mode", "unknown"))
            parts.append(mode)
            measured |= mode in MEASURED_CPU_MODES
        elif kind == "GPU":
            parts.append("nvml")
            measured = True
        elif kind == "AppleSiliconChip":
            parts.append("powermetrics")
            measured = True
    return ("measured" if measured else "estimated"), "codecarbon:" + "+".join(parts or ["unknown"])


class EnergyMeter:
    """``with meter.phase("train"): ...`` records one PhaseEnergy per phase."""

    def __init__(self, out_dir: str | os.PathLike[str], enabled: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled and os.environ.get("JOULELAB_NO_CODECARBON", "") not in ("1", "true")
        self.phases: dict[str, PhaseEnergy] = {}
        self.notes: list[str] = []

    def _tracker(self) -> Any:
        _quiet_codecarbon()
        from codecarbon import OfflineEmissionsTracker
        _quiet_codecarbon()
        _prime_cpu_model()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # output_methods=[]: no emissions.csv, no API, no logger output
            return OfflineEmissionsTracker(
                country_iso_code=os.environ.get("JOULELAB_COUNTRY_ISO", "USA"),
                output_methods=[], log_level="critical", measure_power_secs=2,
                tracking_mode="process", allow_multiple_runs=True,
                output_dir=str(self.out_dir), project_name="joulelab")

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        cpu0, t0 = time.process_time(), time.perf_counter()
        tracker = None
        if self.enabled:
            try:
                tracker = self._tracker()
                tracker.start()
            except Exception as exc:  # codecarbon failing must never fail the run
                self.notes.append(f"codecarbon failed to start: {type(exc).__name__}: {exc}")
                tracker = None
        try:
            yield
        finally:
            cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - t0
            self.phases[name] = self._finish(tracker, cpu_s, wall_s)

    def _finish(self, tracker: Any, cpu_s: float, wall_s: float) -> PhaseEnergy:
        if tracker is not None:
            try:
                tracker.stop()
                data = getattr(tracker, "final_emissions_data", None)
                kwh = float(getattr(data, "energy_consumed", 0.0) or 0.0)
                co2 = float(getattr(data, "emissions", 0.0) or 0.0)
                if kwh > 0:
                    mode, source = _hardware_source(tracker)
                    return PhaseEnergy(kwh, co2, mode, source, wall_s, cpu_s)
                self.notes.append("codecarbon returned no energy; estimated from CPU time")
            except Exception as exc:
                self.notes.append(f"codecarbon failed: {type(exc).__name__}: {exc}")
        kwh = cpu_s * EST_WATTS_PER_CORE / 3.6e6
        return PhaseEnergy(kwh, kwh * EST_KG_CO2_PER_KWH, "estimated", "cpu_time_estimate", wall_s, cpu_s)

    def rescale(self, name: str, factor: float) -> None:
        """Scale a phase's energy to a different amount of the same work (e.g. a measured
        window of inference to the fixed workload the result key refers to)."""
        ph = self.phases[name]
        self.phases[name] = dataclasses.replace(ph, kwh=ph.kwh * factor, co2_kg=ph.co2_kg * factor)

    def result(self) -> dict[str, Any]:
        """The energy keys of PROTOCOL.md §5, for the phases that ran."""
        out: dict[str, Any] = {}
        for name, short in (("train", "train"), ("inference", "inference")):
            ph = self.phases.get(name)
            if ph is not None:
                out[f"energy_{short}_kwh"] = ph.kwh
                out[f"co2_{short}_kg"] = ph.co2_kg
        if self.phases:
            out["energy_kwh"] = sum(p.kwh for p in self.phases.values())
            out["co2_kg"] = sum(p.co2_kg for p in self.phases.values())
            modes = {p.mode for p in self.phases.values()}
            out["energy_mode"] = "measured" if modes == {"measured"} else "estimated"
            out["energy_source"] = "+".join(sorted({p.source for p in self.phases.values()}))
        return out
