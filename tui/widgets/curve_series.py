"""A run's curves as the control room keeps them: points (step, value) per metric key, grown by
appending what a read brought (`merge`); what they measure (`kind`), which keys are drawn and on
which panel's axis, a run of consecutive trainings cut into its series, and thinning to what a
width can show. Drawn by the curves panel (tui/widgets/curves.py)."""

from __future__ import annotations

import bisect

from contract.runfiles import TRAINING_METRIC

MAX_KEYS = 4
MAX_POINTS = 5000  # per key kept in memory; older points are thinned beyond this

Curves = dict[str, list[tuple[int, float]]]


def kind(key: str) -> str:
    """What a curve measures, which decides its axis: one kind per axis, named on it."""
    k = key.lower()
    if "loss" in k:
        return "loss"
    if "acc" in k:
        return "accuracy"
    if k in ("lr", "learning_rate") or k.endswith("_lr"):
        return "learning rate"
    if "perplex" in k:
        return "perplexity"
    return key


KIND_ORDER = {"loss": 0, "accuracy": 1, "learning rate": 2}


def pick_keys(curves: Curves) -> list[str]:
    """The keys drawn (the training marker is a boundary, not a curve); with several trainings,
    one key per kind (each training has its colour, so two keys of a kind would look alike)."""
    def rank(key: str) -> tuple[int, str]:
        return (KIND_ORDER.get(kind(key), len(KIND_ORDER)), key)

    keys = sorted((k for k, pts in curves.items() if pts and k != TRAINING_METRIC), key=rank)
    if len(training_starts(curves)) > 1:
        firsts: dict[str, str] = {}
        for k in keys:
            firsts.setdefault(kind(k), k)
        keys = list(firsts.values())
    return keys[:MAX_KEYS]


def training_starts(curves: Curves) -> list[int]:
    """The first step of each of a run's consecutive trainings (the `training` marks), in order."""
    return sorted({step for step, _ in curves.get(TRAINING_METRIC, [])})


def split(points: list[tuple[int, float]], starts: list[int]) -> list[list[tuple[int, float]]]:
    """A curve cut at the trainings' starts, each piece's steps counted from its own start."""
    if len(starts) < 2:
        return [points]
    pieces: list[list[tuple[int, float]]] = [[] for _ in starts]
    for step, value in points:
        i = max(0, bisect.bisect_left(starts, step) - 1)
        pieces[i].append((step - starts[i], value))
    return pieces


def panels(keys: list[str]) -> list[tuple[list[str], list[str]]]:
    """(left keys, right keys) of each panel: the kinds in order, two a panel, one per axis."""
    kinds = list(dict.fromkeys(kind(k) for k in keys))
    out = []
    for i in range(0, len(kinds), 2):
        left = [k for k in keys if kind(k) == kinds[i]]
        right = [k for k in keys if i + 1 < len(kinds) and kind(k) == kinds[i + 1]]
        out.append((left, right))
    return out


def thin(points: list[tuple[int, float]], most: int) -> list[tuple[int, float]]:
    if len(points) <= most:
        return points
    step = len(points) / most
    out = [points[int(i * step)] for i in range(most)]
    if out[-1] != points[-1]:
        out[-1] = points[-1]
    return out


def merge(curves: Curves, new: Curves) -> bool:
    """Append the points after each curve's last step (a read that raced another one adds
    nothing twice); True when anything was added."""
    added = False
    for key, pts in new.items():
        line = curves.setdefault(key, [])
        after = line[-1][0] if line else None
        fresh = [p for p in pts if after is None or p[0] > after]
        if fresh:
            line.extend(fresh)
            if len(line) > MAX_POINTS:
                curves[key] = line[::2]
            added = True
    return added


def last_step(curves: Curves) -> int:
    return max((pts[-1][0] for pts in curves.values() if pts), default=-1)
