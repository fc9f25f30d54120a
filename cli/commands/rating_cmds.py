"""`lab rating <id>`: an experiment's rating with its evidence, point by point (the validator's
breakdown: the headline, the rubric's criteria, every variant against its reference, the
deliverables, findings and follow-ups)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from cli.commands.common import add_json, experiment_or_refuse, table
from cli.context import CommandError, Context
from contract import quantities, units


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser("rating", help="an experiment's rating with its evidence, point by point")
    g.add_argument("id", type=int, help="experiment id")
    add_json(g)
    g.set_defaults(func=rating)


async def rating(args: argparse.Namespace, ctx: Context) -> int:
    from science.analysis import headline_json
    from science.rubric import preliminary

    exp = await experiment_or_refuse(ctx, args.id)
    b = exp["rating_breakdown"]
    if not b:
        raise CommandError(f"experiment {args.id} has no rating yet (it is {exp['status']}; the validator rates "
                           "an experiment when its runs have ended)")
    if ctx.as_json:
        ctx.out_json({"experiment_id": exp["id"], "rating": exp["rating"],
                      "rubric_version": b.get("rubric_version", 1), "preliminary": preliminary(exp),
                      "headline": headline_json(b.get("headline"), (b.get("keys") or {}).get("quality"),
                                                preliminary(exp)),
                      "rating_breakdown": b})
        return 0
    for line in [*_headline_lines(exp, b), *_criteria_lines(b)]:
        ctx.out(line)
    keys = b["keys"]
    ctx.out(f"\nquality {keys['quality']}, energy {keys['energy']}, time {keys['time']}, size {keys['size']}"
            f" (* baseline; quality and its change ({quantities.describe(keys['quality'])}) with 95 % CI; "
            "ratios reference / variant with 95 % CI)")
    ctx.out(table(_variant_rows(b), ["variant", "n", "vs", "quality", "change", "p", "E", "speedup",
                                     "compression", "energy", "energy is", "control"]))
    for line in _below_lines(b):
        ctx.out(line)
    return 0


def _headline_lines(exp: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The rating, its rubric and baseline; the headline, and why its effect is no evidence when
    it is exact, void or at the edge of the grid."""
    from science.analysis import headline_text
    from science.rubric import preliminary_text
    from science.text import the

    lines = [f"experiment {exp['id']} {exp['name']} ({exp['catalog']}): rated {b['rating']}/10 "
             f"(rubric v{b.get('rubric_version', 1)}; {the('baseline', b['baseline'])}, gain in {b['gain_phase']})"]
    if prelim := preliminary_text(exp):
        lines.append(prelim)
    h = b.get("headline")
    lines.append("headline: " + headline_text(h, b["keys"]["quality"]))
    if h and h.get("effect_kind") == "exact":
        detail = h.get("effect_detail") or {}
        instead = (detail.get("measured") or {}).get("metric")
        lines.append(f"  {h.get('metric')} is exact (the same on every seed, by construction): not evidence, no "
                     "effect point on it; " + (f"the effect points judge the measured {instead}" if instead else
                                               "no measured cost to judge instead"))
    if h and h.get("control_valid") is False:
        lines.append(f"  comparison void: {h.get('control_note')}; no effect point is given")
    if h and h.get("edge_of_grid"):
        lines.append(f"  edge of grid: {h['edge_of_grid']}; no effect point is given")
    return lines


def _criteria_lines(b: Mapping[str, Any]) -> list[str]:
    """The rubric's criteria, point by point, under their groups."""
    lines, group = [], None
    for c in b["criteria"]:
        if c.get("group") and c["group"] != group:
            group = c["group"]
            lines.append(f" {group}:")
        lines.append(f"  [{'x' if c['points'] else ' '}] {c['label']:<30} {c['evidence']}")
    return lines


def _below_lines(b: Mapping[str, Any]) -> list[str]:
    """Below the table: the void controls, the independent evaluation sets, the deliverables,
    the findings and the follow-ups."""
    from science import eval_sets

    lines = [f"  {name} vs {v.get('reference')}: control invalid: {v.get('control_note')}"
             for name, v in b["variants"].items() if v.get("control_valid") is False]
    independent = eval_sets.lines(b["variants"])
    if independent:
        lines += ["\nindependent evaluation sets (never used for training or selection; not rated; change of "
                  "perplexity vs the reference, paired by seed):", *independent]
    if b.get("deliverables"):
        lines.append("\ndeliverables:")
        lines += [f"  {_MARK[d['ok']]:<6} {d['kind']}: {d['detail']}" for d in b["deliverables"]]
    if b.get("findings"):
        lines += ["\nfindings:", *(f"  - {text}" for text in b["findings"])]
    if b.get("follow_ups"):
        lines += ["\nfollow-ups:", *(f"  - {f['kind']}: {_where(f)}: {f['rationale']}" for f in b["follow_ups"])]
    return lines


_MARK = {True: "ok", False: "FAILED", None: "n/a"}  # a deliverable's check: met, unmet, unknown


def _where(f: Mapping[str, Any]) -> str:
    """Where a follow-up went: its experiment, a duplicate, a suggestion, or why it was not proposed."""
    if f.get("experiment_id"):
        return f"experiment {f['experiment_id']} ({'approved' if f.get('approved') else 'awaiting approval'})"
    if f.get("duplicate_of"):
        return f"duplicate of {f['duplicate_of']}"
    return "suggested" if f.get("suggested") else f"not proposed: {f.get('error', '?')}"


def _ratio_ci(v: Mapping[str, Any], key: str) -> str:
    ci = v.get(f"{key}_ci95")
    text = units.ratio(v.get(key))
    return text if text == units.MISSING or not ci else f"{text} [{units.ratio_interval(ci)}]"


def _variant_rows(b: Mapping[str, Any]) -> list[list[str]]:
    """Every variant's quality (in its kind's unit), its change against its reference (points
    for a fraction, the unit and % of the reference for a perplexity or a loss), p, the ratios
    with their CIs and the energy, each number as the validator stored it."""
    from science.analysis import void_reason

    kind = quantities.kind_of(b["keys"]["quality"])
    energy_kind = quantities.Kind.ENERGY
    rows = []
    for name, v in b["variants"].items():
        q, d = v["quality"], v.get("quality_delta") or {}
        ci = q.get("ci95")
        modelled = "modelled from CPU time" if v.get("energy_estimated") else (
            "measured" if v.get("energy_estimated") is False else units.MISSING)
        ref = v.get("reference")
        control = units.MISSING if ref is None or "control_valid" not in v else ("valid" if v["control_valid"] else "INVALID")
        ref_mean = d.get("reference_mean")
        if ref_mean is None and ref:
            ref_mean = ((b["variants"].get(ref) or {}).get("quality") or {}).get("mean")
        change = units.change(d.get("mean"), kind, ref_mean)
        if change != units.MISSING and d.get("ci95"):
            change += f" [{units.change_interval(d['ci95'], kind, ref_mean)}]"
        rows.append([name + (" *" if v.get("baseline") else ""), str(v["n"]), ref or "-",
                     units.value(q.get("mean"), kind)
                     + (f" [{units.interval(ci, kind)}]" if ci else ""),
                     change, units.num(v.get("p_value"), 3),
                     f"void ({void_reason(v.get('control_note'))})" if v.get("control_valid") is False
                     else _ratio_ci(v, "efficiency_score"), _ratio_ci(v, "speedup"),
                     _ratio_ci(v, "compression"),
                     units.value((v.get("energy") or {}).get("mean"), energy_kind), modelled, control])
    return rows
