"""The headline comparison (docs/AGENTS.md): chosen (the declared one, else the candidate with the
largest effect on its objective, chosen without test data and corrected with Holm's method) as a
typed `Headline`, given as `lab rating --json` prints it, and said in the words every output uses:
its quality change, its effect, its margin, and one sentence for the whole comparison."""

from __future__ import annotations

import math
from dataclasses import replace

from contract import quantities as q
from contract import units
from contract.comparison import MEASURED, MODELLED, Effect, Pair
from contract.jsonvalue import JsonObject
from contract.rating_record import Headline, VariantResult
from science import stats
from science.experiment_info import DEFAULT_KEYS, ExperimentInfo, higher_is_better
from science.thresholds import ALPHA, QUALITY_MARGIN

#: the few words a narrow cell gives for a void comparison (the control note says it in full)
VOID_REASONS = (("diverged", "diverged"), ("under-budgeted", "under-budgeted"), ("below the declared floor", "below floor"),
                ("has no result", "no result"), ("test data", "chosen on test data"))


def _r(value: float | None, digits: int = 6) -> float | None:
    return stats.significant(value, digits)


def void_reason(note: str | None) -> str:
    """Why a comparison is void, in a few words, from its control note ('under-budgeted')."""
    text = str(note or "")
    found = [short for needle, short in VOID_REASONS if needle in text]
    return ", ".join(found) if found else ("invalid control" if not text else text[:40])


# -- choosing it -------------------------------------------------------------------------------

def _validation_gap(v: VariantResult, variants: dict[str, VariantResult]) -> tuple[float, float] | None:
    """The variant's and its reference's mean validation quality, when both are known."""
    mine = v.summary("validation").mean
    ref = variants.get(v.reference or "")
    theirs = ref.summary("validation").mean if ref is not None else None
    return None if mine is None or theirs is None else (mine, theirs)


def _val_kept(v: VariantResult, variants: dict[str, VariantResult], keys: dict[str, str]) -> bool | None:
    """Does the variant keep validation quality within the margin of its reference (means)?"""
    if "validation" not in keys or (got := _validation_gap(v, variants)) is None:
        return None
    mine, theirs = got
    gap = mine - theirs if higher_is_better(keys["quality"]) else theirs - mine
    return bool(gap >= -(v.compared.quality_margin or QUALITY_MARGIN))


def _gain(effect: Effect, v: VariantResult, keys: dict[str, str], variants: dict[str, VariantResult]) -> float:
    """A comparable size of an effect: log of a ratio, or a difference relative to the reference."""
    est = effect.estimate
    if not isinstance(est, (int, float)):
        return float("-inf")
    if effect.is_ratio:
        return math.log(est) if est > 0 else float("-inf")
    if effect.objective == "quality" and "validation" in keys:
        got = _validation_gap(v, variants)
        if got is not None and got[1]:
            mine, theirs = got
            return float((mine - theirs) / abs(theirs) * (1 if higher_is_better(keys["quality"]) else -1))
    return float(est)


def _choose(info: ExperimentInfo, candidates: dict[str, VariantResult], variants: dict[str, VariantResult],
            keys: dict[str, str]) -> tuple[str, str, int, dict[str, float | None]]:
    """The headline's name, how it was chosen, among how many, and the adjusted p-values."""
    declared = info.headline if info.headline in candidates else None
    if declared is not None:
        return declared, "declared", 1, {declared: (candidates[declared].compared.effect or Effect()).p_value}

    def rank(n: str) -> tuple[int, int, float]:
        v = candidates[n]
        kept = _val_kept(v, variants, keys)
        return (int(bool(v.compared.control_valid)), int(kept is not False),
                _gain(v.compared.effect or Effect(), v, keys, variants))

    name = max(sorted(candidates), key=rank)
    quality_objective = (candidates[name].compared.effect or Effect()).objective == "quality"
    selection = "test" if quality_objective and "validation" not in keys else (
        "validation" if "validation" in keys else "objective")
    adjusted = stats.holm({n: (v.compared.effect or Effect()).p_value for n, v in candidates.items()})
    return name, selection, len(candidates), adjusted


def choose_headline(info: ExperimentInfo, variants: dict[str, VariantResult],
                    keys: dict[str, str] | None = None) -> Headline | None:
    """The declared headline; else the candidate with the largest effect on its objective,
    chosen without test data (validation quality decides who keeps quality; a quality objective
    is ranked on validation quality), with its p-value Holm-corrected across the candidates.
    A quality objective with no validation data is chosen on test data and earns no effect points."""
    keys = keys or {**DEFAULT_KEYS, **info.keys}
    candidates = {n: v for n, v in variants.items() if not info.is_reference_point(n) and v.n > 0}
    if not candidates:
        return None
    name, selection, m, adjusted = _choose(info, candidates, variants, keys)
    v = candidates[name]
    c = v.compared
    effect = c.effect or Effect()
    p_adj = adjusted.get(name)
    est = effect.estimate
    good_direction = isinstance(est, (int, float)) and (est > 1 if effect.is_ratio else est > 0)
    effect = replace(effect, p_adjusted=_r(p_adj),
                     significant=bool(good_direction and p_adj is not None and p_adj < ALPHA))
    delta = c.quality_delta
    mean, ci = (delta.mean, delta.ci95) if delta is not None else (None, None)
    kind = q.kind_of(keys["quality"])
    points = kind is q.Kind.FRACTION  # percentage points are said of a fraction only
    return Headline(
        variant=name, reference=v.reference, objective=effect.objective, metric=effect.metric, effect=effect.estimate,
        effect_ci=effect.ci95, e=c.efficiency_score, e_ci=c.efficiency_score_ci95,
        quality_delta_points=_r(mean * 100) if points and mean is not None else None,
        quality_delta_ci=(_r(ci[0] * 100), _r(ci[1] * 100)) if points and ci else None,  # type: ignore[operator]
        quality_key=keys["quality"], quality_kind=kind.value,
        quality_reference_mean=None if delta is None else delta.reference_mean,
        quality_delta_relative=None if delta is None else delta.relative,
        quality_delta_relative_ci=None if delta is None else delta.relative_ci95,
        paired=bool(c.paired), control_valid=bool(c.control_valid), control_note=c.control_note, selection=selection,
        candidates=m, edge_of_grid=c.edge_of_grid, quality_margin_declared=c.quality_margin_declared,
        # issue 22 item 6: the base models the intervals are over, and the variance between them
        n_bases=c.n_bases, between_bases=c.between_bases if c.between_bases is not None else v.between_bases,
        effect_detail=effect, energy_mode=v.energy_mode,
        # issue 22: measured, or exact (the same on every seed: by construction, no evidence)
        effect_kind=effect.effect_kind, ci_method=effect.ci_method, e_ci_method=c.ci_methods.get("efficiency_score"),
        # the names older readers use (rubric v1 records hold only these)
        efficiency_score=c.efficiency_score, speedup=c.speedup, compression=c.compression, quality_delta=mean,
        quality_delta_ci95=ci, energy_estimated=v.energy_estimated, quality_kept=bool(c.quality_kept))


# -- giving it ---------------------------------------------------------------------------------

JSON_FIELDS = ("variant", "reference", "objective", "metric", "effect", "effect_ci", "e", "e_ci",
               "quality_delta_points", "quality_delta_ci", "paired", "control_valid", "control_note",
               "edge_of_grid", "n_bases", "between_bases")
MEASURED_FIELDS = ("objective", "metric", "estimate", "ci95", "ci_method", "p_value", "significant", "consistent")


def _json(x: Pair | None) -> list[float | None] | None:
    return None if x is None else list(x)


def _relative(h: Headline, kind: q.Kind) -> tuple[float | None, list[float | None] | None]:
    """The quality change relative to the reference, computed for a record written without it."""
    rel, rel_ci = h.quality_delta_relative, _json(h.quality_delta_relative_ci)
    ci, ref = h.quality_delta_ci95, h.quality_reference_mean
    if q.info(kind).change is q.Change.RELATIVE and rel is None and ref:
        rel = _r(q.relative(h.quality_delta, ref))
        rel_ci = [_r(q.relative(ci[0], ref)), _r(q.relative(ci[1], ref))] if ci and None not in ci else None
    return rel, rel_ci


def headline_json(h: Headline | None, quality_key: str | None = None,
                  preliminary: bool | None = None) -> JsonObject | None:
    """The headline as `lab rating --json` gives it (issues 10, 22): the comparison as data, with
    the quality's kind and how its change is said (`quality_kind`; `quality_delta_points` for a
    fraction only, `quality_delta` in the metric's unit, `quality_delta_relative` as a fraction of
    the reference for a perplexity or a loss; `quality_change` and `effect_text` as every output
    writes them). Records of rubric v1 hold fewer fields; what they lack is null. `preliminary`:
    the mark for a record rated before the validator wrote one (science/rubric.preliminary decides)."""
    if not h:
        return None
    key = str(h.quality_key or quality_key or DEFAULT_KEYS["quality"])  # rubric v1: accuracy
    kind = q.Kind(h.quality_kind) if h.quality_kind in {k.value for k in q.Kind} else q.kind_of(key)
    full = h.to_json()
    out: JsonObject = {k: full.get(k) for k in JSON_FIELDS}
    if out["e"] is None:
        out["e"] = h.efficiency_score
    ci = h.quality_delta_ci95
    if kind is q.Kind.FRACTION and out["quality_delta_points"] is None and isinstance(h.quality_delta, (int, float)):
        out["quality_delta_points"] = _r(h.quality_delta * 100)
        out["quality_delta_ci"] = [_r(ci[0] * 100), _r(ci[1] * 100)] if ci and None not in ci else None  # type: ignore[operator]
    if kind is not q.Kind.FRACTION:  # records written before issue 22 put the raw change here
        out["quality_delta_points"] = out["quality_delta_ci"] = None
    rel, rel_ci = _relative(h, kind)
    detail = h.effect_detail or Effect()
    out.update(quality_key=key, quality_kind=kind.value, quality_delta=h.quality_delta, quality_delta_ci95=_json(ci),
               quality_reference_mean=h.quality_reference_mean, quality_delta_relative=rel,
               quality_delta_relative_ci=rel_ci, quality_change=quality_text(h, key),
               effect_text=effect_text(detail) if detail.estimate is not None else None)
    out.update(selection=h.selection, candidates=h.candidates, p_value=detail.p_value, p_adjusted=detail.p_adjusted,
               significant=detail.significant if h.effect_detail is not None else None, tested_on=detail.tested_on,
               mde=detail.mde, energy_mode=h.energy_mode,
               # issue 22: exact quantities are not evidence; how the effect's interval was computed;
               # a preliminary run (smoke, too few seeds) is not a finding
               effect_kind=h.effect_kind or detail.effect_kind or MEASURED, ci_method=h.ci_method or detail.ci_method,
               e_ci_method=h.e_ci_method,
               preliminary=h.preliminary if isinstance(h.preliminary, bool) else preliminary,
               preliminary_reason=h.preliminary_reason)
    if detail.measured is not None:
        measured = detail.measured.to_json()
        out["measured"] = {k: measured.get(k) for k in MEASURED_FIELDS}
    return out


# -- saying it ---------------------------------------------------------------------------------

def quality_change(key: str, mean: float | None, ci: Pair | None, reference: float | None = None) -> str:
    """A quality change with its 95 % CI, as its kind says it: '+1.2 points (95 % CI
    +0.3..+2.1 points)', '+0.0904 ppl (+0.06 % of the reference) (95 % CI -3.71..+3.89 ppl
    (-2.56..+2.68 %))'."""
    kind = q.kind_of(key)
    return units.with_interval(units.change(mean, kind, reference), units.change_interval(ci, kind, reference))


def margin_text(h: Headline | None, quality_key: str = "quality") -> str:
    """The headline's non-inferiority margin as its quality's kind says it ('1 point', '3 % of the
    reference'); records written before the margin was carried: the lab's."""
    declared = h.quality_margin_declared if h is not None else None
    declared = declared if isinstance(declared, (int, float)) and not isinstance(declared, bool) else QUALITY_MARGIN
    return units.margin(declared, q.kind_of(str((h.quality_key if h is not None else None) or quality_key)))


def quality_text(h: Headline, quality_key: str = "quality") -> str:
    """The headline's quality change, named: 'test_perplexity +0.0904 ppl (...)'."""
    key = str(h.quality_key or quality_key)
    return f"{key} {quality_change(key, h.quality_delta, h.quality_delta_ci95, h.quality_reference_mean)}"


def effect_text(effect: Effect) -> str:
    """The effect on the objective with its 95 % CI: a cost ratio '4.41x (95 % CI 4.20..4.60x)';
    an exact quantity (the same on every seed, by construction) without an interval; a quality
    effect as the change of its metric (variant - reference, in its kind's words, the same number
    as the quality change); a stability effect as the drop of the divergence rate in points."""
    est, ci = effect.estimate, effect.ci95
    if effect.exact:  # the same on every seed: no interval to give, no evidence
        shown = units.ratio(est) if effect.is_ratio else units.value(est, q.kind_of(str(effect.metric or "")))
        return f"{shown} (exact: the same on every seed, by construction)"
    if effect.is_ratio and effect.objective not in ("quality", "stability"):
        return units.with_interval(units.ratio(est), units.ratio_interval(ci))
    metric = str(effect.metric or "")
    kind = q.kind_of(metric)
    if effect.objective == "stability":  # the drop of a rate: positive is fewer divergences
        return units.with_interval(units.change(est, kind) + " lower", units.change_interval(ci, kind))
    if effect.objective == "quality" and not higher_is_better(metric) and isinstance(est, (int, float)):
        # the effect is stored as a gain (lower perplexity: positive); it is said as the change
        est = -est
        ci = (-ci[1], -ci[0]) if ci and None not in ci else ci  # type: ignore[operator]
    ref = effect.reference_mean
    return units.with_interval(units.change(est, kind, ref), units.change_interval(ci, kind, ref))


def headline_text(h: Headline | None, quality_key: str = "quality") -> str:
    """One sentence for the headline comparison, from the stored numbers (rubric v1 records too):
    the validator's verdict, the reports, the control room and `lab rating` all say it so."""
    if not h:
        return "no variant is compared with a reference"
    energy = f", energy {MODELLED}" if h.energy_estimated or h.energy_mode in ("modelled", "mixed") else ""
    quality = quality_text(h, quality_key)
    if not h.objective:  # a rubric v1 record
        return (f"{h.variant}: E = {units.ratio(h.efficiency_score)}, speedup {units.ratio(h.speedup)}, "
                f"compression {units.ratio(h.compression)}, {quality}{energy}")
    how = {"declared": "declared headline", "validation": f"chosen on validation data among {h.candidates}",
           "objective": f"chosen on its objective among {h.candidates}",
           "test": f"chosen on TEST data among {h.candidates}: earns no effect point"}.get(
        str(h.selection), str(h.selection))
    control = "control valid" if h.control_valid else f"control INVALID ({h.control_note}): comparison void"
    e = units.with_interval(units.ratio(h.e_or_score), units.ratio_interval(h.e_ci))
    return (f"{h.variant} vs {h.reference} ({how}): {h.objective} on {h.metric} {effect_text(h.detail)}, E = {e}{energy}; "
            f"{quality}; {'paired by seed' if h.paired else 'unpaired'}{_bases_text(h)}; {control}")


def _bases_text(h: Headline) -> str:
    """', quality and E over 2 base models' means (between-base share of the variance 40 %)'."""
    n = h.n_bases
    if not isinstance(n, int) or n < 2:
        return ""
    share = h.between_bases.between_share if h.between_bases is not None else None
    said = f"; between bases {units.percent(share, 0)} of its variance" if isinstance(share, (int, float)) else ""
    return f", quality and E over {n} pre-trained base models' means{said}"
