"""Research in the background: while the `research` setting is on (config.toml `[research]
background`, `lab research --background`, or the control room), the engine drives sprints.

Settings come from config.toml as read at the engine's start and the settings table; LLM
settings from the engine's environment. The pipeline is built when research is switched on
and dropped when it is switched off, so an engine that never researches never loads it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.sprint import SprintPipeline
    from engine.ports import EngineControl

log = logging.getLogger("engine.research")

IDLE_CHECK_S = 2.0  # how often the switch is looked at while research is off
ERROR_BACKOFF_S = 30.0


class ResearchDriver:
    def __init__(self, engine: EngineControl) -> None:
        self.engine = engine
        self.pipeline: SprintPipeline | None = None
        self._key: tuple[Any, ...] | None = None

    async def _settings(self) -> Any:
        from agents.research_settings import current_settings

        return await current_settings(self.engine.store, self.engine.config.sections)

    async def _pipeline(self, settings: Any) -> SprintPipeline:
        from agents.sprint import SprintPipeline, host_id
        from science.catalog import Catalog

        key = (settings.autonomy, settings.backend, settings.profile, settings.catalog, settings.parallel)
        if self.pipeline is None or key != self._key:
            await self._drop()
            self.pipeline = SprintPipeline(
                self.engine.store, Catalog(self.engine.module), settings, host=host_id("engine"),
                lab_root=self.engine.lab_root, module=self.engine.module, cpu_slots=self.engine.cpu_slots)
            self._key = key
        return self.pipeline

    async def _drop(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.close()
            self.pipeline = None

    async def run(self) -> None:
        try:
            while True:
                wait = IDLE_CHECK_S
                try:
                    settings = await self._settings()
                    if settings.background:
                        pipeline = await self._pipeline(settings)
                        for outcome in await pipeline.tick():
                            log.info("research: sprint %s %s%s", outcome.sprint_id, outcome.stage,
                                     f": {outcome.note}" if outcome.note else "")
                        wait = settings.interval_s
                    else:
                        await self._drop()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("research driver: a step failed; trying again in %.0f s", ERROR_BACKOFF_S)
                    wait = ERROR_BACKOFF_S
                await asyncio.sleep(wait)
        finally:
            await self._drop()
