"""The stacks the researcher's combine strategy would propose in a lab, as jobs for `lab queue add`.

    python -m benchmarks.stack_proposal LAB_DIR > stack.json && lab --dir LAB_DIR queue add stack.json

RESULTS.md's stacked experiment is queued this way: the same rule as a sprint's (`agents.strategy.
stacks`), the same child experiment (its parent, parameters, hypothesis and question), run by the
engine like any experiment; only the choice among all candidate topics (which a sprint makes by
tier, after the baseline sweep and more seeds) is left out.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from agents.research_settings import load_settings
from agents.state import LabState
from agents.strategy import stacks
from db import Experiment
from db.rows import rows_dicts
from science.catalog import Catalog


def experiments(lab: Path) -> list[Experiment]:
    """The lab's experiments, read (read-only) and typed as the store types them."""
    conn = sqlite3.connect(f"file:{lab / 'lab.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return Experiment.many(rows_dicts(conn.execute("SELECT * FROM experiments ORDER BY id").fetchall()))
    finally:
        conn.close()


def jobs(lab: Path) -> list[dict[str, Any]]:
    entries = Catalog().entries()
    state = LabState(entries, entries, experiments(lab), set())
    out = []
    for topic in stacks(state, load_settings({}, env={})):
        out.append({"experiment": topic.catalog, "name": f"{topic.catalog}-stack-of-{topic.parent_id}",
                    "params": topic.params, "seeds": topic.seeds, "parent": topic.parent_id,
                    "hypothesis": topic.hypothesis, "research_question": topic.research_question,
                    "metadata": {"research": {"proposed_by": "researcher", "rule": "stack",
                                              "from_experiment": topic.from_experiment,
                                              "rationale": topic.rationale, "evidence": topic.evidence}}})
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "lab.db").exists():
        raise SystemExit("usage: python -m benchmarks.stack_proposal LAB_DIR (a lab with lab.db)")
    found = jobs(Path(sys.argv[1]))
    if not found:
        raise SystemExit("no stack to propose: the combine strategy needs a rated experiment of each entry of a "
                         "pair (pruning + quantization, lora_merge + compression_pipeline) whose headline kept quality")
    print(json.dumps(found[0] if len(found) == 1 else found, indent=1))
