"""The offline team on an empty lab, autonomy 3, a small budget, the real catalog at the smoke
profile: it runs the baseline sweep, rates every experiment and proposes follow-ups from the
evidence. Real engine, real training runs, real SQLite; the sweep is restricted through
`[research] catalog` to keep the suite fast."""

from __future__ import annotations

import json

from tests.agents.support import research_config
from tests.conftest import IMAGE_ONLY_WORKER, LabHarness

SWEEP = ["logreg", "mixed_precision"]


def test_offline_team_sweeps_rates_and_follows_up_on_real_experiments(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"
    lab.write_config(research_config(autonomy=3, catalog=SWEEP, seeds=2, profile="smoke", per_hour=3) + IMAGE_ONLY_WORKER)
    done = lab.lab("research", timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    top = lab.query("SELECT * FROM experiments WHERE parent_id IS NULL ORDER BY id")
    # the roadmap steers the sweep (agents/steering.py): mixed_precision is one of phase 1's eight
    # baseline areas, logreg is not, so mixed_precision comes first
    assert [e["catalog"] for e in top] == ["mixed_precision", "logreg"]
    assert json.loads(top[0]["metadata"])["research"]["criterion"] == "p1.areas"
    for exp in top:
        assert exp["status"] == "done", exp["error"]
        assert json.loads(exp["params"])["profile"] == "smoke"
        b = json.loads(exp["rating_breakdown"])
        assert 1 <= exp["rating"] <= 10 and b["rating"] == exp["rating"]
        assert [c["id"] for c in b["criteria"]][:2] == ["executed", "deliverables"] and all(c["evidence"] for c in b["criteria"])
        assert b["keys"]["quality"] == "test_accuracy" and b["findings"]
        base = b["variants"][b["baseline"]]
        assert base["n"] == 2 and 0.5 < base["quality"]["mean"] <= 1.0
    mp = json.loads(top[0]["rating_breakdown"])
    assert mp["gain_phase"] == "training" and mp["keys"]["energy"] == "energy_train_kwh"
    assert mp["variants"]["fp16"]["skipped"] == 2 and mp["variants"]["fp16"]["n"] == 0  # no fp16 autocast on a CPU
    assert mp["headline"]["variant"] == "bf16" and mp["headline"]["efficiency_score"] is not None
    # follow-ups from the evidence: two seeds are fewer than the rubric's five. A comparison whose
    # control is void (at smoke, fp32 may miss the entry's declared floor of 80 %) gets none: more
    # seeds of a broken control answer nothing, and the verdict says why.
    children = lab.query("SELECT * FROM experiments WHERE parent_id IS NOT NULL ORDER BY id")
    void = {e["id"] for e in top if (json.loads(e["rating_breakdown"])["headline"] or {}).get("control_valid") is False}
    assert {c["parent_id"] for c in children} == {e["id"] for e in top} - void
    for exp_id in void:
        said = lab.query("SELECT text FROM messages WHERE experiment_id = ? AND kind = 'verdict'", (exp_id,))
        assert "control INVALID" in said[0]["text"] and "comparison void" in said[0]["text"]
    for child in children:
        mods = json.loads(child["modifications"])
        assert mods["kind"] == "more_seeds" and "fewer than the 5 the rubric asks for" in mods["rationale"]
        assert 5 <= child["seeds"] <= 20 and child["source"] == "validator"
    # three approvals an hour: the sweep and the first follow-up run; a second follow-up waits for a person
    first, last = children[0], children[-1]
    assert first["parent_id"] == next(e["id"] for e in top if e["id"] not in void) and first["approved_at"] is not None
    if len(children) > 1:
        assert last["status"] == "awaiting_approval" and "over budget" in done.stdout
    rated = lab.wait_for(lambda: lab.experiment(first["id"])["rating"] is not None and lab.experiment(first["id"]),
                         120, "the approved follow-up to be rated")
    rb = json.loads(rated["rating_breakdown"])
    assert rb["variants"][rb["baseline"]]["n"] == first["seeds"]
    findings = lab.query("SELECT * FROM findings ORDER BY id")
    assert {f["catalog"] for f in findings} == set(SWEEP)
    assert any(f["variant"] == "fp16" and f["kind"] == "skipped" for f in findings)
    # the validator says its verdict after it stores the rating (and asks the model for a comment
    # first): a reader that saw the rating may be ahead of the verdict
    verdicts = lab.wait_for(lambda: (vs := lab.query("SELECT * FROM messages WHERE agent = 'validator' AND kind = "
                                                     "'verdict'")) and len(vs) >= 3 and vs,
                            60, "the verdict of each rated experiment")
    rated_ids = {e["id"] for e in lab.query("SELECT id FROM experiments WHERE rating IS NOT NULL")}
    assert {v["experiment_id"] for v in verdicts} == rated_ids and len(verdicts) == len(rated_ids) == 3
