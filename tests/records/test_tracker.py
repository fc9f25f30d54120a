"""The research tracker: quality bands, success rate with its interval, breakthroughs, the best
speedup / compression / energy saving with their experiments, and each agent's contribution;
one computation shown by `lab report` (summary.md, summary.json, `--tracker`) and the control room.
The lab is a real SQLite file written through the store; the expected numbers are worked out by hand."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import LabHarness
from tests.records.tracker_lab import add_rerun_and_reproduction, build


@pytest.fixture
def tracked(lab: LabHarness) -> tuple[LabHarness, dict[str, int]]:
    lab.lab("status", check=True)  # creates the lab
    ids = asyncio.run(build(lab.root))
    return lab, ids


def test_the_tracker_counts_what_a_person_would(tracked: tuple[LabHarness, dict[str, int]]) -> None:
    from scipy.stats import binomtest

    lab, ids = tracked
    t = json.loads(lab.lab("report", "--tracker", "--json", check=True).stdout)
    assert t["rated"] == 4 and t["bands"] == {"7-10": 2, "5-6": 1, "1-4": 1}
    assert (t["succeeded"], t["finished"]) == (3, 5) and t["success_rate"] == pytest.approx(0.6)
    wilson = binomtest(3, 5).proportion_ci(confidence_level=0.95, method="wilson")
    assert t["success_rate_ci95"] == pytest.approx([wilson.low, wilson.high], abs=1e-9)
    assert t["breakthroughs"] == {"count": 1, "experiments": [ids["A"]], "at_least": 9}

    best = t["best"]
    assert (best["speedup"]["experiment"], best["speedup"]["variant"], best["speedup"]["value"]) == (ids["A"], "fast", 2.5), \
        "the broken variant's 9x does not count: it lost quality"
    assert (best["compression"]["experiment"], best["compression"]["variant"]) == (ids["B"], "small")
    assert best["compression"]["value"] == 4.0 and best["compression"]["ci95"] == [3.5, 4.5]
    saving = best["energy_saving"]
    assert (saving["experiment"], saving["variant"]) == (ids["A"], "fast")
    assert saving["value"] == pytest.approx(0.75) and saving["energy_estimated"] is True

    agents = {a["agent"]: a for a in t["agents"]}
    assert [a["agent"] for a in t["agents"]] == ["researcher", "architect", "coder", "validator", "person"]
    r = agents["researcher"]
    assert (r["proposals"], r["approved"], r["rejected"], r["waiting"], r["rated"], r["mean_rating"]) == (3, 1, 1, 1, 1, 9)
    assert r["bands"] == {"7-10": 1, "5-6": 0, "1-4": 0}
    assert (r["messages"], r["tokens"], r["cost_usd"]) == (2, 180, pytest.approx(0.015))
    v = agents["validator"]
    assert (v["proposals"], v["approved"], v["rated"], v["mean_rating"], v["messages"]) == (1, 1, 1, 7, 1)
    p = agents["person"]
    assert (p["proposals"], p["approved"], p["rated"], p["mean_rating"]) == (3, 3, 2, 4.0)
    assert p["bands"] == {"7-10": 0, "5-6": 1, "1-4": 1}
    assert agents["coder"]["proposals"] == 0 and "lab" not in agents, "the lab's notices are no agent's"


def test_lab_report_shows_the_tracker(tracked: tuple[LabHarness, dict[str, int]]) -> None:
    lab, ids = tracked
    text = lab.lab("report", "--tracker", check=True).stdout
    assert "quality bands               7-10: 2 · 5-6: 1 · 1-4: 1 (of 4 rated finding(s))" in text
    assert "success rate                60 % (3 of 5 finished experiments done; 95 % CI 23..88 %)" in text
    assert f"breakthroughs (rating ≥ 9)  1: #{ids['A']}" in text
    assert f"best speedup                2.50x (no CI): fast vs base in #{ids['A']} exp-a (fake), rated 9/10" in text
    assert f"best compression            4.00x (95 % CI 3.50..4.50x): small vs base in #{ids['B']}" in text
    assert "best energy saving          75.0 % (no CI), modelled from CPU time: fast vs base" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.split()[:1] in
            (["researcher"], ["validator"], ["people"])}
    assert rows["researcher"] == ["3", "1", "1", "1", "1", "9.0/10", "1/0/0", "2", "$0.01"]
    assert rows["people"] == ["3", "3", "0", "0", "2", "4.0/10", "0/1/1", "0", "$0.00"]

    path = lab.lab("report", check=True).stdout.strip()
    summary = Path(path).read_text()
    data = json.loads(Path(path.replace(".md", ".json")).read_text())
    tracker = json.loads(lab.lab("report", "--tracker", "--json", check=True).stdout)
    assert data["tracker"] == tracker, "one computation for summary.json and the command"
    assert "## Research tracker" in summary and "| success rate | 60 % (3 of 5 finished" in summary
    assert "| people | 3 | 3 | 0 | 0 | 2 | 4.0/10 | 0/1/1 |" in summary

    bad = lab.lab("report", "1", "--tracker")
    assert bad.returncode == 2 and "--tracker prints the lab's tracker" in bad.stderr and "Traceback" not in bad.stderr


def test_the_tracker_counts_each_result_once(tracked: tuple[LabHarness, dict[str, int]]) -> None:
    """An original, its re-run with the same parameters and a reproduction of the re-run are one
    result (science/counting.py): the re-run's rating in the bands, the superseded 9/10 no
    breakthrough, the reproduction no rating of its own, and one finished experiment of the three."""
    lab, ids = tracked
    more = asyncio.run(add_rerun_and_reproduction(lab.root))
    t = json.loads(lab.lab("report", "--tracker", "--json", check=True).stdout)
    assert t["rated"] == 7 and t["bands"] == {"7-10": 2, "5-6": 2, "1-4": 1}
    assert t["breakthroughs"]["experiments"] == [ids["A"]], "the superseded 9/10 is no breakthrough"
    assert t["folded"] == {"reproductions": {"count": 1, "experiments": [more["P"]]},
                           "superseded": {"count": 1, "experiments": [more["O"]]}}
    people = next(a for a in t["agents"] if a["agent"] == "person")
    assert (people["rated"], people["bands"]) == (3, {"7-10": 0, "5-6": 2, "1-4": 1})
    assert (t["succeeded"], t["finished"]) == (6, 8), "the success rate is of experiments run, folded or not"

    text = lab.lab("report", "--tracker", check=True).stdout
    assert (f"7-10: 2 · 5-6: 2 · 1-4: 1 (of 5 rated finding(s); 1 reproduction (#{more['P']}) and 1 superseded "
            f"run (#{more['O']}) counted with their result)") in text

    path = Path(lab.lab("report", check=True).stdout.strip())
    velocity = json.loads(path.with_suffix(".json").read_text())["velocity"]
    assert (velocity["finished"], velocity["folded"]) == (6, 2)
    assert sum(d["experiments"] for d in velocity["per_day"]) == 6
    assert "6 experiment(s) finished" in path.read_text() and "2 reproduction(s) or superseded run(s)" in path.read_text()
    roadmap = json.loads(lab.lab("roadmap", "--json", check=True).stdout)
    assert roadmap["metrics"]["velocity"]["finished"] == 6, "the roadmap's research velocity counts as the summary's"
