"""The control room's status line says when the lab skips a degraded language model (recorded
by any process in the database), since when and when it is tried again; and stops saying it
once the model answers again."""

from __future__ import annotations

import asyncio
import time

from conftest import ready, until

from db import Store
from tui.widgets.status_line import StatusLine


def status_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(StatusLine).render())


async def test_the_status_line_shows_a_degraded_model_until_it_answers_again(lab, app_factory) -> None:
    for size in ((120, 40), (80, 24)):
        # wide: today's clock, so the degraded state's times show as a person sees them; narrow: the
        # fixture's clock, on the day its engine started (a start on another day shows its date)
        app = app_factory(lab, clock=time.time) if size[0] >= 120 else app_factory(lab)
        async with app.run_test(size=size) as pilot:
            await ready(pilot)
            assert "LLM" not in status_text(app)
            store = await Store.open(lab.db)  # another process of the lab (a sprint) records it
            try:
                await store.mark_llm_degraded("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9",
                                              "no answer from m at 127.0.0.1:9 within 15 s", 600)
                await until(pilot, lambda app=app: "⚠ LLM degraded" in status_text(app), what=f"the degraded model at {size}")
                assert "engine" in status_text(app), status_text(app)
                if size[0] >= 120:
                    assert "LLM since" in status_text(app) and ", retry" in status_text(app), status_text(app)
                await store.mark_llm_ok("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9")
                await until(pilot, lambda app=app: "LLM" not in status_text(app), what="the model back")
            finally:
                await store.close()
        await asyncio.sleep(0)
