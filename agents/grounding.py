"""Keeping a language model honest about numbers: every number in what it writes must already
be in the evidence it was given (the same value, rounded or not, or the same value as a
percentage)."""

from __future__ import annotations

import math
import re

NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def values(text: str) -> set[float]:
    """The finite numbers of `text`: a digest such as `...4e512...` reads as 4e512, infinite, which
    would be close to every number and ground them all."""
    out = set()
    for token in NUMBER.findall(text):
        try:
            value = float(token)
        except ValueError:
            continue
        if math.isfinite(value):
            out.add(value)
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def ungrounded(claim: str, evidence: str) -> list[str]:
    """The numbers of `claim` that `evidence` does not contain (also not as x100 or /100)."""
    known = values(evidence)
    scaled = known | {v * 100 for v in known} | {v / 100 for v in known}
    missing = []
    for token in NUMBER.findall(claim):
        v = float(token)
        decimals = len(token.split(".")[1]) if "." in token and "e" not in token.lower() else 0
        if any(_close(v, k) or _close(v, round(k, decimals)) for k in scaled):
            continue
        if token not in missing:
            missing.append(token)
    return missing
