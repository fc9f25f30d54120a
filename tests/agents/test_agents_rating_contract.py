"""Issue 10 end to end: a catalog that declares references, objectives and a headline (the
contract of docs/PROTOCOL.md, spoken by tests/agents/contractexp.py), real runs through the engine,
the validator in its own process, and `lab rating --json` giving the headline comparison as data."""

from __future__ import annotations

import json

import pytest

from tests.agents.support import research_config
from tests.conftest import LabHarness

HEADLINE_KEYS = {"variant", "reference", "objective", "metric", "effect", "effect_ci", "e", "e_ci",
                 "quality_delta_points", "quality_delta_ci", "paired", "control_valid", "control_note"}
EFFECT = ("significant", "quality_kept", "effect", "large_effect", "reproducible")


def rated(lab: LabHarness, *params: str) -> dict:
    exp_id = lab.submit("clipping", *params, seeds=5)
    assert lab.wait_experiment(exp_id, timeout=120)["status"] == "done"
    lab.wait_for(lambda: lab.experiment(exp_id)["rating"] is not None, 60, "the rating")
    return json.loads(lab.lab("rating", str(exp_id), "--json", check=True).stdout)


def test_rating_json_gives_the_declared_headline_and_a_diverged_control_voids_it(lab: LabHarness) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "tests.agents.contractexp"
    lab.write_config(research_config(autonomy=1))
    fair = rated(lab)
    h = fair["headline"]
    assert set(h) >= HEADLINE_KEYS and fair["rubric_version"] == 2
    assert (h["variant"], h["reference"], h["objective"], h["metric"]) == ("clip", "unclipped", "stability",
                                                                          "divergence_rate")
    # per seed 0.5, 0.5, 0.5, 0.75, 0.5 fewer divergences: mean 0.55, paired t (sd 0.112, t(4) 2.776)
    assert h["effect"] == 0.55 and h["effect_ci"] == pytest.approx([0.4112, 0.6888], abs=1e-4) and h["paired"] is True
    assert h["effect_kind"] == "measured" and h["ci_method"] == "paired_t"
    # the entry's default profile is smoke: preliminary, at most 6 whatever its criteria earn
    assert h["preliminary"] is True and fair["preliminary"] is True and fair["rating"] <= 6
    assert h["e_ci_method"] == "paired_t_log"
    assert h["control_valid"] is True and h["selection"] == "declared"
    assert h["quality_delta_points"] == 0.5 and h["e"] > 0 and len(h["e_ci"]) == 2
    b = fair["rating_breakdown"]
    points = {c["id"]: c["points"] for c in b["criteria"]}
    assert points["controls"] == 1 and all(points[c] == 1 for c in EFFECT), b["criteria"]
    assert points["measured"] == 1  # stability is measured by the runs, whatever the energy
    assert b["variants"]["clip-fast"]["effect"]["objective"] == "latency"
    text = lab.lab("rating", "1", check=True).stdout
    assert "headline: clip vs unclipped (declared headline): stability on divergence_rate +55.0 points" in text
    assert "modelled from CPU time" in text and "control valid" in text

    void = rated(lab, "diverge=true")
    h = void["headline"]
    assert h["control_valid"] is False and "unclipped diverged in 1 of 5 seed(s)" in h["control_note"]
    criteria = {c["id"]: c for c in void["rating_breakdown"]["criteria"]}
    assert criteria["controls"]["points"] == 0
    assert all(criteria[c]["points"] == 0 and criteria[c]["evidence"].startswith("void:") for c in EFFECT)
    assert void["rating"] < fair["rating"]
    text = lab.lab("rating", "2", check=True).stdout
    assert "comparison void: the reference unclipped diverged in 1 of 5 seed(s)" in text
    findings = json.loads(lab.lab("findings", "--experiment", "2", "--json", check=True).stdout)
    assert any(f["kind"] == "void" for f in findings)

    short = rated(lab, "short_control=true")
    assert short["headline"]["control_valid"] is False and "under-budgeted" in short["headline"]["control_note"]
