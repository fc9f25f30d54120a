"""`lab rating <id>`: an experiment's rating with its evidence, point by point (the validator's
breakdown, typed: the headline, the rubric's criteria, every variant against its reference, the
independent evaluation sets, the deliverables, findings and follow-ups; the lines themselves are
written by cli/commands/rating_lines.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cli.commands.common import add_json, experiment_or_refuse, table
from cli.context import CommandError, Context
from contract import quantities

if TYPE_CHECKING:  # the science loads only when the command runs, keeping `lab` quick to start
    from science.rating_record import Breakdown


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser("rating", help="an experiment's rating with its evidence, point by point")
    g.add_argument("id", type=int, help="experiment id")
    add_json(g)
    g.set_defaults(func=rating)


async def rating(args: argparse.Namespace, ctx: Context) -> int:
    from cli.commands.rating_lines import criteria_lines, headline_lines, variant_rows
    from science.headline import headline_json
    from science.rating_record import Breakdown
    from science.rubric import preliminary, preliminary_text
    from science.text import the

    exp = await experiment_or_refuse(ctx, args.id)
    stored = exp.rating_breakdown
    if not stored:
        raise CommandError(f"experiment {args.id} has no rating yet (it is {exp.status}; the validator rates "
                           "an experiment when its runs have ended)")
    b = Breakdown.read(stored)
    if ctx.as_json:
        ctx.out_json({"experiment_id": exp.id, "rating": exp.rating,
                      "rubric_version": b.rubric_version or 1, "preliminary": preliminary(exp),
                      "headline": headline_json(b.headline, b.keys.get("quality"), preliminary(exp)),
                      "rating_breakdown": stored})  # the record as the validator wrote it
        return 0
    ctx.out(f"experiment {exp.id} {exp.name} ({exp.catalog}): rated {b.rating}/10 "
            f"(rubric v{b.rubric_version or 1}; {the('baseline', b.baseline)}, gain in {b.gain_phase})")
    if prelim := preliminary_text(exp):
        ctx.out(prelim)
    keys = b.keys
    for line in headline_lines(b) + criteria_lines(b):
        ctx.out(line)
    ctx.out(f"\nquality {keys['quality']}, energy {keys['energy']}, time {keys['time']}, size {keys['size']}"
            f" (* baseline; quality and its change ({quantities.describe(keys['quality'])}) with 95 % CI; "
            "ratios reference / variant with 95 % CI)")
    ctx.out(table(variant_rows(b), ["variant", "n", "vs", "quality", "change", "p", "E", "speedup",
                                     "compression", "energy", "energy is", "control"]))
    for line in _below_table(b):
        ctx.out(line)
    return 0


def _below_table(b: Breakdown) -> list[str]:
    """The void controls and the independent evaluation sets, then the deliverables, findings and
    follow-ups."""
    from cli.commands.rating_lines import tail_lines
    from science import eval_sets

    lines = [f"  {name} vs {v.reference}: control invalid: {v.compared.control_note}"
             for name, v in b.variants.items() if v.comparisons and v.compared.control_valid is False]
    if independent := eval_sets.lines(b.variants):
        lines += ["\nindependent evaluation sets (never used for training or selection; not rated; change of "
                  "perplexity vs the reference, paired by seed):", *independent]
    return lines + tail_lines(b)
