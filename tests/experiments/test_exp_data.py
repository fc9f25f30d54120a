"""Data: fixed splits per seed, train-only normalisation, the cache and its clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contract.events import Error, parse
from contract.protocol import PROTOCOL
from experiments.harness.datasets import DatasetMissingError, fit_normaliser, load_dataset, load_raw
from tests.experiments.helpers import REPO, read_events, run_spec


def test_splits_are_fixed_per_seed_and_differ_between_seeds() -> None:
    a, b, c = load_dataset("digits", 3), load_dataset("digits", 3), load_dataset("digits", 4)
    for part in ("train", "val", "test"):
        assert np.array_equal(a.index[part], b.index[part])
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.index["train"], c.index["train"])


def test_splits_are_disjoint_stratified_and_cover_the_data() -> None:
    d = load_dataset("digits", 0)
    idx = [set(d.index[p].tolist()) for p in ("train", "val", "test")]
    assert not (idx[0] & idx[1]) and not (idx[0] & idx[2]) and not (idx[1] & idx[2])
    assert sum(map(len, idx)) == 1797
    assert d.sizes() == {"train_samples": 1078, "val_samples": 360, "test_samples": 359}
    counts = np.bincount(d.y_val, minlength=10)
    assert counts.min() >= 30  # every class in validation, in proportion
    assert d.shape == (1, 8, 8) and d.num_classes == 10


def test_normalisation_is_fitted_on_train_only() -> None:
    d = load_dataset("digits", 1)
    x_pool, _, _, _ = load_raw("digits", None)
    mean, std = fit_normaliser(x_pool[d.index["train"]])
    np.testing.assert_allclose(d.mean, mean)
    np.testing.assert_allclose(d.std, std)
    # the stats of all the data differ, so using them would have been a leak we can see
    all_mean, _ = fit_normaliser(x_pool)
    assert not np.allclose(all_mean, mean, atol=1e-4)
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    np.testing.assert_allclose(d.x_val, (x_pool[d.index["val"]] - mean[0]) / std[0], rtol=1e-5, atol=1e-5)


def test_smoke_caps_and_synthetic() -> None:
    d = load_dataset("synthetic", 0, max_train=100, max_eval=50)
    assert d.sizes() == {"train_samples": 100, "val_samples": 50, "test_samples": 50}
    assert np.array_equal(load_dataset("synthetic", 0).x_val, load_dataset("synthetic", 0).x_val)


def test_cached_npz_is_read(tmp_path) -> None:
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "mnist.npz",
             x_train=rng.randint(0, 255, (120, 28, 28)).astype(np.uint8), y_train=np.arange(120) % 10,
             x_test=rng.randint(0, 255, (30, 28, 28)).astype(np.uint8), y_test=np.arange(30) % 10)
    d = load_dataset("mnist", 0, tmp_path)
    assert d.shape == (1, 28, 28) and d.sizes() == {"train_samples": 100, "val_samples": 20,
                                                      "test_samples": 30}


def test_missing_dataset_names_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JOULELAB_OFFLINE", "1")
    with pytest.raises(DatasetMissingError) as exc:
        load_dataset("mnist", 0, tmp_path)
    assert str(tmp_path / "mnist.npz") in str(exc.value)
    with pytest.raises(DatasetMissingError) as exc:
        load_dataset("cifar10", 0, tmp_path)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(exc.value)


def test_missing_dataset_fails_the_run_with_one_clear_line(tmp_path) -> None:
    spec = {"protocol": PROTOCOL, "run_id": 7, "name": "logreg", "variant": "baseline", "seed": 0,
            "params": {"dataset": "fashion_mnist", "profile": "smoke"}, "variant_params": {"model": "logreg"},
            "profile": "smoke", "device": "cpu", "threads": 1, "output_dir": str(tmp_path / "run"),
            "events_path": str(tmp_path / "run" / "events.jsonl"), "cache_dir": str(tmp_path / "cache"),
            "dependencies": {}}
    proc = run_spec(spec, tmp_path / "run")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path / "cache" / "fashion_mnist.npz") in lines[0]
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert not [e for e in events if e["type"] == "result"]
    error = parse(json.dumps(events[-1]))  # the program's own message, last, for the run's error
    assert isinstance(error, Error) and error.error == "DatasetMissingError"
    assert str(tmp_path / "cache" / "fashion_mnist.npz") in error.message and error.message in lines[0]
    assert error.where.startswith("experiments/harness/datasets.py:") and "load_raw" in error.traceback
    assert "Traceback" not in error.traceback and str(REPO) not in error.traceback  # paths of the checkout


@pytest.mark.parametrize("change, says", [
    ({"variant": "nope", "variant_params": None}, "logreg has no variant 'nope'"),  # a bad variant
    ({"protocol": PROTOCOL + 1}, f"this program reads protocol {PROTOCOL}"),  # a spec it refuses
])
def test_a_run_refused_writes_its_error_event(tmp_path, change: dict[str, object], says: str) -> None:
    spec = {"protocol": PROTOCOL, "run_id": 7, "name": "logreg", "variant": "baseline", "seed": 0,
            "params": {"profile": "smoke"}, "variant_params": {"model": "logreg"},
            "profile": "smoke", "device": "cpu", "threads": 1, "output_dir": str(tmp_path / "run"),
            "events_path": str(tmp_path / "run" / "events.jsonl"), "cache_dir": str(tmp_path / "cache"),
            "dependencies": {}, **change}
    proc = run_spec(spec, tmp_path / "run", cold=True)
    assert proc.returncode != 0 and says in proc.stderr
    error = parse((tmp_path / "run" / "events.jsonl").read_bytes().splitlines()[-1])
    assert isinstance(error, Error) and says in error.summary()
