"""The Ratings panel counts each result once, as the roadmap and `lab publish` do
(science/counting.py): an earlier run that a re-run of the same entry and parameters superseded,
and a reproduction (`lab reproduce N`), are no top ratings of their own; each follows the result it
belongs to, its rating dimmed and its name saying what it is."""

from __future__ import annotations

from typing import Any

from contract.child_kinds import CommandKind
from contract.layout import LabDir
from contract.modifications import Modifications, Original
from db import ExperimentState as E
from db import NewExperiment, Store
from tests.tui import tui_fixture_lab as fixture_lab
from tests.tui.support import ready, until


def screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def _rated(store: Store, rating: float, **fields: Any) -> int:
    exp_id = await store.create_experiment(NewExperiment(
        name=fields.pop("name"), catalog="pruning", params={"sparsities": [0.9], "profile": "default"}, plan=[],
        seeds=5, **fields), status=E.APPROVED)
    await store.set_experiment_status(exp_id, E.ANALYZING)
    await store.set_experiment_status(exp_id, E.DONE)
    await store.update_experiment(exp_id, rating=rating, rating_breakdown={**fixture_lab.BREAKDOWN, "rating": rating})
    return exp_id


async def _rerun_and_reproduction(lab: LabDir) -> tuple[int, int, int]:
    """The fixture lab (pruning 7/10, quantization 5/10) plus pruning at 90 % rated 9/10, its re-run
    with the same parameters rated 4/10, and a reproduction of the re-run rated 4/10."""
    store = await Store.open(lab.db)
    try:
        earlier = await _rated(store, 9, name="prune-90")
        rerun = await _rated(store, 4, name="prune-90-again")
        repro = await _rated(store, 4, name=f"prune-90-repro-of-{rerun}", parent_id=rerun,
                             modifications=Modifications(kind=CommandKind.REPRODUCTION, of=rerun, original=Original()))
    finally:
        await store.close()
    return earlier, rerun, repro


async def test_a_superseded_run_and_a_reproduction_follow_their_result_marked(lab: LabDir, app_factory: Any) -> None:
    from tui.widgets.leaderboard import Leaderboard

    earlier, rerun, repro = await _rerun_and_reproduction(lab)
    app = app_factory(lab)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        board = app.screen.query_one(Leaderboard)
        await until(pilot, lambda: len(board.leaders) == 5, what="the five rated experiments")
        await pilot.pause()
        # by rating, the superseded 9/10 would lead: the re-run's 4/10 is the result, the 9/10 and
        # the reproduction come right beneath it
        assert [r.id for r in board.leaders] == [1, 2, rerun, earlier, repro]
        assert [r.folded for r in board.leaders] == [False, False, False, True, True]
        assert board.leaders[3].superseded_by == rerun and board.leaders[4].reproduces == rerun
        shown = screen_text(app)
        names = {r.id: board.cells(r)[1].plain for r in board.leaders}
        assert names[earlier] == "↳ superseded prune-90 magnitude-50" and names[repro].startswith("↳ repro prune-90")
        assert not names[rerun].startswith("↳") and "↳ superseded" in shown and "↳ repro" in shown
        assert "2 ↳: reproduction or superseded" in shown
