"""The control room's status line says when the lab skips a degraded language model (recorded
by any process in the database), why in a few words and when it is tried again, at 80x24 too
(and since when, where it is wider); and stops saying it once the model answers again. A refused
key is said as a set-up mistake."""

from __future__ import annotations

import asyncio
import time

from db import Store
from tests.tui.support import ready, until
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
                await until(pilot, lambda app=app: "⚠ LLM" in status_text(app), what=f"the degraded model at {size}")
                text = status_text(app)
                # why and when, in a few words, at every width (shortened, never cut to nothing)
                assert "no answer in 15 s, retry " in text and "engine" in text, text
                assert "…" not in text, text
                if size[0] >= 120:
                    assert "⚠ LLM since " in text and ": no answer in 15 s, retry" in text, text
                # a retry on another day says its date; where there is room the 'since' stays
                await store.mark_llm_degraded("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9",
                                              "no answer from m at 127.0.0.1:9 within 15 s", 2 * 86400)
                await until(pilot, lambda app=app, before=text: status_text(app) != before, what=f"two days at {size}")
                text = status_text(app)
                assert f"retry {time.strftime('%Y-%m-%d', time.localtime(time.time() + 2 * 86400))} " in text, text
                if size[0] >= 120:
                    assert "⚠ LLM since " in text, text
                await store.mark_llm_ok("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9")
                await until(pilot, lambda app=app: "LLM" not in status_text(app), what="the model back")
                # a refused key: a set-up mistake, said as such, with no retry time (the next call tries it)
                await store.mark_llm_degraded("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9",
                                              "the endpoint refused the key: check [llm] api_key_env (HTTP 401 "
                                              "from m at 127.0.0.1:9)", None)
                await until(pilot, lambda app=app: "⚠ LLM key refused" in status_text(app), what="the refusal")
                text = status_text(app)
                assert "retry" not in text or "the next call retries" in text, text
                assert "key refused: check [llm] api_key_env" in text or size[0] < 120, text
                await store.mark_llm_ok("m @ http://127.0.0.1:9/v1", "m at 127.0.0.1:9")
                await until(pilot, lambda app=app: "LLM" not in status_text(app), what="the key fixed")
            finally:
                await store.close()
        await asyncio.sleep(0)
