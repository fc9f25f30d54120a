"""What limits what an experiment can claim, read from its runs and its breakdown."""

from __future__ import annotations

from agents.sandbox_isolation import unsandboxed
from contract.jsonvalue import JsonObject
from contract.rating_record import RunCounts
from records.reports.experiment_data import ExperimentData
from science.thresholds import MIN_SEEDS


def energy_sources(results: list[JsonObject]) -> list[str]:
    return sorted({str(r.get("energy_source")) for r in results if r.get("energy_source")})


def limitations(d: ExperimentData) -> list[str]:
    """One sentence per limitation of experiment data `d` (an ExperimentData)."""
    out = _measurement_limits(d) + _design_limits(d) + _outcome_limits(d)
    return out or ["None recorded beyond those of the method."]


def _measurement_limits(d: ExperimentData) -> list[str]:
    """What the measurements and comparisons could not show: modelled energy, void or unpaired
    comparisons, no GPU."""
    out: list[str] = []
    variants = d.variants
    if any(v.energy_estimated for v in variants.values()):
        sources = energy_sources(d.results())
        out.append("Energy was modelled from CPU time" + (f" ({', '.join(sources)})" if sources else "")
                   + ", not measured by hardware counters (RAPL, NVML): E compares outputs of the same model of "
                   "time, so energy is not evidence beside time and its significance is tested on time.")
    void = [f"{n} vs {v.reference} ({v.compared.control_note})" for n, v in variants.items()
            if v.n and v.comparisons and v.compared.control_valid is False]
    if void:
        out.append("Invalid controls void these comparisons (no effect is claimed): " + "; ".join(void) + ".")
    unpaired = [n for n, v in variants.items() if v.n and v.reference and v.comparisons and v.compared.paired is False]
    if unpaired:
        out.append(f"Compared unpaired (fewer than 2 seeds shared with the reference): {', '.join(unpaired)}.")
    devices = sorted({str(r.device) for r in d.runs if r.device})
    if devices == ["cpu"]:
        out.append("CPU only: every run ran on the CPU, so GPU effects (tensor cores, FP16/BF16 kernels, "
                   "memory bandwidth) are not measured.")
    return out


def _design_limits(d: ExperimentData) -> list[str]:
    """What the experiment's design limits: its seeds, its profile, its one dataset."""
    out: list[str] = []
    seeds = int(d.exp.seeds or 1)
    if seeds < 2:
        out.append("One seed per variant: no confidence interval and no significance test are possible.")
    elif seeds < MIN_SEEDS:
        out.append(f"{seeds} seeds per variant (fewer than {MIN_SEEDS}): the confidence intervals are wide, small "
                   "effects go undetected, and the experiment is preliminary: no finding.")
    params = d.exp.params
    if params.get("profile") == "smoke":
        out.append("Profile smoke: capped data and one or two epochs; the accuracies are far from converged "
                   "and say little about the technique at full scale.")
    if params.get("dataset"):
        out.append(f"One dataset ({params['dataset']}): the results may not transfer to other data or larger models.")
    return out


def _outcome_limits(d: ExperimentData) -> list[str]:
    """What happened to the runs and the record: skipped, failed or diverged runs, no rating,
    generated code."""
    out: list[str] = []
    variants = d.variants
    skipped = [n for n, v in variants.items() if v.skipped and not v.n]
    if skipped:
        out.append(f"Skipped on this hardware: {', '.join(skipped)}.")
    counts = d.breakdown.runs or RunCounts()
    if counts.failed:
        out.append(f"{counts.failed} of {counts.total} runs did not succeed; their variants have fewer seeds.")
    diverged = [n for n, v in variants.items() if v.diverged]
    if diverged:
        out.append(f"Diverged in some seeds: {', '.join(diverged)}.")
    if not d.rated:
        out.append("Not rated: the rubric's criteria were not checked.")
    if d.exp.catalog == "generated":
        where = d.exp.metadata.generated.sandbox if d.exp.metadata.generated else None
        out.append("Generated code: the program was written by a language model and run "
                   + (f"WITHOUT a sandbox ({where})." if unsandboxed(where) else "in the sandbox (bubblewrap)."))
    return out
