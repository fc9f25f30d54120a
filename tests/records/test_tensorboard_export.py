"""`lab export --tensorboard DIR`: real runs (the stand-in programs through a real engine), written
as TensorBoard event files by tensorboardX and read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import LabHarness


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    return {tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_every_runs_metrics_as_tensorboard_event_files(lab: LabHarness, tmp_path: Path) -> None:
    lab.lab("run", "fake", "-p", "steps=7", "--seeds", "2", "--wait", check=True, timeout=120)
    lab.stop_engine()
    runs = lab.run_rows(1)
    assert runs and all(r["status"] == "succeeded" for r in runs)
    out = tmp_path / "tb"
    for _ in range(2):  # exporting again replaces the files: no run is shown twice
        done = lab.lab("export", "--tensorboard", str(out), check=True)
        assert f"wrote {len(runs)} run(s)" in done.stdout and f"tensorboard --logdir {out}" in done.stdout

    (exp_dir,) = out.iterdir()
    assert exp_dir.name == "1-fake"
    assert sorted(p.name for p in exp_dir.iterdir()) == sorted(f"run-{r['id']}-{r['variant']}-s{r['seed']}"
                                                              for r in runs)
    for run in runs:
        run_dir = exp_dir / f"run-{run['id']}-{run['variant']}-s{run['seed']}"
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
        scalars = read_scalars(run_dir)
        stored = lab.query("SELECT key, step, value, t FROM metrics WHERE run_id = ? ORDER BY key, step", (run["id"],))
        assert stored, "the run recorded metrics"
        for key in {row["key"] for row in stored}:
            mine = [(r["step"], r["value"], r["t"]) for r in stored if r["key"] == key]
            theirs = scalars[key]
            assert [s for s, _, _ in theirs] == [s for s, _, _ in mine] == list(range(7))
            for (_, v, t), (_, v2, t2) in zip(mine, theirs):
                assert abs(v - v2) < 1e-6 and abs(t - t2) < 1e-3  # float32 values, the recorded wall times
        assert [v for _, v, _ in scalars["k0"]] == [0.5 * s for s in range(7)]
        accuracy = scalars["result/test_accuracy"]
        assert len(accuracy) == 1 and accuracy[0][0] == 6 and abs(accuracy[0][1] - (0.5 + 0.01 * run["seed"])) < 1e-6


def test_the_export_keeps_torch_out_and_says_what_is_missing(lab: LabHarness, tmp_path: Path) -> None:
    lab.lab("status", check=True)
    script = ("import asyncio, sys\nfrom pathlib import Path\nfrom db import Store\n"
              "from records.tensorboard_export import export_tensorboard\n"
              "async def main():\n    store = await Store.open(Path(sys.argv[1]))\n"
              "    try:\n        print(await export_tensorboard(store, Path(sys.argv[2])))\n"
              "    finally:\n        await store.close()\n"
              "asyncio.run(main())\nprint('torch loaded' if 'torch' in sys.modules else 'no torch')\n")
    done = subprocess.run([sys.executable, "-c", script, str(lab.dir.db), str(tmp_path / "tb")], env=lab.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(0,", "0)", "no", "torch"]

    blocked = tmp_path / "no-tensorboardx"  # a Python without tensorboardX: the extra's name in one line
    blocked.mkdir()
    (blocked / "tensorboardX.py").write_text("raise ImportError('not installed')\n")
    env = {**lab.env, "PYTHONPATH": f"{blocked}:{lab.env['PYTHONPATH']}"}
    missing = subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab.root), "export", "--tensorboard",
                              str(tmp_path / "tb2")], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("lab: the TensorBoard export needs tensorboardX: "
                                      "pip install 'joulelab[tensorboard]'")
