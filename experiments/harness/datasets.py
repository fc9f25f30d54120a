"""Datasets, fixed per-seed splits and train-only normalisation (numpy only, no torch).

Every dataset comes back as float32 images (N, C, H, W) and int64 labels. The split depends
only on the dataset and the seed; the normalisation statistics come from the training split
only, so nothing of the validation/test data leaks into training.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ExperimentError

KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DOWNLOAD_TIMEOUT_S = 5.0


class DatasetMissingError(ExperimentError):
    """The dataset is neither in the cache nor downloadable; the message names the file."""


@dataclass
class Splits:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray  # per channel, fitted on x_train before normalisation
    std: np.ndarray
    num_classes: int
    #: positions in the dataset's labelled pool (and official test set) used by each split
    index: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        channels, height, width = self.x_train.shape[1:]
        return int(channels), int(height), int(width)

    @property
    def in_features(self) -> int:
        return int(np.prod(self.shape))

    def sizes(self) -> dict[str, int]:
        return {"train_samples": len(self.y_train), "val_samples": len(self.y_val),
                "test_samples": len(self.y_test)}


# -- raw loaders: (x_pool, y_pool, x_test | None, y_test | None) -------------------------

#: (x_pool, y_pool, x_test, y_test) as read; the test arrays are None when the set has no official split
Raw = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, read from the CSV it ships (importing sklearn costs ~1.5 s)."""
    spec = importlib.util.find_spec("sklearn")
    csv = None
    if spec is not None and spec.submodule_search_locations:
        csv = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if csv is not None and csv.is_file():
        raw = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        x, y = raw[:, :-1], raw[:, -1].astype(np.int64)
    else:  # pragma: no cover - layouts of other sklearn versions
        from sklearn.datasets import load_digits
        d = load_digits()
        x, y = d.data.astype(np.float32), d.target.astype(np.int64)
    return x.reshape(-1, 1, 8, 8), y


def _synthetic(n: int = 2000, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Fixed Gaussian clusters around smooth 8x8 class prototypes (same data for every seed)."""
    rng = np.random.RandomState(1234)
    grid = np.linspace(-1, 1, 8)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    rows = []
    for _ in range(classes):
        a, b, ph = rng.uniform(1, 3), rng.uniform(1, 3), rng.uniform(0, np.pi)
        rows.append(np.sin(a * np.pi * xx + ph) * np.cos(b * np.pi * yy))
    protos = np.stack(rows).astype(np.float32)
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = protos[y] + rng.normal(0, 1.0, size=(n, 8, 8)).astype(np.float32)
    return x.reshape(n, 1, 8, 8).astype(np.float32), y.astype(np.int64)


def _offline() -> bool:
    return os.environ.get("JOULELAB_OFFLINE", "").lower() in ("1", "true", "yes")


def _download(url: str, dest: Path) -> bool:
    """One attempt with a short timeout; never hangs on a closed network."""
    if _offline():
        return False
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, open(tmp, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        tmp.replace(dest)
        return True
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
        return False


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist_like(name: str, cache: Path) -> Raw:
    npz = cache / f"{name}.npz"
    folder = cache / name
    if not npz.is_file() and not all((folder / f).is_file() for f in FASHION_FILES):
        if name == "mnist":
            _download(KERAS + "mnist.npz", npz)
        else:
            for f in FASHION_FILES:
                if not (folder / f).is_file() and not _download(KERAS + "fashion-mnist/" + f, folder / f):
                    break
    if npz.is_file():
        with np.load(npz) as d:
            arrays = [d["x_train"], d["y_train"], d["x_test"], d["y_test"]]
    elif all((folder / f).is_file() for f in FASHION_FILES):
        arrays = [_read_idx(folder / f) for f in FASHION_FILES]
    else:
        raise DatasetMissingError(
            f"dataset '{name}' is not in the cache and could not be downloaded: place {npz} "
            f"(arrays x_train, y_train, x_test, y_test) or the four files {', '.join(FASHION_FILES)} "
            f"in {folder}/")
    xtr, ytr, xte, yte = arrays
    return (xtr.reshape(-1, 1, 28, 28).astype(np.float32), ytr.astype(np.int64),
            xte.reshape(-1, 1, 28, 28).astype(np.float32), yte.astype(np.int64))


def _cifar10(cache: Path) -> Raw:
    archive = cache / "cifar-10-python.tar.gz"
    if not archive.is_file():
        _download(CIFAR_URL, archive)
    if not archive.is_file():
        raise DatasetMissingError(f"dataset 'cifar10' is not in the cache and could not be downloaded: "
                             f"place {archive} (the CIFAR-10 python version)")
    xs: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    ys: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            base = os.path.basename(member.name)
            part = "train" if base.startswith("data_batch") else "test" if base == "test_batch" else None
            if part is None:
                continue
            raw = tar.extractfile(member)
            if raw is None:  # a directory or a link, not a batch
                continue
            batch = pickle.load(raw, encoding="bytes")  # trusted archive
            xs[part].append(np.asarray(batch[b"data"], dtype=np.uint8))
            ys[part].append(np.asarray(batch[b"labels"], dtype=np.int64))
    return (np.concatenate(xs["train"]).reshape(-1, 3, 32, 32).astype(np.float32),
            np.concatenate(ys["train"]),
            np.concatenate(xs["test"]).reshape(-1, 3, 32, 32).astype(np.float32),
            np.concatenate(ys["test"]))


def load_raw(name: str, cache_dir: str | os.PathLike[str] | None) -> Raw:
    """(x_pool, y_pool, x_test, y_test); the test arrays are None when the set has no official split."""
    if name == "digits":
        return (*_digits(), None, None)
    if name == "synthetic":
        return (*_synthetic(), None, None)
    cache = Path(cache_dir or os.environ.get("JOULELAB_CACHE") or Path.home() / ".cache" / "joulelab")
    if name in ("mnist", "fashion_mnist"):
        return _mnist_like(name, cache)
    if name == "cifar10":
        return _cifar10(cache)
    raise ExperimentError(f"unknown dataset {name!r}")


# -- splits and normalisation ---------------------------------------------------------------

def _stratified_split(y: np.ndarray, seed: int, fractions: tuple[float, ...]) -> list[np.ndarray]:
    """Per-class shuffled split; identical for identical (labels, seed)."""
    rng = np.random.RandomState(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        bounds = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        start = 0
        for i, end in enumerate(bounds):
            parts[i].append(idx[start:end])
            start = end
    out = []
    for chunks in parts:
        merged = np.concatenate(chunks)
        rng.shuffle(merged)
        out.append(merged)
    return out


def fit_normaliser(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of the training images only."""
    mean = x_train.mean(axis=(0, 2, 3)).astype(np.float32)
    std = x_train.std(axis=(0, 2, 3)).astype(np.float32)
    return mean, np.maximum(std, 1e-6)


def _normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out: np.ndarray = ((x - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32)
    return out


def load_dataset(name: str, seed: int, cache_dir: str | os.PathLike[str] | None = None,
                 max_train: int | None = None, max_eval: int | None = None) -> Splits:
    """Load ``name`` and split it for ``seed``: 60/20/20 stratified, or the official test set
    plus a stratified 1/6 of the training pool for validation. Caps keep smoke runs tiny."""
    x_pool, y_pool, x_test, y_test = load_raw(name, cache_dir)
    if x_test is None or y_test is None:
        tr, va, te = _stratified_split(y_pool, seed, (0.6, 0.2, 0.2))
        x_test_src, y_test_src = x_pool, y_pool
    else:
        tr, va = _stratified_split(y_pool, seed, (5 / 6, 1 / 6))
        te = np.random.RandomState(seed).permutation(len(y_test))
        x_test_src, y_test_src = x_test, y_test
    if max_train:
        tr = tr[:max_train]
    if max_eval:
        va, te = va[:max_eval], te[:max_eval]
    mean, std = fit_normaliser(x_pool[tr])
    return Splits(
        name=name,
        x_train=_normalise(x_pool[tr], mean, std), y_train=y_pool[tr],
        x_val=_normalise(x_pool[va], mean, std), y_val=y_pool[va],
        x_test=_normalise(x_test_src[te], mean, std), y_test=y_test_src[te],
        mean=mean, std=std, num_classes=int(y_pool.max()) + 1,
        index={"train": tr, "val": va, "test": te},
    )
