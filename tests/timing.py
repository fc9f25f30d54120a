"""The one setting every wait and timeout of the tests derives from, and the one test of
whether the machine is quiet enough to hold a wall time to a number.

`JOULELAB_TEST_TIMEOUT_SCALE` multiplies every timeout (`make test-under-load` sets it); unset,
the scale follows the machine's load when the tests start (1 on a quiet machine, up to 4 when
the cores are oversubscribed; at least 2 under pytest-xdist, whose workers share the cores with
each other after the load was read). A timeout is an upper bound on a wait that normally ends at once
on an event, so a larger one costs time only when a test is failing anyway.
"""

from __future__ import annotations

import os

ENV = "JOULELAB_TEST_TIMEOUT_SCALE"
QUIET_LOAD_PER_CORE = 0.5


def _load_per_core() -> float:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def _scale() -> float:
    given = os.environ.get(ENV)
    if given:
        try:
            return max(1.0, float(given))
        except ValueError:
            raise SystemExit(f"{ENV} must be a number (e.g. 3), got {given!r}") from None
    floor = 2.0 if os.environ.get("PYTEST_XDIST_WORKER") else 1.0
    return min(4.0, max(floor, 2.0 * _load_per_core()))


SCALE = _scale()


def scaled(seconds: float) -> float:
    """`seconds` as a timeout on this machine now."""
    return seconds * SCALE


def machine_quiet() -> bool:
    """True when a wall time measured now says something about the code, not the neighbours:
    no timeout scaling asked for, no parallel test worker, and the 1-minute load under half a
    core per core."""
    return (not os.environ.get(ENV) and not os.environ.get("PYTEST_XDIST_WORKER")
            and _load_per_core() < QUIET_LOAD_PER_CORE)
