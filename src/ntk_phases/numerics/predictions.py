"""Predictions of infinite networks trained on the MSE loss: the mean predictor, the
gradient-flow predictions, the predictive moments over the random initial function, the
learning rate η = f · 2/λ_max, and (expected) accuracies.

Pure NumPy functions (float64) over kernels with any leading batch shape ``B``; the
training targets are shared across the batch:

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
- everything is computed in the eigenbasis of the symmetrised Θ with the cutoff of
  :mod:`.spectral` (a pseudo-inverse).

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

from .spectral import eigh_sym
from .validate import check_finite, check_labels, check_square, check_targets, check_times

__all__ = [
    "eta_from_lambda_max",
    "mean_predictor",
    "gradient_flow",
    "predictive_moments",
    "linearized_prediction",
    "expected_loss",
    "accuracy",
    "expected_accuracy",
    "expected_correct",
    # building blocks shared with :mod:`.streaming`
    "check_blocks",
    "check_nngp_blocks",
    "resolve_learning_rate",
    "mode_factors",
    "mean_at_train_points",
    "moments_at_train_points",
    "moments_at_test_points",
]


def _eig(theta: np.ndarray, rcond: float | None, eig: tuple | None):
    """A decomposition from :func:`eigh_sym`, reused when the caller already has one."""
    return eigh_sym(theta, rcond) if eig is None else eig


def check_blocks(ntk_train, ntk_test_train, y_train):
    theta = check_square("ntk_train", ntk_train)
    n = theta.shape[-1]
    ktd = check_finite("ntk_test_train", ntk_test_train)
    if ktd.ndim < 2 or ktd.shape[-1] != n or ktd.shape[:-2] != theta.shape[:-2]:
        raise ValueError(f"ntk_test_train shape {ktd.shape} does not match ntk_train {theta.shape}")
    return theta, ktd, check_targets(y_train, n)


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
    theta, ktd, y = check_blocks(ntk_train, ntk_test_train, y_train)
    evals, evecs, keep = _eig(theta, rcond, eig)
    inv = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
    proj = np.einsum("...ji,jc->...ic", evecs, y)  # Vᵀ Y
    return np.einsum("...mj,...ji,...i,...ic->...mc", ktd, evecs, inv, proj, optimize=True)


def eta_from_lambda_max(lambda_max: Any, factor: float = 1.0) -> np.ndarray:
    """η = factor · 2 / λ_max (SPEC), λ_max the top eigenvalue of the analytic Θ(train, train).

    The one definition of the learning rate: the metrics' default (``factor = 1``) and the
    trained networks' (``lr_factor`` of the training sections) both come from here."""
    return factor * 2.0 / np.asarray(lambda_max, dtype=np.float64)


#: How training moves along the eigenmodes of Θ: the continuous-time gradient flow (the
#: infinite-width metrics, time in steps at η) or discrete full-batch gradient descent
#: (exactly what the trained networks run; with η = O(1/λ_max) the top modes differ a lot).
DYNAMICS = ("flow", "gd")


def _gd_remaining(keep, rate, tt):
    """``(1 − ηλ)^t`` of each mode under gradient descent (1 for dropped modes)."""
    return np.where(keep[..., None, :], (1.0 - rate) ** tt, 1.0)


def mode_factors(evals, keep, eta, t, dynamics: str = "flow"):
    """Per-mode factors at times ``t``: the part of each mode learned, ``1 − e^{−ηλt}``
    (flow) or ``1 − (1 − ηλ)^t`` (gd), and that part over λ.

    Shapes ``(*B, T, n)``. Dropped modes (``keep`` False) learn nothing; their factor
    over λ is 0 under the flow (the pseudo-inverse's convention, so that ``t = ∞`` is the
    mean predictor) and its λ → 0 limit ``ηt`` under gd.
    """
    lam = np.where(keep, evals, 0.0)[..., None, :]  # (*B, 1, n)
    rate = eta[..., None, None] * lam  # ηλ
    tt = t[:, None]  # (T, 1)
    safe = np.where(keep, evals, 1.0)[..., None, :]
    if dynamics == "gd":
        decay = 1.0 - _gd_remaining(keep, rate, tt)
        return decay, np.where(keep[..., None, :], decay / safe, eta[..., None, None] * tt)
    if dynamics != "flow":
        raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}")
    with np.errstate(invalid="ignore"):
        # rate * inf is inf for rate > 0 and NaN for rate == 0 (dropped modes)
        decay = -np.expm1(-np.where(keep[..., None, :], rate * tt, 0.0))
    decay = np.where(keep[..., None, :], decay, 0.0)
    return decay, decay / safe


def resolve_learning_rate(evals, learning_rate):
    lmax = evals[..., -1]
    if learning_rate is None:
        return eta_from_lambda_max(lmax)
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
    theta, ktd, y = check_blocks(ntk_train, ntk_test_train, y_train)
    tt = check_times(t)
    evals, evecs, keep = eigh_sym(theta, rcond)
    eta = resolve_learning_rate(evals, learning_rate)
    decay, over_lam = mode_factors(evals, keep, eta, tt)
    proj = np.einsum("...ji,jc->...ic", evecs, y)  # (*B, n, C)
    train = np.einsum("...ji,...ti,...ic->...tjc", evecs, decay, proj, optimize=True)
    kv = np.einsum("...mj,...ji->...mi", ktd, evecs)  # Θ_td V
    test = np.einsum("...mi,...ti,...ic->...tmc", kv, over_lam, proj, optimize=True)
    return {"train": train, "test": test, "learning_rate": eta}


def check_nngp_blocks(theta, ktd, nngp_train, nngp_test_train, nngp_test_diag):
    kdd = check_square("nngp_train", nngp_train)
    ktd_k = check_finite("nngp_test_train", nngp_test_train)
    ktt = check_finite("nngp_test_diag", nngp_test_diag)
    if kdd.shape != theta.shape or ktd_k.shape != ktd.shape or ktt.shape != ktd.shape[:-1]:
        raise ValueError(
            "NNGP blocks must match the NTK blocks: "
            f"{kdd.shape} vs {theta.shape}, {ktd_k.shape} vs {ktd.shape}, "
            f"{ktt.shape} vs {ktd.shape[:-1]}"
        )
    return kdd, ktd_k, ktt


def _batched(a: np.ndarray) -> np.ndarray:
    """``a`` with a time axis inserted before its last two (matmul broadcasting)."""
    return a[..., None, :, :]


def moments_at_test_points(ktd, ktd_k, ktt, kdd, evecs, over_lam, proj, kv=None):
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


def mean_at_train_points(evecs, decay, proj):
    """``(I − E) Y = V diag(1 − e^{−ηλt}) Vᵀ Y``, ``(*B, T, n, C)``."""
    return np.matmul(_batched(evecs), decay[..., :, :, None] * proj[..., None, :, :])


def moments_at_train_points(kdd, evecs, decay, proj):
    """Train mean ``(I − E) Y`` and variance ``diag(E K E)``, ``E = V e^{−ηΛt} Vᵀ``."""
    train_mean = mean_at_train_points(evecs, decay, proj)
    remain = 1.0 - decay  # e^{−ηλt}; dropped modes do not decay (λ ≈ 0)
    e = np.matmul(
        evecs[..., None, :, :] * remain[..., :, None, :], _batched(np.swapaxes(evecs, -1, -2))
    )  # (*B, T, n, n)
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
    dynamics: str = "flow",
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

    ``dynamics="gd"``: discrete full-batch gradient descent at ``learning_rate`` instead
    of the flow, ``t`` counting steps: ``e^{−ηλt}`` becomes ``(1 − ηλ)^t`` throughout
    (the width experiment's infinite-width network, :func:`linearized_prediction`
    averaged over f₀).

    Returns:
        dict: ``test_mean`` ``(*B, T, m, C)``, ``test_var`` ``(*B, T, m)``,
        ``train_mean`` ``(*B, T, n, C)``, ``train_var`` ``(*B, T, n)``,
        ``learning_rate`` ``B``.
    """
    theta, ktd, y = check_blocks(ntk_train, ntk_test_train, y_train)
    kdd, ktd_k, ktt = check_nngp_blocks(theta, ktd, nngp_train, nngp_test_train, nngp_test_diag)
    tt = check_times(t)
    evals, evecs, keep = _eig(theta, rcond, eig)
    eta = resolve_learning_rate(evals, learning_rate)
    decay, over_lam = mode_factors(evals, keep, eta, tt, dynamics)
    proj = np.einsum("...ji,jc->...ic", evecs, y)
    test_mean, test_var = moments_at_test_points(ktd, ktd_k, ktt, kdd, evecs, over_lam, proj)
    train_mean, train_var = moments_at_train_points(kdd, evecs, decay, proj)
    return {
        "test_mean": test_mean,
        "test_var": test_var,
        "train_mean": train_mean,
        "train_var": train_var,
        "learning_rate": eta,
    }


def accuracy(pred: Any, labels: Any) -> np.ndarray:
    """Fraction of points whose argmax output equals the label; shape ``pred.shape[:-2]``.

    ``labels``: integers ``(m,)`` or targets ``(m, C)``.
    """
    pred = check_finite("predictions", pred)
    lab = check_labels(labels)
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
    mean = check_finite("mean", mean)
    var = check_finite("var", var)
    if np.any(var < 0):
        raise ValueError("var must be >= 0")
    lab = check_labels(labels)
    if mean.shape[-2] != lab.shape[0] or var.shape != mean.shape[:-1]:
        raise ValueError(f"shapes mean {mean.shape}, var {var.shape}, labels {lab.shape}")
    n_classes = mean.shape[-1]
    mu_true = np.take_along_axis(mean, np.broadcast_to(lab[:, None], mean.shape[:-1] + (1,)), -1)
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


# discrete-time gradient descent (the width experiment's linearized networks)


def linearized_prediction(
    ntk_train, ntk_test_train, y_train, f0_train, f0_test, eta: float, steps, rcond: float | None = None
) -> dict[str, np.ndarray]:
    """Outputs of the infinite-width (linearized, analytic-NTK) network started from the
    *given* initial function ``f0`` and trained by discrete gradient descent at ``eta``::

        f_t(X) = Y + V (1 − ηΛ)^t Vᵀ (f₀(X) − Y)
        f_t(x) = f₀(x) + Θ(x, X) V diag((1 − (1 − ηλ)^t)/λ) Vᵀ (Y − f₀(X))

    ``f0_train`` ``(..., n, C)`` and ``f0_test`` ``(..., m, C)`` may carry leading axes
    (seeds). Returns ``train`` ``(..., T, n, C)`` and ``test`` ``(..., T, m, C)``.
    """
    evals, evecs, keep = eigh_sym(ntk_train, rcond)
    eta, steps = np.asarray(eta, float), check_times(steps)
    _, gain = mode_factors(evals, keep, eta, steps, "gd")
    remain = _gd_remaining(keep, eta * np.where(keep, evals, 0.0), steps[:, None])
    y = np.asarray(y_train, float)
    r0 = np.einsum("ji,...jc->...ic", evecs, y - np.asarray(f0_train, float))  # Vᵀ(Y − f₀)
    train = y[None] - np.einsum("ji,ti,...ic->...tjc", evecs, remain, r0)
    kv = np.asarray(ntk_test_train, float) @ evecs
    test = np.asarray(f0_test, float)[..., None, :, :] + np.einsum("mi,ti,...ic->...tmc", kv, gain, r0)
    return {"train": train, "test": test}


def expected_loss(mean: np.ndarray, var: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E ½ (1/m) Σ_i ‖f(x_i) − y_i‖² for independent Gaussian outputs ``N(mean, var)`` per
    class: ``½ mean_i (‖mean_i − y_i‖² + C var_i)`` (the train job's recorded loss)."""
    n_classes = mean.shape[-1]
    return 0.5 * np.mean(np.sum((mean - y) ** 2, axis=-1) + n_classes * var, axis=-1)
