"""`lab roadmap` and `lab publish` on a small real lab: a smoke experiment (preliminary: it counts
for nothing) and a quantization experiment at profile default with 5 seeds (a counted headline
finding), then mixed precision and one-shot compression of a tiny LM (counted too), and a reproduction
of the quantization experiment (its evidence, not a finding of its own). The roadmap
changes with the new rated experiment; the bundle's PDF holds the title and the validator's
headline number; the arXiv archive compiles alone; each zoo model (an INT8 conversion, a model its
training run kept, a compressed LM decoded from its packed form) loads and measures its recorded
test metric again within its interval; the model cards parse with huggingface_hub and say what a
compressed model's weights are; the notebooks run under nbclient; the blog's HTML shows its images
in headless Chromium; `--push` refuses in one line without a token and when the Hub cannot be
reached."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import warmruns
from tests.conftest import ROOT, LabHarness, open_lab
from tests.timing import scaled

CONFIG = "[slots]\ncpu = 2\nthreads_per_run = 1\n[runs]\nretries = 0\ntimeout_s = 600\n"
QUANT = ["run", "quantization", "-p", "models=mlp", "-p", "precisions=int8", "-p", "hidden=64", "--seeds", "5"]
# a training entry whose headline model the run keeps (BF16 autocast: FP32 weights), and a compressed
# language model saved in the packed format (a tiny model at profile default: counted)
MIXED = ["run", "mixed_precision", "-p", "model=mlp", "-p", "precisions=bf16", "-p", "hidden=64", "-p", "epochs=1",
         "--seeds", "5"]
ONE_SHOT = ["run", "one_shot_compression", "-p", "criteria=sparsegpt", "-p", "sparsities=0.5", "-p",
            "patterns=unstructured", "-p", "quantizations=int4", "-p", "dim=48", "-p", "layers=2", "-p", "heads=2",
            "-p", "context=64", "-p", "pretrain_tokens=20000", "-p", "vocab_size=384", "-p", "bases=1", "--seeds", "5"]
ROADMAPS: dict[str, Any] = {}
#: the test's own torch processes (a model measured again, a notebook's kernel) compute on one thread,
#: as the lab's runs here do: two test processes share the cores (tests/conftest.py's `_one_torch_thread`)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PDFLATEX = shutil.which("pdflatex")
PDFTOTEXT = shutil.which("pdftotext")
needs_tex = pytest.mark.skipif(not (PDFLATEX and PDFTOTEXT), reason="TeX Live and poppler-utils are not installed "
                               "(Debian: texlive-latex-base texlive-latex-recommended lmodern "
                               "poppler-utils; .ci/run installs them)")


@pytest.fixture(scope="module")
def pub_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHarness]:
    root = tmp_path_factory.mktemp("publish")
    with open_lab(root) as lab:
        lab.env.update({"JOULELAB_EXPERIMENTS_MODULE": "experiments", "JOULELAB_NO_CODECARBON": "1",
                        "JOULELAB_OFFLINE": "1"})
        lab.env.pop("HF_TOKEN", None)
        lab.write_config(CONFIG)
        lab.lab("run", "logreg", "-p", "profile=smoke", "--seeds", "2", "--wait", check=True, timeout=300)
        # the roadmap reads the database (experiment 1 is rated once `--wait` returns): experiment 1's
        # report and commit are written while experiment 2 runs
        ROADMAPS["before"] = json.loads(lab.lab("roadmap", "--json", check=True).stdout)
        lab.lab(*QUANT, "--wait", check=True, timeout=900)
        lab.wait_for(lambda: lab.experiment(1)["git_sha"], 60, "the commit of experiment 1")
        lab.wait_for(lambda: lab.experiment(2)["git_sha"], 120, "the commit of experiment 2")
        ROADMAPS["after"] = json.loads(lab.lab("roadmap", "--json", check=True).stdout)
        # the rest is queued at once: the engine's two slots run experiments 3, 4 and 5 side by side
        # instead of one experiment's last run (and a `lab` command between two experiments) at a time
        lab.lab(*MIXED, check=True)
        lab.lab(*ONE_SHOT, check=True)
        # a reproduction (experiment 5) is experiment 2's evidence, never a finding of its own
        lab.lab("reproduce", "2", "--no-wait", "--json", check=True, timeout=120)
        for exp in (3, 4, 5):
            assert lab.wait_experiment(exp, timeout=900)["status"] == "done", lab.experiment(exp)["error"]
            lab.wait_for(lambda e=exp: lab.experiment(e)["git_sha"], 120, f"the commit of experiment {exp}")
        lab.stop_engine()
        yield lab


def criterion(roadmap: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for p in roadmap["phases"] for c in p["criteria"] if c["id"] == cid)


def test_the_roadmap_gives_every_criterion_and_moves_with_a_rated_experiment(pub_lab: LabHarness) -> None:
    before, after = ROADMAPS["before"], ROADMAPS["after"]
    ids = [c["id"] for p in after["phases"] for c in p["criteria"]]
    assert [p["number"] for p in after["phases"]] == [1, 2, 3, 4] and len(ids) == 15
    for p in after["phases"]:
        for c in p["criteria"]:
            assert isinstance(c["met"], bool) and c["evidence"] and (c["met"] or c["to_meet"]), c
    # the smoke run counts for nothing; the default-profile experiment with 5 seeds counts
    assert before["counted_experiments"] == [] and before["preliminary_experiments"] == [1]
    assert after["counted_experiments"] == [2] and after["preliminary_experiments"] == [1]
    areas_before, areas_after = criterion(before, "p1.areas"), criterion(after, "p1.areas")
    assert areas_before["evidence"].startswith("0 of 8 areas") and areas_after["evidence"].startswith("1 of 8 areas")
    assert 2 in areas_after["experiments"] and not areas_after["met"]
    rating = json.loads(pub_lab.lab("rating", "2", "--json", check=True).stdout)["rating"]
    assert criterion(after, "p1.average")["evidence"] == f"average {rating:.1f}/10 over 1 counted experiment(s)"
    assert after["metrics"]["success_rate"]["done"] == 2 and after["metrics"]["velocity"]["finished"] == 2
    # the text form and ROADMAP.md, committed with the rated experiment
    text = pub_lab.lab("roadmap", check=True).stdout
    assert "## Phase 1: Foundation" in text and "Metrics tracking" in text and "[ ] All 8 baseline" in text
    committed = subprocess.run(["git", "-C", str(pub_lab.root), "show", "exp/2:ROADMAP.md"], capture_output=True,
                               text=True, check=True).stdout
    assert "1 of 8 areas" in committed and "Quantization: exp 2" in committed


@pytest.fixture(scope="module")
def bundle(pub_lab: LabHarness) -> dict[str, Any]:
    if not (PDFLATEX and PDFTOTEXT):
        pytest.skip("TeX Live is not installed")
    done = pub_lab.lab("publish", "--json", timeout=900)
    assert done.returncode == 0, done.stderr + done.stdout
    return dict(json.loads(done.stdout))


@needs_tex
def test_the_pdf_holds_the_title_and_the_validators_headline_number(pub_lab: LabHarness, bundle: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    out = Path(bundle["out"])
    assert bundle["experiments"] == [2, 3, 4] and bundle["findings"] == [2, 3, 4] and bundle["problems"] == []
    text = subprocess.run(["pdftotext", "-layout", str(out / bundle["files"]["paper_pdf"]), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    assert "What saves energy in machine learning?" in flat
    head = json.loads(pub_lab.lab("rating", "2", "--json", check=True).stdout)["headline"]
    assert f"{head['e']:.2f}" in flat and "exp 2" in flat
    assert "logreg" not in flat and "(exp 1" not in flat  # the preliminary run is not in the paper
    # the arXiv archive compiles on its own
    with tarfile.open(out / bundle["files"]["arxiv"]) as tar:
        tar.extractall(tmp_path / "arxiv", filter="data")
    for _ in range(2):
        subprocess.run([PDFLATEX or "pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                       cwd=tmp_path / "arxiv", capture_output=True, timeout=scaled(300), check=True)
    assert (tmp_path / "arxiv" / "paper.pdf").stat().st_size > 10_000


@needs_tex
def test_each_zoo_model_loads_and_measures_its_recorded_metric_again(pub_lab: LabHarness, bundle: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    out = Path(bundle["out"])
    # every headline model: quantization's INT8 (converted from its FP32 reference's checkpoint),
    # mixed precision's BF16-trained model (kept by its run) and the SparseGPT-50 LM (decoded from
    # its packed form)
    assert bundle["models"] == ["exp2-quantization-int8-mlp", "exp3-mixed-precision-bf16",
                                "exp4-one-shot-compression-sparsegpt-50"]
    for exp, name in zip((2, 3, 4), bundle["models"]):
        folder = out / "zoo" / name
        assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in folder.iterdir()}
        # `python -m experiments.zoo remeasure FOLDER`, forked from the test process's warm worker
        # (tests/warmruns.py: torch and transformers imported once, not once per model)
        env = {**pub_lab.env, **ONE_THREAD}
        done = warmruns.worker(env, ROOT).run(["experiments.zoo", "remeasure", str(folder)], tmp_path, env,
                                              scaled(300))
        assert done.returncode == 0, done.stderr[-3000:]
        measured = json.loads(done.stdout)
        b = json.loads(pub_lab.experiment(exp)["rating_breakdown"])
        head = b["headline"]
        ci = b["variants"][head["variant"]]["quality"]["ci95"]
        assert measured["metric"] == head["quality_key"], name
        assert ci[0] - 1e-9 <= measured["value"] <= ci[1] + 1e-9, (name, measured, ci)
        assert measured["value"] == pytest.approx(measured["recorded"]["value"], rel=1e-6), name
    # the image model loads through the documented function
    from experiments.zoo import load_image_model

    model = load_image_model(out / "zoo" / bundle["models"][1])
    assert not model.training and sum(p.numel() for p in model.parameters()) > 0
    index = (out / "zoo" / "INDEX.md").read_text()
    assert all(f"`{name}/`" in index for name in bundle["models"]) and "Not exported" not in index


@needs_tex
def test_the_model_card_parses_with_its_metrics_and_emissions(pub_lab: LabHarness, bundle: dict[str, Any]) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard.load(Path(bundle["out"]) / "zoo" / bundle["models"][0] / "README.md")
    data = card.data.to_dict()
    b = json.loads(pub_lab.experiment(2)["rating_breakdown"])
    head = b["headline"]
    metrics = {m["name"].split(" (")[0]: m for m in data["model-index"][0]["results"][0]["metrics"]}
    mean = metrics["test_accuracy, mean of 5 seeds"]
    assert mean["type"] == "accuracy" and mean["value"] == b["variants"][head["variant"]]["quality"]["mean"]
    assert metrics["efficiency score E vs fp32-mlp"]["value"] == head["efficiency_score"]
    run = next(r for r in pub_lab.run_rows(2) if r["variant"] == head["variant"] and
               json.loads(r["result"])["test_accuracy"] == metrics["test_accuracy of this checkpoint"]["value"])
    assert run["status"] == "succeeded"  # the exported checkpoint's own recorded value
    assert data["datasets"] == ["digits"] and data["library_name"] == "joulelab"
    assert data["base_model"].endswith("fp32-mlp")
    co2 = data["co2_eq_emissions"]
    assert co2["emissions"] >= 0 and co2["source"].startswith("modelled") and "cpu" in co2["hardware_used"]
    assert "## Evidence" in card.text and "## Reference" in card.text and "## Limits" in card.text
    # a compressed language model's card says what its weights are: decoded to FP32, the packed form's size
    lm = ModelCard.load(Path(bundle["out"]) / "zoo" / bundle["models"][2] / "README.md")
    assert lm.data.to_dict()["library_name"] == "transformers" and "co2_eq_emissions" in lm.data.to_dict()
    weights = lm.text.split("## The weights")[1].split("##")[0]
    assert "stored in FP32" in weights and "packed/" in weights and "bits per weight" in weights
    assert "pruned weights (unstructured) stored as zeros" in weights


@needs_tex
def test_the_notebook_runs_to_the_end(pub_lab: LabHarness, bundle: dict[str, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    for name, value in ONE_THREAD.items():  # the kernels' torch
        monkeypatch.setenv(name, value)

    notebooks = []
    for exp in (2, 3, 4):  # an image model converted, one kept by its run, a compressed language model
        path = Path(bundle["out"]) / bundle["files"][f"notebook:{exp}"]
        nb = nbformat.read(str(path), as_version=4)  # read and validated against the nbformat schema
        nbformat.validate(nb)
        notebooks.append((nb, path))

    async def execute_all() -> None:
        # each notebook in its own fresh kernel, the three kernels side by side: a kernel's start
        # and its imports are mostly waiting, which the others fill
        await asyncio.gather(*(NotebookClient(nb, timeout=int(scaled(300)), kernel_name="python3",
                                              resources={"metadata": {"path": str(path.parent)}}).async_execute()
                               for nb, path in notebooks))

    asyncio.run(execute_all())
    for nb, _ in notebooks:
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert "measured" in printed and "recorded" in printed


@needs_tex
def test_the_blog_html_shows_its_images_in_headless_chromium(bundle: dict[str, Any]) -> None:
    from tests.tui.test_tui_browser import CHROMEDRIVER, CHROMIUM, chromium

    html = Path(bundle["out"]) / bundle["files"]["blog_html"]
    page = html.read_text()
    assert "<img src=\"data:image/png;base64," in page and "http" not in page.split("<body>")[1].split("zoo")[0]
    assert (Path(bundle["out"]) / bundle["files"]["slides"]).read_text().count('class="slide"') >= 4
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium is not installed (.ci/run installs it)")
    with chromium() as driver:
        driver.get(html.as_uri())
        shown = driver.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
    assert shown and all(w and w > 100 for w in shown), shown


def test_push_refuses_in_one_line_without_a_token_or_a_reachable_hub(pub_lab: LabHarness, tmp_path: Path) -> None:
    env = {**pub_lab.env, "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(pub_lab.root), "publish", "--push", "someorg",
                           "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=scaled(120))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no Hugging Face token" in done.stderr and not (tmp_path / "out").exists()
    with socket.socket() as s:  # a port on this machine that refuses: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        env.update(HF_TOKEN="hf_notarealtoken", HF_ENDPOINT=f"http://127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(pub_lab.root), "publish", "--push",
                               "someorg", "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True,
                              timeout=scaled(120))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"127.0.0.1:{port} cannot be reached" in done.stderr and "hf_notarealtoken" not in done.stderr


@needs_tex
def test_a_reproduction_is_shown_as_its_originals_evidence_and_counted_once(pub_lab: LabHarness,
                                                                            bundle: dict[str, Any]) -> None:
    out = Path(bundle["out"])
    assert 5 not in bundle["experiments"] and not any(m.startswith("exp5-") for m in bundle["models"])
    said = json.loads(pub_lab.lab("rating", "5", "--json", check=True).stdout)
    line = f"exp 2 re-run from its record as exp 5 (rated {said['rating']:g}/10): reproduced: "
    card = (out / "zoo" / bundle["models"][0] / "README.md").read_text()
    assert "## Reproduction and earlier runs" in card and line in card
    for part in ("paper_md", "blog_md", "slides"):
        text = " ".join((out / bundle["files"][part]).read_text().split())
        assert line in text and "(exp 5, rated" not in text and ", exp 5, rated" not in text, part
    roadmap = json.loads(pub_lab.lab("roadmap", "--json", check=True).stdout)
    reproduced = criterion(roadmap, "p2.reproduced")
    assert reproduced["met"] and reproduced["experiments"] == [5] and 5 not in roadmap["counted_experiments"]


def test_a_finding_whose_model_is_not_exported_says_why_in_the_zoo(tmp_path: Path) -> None:
    from records.publish.zoo import write_index

    path = write_index(tmp_path / "zoo", [], ["model zoo: exp 5 meta: run 9 (meta_learning/meta) has no model to "
                                              "export: its test perplexity is measured after adapting"])
    text = path.read_text()
    assert "## Not exported" in text and "- exp 5 meta: run 9 (meta_learning/meta) has no model" in text
