"""Dataset preparation: load, take a seeded subset, preprocess, save.

Sources:
- ``digits``: scikit-learn's ``load_digits`` (1,797 real 8x8 images shipped inside
  scikit-learn), the offline default. It has no official split, so train and test
  are disjoint seeded draws from the 1,797 images.
- ``cifar10``, ``mnist``, ``fashion_mnist``: tensorflow-datasets through the
  array_record data source (``builder.as_data_source``), which avoids the TF graph
  path that aborted with TF 2.21 (SPEC §4).

Preprocessing (SPEC §3): standardize each channel with the training set's mean and
standard deviation, then rescale every input to norm √n₀ (n₀ = H·W·C). Labels are
stored one-hot; :func:`mse_targets` centres them (per class, over the set) for MSE.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import io
from .cli import setup_logging

log = logging.getLogger("ntk_phases.data")

DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"source": "sklearn:digits", "n_classes": 10},
    "cifar10": {"source": "tfds:cifar10", "n_classes": 10},
    "mnist": {"source": "tfds:mnist", "n_classes": 10},
    "fashion_mnist": {"source": "tfds:fashion_mnist", "n_classes": 10},
}
PREPROCESSING = (
    "per-channel standardization with training-set mean/std; "
    "each input rescaled to Euclidean norm sqrt(n0), n0 = H*W*C; labels one-hot"
)


class DatasetError(ValueError):
    """A dataset request that cannot be satisfied (bad size, unknown name)."""


def load_digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as NHWC float64 images (values 0..16) and integer labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float64)[..., None]
    return x, bunch.target.astype(np.int64)


def split_digits(
    x: np.ndarray, labels: np.ndarray, n_train: int, n_test: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint seeded train/test draws; ``n_test=None`` takes every remaining image."""
    n_total = len(x)
    n_test_eff = n_total - n_train if n_test is None else n_test
    if n_train + n_test_eff > n_total:
        raise DatasetError(
            f"dataset.n_train + dataset.n_test = {n_train} + {n_test_eff} exceeds the "
            f"{n_total} images of digits"
        )
    perm = np.random.default_rng(seed).permutation(n_total)
    tr, te = perm[:n_train], perm[n_train : n_train + n_test_eff]
    return x[tr], labels[tr], x[te], labels[te]


def tfds_builder(name: str, data_dir: str | None):
    """The tfds builder with the array_record file format (random access, no TF graph)."""
    import tensorflow_datasets as tfds

    return tfds.builder(name, data_dir=data_dir, file_format="array_record")


def load_tfds_subset(
    name: str,
    n_train: int,
    n_test: int | None,
    seed: int,
    data_dir: str | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded subsets of a tfds dataset's train and test splits.

    Only the selected records are read (random access into array_record files).
    """
    builder = tfds_builder(name, data_dir)
    if download:
        builder.download_and_prepare()
    out = []
    rng = np.random.default_rng(seed)
    for split, n, key in (("train", n_train, "n_train"), ("test", n_test, "n_test")):
        source = builder.as_data_source(split=split)
        n_total = len(source)
        n = n_total if n is None else n
        if n > n_total:
            raise DatasetError(
                f"dataset.{key} = {n} exceeds the {n_total} images of {name}'s {split} split"
            )
        idx = np.sort(rng.choice(n_total, size=n, replace=False))
        records = [source[int(i)] for i in idx]
        x = np.stack([np.asarray(r["image"]) for r in records]).astype(np.float64)
        y = np.array([int(r["label"]) for r in records], dtype=np.int64)
        if x.ndim == 3:  # grayscale without a channel axis
            x = x[..., None]
        out += [x, y]
    return out[0], out[1], out[2], out[3]


def preprocess(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardize per channel with training statistics, then rescale each input to norm √n₀."""
    axes = tuple(range(x_train.ndim - 1))
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    n0 = int(np.prod(x_train.shape[1:]))

    def rescale(x: np.ndarray) -> np.ndarray:
        z = (x - mean) / std
        norms = np.sqrt((z.reshape(len(z), -1) ** 2).sum(axis=1))
        if np.any(norms == 0):
            raise DatasetError("an input is constant after standardization; cannot rescale")
        return z * (np.sqrt(n0) / norms).reshape((-1,) + (1,) * (z.ndim - 1))

    return rescale(x_train), rescale(x_test)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot float64 labels."""
    return np.eye(n_classes, dtype=np.float64)[labels]


def mse_targets(y_one_hot: np.ndarray) -> np.ndarray:
    """Mean-centred one-hot targets for MSE: each class column has zero mean over the set.

    Centring over the examples (1ᵀY = 0), not just subtracting 1/k, matters for the
    mean predictor: with unbalanced classes a non-zero 1ᵀY leaves a constant part of
    P(Θ)Y that decays only like χ₁^−l in the chaotic phase and would mask the
    (χ_c*/χ₁)^l collapse of the data-dependent part.
    """
    return y_one_hot - y_one_hot.mean(axis=0, keepdims=True)


def prepare(
    name: str,
    n_train: int,
    n_test: int | None,
    seed: int,
    data_dir: str | None = None,
    download: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load, subset and preprocess a dataset; return arrays and their metadata."""
    if name not in DATASETS:
        raise DatasetError(f"dataset.name = {name!r} is not one of {sorted(DATASETS)}")
    if n_train <= 0 or (n_test is not None and n_test <= 0):
        raise DatasetError("dataset.n_train and dataset.n_test must be positive")
    spec = DATASETS[name]
    if name == "digits":
        x, labels = load_digits_raw()
        xtr, ytr, xte, yte = split_digits(x, labels, n_train, n_test, seed)
    else:
        xtr, ytr, xte, yte = load_tfds_subset(name, n_train, n_test, seed, data_dir, download)
    xtr, xte = preprocess(xtr, xte)
    arrays = {
        "x_train": xtr,
        "y_train": one_hot(ytr, spec["n_classes"]),
        "x_test": xte,
        "y_test": one_hot(yte, spec["n_classes"]),
    }
    meta = {
        "dataset": name,
        "source": spec["source"],
        "n_train": int(len(xtr)),
        "n_test": int(len(xte)),
        "image_shape": list(xtr.shape[1:]),
        "n_classes": spec["n_classes"],
        "seed": int(seed),
        "preprocessing": PREPROCESSING,
        "class_counts_train": np.bincount(ytr, minlength=spec["n_classes"]).tolist(),
        "sha256": {k: io.sha256_array(v) for k, v in arrays.items()},
    }
    return arrays, meta


def save(arrays: dict[str, np.ndarray], meta: dict, npz_path: str, json_path: str) -> None:
    """Write the arrays (.npz) and metadata (.json); both or neither are left behind."""
    npz_path, json_path = Path(npz_path), Path(json_path)
    try:
        with io.atomic_path(npz_path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        io.write_json(json_path, meta)
    except BaseException:
        for p in (npz_path, json_path):
            p.unlink(missing_ok=True)
        raise


def load(npz_path: str) -> dict[str, np.ndarray]:
    """Read a prepared dataset: x_train, y_train, x_test, y_test."""
    with np.load(npz_path) as f:
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--n-train", type=int, required=True)
    p.add_argument("--n-test", type=int, default=None, help="omit for every remaining image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
    p.add_argument("--out-npz", required=True)
    p.add_argument("--out-json", required=True)
    args = p.parse_args(argv)
    setup_logging()
    log.info("preparing %s: n_train=%s n_test=%s seed=%s", args.dataset, args.n_train, args.n_test, args.seed)
    try:
        arrays, meta = prepare(args.dataset, args.n_train, args.n_test, args.seed, args.data_dir)
    except DatasetError as e:
        log.error("%s", e)
        return 2
    save(arrays, meta, args.out_npz, args.out_json)
    log.info("wrote %s (%s)", args.out_npz, json.dumps({k: meta[k] for k in ("n_train", "n_test", "image_shape")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
