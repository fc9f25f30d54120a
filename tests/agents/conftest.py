"""Fixtures of the research team's tests (the `lab` fixture of tests/conftest.py gives the lab,
the stand-in experiments and the real engine and `lab` processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db import Store
from tests.agents.support import FakeLLM


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = await Store.open(tmp_path / "lab.db")
    yield s
    await s.close()
