"""Every kernel metric at once, reduced over test points batch by batch.

:func:`train_metrics` does the one eigendecomposition per kernel and the training-set
metrics; :func:`point_sums` reduces one batch of test points, :func:`add_sums` combines
batches and :func:`finish_sums` turns the sums into means (the one-pass depth sweep,
:mod:`ntk_phases.analytic.sweep`, streams kernels through these). :func:`kernel_metrics` is
the composition for kernels held whole; :func:`tidy_rows` and :func:`metrics_frame` give
the tidy table (one row per σ_w², depth, t). NumPy/SciPy (and pandas for the frame) only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .predictions import (
    accuracy,
    check_blocks,
    check_nngp_blocks,
    expected_accuracy,
    expected_correct,
    mean_at_train_points,
    mode_factors,
    moments_at_test_points,
    moments_at_train_points,
    resolve_learning_rate,
)
from .spectral import eigh_sym, ntk_diag_offdiag, spectrum
from .validate import check_labels, check_square, check_targets, check_times

__all__ = [
    "N_ENTRIES",
    "PER_POINT",
    "PER_TIME",
    "train_metrics",
    "point_sums",
    "add_sums",
    "finish_sums",
    "kernel_metrics",
    "tidy_rows",
    "metrics_frame",
]


#: Single entries of P(Θ)Y reported per kernel (test points 0…N−1, each at its true
#: class): F5 draws them in the ordered phase, as the notebook does, where they settle to
#: data-dependent constants while the rms says little.
N_ENTRIES = 4


def train_metrics(
    ntk_train: Any,
    nngp_train: Any,
    y_train: Any,
    t: Any,
    *,
    learning_rate: Any = None,
    rcond: float | None = None,
    n_quad: int = 64,
    moments: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Training-set metrics of kernels with batch shape ``B``, and the state that
    :func:`point_sums` needs for test points (one eigendecomposition serves both).

    Returns ``(metrics, state)``: ``metrics`` holds the spectrum (``lambda_min``,
    ``lambda_max``, ``kappa``, ``singular``, ``lambda_min_raw``), ``ntk_diag``,
    ``ntk_offdiag``, ``learning_rate`` (shape ``B``) and ``train_acc``,
    ``train_acc_mean`` (``(*B, T)``); see :func:`kernel_metrics`.
    ``moments=False`` leaves out the random initial function f₀ (the notebook's
    noise-free mean prediction): ``train_acc`` and ``test_acc`` are then the accuracies
    of the mean, and ``test_std_rms`` is NaN.
    """
    theta = check_square("ntk_train", ntk_train)
    y = check_targets(y_train, theta.shape[-1])
    kdd = check_square("nngp_train", nngp_train)
    if kdd.shape != theta.shape:
        raise ValueError(f"nngp_train shape {kdd.shape} does not match ntk_train {theta.shape}")
    tt = check_times(t)
    eig = eigh_sym(theta, rcond)
    evals, evecs, keep = eig
    spec = spectrum(theta, rcond, eig=eig)
    diag, off = ntk_diag_offdiag(theta)
    eta = resolve_learning_rate(evals, learning_rate)
    decay, over_lam = mode_factors(evals, keep, eta, tt)
    proj = np.einsum("...ji,jc->...ic", evecs, y)
    lab_train = np.argmax(y, axis=-1)
    if moments:
        train_mean, train_var = moments_at_train_points(kdd, evecs, decay, proj)
        train_acc = expected_accuracy(train_mean, train_var, lab_train, n_quad)
    else:
        train_mean = mean_at_train_points(evecs, decay, proj)
        train_acc = accuracy(train_mean, lab_train)
    out = {
        **{k: v for k, v in spec.items() if k != "rcond"},
        "ntk_diag": diag,
        "ntk_offdiag": off,
        "learning_rate": eta,
        "train_acc": train_acc,
        "train_acc_mean": accuracy(train_mean, lab_train),
    }
    # right-hand sides of the test-point products (point_sums), in the eigenbasis, as one
    # (n, (1 [+ T])·C) matrix: P(Θ)Y = (Θ_td V)(Λ⁺ VᵀY), the association of
    # mean_predictor's einsum (through the data basis, Θ_td (V Λ⁺ VᵀY), it would cost
    # n·C per test point instead of n², but is ~20x more sensitive to rounding at
    # κ ~ 1e5), and, without f₀, the mean predictions (Θ_td V)(g_t ∘ VᵀY)
    inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
    rhs = [inv[..., None, :, None] * proj[..., None, :, :]]
    if not moments:
        rhs.append(over_lam[..., :, :, None] * proj[..., None, :, :])
    rhs = np.concatenate(rhs, axis=-3)  # (*B, 1 [+ T], n, C)
    rhs = np.moveaxis(rhs, -3, -2).reshape(rhs.shape[:-3] + (rhs.shape[-2], -1))
    state = {
        "theta": theta,
        "kdd": kdd,
        "y": y,
        "rcond": rcond,
        "eig": eig,
        "over_lam": over_lam,
        "proj": proj,
        "moments": moments,
        "rhs": rhs,
    }
    return out, state


def point_sums(
    state: dict[str, Any],
    ntk_test_train: Any,
    nngp_test_train: Any,
    nngp_test_diag: Any,
    y_test: Any,
    *,
    first: int = 0,
    n_quad: int = 64,
) -> dict[str, np.ndarray]:
    """Sums over one batch of test points of the per-point test metrics.

    Every test metric is a mean over test points, and each point needs only its own
    rows of Θ(test, train), K(test, train) and K(x, x): a test set of any size is
    reduced batch by batch (:func:`add_sums`) and finished by :func:`finish_sums`.
    ``first`` is the batch's first test index (for the ``entries`` of P(Θ)Y).
    """
    theta, ktd, y = check_blocks(state["theta"], ntk_test_train, state["y"])
    kdd, ktd_k, ktt = check_nngp_blocks(theta, ktd, state["kdd"], nngp_test_train, nngp_test_diag)
    lab = check_labels(y_test)
    if lab.shape[0] != ktd.shape[-2]:
        raise ValueError(f"{ktd.shape[-2]} test rows for {lab.shape[0]} labels")
    evecs = state["eig"][1]
    n_classes = y.shape[-1]
    kv = np.matmul(ktd, evecs)  # Θ_td V, shared by P(Θ)Y and the predictions
    out = np.matmul(kv, state["rhs"])  # (*B, m, (1 [+ T]) C), one BLAS call
    out = np.moveaxis(out.reshape(out.shape[:-1] + (-1, n_classes)), -2, -3)
    pinf = out[..., 0, :, :]  # the einsum path of mean_predictor: (Θ_td V)(Λ⁺ VᵀY)
    if state["moments"]:
        test_mean, test_var = moments_at_test_points(
            ktd, ktd_k, ktt, kdd, evecs, state["over_lam"], state["proj"], kv=kv
        )
        test_correct = expected_correct(test_mean, test_var, lab, n_quad).sum(axis=-1)
    else:
        test_mean = out[..., 1:, :, :]
        test_var = np.full(test_mean.shape[:-1], np.nan)
        test_correct = np.sum(np.argmax(test_mean, axis=-1) == lab, axis=-1, dtype=np.float64)
    k = max(0, min(N_ENTRIES - first, lab.shape[0]))
    entries = np.take_along_axis(pinf[..., :k, :], np.broadcast_to(lab[:k, None], pinf.shape[:-2] + (k, 1)), -1)[..., 0]
    return {
        "n_points": np.asarray(float(lab.shape[0])),
        "n_outputs": np.asarray(float(lab.shape[0] * y.shape[-1])),
        "mean_pred_sq": np.sum(pinf**2, axis=(-2, -1)),
        "test_acc_inf_mean": np.sum(np.argmax(pinf, axis=-1) == lab, axis=-1, dtype=np.float64),
        "test_acc": test_correct,
        "test_acc_mean": np.sum(np.argmax(test_mean, axis=-1) == lab, axis=-1, dtype=np.float64),
        "test_pred_sq": np.sum(test_mean**2, axis=(-2, -1)),
        "test_var": np.sum(test_var, axis=-1),
        "entries": entries,
    }


def add_sums(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Combine the :func:`point_sums` of two batches (``a`` first, or ``None``)."""
    if a is None:
        return dict(b)
    out = {k: a[k] + b[k] for k in a if k != "entries"}
    out["entries"] = np.concatenate([a["entries"], b["entries"]], axis=-1)
    return out


def finish_sums(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Means over the test set from accumulated :func:`point_sums`; see :func:`kernel_metrics`."""
    m, mc = sums["n_points"], sums["n_outputs"]
    out = {
        "mean_pred_rms": np.sqrt(sums["mean_pred_sq"] / mc),
        "test_acc_inf_mean": sums["test_acc_inf_mean"] / m,
        "test_acc": sums["test_acc"] / m,
        "test_acc_mean": sums["test_acc_mean"] / m,
        "test_pred_rms": np.sqrt(sums["test_pred_sq"] / mc),
        "test_std_rms": np.sqrt(sums["test_var"] / m),
    }
    entries = sums["entries"]
    for i in range(N_ENTRIES):
        out[f"mean_pred_entry_{i}"] = entries[..., i] if i < entries.shape[-1] else np.full(entries.shape[:-1], np.nan)
    return out


def kernel_metrics(
    ntk_train: Any,
    ntk_test_train: Any,
    nngp_train: Any,
    nngp_test_train: Any,
    nngp_test_diag: Any,
    y_train: Any,
    y_test: Any,
    t: Any,
    *,
    learning_rate: Any = None,
    rcond: float | None = None,
    n_quad: int = 64,
) -> dict[str, np.ndarray]:
    """All metrics for kernel blocks with batch shape ``B`` and times ``t`` (T).

    Returns a dict of arrays. Shape ``B``: ``lambda_min``, ``lambda_max``,
    ``kappa``, ``singular``, ``lambda_min_raw``, ``ntk_diag``, ``ntk_offdiag``,
    ``mean_pred_rms`` (rms over test points and classes of P(Θ)Y),
    ``test_acc_inf_mean`` (argmax of P(Θ)Y), ``learning_rate``,
    ``mean_pred_entry_<i>`` (P(Θ)Y at test point i and its true class, i < N_ENTRIES).
    Shape ``(*B, T)``:

    - ``test_acc``: expected accuracy of the actual infinite network, whose
      initial function f₀ ~ GP(0, K) is not averaged away (chance in the deep
      chaotic phase, where the learned signal at test points is exponentially
      small);
    - ``train_acc``: the same on the training set (outputs
      ``N((I − e^{−ηΘt})Y, diag(e^{−ηΘt} K e^{−ηΘt}))``; → 1 as t → ∞, and
      low at finite t in the deep ordered phase, where most modes have not
      moved and f₀ still dominates);
    - ``test_acc_mean``, ``train_acc_mean``: argmax of the mean predictions
      alone (f₀ dropped). These read the sign of exponentially small signals
      in float64, so they stay high where an actual network is at chance
      (test, deep chaotic) or has not trained (train, deep ordered: the
      argmax of ``ηtΘY`` is a kernel smoother's); kept for comparison;
    - ``test_pred_rms``: rms of the mean test prediction at t;
    - ``test_std_rms``: rms over test points of the predictive std σ_t(x).
    """
    train, state = train_metrics(
        ntk_train,
        nngp_train,
        y_train,
        t,
        learning_rate=learning_rate,
        rcond=rcond,
        n_quad=n_quad,
    )
    sums = point_sums(state, ntk_test_train, nngp_test_train, nngp_test_diag, y_test, n_quad=n_quad)
    return {**train, **finish_sums(sums)}


PER_POINT = (
    "lambda_min",
    "lambda_max",
    "kappa",
    "singular",
    "lambda_min_raw",
    "ntk_diag",
    "ntk_offdiag",
    "mean_pred_rms",
    "test_acc_inf_mean",
    "learning_rate",
    *(f"mean_pred_entry_{i}" for i in range(N_ENTRIES)),
)
PER_TIME = (
    "train_acc",
    "test_acc",
    "train_acc_mean",
    "test_acc_mean",
    "test_pred_rms",
    "test_std_rms",
)


def tidy_rows(
    values: dict[str, np.ndarray], sigma_w2: float, sigma_b2: float, depths: Any, t: Any
) -> dict[str, np.ndarray]:
    """Columns of one σ_w²'s rows, one per (depth, t), from metrics of shape ``(D,)``
    (:data:`PER_POINT`) and ``(D, T)`` (:data:`PER_TIME`)."""
    d, tt = np.asarray(depths), check_times(t)
    n_d, n_t = d.size, tt.size
    cols: dict[str, Any] = {
        "sigma_w2": np.full(n_d * n_t, sigma_w2),
        "sigma_b2": np.full(n_d * n_t, sigma_b2),
        "depth": np.repeat(d, n_t),
    }
    for k in PER_POINT:
        cols[k] = np.repeat(values[k], n_t)
    cols["t"] = np.tile(tt, n_d)
    for k in PER_TIME:
        cols[k] = np.asarray(values[k]).reshape(-1)
    return cols


def metrics_frame(
    sweep: dict[str, np.ndarray],
    y_train: Any,
    y_test: Any,
    t: Any,
    *,
    learning_rate: Any = None,
    rcond: float | None = None,
    n_quad: int = 64,
    max_elements: float = 2e7,
    **constants: Any,
):
    """Tidy table (pandas DataFrame) of :func:`kernel_metrics` over a depth sweep.

    ``sweep`` is the output of :func:`ntk_phases.analytic.sweep.depth_sweep` (with test
    keys). One row per (sigma_w2, depth, t); ``constants`` (e.g. ``arch=``,
    ``activation=``, ``dataset=``) become leading columns. Loops over σ_w² to
    bound memory, and over chunks of depths holding about ``max_elements``
    float64 temporaries. ``learning_rate=None`` uses η = 2/λ_max at each point.
    """
    tt = check_times(t)
    sw2 = np.asarray(sweep["sigma_w2"], dtype=np.float64)
    depths = np.asarray(sweep["depths"])
    sb2 = float(sweep["sigma_b2"])
    n, m_test = (
        np.shape(sweep["ntk_test_train"])[-1],
        np.shape(sweep["ntk_test_train"])[-2],
    )
    # depths per chunk, so that (depth, t, n, max(n, m)) temporaries stay ~max_elements
    chunk = max(1, int(max_elements // (tt.size * n * max(n, m_test))))
    frames = []
    for i, s in enumerate(sw2):
        for lo in range(0, depths.size, chunk):
            sl = slice(lo, min(lo + chunk, depths.size))
            m = kernel_metrics(
                sweep["ntk_train"][i, sl],
                sweep["ntk_test_train"][i, sl],
                sweep["nngp_train"][i, sl],
                sweep["nngp_test_train"][i, sl],
                sweep["nngp_test_diag"][i, sl],
                y_train,
                y_test,
                tt,
                learning_rate=learning_rate,
                rcond=rcond,
                n_quad=n_quad,
            )
            frames.append(pd.DataFrame(tidy_rows(m, s, sb2, depths[sl], tt)))
    df = pd.concat(frames, ignore_index=True)
    for pos, (k, v) in enumerate(constants.items()):
        df.insert(pos, k, v)
    return df
