"""Executes one run from a spec (PROTOCOL.md §3). Torch is imported only once a run really starts."""

from __future__ import annotations

import time
from pathlib import Path

from contract import runfiles
from contract.events import ResultValues
from contract.runspec import RunSpec

from .catalog import get, technique
from .declare import Experiment, ParamValues
from .events import EventWriter
from .harness.errors import ExperimentError
from .paramread import text


def resolve(spec: RunSpec) -> tuple[Experiment, ParamValues, str, str]:
    """(experiment, merged params, profile, device) for ``spec``; raises on a bad spec."""
    exp = get(spec.name)
    if exp is None:
        raise ExperimentError(f"unknown experiment {spec.name!r}")
    params = exp.validate(dict(spec.params))
    if spec.profile:
        params["profile"] = exp.validate({"profile": spec.profile})["profile"]
    if spec.device:
        params["device"] = exp.validate({"device": spec.device})["device"]
    variant_params = spec.variant_params
    if variant_params is None:
        plan = {v.name: v for v in exp.plan(params)}
        if spec.variant not in plan:
            raise ExperimentError(f"{exp.name} has no variant {spec.variant!r} "
                                  f"(plan: {', '.join(plan)})")
        variant_params = plan[spec.variant].params
    merged = {**params, **variant_params}
    return exp, merged, text(params, "profile"), text(params, "device")


def is_headline(exp: Experiment, spec: RunSpec) -> bool:
    """Is the run's variant the one its plan declares the headline (the model the zoo exports)?"""
    try:
        params = exp.validate(dict(spec.params))
        if spec.profile:
            params["profile"] = exp.validate({"profile": spec.profile})["profile"]
        return exp.headline_for(params) == spec.variant
    except (ValueError, KeyError, TypeError, AssertionError):
        return False


def execute(spec: RunSpec, echo: bool = False) -> ResultValues:
    """Run ``spec`` and write its events; returns the result values. A run that fails (a bad
    variant, a missing optional library, an exception) writes its `error` event last and raises."""
    out_dir = Path(spec.output_dir or ".").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    events = EventWriter(spec.events_path or out_dir / runfiles.EVENTS, echo=echo)
    try:
        exp, params, profile, device = resolve(spec)
        base: ResultValues = {"seed": spec.seed, "device": device, "variant": spec.variant, "profile": profile,
                              "dataset": params.get("dataset")}
        reason = exp.skip_fn(params, device) if exp.skip_fn else None
        if reason:
            events.log(f"skipped: {reason}", "warning")
            values: ResultValues = {**base, "skipped": True, "skip_reason": reason}
            events.result(values)
            return values
        return _run(exp, spec, params, profile, device, out_dir, events, base)
    except Exception as exc:
        events.error(exc)
        raise
    finally:
        events.close()


def _run(exp: Experiment, spec: RunSpec, params: ParamValues, profile: str, device: str,
         out_dir: Path, events: EventWriter, base: ResultValues) -> ResultValues:
    t0 = time.perf_counter()
    from .harness import runtime
    from .harness.context import RunContext
    from .harness.energy import EnergyMeter

    threads = spec.threads or 1
    torch_device = runtime.setup(spec.seed, threads, device)
    ctx = RunContext(
        spec=spec, name=exp.name, variant=spec.variant, seed=spec.seed, profile=profile,
        params=params, device=torch_device, threads=threads, out_dir=out_dir,
        cache_dir=spec.cache_dir, events=events, energy=EnergyMeter(out_dir, device=device),
        deps=dict(spec.dependencies), headline=is_headline(exp, spec))
    events.log(f"{exp.name}/{spec.variant} seed {spec.seed} profile {profile} on {device} "
               f"({threads} thread{'s' if threads != 1 else ''})")
    values: ResultValues = technique(exp.name).run(ctx)
    if "data_versions" not in values:  # the data the run read, by its sha256 (records, `lab reproduce`)
        from .data_versions import as_json, for_params

        values["data_versions"] = as_json(for_params(params, ctx.cache_dir))
    for note in ctx.energy.notes:
        events.log(note, "warning")
    values.update(ctx.energy.result())
    values.update(base)
    values.update({"threads": threads, "versions": runtime.versions(), "cpu_flags": runtime.cpu_flags(),
                   "cpu_model": runtime.cpu_model(), "determinism": runtime.determinism(),
                   "wall_time_s": time.perf_counter() - t0})
    events.result(values)
    return values
