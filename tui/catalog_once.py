"""The catalog as the control room asks it: of the experiment programs once, in a thread, when a
form first needs it (starting the control room does not wait for it)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from science.catalog import Catalog


class CatalogOnce:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self._catalog = catalog  # given by tests; else made at the first call
        self._lock: asyncio.Lock | None = None

    async def __call__(self) -> Catalog:
        """The catalog, its entries read (in a thread, once)."""
        from science.catalog import Catalog

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._catalog is None:
                self._catalog = Catalog()
            await asyncio.to_thread(self._catalog.entries)
            return self._catalog
