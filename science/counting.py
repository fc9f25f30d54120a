"""What counts as a result of the lab: the one rule the roadmap's criteria and the publication
(`lab publish`, `lab paper`) both follow, so that no finding is counted twice.

An experiment counts when it is done, rated and not preliminary (science/rubric.preliminary).
Among those:

- a reproduction (`lab reproduce N`: modifications.kind "reproduction", of N) is never a result
  of its own: it is attached to N as N's reproduction evidence (its id, its rating, and whether
  each variant's quality mean fell within N's 95 % interval: science/reproduction.py's check, the
  one `lab reproduce` prints). A reproduction of a reproduction supports the first original; one
  whose original does not count supports nothing.
- a re-run: the same catalog entry run again with the same parameters (a generated program: the
  same program), whatever its seed count and whoever asked for it. The latest counted one (the
  highest id: the last submitted, at the newest code) is the result; it supersedes the earlier
  ones, which are named beside it with their rating and verdict and count for nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from contract.child_kinds import CommandKind
from contract.modifications import Original
from db.rows import Experiment
from db.states import ExperimentState
from science.headline import void_reason
from science.reproduction import Check, compare, verdict
from science.rubric import preliminary


@dataclass(frozen=True)
class Reproduction:
    """A rated reproduction of a counted experiment, judged as `lab reproduce` judges it."""
    id: int
    of: int
    rating: float
    reproduced: bool | None        # every variant's quality mean within the original's 95 % CI; None: undecided
    sentence: str                  # science.reproduction.verdict's, e.g. "reproduced: the test_accuracy of ..."
    checks: tuple[Check, ...] = ()

    @property
    def outcome(self) -> str:
        return {True: "reproduced", False: "not reproduced", None: "undecided"}[self.reproduced]

    def text(self) -> str:
        return f"exp {self.of} re-run from its record as exp {self.id} (rated {self.rating:g}/10): {self.sentence}"


@dataclass(frozen=True)
class Result:
    """A counted experiment that stands as a result, with its reproductions and the earlier runs
    of the same entry and parameters it supersedes (oldest first)."""
    exp: Experiment
    reproductions: tuple[Reproduction, ...] = ()
    supersedes: tuple[Result, ...] = ()

    @property
    def id(self) -> int:
        return self.exp.id

    @property
    def rating(self) -> float:
        return float(self.exp.rating or 0.0)  # counted: rated

    @property
    def verdict(self) -> str:
        """The headline's verdict in a few words (what a re-run can change besides the rating)."""
        h = self.exp.breakdown.headline
        if h is None or not h.variant:
            return "no headline comparison"
        if h.control_valid is False:
            return f"comparison void ({void_reason(h.control_note)})"
        if h.selection == "test":
            return "headline chosen on test data"
        return "quality kept" if h.quality_kept else "quality not shown kept"

    def superseded_lines(self) -> list[str]:
        """One line per earlier run it supersedes; a changed rating or verdict said in it."""
        out = []
        for old in self.supersedes:
            changed = [f"rating {old.rating:g}/10 → {self.rating:g}/10"] \
                if old.rating != self.rating else []
            changed += [f"verdict {old.verdict} → {self.verdict}"] if old.verdict != self.verdict else []
            repro = "".join(f"; exp {r.id} re-ran it from its record: {r.outcome}"
                            for r in old.reproductions)
            out.append(f"exp {self.id} supersedes exp {old.id} (the same entry and parameters, run earlier, rated "
                       f"{old.rating:g}/10{repro}): "
                       + ("; ".join(changed) if changed else "same rating and verdict") + ".")
        return out

    def lines(self) -> list[str]:
        """Its reproduction evidence and what it supersedes, one sentence each."""
        return [r.text() + "." for r in self.reproductions] + self.superseded_lines()


@dataclass(frozen=True)
class Counting:
    results: tuple[Result, ...]          # by id

    def of(self, exp_id: int) -> Result | None:
        return next((r for r in self.results if r.id == exp_id), None)

    @property
    def reproductions(self) -> frozenset[int]:
        """The reproductions attached to an original (to a result or to a run it superseded)."""
        inner = [x for r in self.results for x in r.supersedes]
        return frozenset(p.id for r in (*self.results, *inner) for p in r.reproductions)

    @property
    def superseded(self) -> frozenset[int]:
        """The earlier runs of an entry and parameters that a later run superseded."""
        return frozenset(x.id for r in self.results for x in r.supersedes)

    @property
    def folded(self) -> frozenset[int]:
        """The counted experiments that are no result of their own: reproductions attached to an
        original, and superseded runs."""
        return self.reproductions | self.superseded


def count(experiments: Sequence[Experiment]) -> Counting:
    """The lab's results (counted: done, rated, not preliminary), each with its reproductions and
    the earlier runs it supersedes."""
    by_id = {e.id: e for e in experiments if e.status == ExperimentState.DONE and e.rating is not None
             and e.rating_breakdown and not preliminary(e)}
    of_of = {e.id: e.modifications.of for e in experiments if e.modifications.kind == CommandKind.REPRODUCTION}
    repros: dict[int, list[Reproduction]] = {}
    runs: dict[str, list[int]] = {}        # the same entry and parameters (a generated program: the same one)
    for i in sorted(by_id):
        e = by_id[i]
        if i not in of_of:
            program = e.metadata.generated if e.catalog == "generated" else None
            generated = None if program is None else program.to_json()
            runs.setdefault(json.dumps([e.catalog, e.params, generated], sort_keys=True, default=str), []).append(i)
            continue
        root = of_of[i]
        while root in of_of:          # a reproduction of a reproduction supports the first original
            root = of_of[root]
        checks = compare(e.modifications.original or Original(), e.breakdown)
        ok, sentence = verdict(checks)
        if isinstance(root, int):
            repros.setdefault(root, []).append(Reproduction(i, root, float(e.rating or 0.0), ok, sentence,
                                                            tuple(checks)))

    def result(i: int, earlier: tuple[Result, ...]) -> Result:
        return Result(by_id[i], tuple(repros.get(i, ())), earlier)
    results = [result(same[-1], tuple(result(x, ()) for x in same[:-1])) for same in runs.values()]
    return Counting(tuple(sorted(results, key=lambda r: r.id)))
