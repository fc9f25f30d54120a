"""`m` opens the roadmap (the same JSON as `lab roadmap --json`, from the same function), shown
in the footer and in help; the tracker shows what was last published and where."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import open_lab
from tests.tui.support import ready, until


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_roadmap_screen_and_the_last_publication_on_the_tracker(tmp_path: Path, app_factory):
    from records.publish.bundle import Publication, record
    from records.roadmap_report import to_json
    from tests.records.tracker_lab import build
    from tui.screens.help import HelpScreen
    from tui.screens.roadmap import RoadmapScreen
    from tui.screens.tracker import TrackerScreen

    with open_lab(tmp_path) as lab:
        lab.lab("status", check=True)
        await build(lab.root)
        record(lab.dir, Publication(tmp_path / "bundle", files={"paper_pdf": "paper/paper.pdf"}, experiments=[1],
                                    models=["exp1-fake-fast"]))
        printed = json.loads(lab.lab("roadmap", "--json", check=True).stdout)
        app = app_factory(lab.dir)
        async with app.run_test(size=(160, 50)) as pilot:
            await ready(pilot)
            await until(pilot, lambda: "Roadmap" in screen_text(app), what="the key in the footer")
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            assert "lab.roadmap" in screen_text(app)
            await pilot.press("escape")
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, RoadmapScreen) and app.screen.roadmap is not None,
                        what="the roadmap screen")
            await pilot.pause()
            assert to_json(app.screen.roadmap) == printed
            assert printed["phases"][3]["criteria"][0]["met"]  # the paper, from the publication record
            shown = screen_text(app)
            for text in ("Current phase: 1", "Phase 1: Foundation", "All 8 baseline experiments run successfully",
                         "to meet it: run quantization"):
                assert text in shown, text
            await pilot.press("end")  # the panel scrolls to the metrics
            await until(pilot, lambda: "research velocity" in screen_text(app), what="the metrics, scrolled to")
            assert "Metrics tracking" in screen_text(app)
            await pilot.press("escape")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TrackerScreen) and app.screen.tracker is not None,
                        what="the tracker")
            await pilot.pause()
            assert "last published" in screen_text(app) and str(tmp_path / "bundle") in screen_text(app)
