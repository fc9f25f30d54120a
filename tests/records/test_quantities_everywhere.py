"""Issue 22, item 1: one quantity, one meaning, every output. An image entry and a language-model
entry (tests/records/unitsexp.py) run through the real engine and the validator; then every output
— `lab rating` (text and --json), the experiment's report.md, the lab summary, the paper
(Markdown and LaTeX), `lab findings` and the control room's rating view and leaderboard — is
read back, and each number it prints is parsed and checked against the validator's stored result:
accuracy changes in points, perplexity changes in ppl and in % of the reference (never points),
sizes in KiB, no interval of a non-negative quantity below 0, a rule-stating table that lists
only rows meeting its rule, and every "void" with its reason."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from contract import quantities as q
from contract import units
from db import Experiment
from db.rows import JSON_COLUMNS
from tests.conftest import LabHarness, open_lab
from tests.timing import scaled

CONFIG = "[slots]\ncpu = 2\nthreads_per_run = 1\n[runs]\nretries = 0\n"
NUMBER = r"[+-]?\d+(?:\.\d+)?"
ENERGY_UNITS = r"(?:µWh|mWh|kWh|Wh)"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both entries run and rated; every output, as text, with the validator's JSON."""
    root = tmp_path_factory.mktemp("quantities")
    with open_lab(root) as lab:
        lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "tests.records.unitsexp"
        lab.write_config(CONFIG)
        ids = {"image": lab.submit("image_units", seeds=3), "lm": lab.submit("lm_units", seeds=3)}
        for exp_id in ids.values():
            assert lab.wait_experiment(exp_id, timeout=180)["status"] == "done"
            lab.wait_for(lambda i=exp_id: lab.experiment(i)["git_sha"], 120, "the record with its report")
        out: dict[str, Any] = {"lab": lab, "ids": ids}
        # the commands only read the finished lab (each writes its own folder): they run side by side
        with ThreadPoolExecutor(max_workers=4) as pool:
            said = {(what, kind): pool.submit(lab.lab, *args, str(exp_id), *more, check=True)
                    for what, exp_id in ids.items()
                    for kind, args, more in (("json", ("rating",), ("--json",)), ("rating", ("rating",), ()),
                                             ("findings", ("findings", "--experiment"), ("--json",)))}
            summary = pool.submit(lab.lab, "report", "--out", str(root / "summary"), check=True, timeout=120)
            paper = pool.submit(lab.lab, "paper", "--out", str(root / "paper"), check=True, timeout=180)
            results = pool.submit(subprocess.run, [sys.executable, "-m", "benchmarks.catalog_results", str(lab.root)],
                                  capture_output=True, text=True, check=True, env=lab.env, timeout=scaled(120))
            for what, exp_id in ids.items():
                out[what] = {
                    "json": json.loads(said[what, "json"].result().stdout),
                    "rating": said[what, "rating"].result().stdout,
                    "findings": json.loads(said[what, "findings"].result().stdout),
                    "report": next((lab.root / "exp").glob(f"{exp_id}-*/report.md")).read_text(),
                    "control_room": control_room(lab, exp_id),
                }
            summary.result()
            paper.result()
            out["results"] = results.result().stdout
        out["summary"] = (root / "summary" / "summary.md").read_text()
        out["summary_json"] = json.loads((root / "summary" / "summary.json").read_text())
        out["paper"] = (root / "paper" / "paper.md").read_text()
        out["tex"] = (root / "paper" / "paper.tex").read_text()
        yield out


def control_room(lab: LabHarness, exp_id: int) -> str:
    """The control room's rating view and leaderboard cell of the experiment, as plain text."""
    from rich.console import Console

    from tui.ratings import leader_row
    from tui.widgets.leaderboard import delta_text
    from tui.widgets.rating_view import breakdown_renderable

    exp = lab.experiment(exp_id)
    decoded = {k: json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v for k, v in exp.items()}
    console = Console(width=400, record=True, color_system=None)
    console.print(breakdown_renderable(Experiment.of(decoded)))
    return console.export_text() + "\nleaderboard: " + delta_text(leader_row(Experiment.of(decoded)))


def texts(outputs: dict[str, Any], what: str) -> dict[str, str]:
    """Every output that speaks of experiment `what` (LaTeX unescaped where it matters)."""
    o = outputs[what]
    tex = outputs["tex"].replace("\\%", "%").replace("\\_", "_").replace("$\\pm$", "±")
    results = outputs["results"].split(f"(experiment {o['json']['experiment_id']},")[1].split("\n### ")[0]
    return {"rating": o["rating"], "json": json.dumps(o["json"]["headline"]), "report": o["report"],
            "summary": outputs["summary"], "paper": outputs["paper"], "tex": tex, "RESULTS.md": results,
            "findings": "\n".join(f["text"] for f in o["findings"]), "control room": o["control_room"]}


def close(shown: str, expected: float, digits_after_point: int | None = None) -> bool:
    """`shown` (a number as printed) is `expected` rounded as printed."""
    x = float(shown)
    decimals = digits_after_point if digits_after_point is not None else len(shown.split(".")[1]) if "." in shown else 0
    return abs(x - expected) <= 0.5 * 10 ** -decimals * 1.0001 + 1e-12


def test_the_validator_carries_the_kind_of_its_quality(outputs: dict[str, Any]) -> None:
    lm, image = outputs["lm"]["json"], outputs["image"]["json"]
    h, b = lm["headline"], lm["rating_breakdown"]
    assert h["quality_kind"] == "perplexity" and h["quality_key"] == "test_perplexity"
    assert h["quality_delta_points"] is None and h["quality_delta_ci"] is None  # never points
    delta = b["variants"]["int4"]["quality_delta"]
    assert delta["kind"] == "perplexity"
    ref = b["variants"]["base"]["quality"]["mean"]
    assert delta["reference_mean"] == pytest.approx(ref, rel=1e-5)
    assert h["quality_delta_relative"] == pytest.approx(delta["mean"] / ref, rel=1e-4)
    assert h["quality_delta_relative_ci"] == pytest.approx([delta["ci95"][0] / ref, delta["ci95"][1] / ref], rel=1e-4)
    hi = image["headline"]
    assert hi["quality_kind"] == "fraction" and hi["quality_delta_points"] == pytest.approx(hi["quality_delta"] * 100)
    assert image["rating_breakdown"]["variants"]["int8"]["quality_delta"]["kind"] == "fraction"


def changes(outputs: dict[str, Any], what: str) -> list[tuple[float, list[float], float | None]]:
    """(mean, ci95, reference mean) of every quality change the validator computed."""
    b = outputs[what]["json"]["rating_breakdown"]
    return [(c["quality_delta"]["mean"], c["quality_delta"]["ci95"], c["quality_delta"].get("reference_mean"))
            for v in b["variants"].values() for c in (v.get("comparisons") or {}).values()]


def test_every_output_says_a_perplexity_change_in_ppl_and_percent_of_the_reference(outputs: dict[str, Any]) -> None:
    h = outputs["lm"]["json"]["headline"]
    known = changes(outputs, "lm")
    pattern = re.compile(rf"test_perplexity ({NUMBER}) ppl \(({NUMBER}) % of the reference\)")
    for where, text in texts(outputs, "lm").items():
        if where in ("control room", "RESULTS.md"):  # a narrow cell says it compactly (below)
            continue
        found = pattern.findall(text)
        assert found, f"{where}: no perplexity change in ppl and % of the reference"
        assert any(close(a, h["quality_delta"]) and close(r, h["quality_delta_relative"] * 100) for a, r in found), \
            (where, found)
        for absolute, relative in found:  # each is one of the validator's changes, both numbers
            assert any(close(absolute, m) and close(relative, m / ref * 100) for m, _, ref in known), (where, absolute)
        assert not re.search(rf"test_perplexity {NUMBER} points", text), where
        assert not re.search(r"1450\d\.\d+ ?%", text), f"{where}: a perplexity printed as a percentage"
    # the effect of a quality objective is the same signed change as the quality change (no sign flip)
    tuned = outputs["lm"]["json"]["rating_breakdown"]["variants"]["tuned"]["quality_delta"]
    assert tuned["mean"] < 0  # a lower perplexity: the gain is said as the change it is
    for where in ("rating", "report", "findings", "control room"):
        text = texts(outputs, "lm")[where]
        shown = re.findall(rf"({NUMBER}) ppl", text)
        assert any(close(x, tuned["mean"]) for x in shown), (where, shown)
        assert not any(x.startswith("+") and close(x, -tuned["mean"]) for x in shown), (where, shown)
    room = outputs["lm"]["control_room"]
    lo, hi = h["quality_delta_ci95"]
    cell = re.search(rf"leaderboard: ({NUMBER}) ppl \[({NUMBER})\.\.({NUMBER})\]", room)
    assert cell and close(cell[1], h["quality_delta"]) and close(cell[2], lo) and close(cell[3], hi), room[-200:]
    base = outputs["lm"]["json"]["rating_breakdown"]["variants"]["base"]["quality"]
    for where, text in texts(outputs, "lm").items():
        if where in ("json", "summary"):  # the summary states gains, not baselines
            continue
        values = re.findall(r"(\d+\.\d+)(?: ± \d+(?:\.\d+)?)? ppl", text)
        assert any(close(x, base["mean"]) for x in values), (where, values)


def test_every_output_says_an_accuracy_change_in_points(outputs: dict[str, Any]) -> None:
    h = outputs["image"]["json"]["headline"]
    known = changes(outputs, "image")
    pattern = re.compile(rf"test_accuracy ({NUMBER}) points \(95 % CI ({NUMBER})\.\.({NUMBER}) points\)")
    for where, text in texts(outputs, "image").items():
        if where in ("control room", "RESULTS.md"):
            continue
        found = pattern.findall(text)
        assert found, f"{where}: no accuracy change in points"
        assert any(close(m, h["quality_delta"] * 100) for m, _, _ in found), (where, found)
        for mean, lo, hi in found:
            assert any(close(mean, m * 100) and close(lo, ci[0] * 100) and close(hi, ci[1] * 100)
                       for m, ci, _ in known), (where, mean, lo, hi)
    room = outputs["image"]["control_room"]
    assert re.search(rf"leaderboard: {NUMBER} pt \[{NUMBER}\.\.{NUMBER}\]", room), room[-200:]
    q_mean = outputs["image"]["json"]["rating_breakdown"]["variants"]["baseline"]["quality"]["mean"]
    for where in ("rating", "report", "control room", "findings", "RESULTS.md"):
        shown = re.findall(r"(\d+\.\d+) %", texts(outputs, "image")[where])
        assert any(close(x, q_mean * 100) for x in shown), (where, shown)


def test_sizes_are_binary_and_the_effect_is_the_validators_ratio(outputs: dict[str, Any]) -> None:
    for what, variant in (("image", "int8"), ("lm", "int4")):
        h = outputs[what]["json"]["headline"]
        size = outputs[what]["json"]["rating_breakdown"]["variants"][variant]["size"]["mean"]
        assert size == 342741
        assert units.value(size, q.Kind.BYTES) == "334.7 KiB"
        for where, text in texts(outputs, what).items():
            assert not re.search(r"\d (?:KB|MB|GB)\b", text), f"{where}: a decimal-looking byte unit"
            ratios = re.findall(rf"size on model_size_bytes ({NUMBER})x", text)
            if where == "json":
                ratios = re.findall(rf"^({NUMBER})x", outputs[what]["json"]["headline"]["effect_text"])
            if where == "RESULTS.md":  # its claims table: "model_size_bytes: 4.00x (95 % CI ...)"
                ratios = re.findall(rf"model_size_bytes: ({NUMBER})x", text)
            if where not in ("control room",):
                assert ratios, f"{where}: no size effect"
            lab_wide = where in ("summary", "paper", "tex")  # every experiment's headline
            assert (any if lab_wide else all)(close(r, h["effect"]) for r in ratios), (where, ratios, h["effect"])
        assert "334.7 ± 0 KiB" in outputs[what]["report"]  # the report's cost table, in KiB
    assert "1.307 ± 0 MiB" in outputs["image"]["report"]  # 1,371,000 bytes


def test_no_interval_of_a_non_negative_quantity_goes_below_zero(outputs: dict[str, Any]) -> None:
    b = outputs["image"]["json"]["rating_breakdown"]
    energy = b["variants"]["baseline"]["energy"]
    # the t-interval of this uneven energy would cross 0 (mean - t * sem < 0): the validator keeps it at 0 ...
    values = [2e-8, 5e-7, 1.5e-6]
    sem = (sum((x - sum(values) / 3) ** 2 for x in values) / 2) ** 0.5 / 3 ** 0.5
    assert sum(values) / 3 - 4.303 * sem < 0 and energy["ci95"][0] >= 0
    for what in ("image", "lm"):
        for where, text in texts(outputs, what).items():
            # ... but no output prints a negative energy, size, time or ratio
            assert not re.search(rf"(?<![\w.+])-\d+(?:\.\d+)? ?{ENERGY_UNITS}", text), where
            assert not re.search(rf"(?<![\w.+])-\d+(?:\.\d+)?\.\.{NUMBER} ?(?:{ENERGY_UNITS}|KiB|MiB|ms|x)\b", text), where
    # ... and RESULTS.md's generator shows it from 0, in the unit of its larger bound
    row = next(line for line in texts(outputs, "image")["RESULTS.md"].splitlines() if line.startswith("| baseline |"))
    cell = re.search(rf"({NUMBER}) µWh \[0\.\.({NUMBER}) mWh\]", row)  # kWh x 1e9 = µWh, x 1e6 = mWh
    assert cell and close(cell[1], energy["mean"] * 1e9) and close(cell[2], energy["ci95"][1] * 1e6), row


def test_a_table_stating_a_rule_lists_only_rows_meeting_it(outputs: dict[str, Any]) -> None:
    gains = outputs["summary_json"]["best_gains"]
    by_id = {o["json"]["experiment_id"]: o["json"]["headline"] for o in (outputs["image"], outputs["lm"])}
    assert gains, "both headlines keep quality with a valid control"
    for g in gains:
        h = by_id[g["experiment"]]
        assert h["control_valid"] and h["selection"] != "test" and h["effect"] > 1  # a size gain, quality kept
        b = outputs["image" if g["experiment"] == outputs["ids"]["image"] else "lm"]["json"]["rating_breakdown"]
        assert b["variants"][h["variant"]]["quality_kept"] is True
    section = outputs["summary"].split("## Best efficiency gains")[1].split("\n## ")[0]
    for g in gains:  # 3 seeds: preliminary, marked so (issue 22 item 4)
        assert g["preliminary"] is True and f"| {g['rating']:g}/10 (preliminary) |" in section
    assert "within 1 point" not in section and "pruned" not in section  # the void comparison is no gain


def test_the_baseline_is_named_once_and_every_void_says_why(outputs: dict[str, Any]) -> None:
    for what in ("image", "lm"):
        for where, text in texts(outputs, what).items():
            assert "baseline baseline" not in text.lower(), where
    for where, text in texts(outputs, "image").items():
        for line in text.splitlines():
            if re.search(r"\bvoid\b", line):
                assert "under-budgeted" in line or "reason" in line, \
                    f"{where}: a void without its reason: {line[:200]}"
    finding = next(f for f in outputs["image"]["findings"] if f["variant"] == "pruned")
    assert finding["kind"] == "void" and "under-budgeted" in finding["text"]
