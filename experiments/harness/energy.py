"""Energy and CO2 per phase from codecarbon's offline tracker, with an honest fallback.

codecarbon reads hardware energy counters only when it finds them (RAPL on Intel/AMD Linux,
directly or through Intel Power Gadget / Windows EMI; powermetrics on Apple silicon; NVML on
NVIDIA GPUs); otherwise it models the CPU as its TDP times the process's CPU share, which is a
model of CPU time, not a second measurement. ``energy_mode`` is "measured" only when a counter
covered the device that did the work (RAPL for a CPU run, NVML for a CUDA run) and "modelled"
otherwise; ``energy_source`` says which counters or which model. When the tracker fails or
returns nothing we model from the process's CPU time and say so.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.events import ResultValues

#: fallback model: watts per busy core (a 200 W, 16-core server CPU) and grid intensity
#: (IEA world average, kg CO2e per kWh)
EST_WATTS_PER_CORE = 12.5
EST_KG_CO2_PER_KWH = 0.475
#: codecarbon CPU modes that read hardware counters (RAPL, directly or through Power Gadget / EMI)
MEASURED_CPU_MODES = {"intel_rapl", "intel_power_gadget", "windows_emi"}
MEASURED, MODELLED = "measured", "modelled"
FALLBACK_SOURCE = (f"cpu_time_model: modelled as {EST_WATTS_PER_CORE:g} W per busy core x the process's "
                   "CPU time (codecarbon unavailable)")


@dataclass
class PhaseEnergy:
    kwh: float
    co2_kg: float
    mode: str      # "measured" | "modelled"
    source: str    # e.g. "codecarbon:cpu=intel_rapl (...)", "codecarbon:cpu=cpu_load (...)", "cpu_time_model: ..."
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


def _hardware_source(tracker: Any, device: str = "cpu") -> tuple[str, str]:
    """(mode, source) from what the tracker really used. Measured only when a hardware counter
    covered the device that did the work: RAPL (or Apple powermetrics) for a CPU run, NVML for a
    CUDA run. An idle GPU read by NVML beside a CPU run does not make the CPU's energy measured."""
    parts: list[str] = []
    cpu_counter = gpu_counter = False
    for hw in getattr(tracker, "_hardware", []) or []:
        kind = type(hw).__name__
        if kind == "CPU":
            mode = str(getattr(hw, "_mode", "unknown"))
            counted = mode in MEASURED_CPU_MODES
            cpu_counter |= counted
            parts.append(f"cpu={mode} ({'hardware counters' if counted else 'modelled: TDP x process CPU share'})")
        elif kind == "GPU":
            gpu_counter = True
            parts.append("gpu=nvml (hardware counters)")
        elif kind == "AppleSiliconChip":
            cpu_counter = True
            parts.append("chip=powermetrics (hardware counters)")
        elif kind == "RAM":
            parts.append("ram=modelled")
    measured = gpu_counter if device == "cuda" else cpu_counter
    if not measured:
        parts.append("no counter for the " + ("GPU" if device == "cuda" else "CPU") + " that did the work: "
                     "the energy is a model of time, not a measurement")
    return (MEASURED if measured else MODELLED), "codecarbon:" + ", ".join(parts or ["unknown"])


class EnergyMeter:
    """``with meter.phase("train"): ...`` records one PhaseEnergy per phase."""

    def __init__(self, out_dir: str | os.PathLike[str], enabled: bool = True, device: str = "cpu") -> None:
        self.out_dir = Path(out_dir)
        self.device = device
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
    def phase(self, name: str, accumulate: bool = False) -> Iterator[None]:
        """Meter the block as phase ``name``; with ``accumulate`` a phase metered in several
        windows (e.g. interleaved with another model's) adds up instead of being replaced."""
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
            got = self._finish(tracker, cpu_s, wall_s)
            before = self.phases.get(name) if accumulate else None
            if before is not None:
                got = PhaseEnergy(before.kwh + got.kwh, before.co2_kg + got.co2_kg,
                                  MEASURED if {before.mode, got.mode} == {MEASURED} else MODELLED,
                                  got.source if got.source == before.source else f"{before.source}; {got.source}",
                                  before.duration_s + got.duration_s, before.cpu_s + got.cpu_s)
            self.phases[name] = got

    def _finish(self, tracker: Any, cpu_s: float, wall_s: float) -> PhaseEnergy:
        if tracker is not None:
            try:
                tracker.stop()
                data = getattr(tracker, "final_emissions_data", None)
                kwh = float(getattr(data, "energy_consumed", 0.0) or 0.0)
                co2 = float(getattr(data, "emissions", 0.0) or 0.0)
                if kwh > 0:
                    mode, source = _hardware_source(tracker, self.device)
                    return PhaseEnergy(kwh, co2, mode, source, wall_s, cpu_s)
                self.notes.append("codecarbon returned no energy; modelled from CPU time")
            except Exception as exc:
                self.notes.append(f"codecarbon failed: {type(exc).__name__}: {exc}")
        kwh = cpu_s * EST_WATTS_PER_CORE / 3.6e6
        return PhaseEnergy(kwh, kwh * EST_KG_CO2_PER_KWH, MODELLED, FALLBACK_SOURCE, wall_s, cpu_s)

    def rescale(self, name: str, factor: float) -> None:
        """Scale a phase's energy to a different amount of the same work (e.g. a measured
        window of inference to the fixed workload the result key refers to)."""
        ph = self.phases[name]
        self.phases[name] = dataclasses.replace(ph, kwh=ph.kwh * factor, co2_kg=ph.co2_kg * factor)

    def promote(self, source: str, name: str) -> None:
        """Record phase ``source`` (e.g. the selected point of a learning-rate sweep) as ``name``."""
        self.phases[name] = self.phases[source]

    def kwh(self, name: str) -> float | None:
        ph = self.phases.get(name)
        return None if ph is None else ph.kwh

    def result(self) -> ResultValues:
        """The energy keys of PROTOCOL.md §5 for the phases that ran: the run's own training and
        inference (``energy_kwh`` is their sum); a learning-rate sweep's total (``sweep_*``, every
        ``sweep:`` phase); the reference model's inference timed in the same process (``ref_*``)."""
        out: ResultValues = {}
        own = [self.phases[n] for n in ("train", "inference") if n in self.phases]
        for name, short in (("train", "train"), ("inference", "inference"), ("ref_inference", "ref_inference")):
            ph = self.phases.get(name)
            if ph is not None:
                prefix = "ref_energy_inference" if short == "ref_inference" else f"energy_{short}"
                out[f"{prefix}_kwh"] = ph.kwh
                out[f"co2_{short}_kg"] = ph.co2_kg
        sweep = [ph for n, ph in self.phases.items() if n.startswith("sweep:")]
        if sweep:
            out["sweep_energy_kwh"] = sum(ph.kwh for ph in sweep)
        if self.phases:
            out["energy_kwh"] = sum(p.kwh for p in own)
            out["co2_kg"] = sum(p.co2_kg for p in own)
            modes = {p.mode for p in self.phases.values()}
            out["energy_mode"] = MEASURED if modes == {MEASURED} else MODELLED
            out["energy_source"] = "; ".join(sorted({p.source for p in self.phases.values()}))
        return out
