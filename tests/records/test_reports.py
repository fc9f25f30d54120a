"""Per-experiment report.md and figures committed with the record; what happens when the report
fails; `lab report` (the lab summary); prose by a language model kept to the numbers."""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.layout import LabDir
from tests.agents.support import FakeLLM
from tests.conftest import LabHarness, open_lab
from tests.timing import scaled

CONFIG = "[slots]\ncpu = 2\nthreads_per_run = 1\n[runs]\nretries = 0\n"
ENGINE_RSS_LIMIT = 80 * 1024 * 1024
ENGINE = {"peak_rss": 0}  # the engine's peak resident memory while it recorded the shared lab


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def _propose_unrated(db: Path) -> int:
    """An experiment that waits for approval: never rated, so never in a paper."""
    from db import NewExperiment, Store

    store = await Store.open(db)
    try:
        return await store.create_experiment(NewExperiment(name="waiting", catalog="fake", params={"steps": 1},
                                                           plan=[{"name": "baseline", "baseline": True,
                                                                  "depends_on": [], "params": {}}]))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fake_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHarness]:
    """One finished dag experiment (4 variants x 3 seeds) committed with its report (shared)."""
    root = tmp_path_factory.mktemp("reports")
    with open_lab(root) as lab:
        lab.write_config(CONFIG)
        lab.lab("run", "dag", "-p", "steps=6", "--seeds", "3", "--wait", check=True, timeout=120)
        lab.wait_for(lambda: lab.experiment(1)["git_sha"], 60, "the commit with the report")
        pid = lab.engine_pid()
        ENGINE["peak_rss"] = peak_rss(pid) if pid else 0
        lab.stop_engine()
        asyncio.run(_propose_unrated(lab.dir.db))
        yield lab


def _folder(lab: LabHarness) -> Path:
    return lab.root / "exp" / "1-dag"


def test_one_commit_holds_the_record_the_report_and_the_figures(fake_lab: LabHarness) -> None:
    assert git(fake_lab.root, "rev-list", "--count", "HEAD", "--", "exp").strip() == "1"
    files = set(git(fake_lab.root, "ls-tree", "-r", "--name-only", "exp/1").split())
    for name in ("experiment.json", "plan.json", "runs.json", "results.json", "metrics.csv", "environment.json",
                 "rating.json", "code/SHA256", "report.md", "figures/curves.png", "figures/tradeoff.png"):
        assert f"exp/1-dag/{name}" in files, name
    assert git(fake_lab.root, "status", "--porcelain", "--", "exp").strip() == ""  # nothing left uncommitted
    # matplotlib and scipy ran in subprocesses: the engine itself stayed small
    assert 0 < ENGINE["peak_rss"] < ENGINE_RSS_LIMIT


def test_the_report_states_the_experiments_real_numbers(fake_lab: LabHarness) -> None:
    folder = _folder(fake_lab)
    report = (folder / "report.md").read_text()
    rating = json.loads((folder / "rating.json").read_text())
    b = rating["breakdown"]
    results = json.loads((folder / "results.json").read_text())
    runs = {str(r["id"]): r for r in json.loads((folder / "runs.json").read_text())}
    # the breakdown is the runs' own numbers ...
    base_acc = [res["test_accuracy"] for rid, res in results.items() if runs[rid]["variant"] == "base"]
    assert b["variants"]["base"]["quality"]["mean"] == pytest.approx(statistics.fmean(base_acc))
    assert b["variants"]["base"]["quality"]["std"] == pytest.approx(statistics.stdev(base_acc))
    # ... and the report states them, variant by variant, with the baseline marked
    assert "| **base** (baseline) | 3 |" in report
    for name, v in b["variants"].items():
        q = v["quality"]
        assert f"{q['mean'] * 100:.2f} ± {q['std'] * 100:.2f} %" in report, name
        assert f"{q['ci95'][0] * 100:.2f}..{q['ci95'][1] * 100:.2f} %" in report, name
        if name != "base":
            assert f"{v['efficiency_score']:.2f}" in report and f"{v['p_value']:.3f}" in report
            lo, hi = v["quality_delta"]["ci95"]
            assert f"{lo * 100:+.1f}..{hi * 100:+.1f} points" in report  # a fraction's change, in points
    assert f"**{rating['rating']:g}/10**" in report
    for criterion in b["criteria"]:
        assert f"| {criterion['label']} | {criterion['points']}/1 | {criterion['evidence']} |" in report
    for finding in b["findings"]:
        assert finding in report
    for section in ("## Hypothesis", "## Research question", "## Method", "## Results", "## Statistical tests",
                    "## Rating", "## Limitations", "## Follow-ups", "## Figures"):
        assert section in report, section
    assert "Energy was modelled from CPU time" in report and "CPU only" in report and "Profile smoke" in report
    assert "![Training curves](figures/curves.png)" in report and "Pareto front of test_accuracy" in report


def test_the_figures_are_real_images_with_content(fake_lab: LabHarness) -> None:
    import matplotlib.image

    for name in ("curves.png", "tradeoff.png"):
        path = _folder(fake_lab) / "figures" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert pixels[..., :3].std() > 0.05, f"{name} looks blank"


def test_lab_report_writes_the_research_summary(fake_lab: LabHarness) -> None:
    done = fake_lab.lab("report", check=True)
    path = Path(done.stdout.strip())
    assert path == fake_lab.root / "reports" / "summary.md"
    text = path.read_text()
    data = json.loads(path.with_suffix(".json").read_text())
    assert data["experiments"] == 2 and data["statuses"] == {"done": 1, "awaiting_approval": 1}
    rating = fake_lab.experiment(1)["rating"]
    assert f"| test | dag, fake | 2 | 1 | 0 | 1 | 1 | {rating:.1f} |" in text
    assert data["ratings"]["histogram"][str(int(rating))] == 1 and f"| {int(rating)} | 1 | # |" in text
    # the dag's headline saves nothing (its energy ratio is 1.00x): the table of gains states its rule
    # (a gain on the objective, quality kept, a valid control) and lists no row that misses it
    head = json.loads(fake_lab.experiment(1)["rating_breakdown"])["headline"]
    assert head["effect"] <= 1 and data["best_gains"] == []
    gains = text.split("## Best efficiency gains")[1].split("\n## ")[0]
    assert "points the good way" in gains and "None yet." in gains and "| 1 | dag |" not in gains
    kwh = sum(r["energy_kwh"] for r in fake_lab.run_rows())
    assert data["energy"]["energy_kwh"] == pytest.approx(kwh) and f"({kwh:.6g} kWh)" in text
    assert data["velocity"]["finished"] == 1 and data["velocity"]["runs_finished"] == 12
    assert "1 experiment(s) finished" in text and "12 estimated" in text
    for heading in ("## Experiments by area", "## Quality distribution (ratings)", "## Best efficiency gains",
                    "## Findings", "## Research velocity", "## Energy spent"):
        assert heading in text


def test_lab_report_of_one_experiment_and_bad_ids(fake_lab: LabHarness) -> None:
    done = fake_lab.lab("report", "1", check=True)
    assert done.stdout.strip() == str(fake_lab.root / "reports" / "exp-1" / "report.md")
    assert (fake_lab.root / "reports" / "exp-1" / "figures" / "curves.png").exists()
    bad = fake_lab.lab("report", "99")
    assert bad.returncode == 2 and bad.stderr.strip() == "lab: no experiment with id 99 (see `lab status`)"
    waiting = fake_lab.lab("report", "2")
    assert waiting.returncode == 2 and "has no runs to report yet" in waiting.stderr
    writer = subprocess.run([sys.executable, "-m", "records", "report", "99", "--dir", str(fake_lab.root)],
                            env=fake_lab.env, capture_output=True, text=True, timeout=scaled(60))
    assert writer.returncode == 2 and writer.stderr == "records: no experiment with id 99 (see `lab status`)\n"
    assert "Traceback" not in bad.stderr + waiting.stderr


def test_the_paper_leaves_out_what_is_not_rated(fake_lab: LabHarness, tmp_path: Path) -> None:
    fake_lab.lab("paper", "--out", str(tmp_path), check=True)
    md = (tmp_path / "paper.md").read_text()
    assert "| 1 | dag | smoke |" in md and "waiting" not in md and "exp 2" not in md


def test_a_language_model_writes_prose_around_the_same_numbers(fake_lab: LabHarness, tmp_path: Path) -> None:
    llm = FakeLLM()
    env = {**fake_lab.env, "JOULELAB_LLM_BASE_URL": llm.url, "JOULELAB_LLM_MODEL": "fake-model"}
    try:
        llm.script = [{"content": "The variants cost the same as the baseline and keep its accuracy."}]
        done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(fake_lab.root), "report", "1",
                               "--backend", "openai", "--out", str(tmp_path / "a")], env=env, capture_output=True,
                              text=True, timeout=scaled(60))
        assert done.returncode == 0, done.stderr
        text = (tmp_path / "a" / "report.md").read_text()
        assert "The variants cost the same as the baseline and keep its accuracy." in text
        assert "Discussion written by the language model, openai (fake-model" in text
        asked = llm.requests[-1]["body"]["messages"][-1]["content"]
        assert "Evidence:" in asked and "## Results" in asked  # the model sees the report it comments
        # a number no report holds (73.5 once appeared in a measured time by chance)
        llm.script = [{"content": "Pruning saves 9876.5 % of the energy."}]
        done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(fake_lab.root), "report", "1",
                               "--backend", "openai", "--out", str(tmp_path / "b")], env=env, capture_output=True,
                              text=True, timeout=scaled(60))
        assert done.returncode == 0, done.stderr
        text = (tmp_path / "b" / "report.md").read_text()
        assert "9876.5" not in text and "cited numbers that are not in the evidence and was left out" in text
        llm.script = [{"content": "The draft rests on one experiment with estimated energy."}]
        done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(fake_lab.root), "paper",
                               "--backend", "openai", "--out", str(tmp_path / "p")], env=env, capture_output=True,
                              text=True, timeout=scaled(60))
        assert done.returncode == 0, done.stderr
        md, tex = (tmp_path / "p" / "paper.md").read_text(), (tmp_path / "p" / "paper.tex").read_text()
        # 3 seeds: preliminary, so section 4 reports it apart ("Preliminary runs") and the discussion is 5
        assert "## 4. Preliminary runs" in md
        assert "## 5. Discussion\n\nThe draft rests on one experiment with estimated energy." in md
        assert r"\section{Discussion}\label{sec:discussion}" in tex and "written by a language model" in md
    finally:
        llm.close()
    offline = (_folder(fake_lab) / "report.md").read_text()
    assert "language model" not in offline and "Text: offline backend." in offline


def _copy_db(fake_lab: LabHarness, tmp_path: Path) -> LabDir:
    lab = LabDir(tmp_path / "lab")
    lab.root.mkdir()
    for name in ("lab.db", "lab.db-wal", "lab.db-shm"):
        if (fake_lab.dir.db.parent / name).exists():
            shutil.copy(fake_lab.dir.db.parent / name, lab.root / name)
    return lab


async def test_an_unrated_experiment_is_reported_from_the_validators_own_analysis(fake_lab: LabHarness,
                                                                                  tmp_path: Path) -> None:
    from db import Store
    from records.reports.experiment import write
    from science.catalog import Catalog

    lab = _copy_db(fake_lab, tmp_path)
    store = await Store.open(lab.db)
    try:
        rated = (await store.get_experiment(1)).breakdown
        await store.update_experiment(1, rating=None, rating_breakdown=None)
        text = (await write(store, 1, tmp_path / "out", Catalog())).read_text()
    finally:
        await store.close()
    assert "· not rated ·" in text and "Not rated: the validator has not rated it" in text
    assert rated.variants
    for v in rated.variants.values():  # the same numbers the rating holds
        q = v.quality
        assert q.mean is not None and q.std is not None and q.ci95 is not None
        low, high = q.ci95
        assert low is not None and high is not None
        assert f"{q.mean * 100:.2f} ± {q.std * 100:.2f} %" in text
        assert f"{low * 100:.2f}..{high * 100:.2f} %" in text
    assert "**5/10**" not in text and (tmp_path / "out" / "figures" / "tradeoff.png").exists()


async def test_a_failing_report_is_reported_retried_then_committed_without_it(fake_lab: LabHarness, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder in this process, on a copy of the lab's database: the report fails twice."""
    from db import Store
    from records import git as rec

    lab = _copy_db(fake_lab, tmp_path)
    calls: list[Path] = []

    async def failing_report(root: Path, exp_id: int, folder: Path, timeout: float = 0) -> None:
        calls.append(folder)
        (folder / "report.md").write_text("half a report")
        raise RuntimeError("agents: report of experiment 1 failed: the plot exploded")

    monkeypatch.setattr(rec, "run_report", failing_report)
    store = await Store.open(lab.db)
    try:
        await store.update_experiment(1, git_sha=None)
        recorder = rec.Recorder(lab, store, "fakeexp")
        assert await recorder.record_safe(1) is None and recorder.failed == {1}
        events = [e for e in await store.last_events(20, experiment_id=1) if e.kind == "experiment.report_failed"]
        assert "the plot exploded" in events[-1].message and "waits for attempt 2 of 2" in events[-1].message
        assert (await store.get_experiment(1)).git_sha is None
        assert await recorder.record_safe(1) is None  # a retry runs in the background, as in the engine's loop
        await asyncio.wait_for(asyncio.gather(*recorder._tasks), scaled(30))
        sha = (await store.get_experiment(1)).git_sha
        assert sha and recorder.failed == set() and len(calls) == 2
        events = [e for e in await store.last_events(20, experiment_id=1) if e.kind == "experiment.report_failed"]
        assert "committed without it" in events[-1].message
    finally:
        await store.close()
    assert git(lab.root, "rev-list", "--count", "HEAD", "--", "exp").strip() == "1"
    files = set(git(lab.root, "ls-tree", "-r", "--name-only", "HEAD").split())
    assert "exp/1-dag/REPORT-MISSING.txt" in files and "exp/1-dag/results.json" in files
    assert "exp/1-dag/report.md" not in files  # the half-written report was not committed
    assert "the plot exploded" in (lab.root / "exp" / "1-dag" / "REPORT-MISSING.txt").read_text()


def test_the_engine_never_imports_matplotlib_or_scipy() -> None:
    code = ("import sys, engine.daemon, records.git, engine.hooks, engine.control\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'scipy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(60))
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
