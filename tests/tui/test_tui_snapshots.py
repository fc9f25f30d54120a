"""Screenshots of the dashboard, the approval screen and the detail screen at 80x24 and
160x50, from the fixture lab at a fixed time, with no engine and no periodic refresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.support import make_app, ready, settle, until

SIZES = [(80, 24), (160, 50)]


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The lab's path shows as ~/lab whatever the temporary directory is."""
    monkeypatch.setenv("HOME", str(tmp_path))


def the_lab(lab, gpu_lab, size):  # type: ignore[no-untyped-def]
    return gpu_lab if size[0] >= 120 else lab


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_dashboard(snap_compare, lab, gpu_lab, size):
    async def run_before(pilot):  # type: ignore[no-untyped-def]
        await ready(pilot)
        await settle(pilot)

    assert snap_compare(make_app(the_lab(lab, gpu_lab, size), refresh_s=60), terminal_size=size,
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_approval(snap_compare, lab, gpu_lab, size):
    from tui.screens.approval import ApprovalScreen

    async def run_before(pilot):  # type: ignore[no-untyped-def]
        await ready(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, ApprovalScreen) and pilot.app.screen.proposal)
        await settle(pilot)

    assert snap_compare(make_app(the_lab(lab, gpu_lab, size), refresh_s=60), terminal_size=size,
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_detail(snap_compare, lab, gpu_lab, size):
    from tui.screens.detail import DetailScreen
    from tui.widgets.queue_table import QueueTable

    async def run_before(pilot):  # type: ignore[no-untyped-def]
        await ready(pilot)
        table = pilot.app.screen.query_one(QueueTable)
        table.move_cursor(row=[k for k, _ in table._rows].index("e4"))
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.detail)
        await settle(pilot)

    assert snap_compare(make_app(the_lab(lab, gpu_lab, size), refresh_s=60), terminal_size=size,
                        run_before=run_before)
