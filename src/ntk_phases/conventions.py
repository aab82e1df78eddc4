"""The two conventions of the infinite-width stage (config key ``convention``).

- ``ours`` (default; SPEC §1): seeded subsets, per-channel standardisation and each input
  rescaled to norm √n₀, mean-centred one-hot targets, the network input → l × [affine, φ]
  → dense readout, time in full-batch steps at η = 2/λ_max, and accuracies of the actual
  network with its random initial function f₀ ~ GP(0, K).
- ``notebook`` (the authors' companion notebook, F6 cells; SPEC §6): the first n of each
  split, each split standardised by one scalar mean and std, raw one-hot targets, a read-in
  Dense(W_std = 1, no bias) then l × [Dense, φ] with the kernel read after φ, time as in
  neural-tangents' ``gradient_descent_mse`` at learning rate 1 (modes relax as
  exp(−λ t / y_train.size)), and the accuracy of the noise-free mean prediction.
  Its F3–F5 cells also apply :func:`normalize` (config ``kernels.points.normalize``).

Each function here is the one place where a job asks what its convention does.
"""

from __future__ import annotations

import numpy as np

from .architectures import CONVENTIONS
from .data import mse_targets, rescale_inputs


def check(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"config key convention = {convention!r}; known: {', '.join(CONVENTIONS)}")
    return convention


def targets(y_one_hot: np.ndarray, convention: str) -> np.ndarray:
    """Regression targets from one-hot labels: mean-centred (ours) or as they are (notebook)."""
    y = np.asarray(y_one_hot, dtype=np.float64)
    return mse_targets(y) if check(convention) == "ours" else y


def learning_rate(y_train: np.ndarray, convention: str) -> float | None:
    """η in the metrics' units (mode i relaxes as exp(−η λ_i t)): ``None`` means
    2/λ_max at each kernel (ours); the notebook's rate 1 in neural-tangents' time, which
    divides t by ``y_train.size``, is η = 1 / y_train.size."""
    return None if check(convention) == "ours" else 1.0 / np.asarray(y_train).size


def initial_function(convention: str) -> bool:
    """Whether accuracies include the random initial function f₀ (ours) or are those of
    the noise-free mean prediction (notebook)."""
    return check(convention) == "ours"


def normalize(
    x_train: np.ndarray, y_one_hot: np.ndarray, x_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's ``normalize`` (its F3–F5 cells): each input rescaled to norm √n₀ and
    the training labels centred over the set; returns ``(x_train, targets, x_test)``.
    Under convention ``ours`` the prepared data already are so (up to rounding)."""
    x_train, x_test = (rescale_inputs(np.asarray(x, dtype=np.float64)) for x in (x_train, x_test))
    return x_train, mse_targets(np.asarray(y_one_hot, dtype=np.float64)), x_test
