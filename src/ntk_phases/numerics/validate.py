"""Input checks shared by the numerics modules (each returns the checked array as float64, or raises)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_finite(name: str, a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} has {bad} non-finite entries (NaN/inf); refusing to compute")
    return a


def check_square(name: str, a: Any) -> np.ndarray:
    a = check_finite(name, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must have shape (..., n, n), got {a.shape}")
    return a


def check_targets(y_train: Any, n: int) -> np.ndarray:
    y = check_finite("y_train", y_train)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"y_train must have shape ({n}, C), got {y.shape}")
    return y


def check_labels(y: Any) -> np.ndarray:
    """Integer labels from integer labels ``(m,)`` or targets ``(m, C)`` (argmax)."""
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return y
    if y.ndim == 2:
        return np.argmax(check_finite("targets", y), axis=-1)
    raise ValueError(f"labels must be integers (m,) or targets (m, C), got {y.shape} {y.dtype}")


def check_times(t: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if t.ndim != 1 or np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError("t must be a scalar or 1-D array of times >= 0 (inf allowed)")
    return t
