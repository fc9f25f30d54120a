"""Who approves: the autonomy level and the budgets decide whether an experiment runs on its own.

1 assisted: every experiment waits for a person. 2 semi-autonomous: follow-ups of an approved
line run on their own, new lines wait. 3 autonomous: everything runs. Over budget: always waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import units

LEVELS = {1: "assisted", 2: "semi-autonomous", 3: "autonomous"}


@dataclass(frozen=True)
class Decision:
    approve: bool
    reason: str


def decide(autonomy: int, *, follow_up_of_approved: bool, over_budget: list[str]) -> Decision:
    level = f"autonomy {autonomy} ({LEVELS.get(autonomy, units.MISSING)})"
    if over_budget:
        return Decision(False, "over budget, so it waits for a person: " + "; ".join(over_budget))
    if autonomy >= 3:
        return Decision(True, f"{level}: approved within budgets")
    if autonomy == 2 and follow_up_of_approved:
        return Decision(True, f"{level}: a follow-up of an approved line, approved within budgets")
    if autonomy == 2:
        return Decision(False, f"{level}: a new line waits for a person")
    return Decision(False, f"{level}: every experiment waits for a person")
