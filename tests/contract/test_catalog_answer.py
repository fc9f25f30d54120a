"""The catalog's answer (contract/catalog_answer.py): written by the experiment programs and read by the lab
through one function each, into the one entry type both sides use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contract.catalog_answer import CatalogEntry, CatalogFormatError, read_catalog, write_catalog
from contract.params import Param
from contract.protocol import PROTOCOL
from experiments.catalog import EXPERIMENTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_declaration_reads_back_as_the_entry_the_programs_wrote() -> None:
    written = [exp.entry() for exp in EXPERIMENTS.values()]
    read = read_catalog(json.loads(json.dumps(write_catalog(written))))
    assert list(read) == list(EXPERIMENTS)
    assert list(read.values()) == written
    margins = [e for e in written if e.quality_margin is not None]
    assert margins and all(e.quality_margin_basis for e in margins)  # the basis travels with its margin


def test_the_programs_answer_is_what_the_lab_reads() -> None:
    done = subprocess.run([sys.executable, "-m", "experiments", "catalog", "--json"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    assert answer["protocol"] == PROTOCOL
    assert read_catalog(answer) == {name: exp.entry() for name, exp in EXPERIMENTS.items()}


def test_optional_keys_are_written_only_when_declared() -> None:
    bare = CatalogEntry("x", "X", "area", "training", "s", "l", [], "base", {"quality": "q"},
                        [Param("lr", "float", 0.1, min=0.0, max=1.0)], ())
    raw = write_catalog([bare])["experiments"][0]
    assert "quality_margin" not in raw and "deliverables_variant" not in raw
    assert read_catalog({"protocol": PROTOCOL, "experiments": [raw]}) == {"x": bare}


@pytest.mark.parametrize("answer,fragment", [
    ([], "not an object"),
    ({"protocol": PROTOCOL}, "list of experiments"),
    ({"protocol": PROTOCOL + 1, "experiments": []}, f"protocol {PROTOCOL + 1}"),
    ({"protocol": PROTOCOL, "experiments": [{"title": "no name"}]}, "with a name"),
    ({"protocol": PROTOCOL, "experiments": [{"name": "x", "params": [{"name": "p", "type": "tensor"}]}]},
     "parameter 'p'"),
])
def test_a_malformed_answer_is_refused_in_one_line(answer: object, fragment: str) -> None:
    with pytest.raises(CatalogFormatError, match=fragment.replace("(", r"\(")) as caught:
        read_catalog(answer)
    assert "\n" not in str(caught.value)
