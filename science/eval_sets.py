"""The independent evaluation sets of a language-model experiment (`-p eval=PATH[,PATH...]`) in
the validator's result, apart from the test split: each variant's perplexity on each set over
its seeds, and its change against the variant's primary reference as a relative change of
perplexity (a paired t-interval on the per-seed log ratios, back-transformed to %).

The sets never select, gate or rate anything: they are shown beside the rating, not in it.
Result keys written by the programs: docs/PROTOCOL.md §5 (`eval_sets`, `eval_NAME_perplexity`,
`eval_NAME_tokens`, `eval_NAME_shared_with_train`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from contract import quantities, units
from science import stats

PREFIX = "eval_"
METHOD = stats.CIMethod.PAIRED_T_LOG.label  # the one log-ratio interval (science/stats.ratio_interval)


def names(results: list[dict[str, Any]]) -> list[str]:
    """The sets named by any run's result, in the order first given."""
    out: list[str] = []
    for r in results:
        for name in r.get("eval_sets") or []:
            if isinstance(name, str) and name not in out:
                out.append(name)
    return out


def _perplexities(by_seed: Mapping[Any, dict[str, Any]], name: str) -> dict[Any, float]:
    key = f"{PREFIX}{name}_perplexity"
    return {s: v for s, r in by_seed.items() if (v := stats.number(r.get(key))) is not None and v > 0}


def relative_change(variant: Mapping[Any, float], reference: Mapping[Any, float]) -> dict[str, Any] | None:
    """The variant's perplexity against the reference's, seed by seed: (ratio - 1) in %, with its
    95 % interval; None without a shared seed."""
    shared = [s for s in variant if s in reference]
    if not shared:
        return None
    r = stats.ratio_interval([variant[s] for s in shared], [reference[s] for s in shared], paired_rows=True)
    if r.estimate is None:
        return None
    pct = stats.significant(100 * (r.estimate - 1))
    interval = None if r.ci95 is None else [stats.significant(100 * (r.ci95[0] - 1)),
                                            stats.significant(100 * (r.ci95[1] - 1))]
    return {"pct": pct, "ci95": interval, "n": len(shared), "method": METHOD}


def summarize(order: list[str], by_seed: Mapping[str, Mapping[Any, dict[str, Any]]],
              reference_of: Mapping[str, str | None]) -> dict[str, dict[str, Any]]:
    """{variant: {set: {"perplexity": summary, "tokens", "shared_with_train", "vs": {...}}}};
    empty when no run scored an evaluation set."""
    every = [r for v in order for r in by_seed.get(v, {}).values()]
    sets = names(every)
    out: dict[str, dict[str, Any]] = {}
    for variant in order:
        rows = by_seed.get(variant, {})
        per_set: dict[str, Any] = {}
        for name in sets:
            ppl = _perplexities(rows, name)
            if not ppl:
                continue
            entry: dict[str, Any] = {"perplexity": stats.summarize(ppl.values(), (0.0, math.inf)).to_json()}
            tokens = stats.clean(r.get(f"{PREFIX}{name}_tokens") for r in rows.values())
            entry["tokens"] = int(max(tokens)) if tokens else None
            shared = stats.clean(r.get(f"{PREFIX}{name}_shared_with_train") for r in rows.values())
            entry["shared_with_train"] = int(max(shared)) if shared else None
            ref = reference_of.get(variant)
            if ref:
                change = relative_change(ppl, _perplexities(by_seed.get(ref, {}), name))
                if change is not None:
                    entry["vs"] = {"reference": ref, **change}
            per_set[name] = entry
        if per_set:
            out[variant] = per_set
    return out


def lines(variants: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The sets as text, one line per variant and set (for `lab rating` and the report)."""
    out = []
    for variant, v in variants.items():
        for name, e in (v.get("eval_sets") or {}).items():
            p = e.get("perplexity") or {}
            ci = p.get("ci95")
            line = f"  {variant:<22} {name:<14} perplexity {units.value(p.get('mean'), quantities.Kind.PERPLEXITY)}"
            if ci and None not in ci:
                line += f" [{units.interval(ci, quantities.Kind.PERPLEXITY)}]"
            if e.get("tokens"):
                line += f", {e['tokens']:,} tokens"
            vs = e.get("vs")
            if vs and vs.get("pct") is not None:
                c = vs.get("ci95")
                interval = f" (95 % CI {c[0]:+.2f}..{c[1]:+.2f} %)" if c and None not in c else ""
                line += f"; vs {vs['reference']}: {vs['pct']:+.2f} %{interval}"
            if e.get("shared_with_train"):
                line += f"; NOT independent: {e['shared_with_train']} item(s) also in the training split"
            out.append(line)
    return out
