"""The independent evaluation sets of a language-model experiment (`-p eval=PATH[,PATH...]`) in
the validator's result, apart from the test split: each variant's perplexity on each set over
its seeds, and its change against the variant's primary reference as a relative change of
perplexity (a paired t-interval on the per-seed log ratios, back-transformed to %).

The sets never select, gate or rate anything: they are shown beside the rating, not in it.
Result keys written by the programs: docs/PROTOCOL.md §5 (`eval_sets`, `eval_NAME_perplexity`,
`eval_NAME_tokens`, `eval_NAME_shared_with_train`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from contract import quantities, units
from contract.comparison import Spread
from contract.jsonvalue import JsonValue
from contract.rating_record import SetChange, SetResult, VariantResult
from science import stats
from science.comparison import pair, spread_of

PREFIX = "eval_"
METHOD = stats.CIMethod.PAIRED_T_LOG.label  # the one log-ratio interval (science/stats.ratio_interval)


def names(results: Sequence[Mapping[str, JsonValue]]) -> list[str]:
    """The sets named by any run's result values, in the order first given."""
    out: list[str] = []
    for r in results:
        given = r.get("eval_sets")
        for name in given if isinstance(given, list) else []:
            if isinstance(name, str) and name not in out:
                out.append(name)
    return out


def _perplexities(by_seed: Mapping[Any, Mapping[str, JsonValue]], name: str) -> dict[Any, float]:
    key = f"{PREFIX}{name}_perplexity"
    return {s: v for s, r in by_seed.items() if (v := stats.number(r.get(key))) is not None and v > 0}


def relative_change(variant: Mapping[Any, float], reference: Mapping[Any, float],
                    reference_name: str | None = None) -> SetChange | None:
    """The variant's perplexity against the reference's, seed by seed: (ratio - 1) in %, with its
    95 % interval; None without a shared seed."""
    shared = [s for s in variant if s in reference]
    if not shared:
        return None
    r = stats.ratio_interval([variant[s] for s in shared], [reference[s] for s in shared], paired_rows=True)
    if r.estimate is None:
        return None
    pct = stats.significant(100 * (r.estimate - 1))
    interval = None if r.ci95 is None else pair((100 * (r.ci95[0] - 1), 100 * (r.ci95[1] - 1)))
    return SetChange(reference_name, pct, interval, len(shared), METHOD)


def summarize(order: list[str], by_seed: Mapping[str, Mapping[Any, Mapping[str, JsonValue]]],
              reference_of: Mapping[str, str | None]) -> dict[str, dict[str, SetResult]]:
    """{variant: {set: its result}}; empty when no run scored an evaluation set."""
    every = [r for v in order for r in by_seed.get(v, {}).values()]
    sets = names(every)
    out: dict[str, dict[str, SetResult]] = {}
    for variant in order:
        rows = by_seed.get(variant, {})
        per_set: dict[str, SetResult] = {}
        for name in sets:
            ppl = _perplexities(rows, name)
            if not ppl:
                continue
            tokens = stats.clean(r.get(f"{PREFIX}{name}_tokens") for r in rows.values())
            shared = stats.clean(r.get(f"{PREFIX}{name}_shared_with_train") for r in rows.values())
            ref = reference_of.get(variant)
            change = relative_change(ppl, _perplexities(by_seed.get(ref, {}), name), ref) if ref else None
            per_set[name] = SetResult(spread_of(stats.summarize(ppl.values(), (0.0, math.inf))),
                                      int(max(tokens)) if tokens else None, int(max(shared)) if shared else None,
                                      change)
        if per_set:
            out[variant] = per_set
    return out


def lines(variants: Mapping[str, VariantResult]) -> list[str]:
    """The sets as text, one line per variant and set (for `lab rating` and the report)."""
    out = []
    for variant, v in variants.items():
        for name, e in (v.eval_sets or {}).items():
            p = e.perplexity or Spread()
            ci = p.ci95
            line = f"  {variant:<22} {name:<14} perplexity {units.value(p.mean, quantities.Kind.PERPLEXITY)}"
            if ci and None not in ci:
                line += f" [{units.interval(ci, quantities.Kind.PERPLEXITY)}]"
            if e.tokens:
                line += f", {e.tokens:,} tokens"
            vs = e.vs
            if vs and vs.pct is not None:
                c = vs.ci95
                interval = units.percent_interval([x / 100 for x in c if x is not None] if c else None, 2, "", signed=True)
                line += f"; vs {vs.reference}: {units.percent(vs.pct / 100, 2, signed=True)}" + (
                    f" (95 % CI {interval})" if interval else "")
            if e.shared_with_train:
                line += f"; NOT independent: {e.shared_with_train} item(s) also in the training split"
            out.append(line)
    return out
