"""Trainability and generalization metrics from NTK/NNGP kernel blocks.

Pure NumPy functions (float64): arrays in, arrays out. Every function accepts
kernels with any leading batch shape ``B`` (e.g. ``(n_sigma, n_depth)``) and
shares the training targets across the batch:

- ``ntk_train``, ``nngp_train``: ``(*B, n, n)`` — Θ and K on train × train;
- ``ntk_test_train``, ``nngp_test_train``: ``(*B, m, n)`` — test × train;
- ``nngp_test_diag``: ``(*B, m)`` — K(x, x) at each test point;
- ``y_train``: ``(n, C)`` regression targets (mean-centred one-hot), shared.

Conventions (SPEC §1):

- time ``t`` counts full-batch gradient-descent steps at learning rate
  ``η = 2 / λ_max`` (overridable); training is the gradient flow of
  ``½‖f(X) − Y‖²``, so eigenmode ``i`` of Θ relaxes as ``e^{−η λ_i t}``:
  ``f_t(X) = (I − e^{−ηΘt}) Y``, ``f_t(x) = Θ(x, X) Θ⁻¹ (I − e^{−ηΘt}) Y``.
  (neural-tangents' ``nt.predict`` divides time by ``y_train.size``: its
  ``learning_rate`` is ``η · y_train.size`` in these units.)
- everything is computed in the eigenbasis of the symmetrised Θ
  (``numpy.linalg.eigh``). Eigenvalues below ``rcond · λ_max`` are rounding
  noise in float64: a symmetric eigensolver is backward stable, with absolute
  eigenvalue errors of order ``n · ε · λ_max``. The default
  ``rcond = n · ε`` (``ε = 2.2e-16``, so 5.7e-14 for n = 256) therefore marks
  the kernel *singular* when ``λ_min ≤ rcond · λ_max`` and drops those modes
  from every inverse (a pseudo-inverse), so nothing blows up: the finite-time
  factor ``(1 − e^{−ηλt}) / λ`` is bounded by ``ηt`` anyway, and at
  ``t = ∞`` the dropped modes are exactly the ones a pseudo-inverse drops.
  ``kappa`` is then capped at ``1 / rcond`` and ``lambda_min`` reported at the
  noise floor ``rcond · λ_max``; the ``singular`` flag says so.
- where the analytic kernel itself is less precise than float64 rounding, the
  cutoff is that precision instead (:data:`KERNEL_PRECISION`, used by
  :func:`default_rcond` with an ``activation``): neural-tangents' ReLU
  (arc-cosine) kernel is good to ~1e-7, and deep in ReLU's ordered phase the
  non-constant modes of Θ fall below that (1e-10 λ_max at depth 60, σ_w² = 0.75)
  while still steering the arg-max of a 1e-7-sized prediction: with the float64
  cutoff such points came out "trainable" at depths far beyond 8ξ₁.

Why not ``nt.predict`` directly: ``gradient_descent_mse`` and
``gradient_descent_mse_ensemble`` take the same eigenbasis route, but have no
cutoff (``t = ∞`` uses a Cholesky solve that fails on singular kernels, and an
exactly zero eigenvalue gives 0/0 at finite t), do not batch over
(σ_w², depth), and the ensemble covariance wants a ``kernel_fn`` and the full
test × test NNGP block, while expected accuracy needs only its diagonal. The
formulas below are theirs (mean; covariance of the ``"ntk"`` ensemble, i.e.
including the random initial function f₀ ~ GP(0, K)); the tests check them
against ``nt.predict`` on well-conditioned kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "default_rcond",
    "eigh_sym",
    "spectrum",
    "ntk_diag_offdiag",
    "mean_predictor",
    "default_learning_rate",
    "gradient_flow",
    "predictive_moments",
    "accuracy",
    "expected_accuracy",
    "expected_correct",
    "train_metrics",
    "point_sums",
    "add_sums",
    "finish_sums",
    "kernel_metrics",
    "tidy_rows",
    "metrics_frame",
]

_EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------


def _finite(name: str, a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(
            f"{name} has {bad} non-finite entries (NaN/inf); refusing to compute"
        )
    return a


def _square(name: str, a: Any) -> np.ndarray:
    a = _finite(name, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must have shape (..., n, n), got {a.shape}")
    return a


def _targets(y_train: Any, n: int) -> np.ndarray:
    y = _finite("y_train", y_train)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"y_train must have shape ({n}, C), got {y.shape}")
    return y


def _labels(y: Any) -> np.ndarray:
    """Integer labels from integer labels ``(m,)`` or targets ``(m, C)`` (argmax)."""
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return y
    if y.ndim == 2:
        return np.argmax(_finite("targets", y), axis=-1)
    raise ValueError(
        f"labels must be integers (m,) or targets (m, C), got {y.shape} {y.dtype}"
    )


def _times(t: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if t.ndim != 1 or np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError("t must be a scalar or 1-D array of times >= 0 (inf allowed)")
    return t


#: Relative precision of the analytic kernels where it is worse than float64 rounding:
#: neural-tangents' ReLU (arc-cosine) kernel, whose angle of a point with itself comes out
#: ~1e-8 rather than 0, is good to ~1e-7 (measured against the closed-form recursion).
KERNEL_PRECISION = {"relu": 1e-7}


def default_rcond(n: int, activation: str | None = None) -> float:
    """Relative eigenvalue cutoff: ``n · ε`` (float64 rounding of an ``n × n`` eigensolve)
    or the kernel's own precision for ``activation``, whichever is larger."""
    return max(float(n) * _EPS, KERNEL_PRECISION.get(activation, 0.0))


# ---------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------


def eigh_sym(
    theta: Any, rcond: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the symmetrised kernel, with the kept-mode mask.

    Returns ``(evals, evecs, keep)``: ascending eigenvalues ``(*B, n)``,
    eigenvectors ``(*B, n, n)`` (columns), and ``keep = evals > rcond·λ_max``.

    Raises:
        ValueError: non-finite input, or ``λ_max <= 0`` (not a kernel).
    """
    theta = _square("ntk_train", theta)
    sym = 0.5 * (theta + np.swapaxes(theta, -1, -2))
    evals, evecs = np.linalg.eigh(sym)
    lmax = evals[..., -1]
    if np.any(lmax <= 0):
        raise ValueError("kernel has no positive eigenvalue (λ_max <= 0)")
    rc = default_rcond(theta.shape[-1]) if rcond is None else float(rcond)
    keep = evals > rc * lmax[..., None]
    return evals, evecs, keep


def _eig(theta: np.ndarray, rcond: float | None, eig: tuple | None):
    """A decomposition from :func:`eigh_sym`, reused when the caller already has one."""
    return eigh_sym(theta, rcond) if eig is None else eig


def spectrum(
    ntk_train: Any, rcond: float | None = None, *, eig: tuple | None = None
) -> dict[str, np.ndarray]:
    """λ_min, λ_max, κ and a singular flag of Θ(train, train).

    ``lambda_min`` is clipped at the noise floor ``rcond · λ_max``; when the
    computed smallest eigenvalue is at or below it, ``singular`` is ``True``
    and ``kappa = 1 / rcond`` (a cap, never inf or NaN).

    Returns:
        dict with ``lambda_min``, ``lambda_max``, ``kappa`` (float, shape ``B``),
        ``singular`` (bool, ``B``), ``lambda_min_raw`` (the unclipped smallest
        eigenvalue, may be ~0 or slightly negative) and ``rcond``.
    """
    theta = _square("ntk_train", ntk_train)
    rc = default_rcond(theta.shape[-1]) if rcond is None else float(rcond)
    if eig is None:
        # eigenvalues only: the eigenvectors (eigh_sym) cost several times more and twice
        # the memory, and the learning-rate job of the paper's 10k memorization split
        # (two 10k x 10k kernels, one BLAS thread) would spend most of its time on them
        evals = np.linalg.eigvalsh(0.5 * (theta + np.swapaxes(theta, -1, -2)))
        if np.any(evals[..., -1] <= 0):
            raise ValueError("kernel has no positive eigenvalue (λ_max <= 0)")
    else:
        evals = eig[0]
    lmax = evals[..., -1]
    raw = evals[..., 0]
    floor = rc * lmax
    singular = raw <= floor
    lmin = np.maximum(raw, floor)
    return {
        "lambda_min": lmin,
        "lambda_max": lmax,
        "kappa": lmax / lmin,
        "singular": singular,
        "lambda_min_raw": raw,
        "rcond": np.asarray(rc),
    }


def ntk_diag_offdiag(ntk_train: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean Θ_aa and mean Θ_ab (a ≠ b) over the training set, shape ``B``."""
    theta = _square("ntk_train", ntk_train)
    n = theta.shape[-1]
    diag = np.trace(theta, axis1=-2, axis2=-1) / n
    if n < 2:
        return diag, np.full_like(diag, np.nan)
    off = (theta.sum(axis=(-2, -1)) - diag * n) / (n * (n - 1))
    return diag, off


# ---------------------------------------------------------------------------
# predictions
# ---------------------------------------------------------------------------


def _check_blocks(ntk_train, ntk_test_train, y_train):
    theta = _square("ntk_train", ntk_train)
    n = theta.shape[-1]
    ktd = _finite("ntk_test_train", ntk_test_train)
    if ktd.ndim < 2 or ktd.shape[-1] != n or ktd.shape[:-2] != theta.shape[:-2]:
        raise ValueError(
            f"ntk_test_train shape {ktd.shape} does not match ntk_train {theta.shape}"
        )
    return theta, ktd, _targets(y_train, n)


def mean_predictor(
    ntk_train: Any,
    ntk_test_train: Any,
    y_train: Any,
    rcond: float | None = None,
    *,
    eig: tuple | None = None,
) -> np.ndarray:
    """P(Θ)Y = Θ(test, train) Θ(train, train)⁺ Y: the t = ∞ mean prediction.

    Pseudo-inverse in the eigenbasis, dropping modes with ``λ <= rcond·λ_max``.
    Returns ``(*B, m, C)``.
    """
    theta, ktd, y = _check_blocks(ntk_train, ntk_test_train, y_train)
    evals, evecs, keep = _eig(theta, rcond, eig)
    inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
    proj = np.einsum("...ji,jc->...ic", evecs, y)  # Vᵀ Y
    return np.einsum(
        "...mj,...ji,...i,...ic->...mc", ktd, evecs, inv, proj, optimize=True
    )


def default_learning_rate(lambda_max: Any) -> np.ndarray:
    """η = 2 / λ_max (SPEC)."""
    return 2.0 / np.asarray(lambda_max, dtype=np.float64)


def _mode_factors(evals, keep, eta, t):
    """Per-mode factors at times ``t``: ``1 − e^{−ηλt}`` and ``(1 − e^{−ηλt})/λ``.

    Shapes ``(*B, T, n)``; dropped modes (``keep`` False) give 0.
    """
    lam = np.where(keep, evals, 0.0)[..., None, :]  # (*B, 1, n)
    rate = eta[..., None, None] * lam  # ηλ
    tt = t[:, None]  # (T, 1)
    with np.errstate(invalid="ignore"):
        # rate * inf is inf for rate > 0 and NaN for rate == 0 (dropped modes)
        decay = -np.expm1(-np.where(keep[..., None, :], rate * tt, 0.0))
    decay = np.where(keep[..., None, :], decay, 0.0)
    safe = np.where(keep, evals, 1.0)[..., None, :]
    return decay, decay / safe


def _eta(evals, learning_rate):
    lmax = evals[..., -1]
    if learning_rate is None:
        return default_learning_rate(lmax)
    eta = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), lmax.shape)
    if not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise ValueError("learning_rate must be finite and > 0")
    return eta


def gradient_flow(
    ntk_train: Any,
    ntk_test_train: Any,
    y_train: Any,
    t: Any,
    *,
    learning_rate: Any = None,
    rcond: float | None = None,
) -> dict[str, np.ndarray]:
    """Mean gradient-flow predictions at times ``t`` (in steps at ``η``).

    ``f_t(X) = (I − e^{−ηΘt}) Y`` and
    ``f_t(x) = Θ(x, X) V diag((1 − e^{−ηλt}) / λ) Vᵀ Y`` in the eigenbasis, so
    nothing is inverted outright. ``t = inf`` gives the pseudo-inverse mean
    predictor.

    Returns:
        dict: ``train`` ``(*B, T, n, C)``, ``test`` ``(*B, T, m, C)``,
        ``learning_rate`` ``B``.
    """
    theta, ktd, y = _check_blocks(ntk_train, ntk_test_train, y_train)
    tt = _times(t)
    evals, evecs, keep = eigh_sym(theta, rcond)
    eta = _eta(evals, learning_rate)
    decay, over_lam = _mode_factors(evals, keep, eta, tt)
    proj = np.einsum("...ji,jc->...ic", evecs, y)  # (*B, n, C)
    train = np.einsum("...ji,...ti,...ic->...tjc", evecs, decay, proj, optimize=True)
    kv = np.einsum("...mj,...ji->...mi", ktd, evecs)  # Θ_td V
    test = np.einsum("...mi,...ti,...ic->...tmc", kv, over_lam, proj, optimize=True)
    return {"train": train, "test": test, "learning_rate": eta}


def _check_nngp_blocks(theta, ktd, nngp_train, nngp_test_train, nngp_test_diag):
    kdd = _square("nngp_train", nngp_train)
    ktd_k = _finite("nngp_test_train", nngp_test_train)
    ktt = _finite("nngp_test_diag", nngp_test_diag)
    if (
        kdd.shape != theta.shape
        or ktd_k.shape != ktd.shape
        or ktt.shape != ktd.shape[:-1]
    ):
        raise ValueError(
            "NNGP blocks must match the NTK blocks: "
            f"{kdd.shape} vs {theta.shape}, {ktd_k.shape} vs {ktd.shape}, "
            f"{ktt.shape} vs {ktd.shape[:-1]}"
        )
    return kdd, ktd_k, ktt


def _batched(a: np.ndarray) -> np.ndarray:
    """``a`` with a time axis inserted before its last two (matmul broadcasting)."""
    return a[..., None, :, :]


def _test_moments(ktd, ktd_k, ktt, kdd, evecs, over_lam, proj, kv=None):
    """Mean ``(*B, T, m, C)`` and variance ``(*B, T, m)`` at test points (see
    :func:`predictive_moments`); each test point needs only its own rows.

    Products are BLAS matmuls, associated as the einsum contractions they replace
    (``kv`` = Θ_td V when the caller has it)."""
    # A_t = (Θ_td V) diag(g_t) Vᵀ
    if kv is None:
        kv = np.matmul(ktd, evecs)
    a_eig = kv[..., None, :, :] * over_lam[..., :, None, :]  # (*B, T, m, n) in eigenbasis
    test_mean = np.matmul(a_eig, _batched(proj))
    a = np.matmul(a_eig, _batched(np.swapaxes(evecs, -1, -2)))  # (*B, T, m, n)
    cross = np.einsum("...tmj,...mj->...tm", a, ktd_k)
    ak = np.matmul(a, _batched(kdd), out=a_eig)  # a_eig is no longer needed
    quad = np.einsum("...tmk,...tmk->...tm", ak, a)
    test_var = np.maximum(ktt[..., None, :] - 2.0 * cross + quad, 0.0)
    return test_mean, test_var


def _train_mean(evecs, decay, proj):
    """``(I − E) Y = V diag(1 − e^{−ηλt}) Vᵀ Y``, ``(*B, T, n, C)``."""
    return np.matmul(_batched(evecs), decay[..., :, :, None] * proj[..., None, :, :])


def _train_moments(kdd, evecs, decay, proj):
    """Train mean ``(I − E) Y`` and variance ``diag(E K E)``, ``E = V e^{−ηΛt} Vᵀ``."""
    train_mean = _train_mean(evecs, decay, proj)
    remain = 1.0 - decay  # e^{−ηλt}; dropped modes do not decay (λ ≈ 0)
    e = np.matmul(evecs[..., None, :, :] * remain[..., :, None, :],
                  _batched(np.swapaxes(evecs, -1, -2)))  # (*B, T, n, n)
    ek = np.matmul(e, _batched(kdd))
    train_var = np.maximum(np.einsum("...tjl,...tjl->...tj", ek, e), 0.0)
    return train_mean, train_var


def predictive_moments(
    ntk_train: Any,
    ntk_test_train: Any,
    nngp_train: Any,
    nngp_test_train: Any,
    nngp_test_diag: Any,
    y_train: Any,
    t: Any,
    *,
    learning_rate: Any = None,
    rcond: float | None = None,
    eig: tuple | None = None,
) -> dict[str, np.ndarray]:
    """Mean and variance of an infinite network's outputs at times ``t``.

    The network is ``f_t(x) = f₀(x) + A_t(x) (Y − f₀(X))`` with
    ``A_t(x) = Θ(x, X) Θ⁺ (I − e^{−ηΘt})`` and ``f₀ ~ GP(0, K)`` (independent
    across output classes), so per test point and class the output is Gaussian
    with mean ``A_t Y`` and variance (the diagonal of
    ``nt.predict.gradient_descent_mse_ensemble(..., get="ntk",
    compute_cov=True)``)::

        σ²_t(x) = K(x, x) − 2 A_t(x) K(X, x) + A_t(x) K(X, X) A_t(x)ᵀ

    On the training set ``A_t(X) = I − e^{−ηΘt}``, so the train outputs have
    mean ``(I − e^{−ηΘt}) Y`` and variance ``diag(e^{−ηΘt} K e^{−ηΘt})``.
    Variances are clipped at 0 (rounding).

    Returns:
        dict: ``test_mean`` ``(*B, T, m, C)``, ``test_var`` ``(*B, T, m)``,
        ``train_mean`` ``(*B, T, n, C)``, ``train_var`` ``(*B, T, n)``,
        ``learning_rate`` ``B``.
    """
    theta, ktd, y = _check_blocks(ntk_train, ntk_test_train, y_train)
    kdd, ktd_k, ktt = _check_nngp_blocks(
        theta, ktd, nngp_train, nngp_test_train, nngp_test_diag
    )
    tt = _times(t)
    evals, evecs, keep = _eig(theta, rcond, eig)
    eta = _eta(evals, learning_rate)
    decay, over_lam = _mode_factors(evals, keep, eta, tt)
    proj = np.einsum("...ji,jc->...ic", evecs, y)
    test_mean, test_var = _test_moments(ktd, ktd_k, ktt, kdd, evecs, over_lam, proj)
    train_mean, train_var = _train_moments(kdd, evecs, decay, proj)
    return {
        "test_mean": test_mean,
        "test_var": test_var,
        "train_mean": train_mean,
        "train_var": train_var,
        "learning_rate": eta,
    }


# ---------------------------------------------------------------------------
# accuracies
# ---------------------------------------------------------------------------


def accuracy(pred: Any, labels: Any) -> np.ndarray:
    """Fraction of points whose argmax output equals the label; shape ``pred.shape[:-2]``.

    ``labels``: integers ``(m,)`` or targets ``(m, C)``.
    """
    pred = _finite("predictions", pred)
    lab = _labels(labels)
    if pred.shape[-2] != lab.shape[0]:
        raise ValueError(f"{pred.shape[-2]} predictions for {lab.shape[0]} labels")
    return np.mean(np.argmax(pred, axis=-1) == lab, axis=-1)


def expected_accuracy(mean: Any, var: Any, labels: Any, n_quad: int = 64) -> np.ndarray:
    """Expected accuracy: the mean over points of :func:`expected_correct`."""
    return expected_correct(mean, var, labels, n_quad).mean(axis=-1)


#: Gauss–Hermite nodes of smaller weight are skipped by :func:`expected_correct`.
_NODE_WEIGHT_FLOOR = 1e-22


def expected_correct(mean: Any, var: Any, labels: Any, n_quad: int = 64) -> np.ndarray:
    """P(correct) of each point when outputs are independent Gaussians per point and class.

    Output ``k`` at point ``i`` is ``N(mean[i, k], var[i])`` (the same variance
    for every class, independent across classes: the NNGP prior is ``K ⊗ I``).
    ``P(correct) = E_z Π_{k≠y} Φ((μ_y − μ_k)/σ + z)``, ``z ~ N(0, 1)``, by
    ``n_quad``-point Gauss–Hermite quadrature (the integrand varies on the unit
    scale in z whatever σ is, so it converges fast). ``σ = 0`` reduces to the
    argmax of the mean (ties share the credit).

    Args:
        mean: ``(*B, m, C)``.
        var: ``(*B, m)``, >= 0.
        labels: integers ``(m,)`` or targets ``(m, C)``.

    Returns:
        ``(*B, m)`` P(correct) of each point.
    """
    mean = _finite("mean", mean)
    var = _finite("var", var)
    if np.any(var < 0):
        raise ValueError("var must be >= 0")
    lab = _labels(labels)
    if mean.shape[-2] != lab.shape[0] or var.shape != mean.shape[:-1]:
        raise ValueError(
            f"shapes mean {mean.shape}, var {var.shape}, labels {lab.shape}"
        )
    n_classes = mean.shape[-1]
    mu_true = np.take_along_axis(
        mean, np.broadcast_to(lab[:, None], mean.shape[:-1] + (1,)), -1
    )
    gap = mu_true - mean  # (*B, m, C), >= 0 where the true class leads
    sigma = np.sqrt(var)[..., None]
    # σ = 0: ±inf by the sign of the gap, 0 for a tie (which then shares credit)
    z_gap = np.where(
        sigma > 0,
        gap / np.where(sigma > 0, sigma, 1.0),
        np.where(gap > 0, np.inf, np.where(gap < 0, -np.inf, 0.0)),
    )
    other = np.arange(n_classes) != lab[:, None]  # (m, C)
    if np.all(other.sum(axis=-1) == n_classes - 1):
        # only the other classes enter the product (the true class's factor is 1)
        z_other = z_gap[..., other].reshape(z_gap.shape[:-1] + (n_classes - 1,))
    else:  # labels outside 0..C-1: every class is "other"
        z_other = z_gap
    xs, ws = special.roots_hermite(int(n_quad))
    nodes, weights = np.sqrt(2.0) * xs, ws / np.sqrt(np.pi)  # nodes for N(0, 1)
    # nodes whose weight is below _NODE_WEIGHT_FLOOR change P(correct) by less than
    # their summed weight (the integrand is in [0, 1]): ~1e-20 absolute at n_quad = 64
    kept = weights >= _NODE_WEIGHT_FLOOR
    p = np.zeros(mean.shape[:-1])
    cdf = np.empty_like(z_other)
    for x, w in zip(nodes[kept], weights[kept]):
        special.ndtr(np.add(z_other, x, out=cdf), out=cdf)
        p += w * np.prod(cdf, axis=-1)
    return p


# ---------------------------------------------------------------------------
# everything at once
# ---------------------------------------------------------------------------


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
    theta = _square("ntk_train", ntk_train)
    y = _targets(y_train, theta.shape[-1])
    kdd = _square("nngp_train", nngp_train)
    if kdd.shape != theta.shape:
        raise ValueError(f"nngp_train shape {kdd.shape} does not match ntk_train {theta.shape}")
    tt = _times(t)
    eig = eigh_sym(theta, rcond)
    evals, evecs, keep = eig
    spec = spectrum(theta, rcond, eig=eig)
    diag, off = ntk_diag_offdiag(theta)
    eta = _eta(evals, learning_rate)
    decay, over_lam = _mode_factors(evals, keep, eta, tt)
    proj = np.einsum("...ji,jc->...ic", evecs, y)
    lab_train = np.argmax(y, axis=-1)
    if moments:
        train_mean, train_var = _train_moments(kdd, evecs, decay, proj)
        train_acc = expected_accuracy(train_mean, train_var, lab_train, n_quad)
    else:
        train_mean = _train_mean(evecs, decay, proj)
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
    state = {"theta": theta, "kdd": kdd, "y": y, "rcond": rcond, "eig": eig,
             "over_lam": over_lam, "proj": proj, "moments": moments, "rhs": rhs}
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
    theta, ktd, y = _check_blocks(state["theta"], ntk_test_train, state["y"])
    kdd, ktd_k, ktt = _check_nngp_blocks(
        theta, ktd, state["kdd"], nngp_test_train, nngp_test_diag
    )
    lab = _labels(y_test)
    if lab.shape[0] != ktd.shape[-2]:
        raise ValueError(f"{ktd.shape[-2]} test rows for {lab.shape[0]} labels")
    evecs = state["eig"][1]
    n_classes = y.shape[-1]
    kv = np.matmul(ktd, evecs)  # Θ_td V, shared by P(Θ)Y and the predictions
    out = np.matmul(kv, state["rhs"])  # (*B, m, (1 [+ T]) C), one BLAS call
    out = np.moveaxis(out.reshape(out.shape[:-1] + (-1, n_classes)), -2, -3)
    pinf = out[..., 0, :, :]  # the einsum path of mean_predictor: (Θ_td V)(Λ⁺ VᵀY)
    if state["moments"]:
        test_mean, test_var = _test_moments(
            ktd, ktd_k, ktt, kdd, evecs, state["over_lam"], state["proj"], kv=kv
        )
        test_correct = expected_correct(test_mean, test_var, lab, n_quad).sum(axis=-1)
    else:
        test_mean = out[..., 1:, :, :]
        test_var = np.full(test_mean.shape[:-1], np.nan)
        test_correct = np.sum(np.argmax(test_mean, axis=-1) == lab, axis=-1, dtype=np.float64)
    k = max(0, min(N_ENTRIES - first, lab.shape[0]))
    entries = np.take_along_axis(
        pinf[..., :k, :], np.broadcast_to(lab[:k, None], pinf.shape[:-2] + (k, 1)), -1
    )[..., 0]
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
        out[f"mean_pred_entry_{i}"] = (
            entries[..., i] if i < entries.shape[-1] else np.full(entries.shape[:-1], np.nan)
        )
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
        ntk_train, nngp_train, y_train, t,
        learning_rate=learning_rate, rcond=rcond, n_quad=n_quad,
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
    d, tt = np.asarray(depths), _times(t)
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

    ``sweep`` is the output of :func:`ntk_phases.kernels.depth_sweep` (with test
    keys). One row per (sigma_w2, depth, t); ``constants`` (e.g. ``arch=``,
    ``activation=``, ``dataset=``) become leading columns. Loops over σ_w² to
    bound memory, and over chunks of depths holding about ``max_elements``
    float64 temporaries. ``learning_rate=None`` uses η = 2/λ_max at each point.
    """
    import pandas as pd

    tt = _times(t)
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
