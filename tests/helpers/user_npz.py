"""Small valid datasets in the user's npz format (dataset.name: npz), for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_TRAIN, N_TEST, K = 40, 24, 3


def arrays(layout: str = "nhwc", labels: str = "int", seed: int = 0) -> dict[str, np.ndarray]:
    """A small valid dataset: NHWC (N, 4, 3, 2) images or flat (N, 24) vectors."""
    rng = np.random.default_rng(seed)
    shape = (4, 3, 2) if layout == "nhwc" else (24,)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = np.arange(n) % K
        x = rng.normal(size=(n, *shape)) + y.reshape((-1,) + (1,) * len(shape))
        out[f"x_{split}"] = (x * 10 + 3).astype(np.float32)  # not standardized, not unit norm
        out[f"y_{split}"] = np.eye(K, dtype=np.uint8)[y] if labels == "onehot" else y.astype(np.int32)
    return out


def write(tmp_path: Path, arrs: dict, name: str = "user.npz") -> Path:
    path = tmp_path / name
    np.savez(path, **arrs)
    return path
