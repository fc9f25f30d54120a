"""What runs when all runs of an experiment have ended, before it is concluded done or failed.

Other rooms plug in here (the validator rates, the recorder commits); each finisher gets the
store and the experiment id and must not raise for an experiment it cannot handle.
"""

from __future__ import annotations

from engine.daemon import Finisher


def finishers() -> list[Finisher]:
    return []
