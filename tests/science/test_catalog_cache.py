"""The catalog's answers are cached on disk under the programs' code hash: asked once, then read
back until a program changes; refusals and plans that read the user's files are asked every time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from science.catalog import Catalog, InvalidParamsError, code_hash
from tests.conftest import FIXTURES


@pytest.fixture
def programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the stand-in experiment programs, importable as `cachedexp`, with a log of every
    time a Python process was asked."""
    pkg = tmp_path / "src" / "cachedexp"
    shutil.copytree(FIXTURES / "fakeexp", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "__init__.py").write_text("import os\nopen(os.environ['ASKED_LOG'], 'a').write('asked\\n')\n"
                                     + (pkg / "__init__.py").read_text().replace("from __future__ import annotations\n", ""))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("JOULELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ASKED_LOG", str(tmp_path / "asked.log"))
    return pkg


def _asked(programs: Path) -> int:
    log = programs.parents[1] / "asked.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_answers_are_asked_once_then_read_until_the_programs_change(programs: Path) -> None:
    first = Catalog("cachedexp")
    names = first.names()
    plan = first.plan(names[0], {})
    assert _asked(programs) == 2
    again = Catalog("cachedexp")  # a new command
    assert again.names() == names and again.plan(names[0], {}).variants == plan.variants
    assert _asked(programs) == 2
    before = code_hash("cachedexp")
    (programs / "__main__.py").write_text((programs / "__main__.py").read_text() + "\n# changed\n")
    assert code_hash("cachedexp") != before
    assert Catalog("cachedexp").names() == names and _asked(programs) == 3


def test_refusals_and_plans_of_user_files_are_not_kept(programs: Path, tmp_path: Path) -> None:
    catalog = Catalog("cachedexp")
    name = catalog.names()[0]
    for _ in range(2):
        with pytest.raises(InvalidParamsError):
            catalog.plan(name, {"no_such_parameter": 1})
    assert _asked(programs) == 3  # the catalog once, the refusal twice


def test_the_hash_reads_every_program_file() -> None:
    assert code_hash("experiments") and code_hash("no_such_module_anywhere") is None
    out = subprocess.run([sys.executable, "-c", "from science.catalog import code_hash; print(code_hash('experiments'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == code_hash("experiments") and json.dumps(out)
