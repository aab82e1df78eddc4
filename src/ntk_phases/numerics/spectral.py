"""Eigendecomposition of kernels with a relative cutoff, spectra and κ.

Pure NumPy functions (float64): every function accepts kernels with any leading batch shape
``B`` (e.g. ``(n_sigma, n_depth)``).

Everything is computed in the eigenbasis of the symmetrised Θ (``numpy.linalg.eigh``). The
spectrum alone (λ_min, λ_max, κ: the learning-rate jobs) of kernels of
:data:`LANCZOS_MIN_N` points or more comes from Lanczos iterations instead
(:func:`extreme_eigenvalues`; equal to eigvalsh to ~1e-12 relative, tested at 1e-9).
Eigenvalues below ``rcond · λ_max`` are rounding noise in float64: a symmetric eigensolver is
backward stable, with absolute eigenvalue errors of order ``n · ε · λ_max``. The default
``rcond = n · ε`` (``ε = 2.2e-16``, so 5.7e-14 for n = 256) therefore marks the kernel
*singular* when ``λ_min ≤ rcond · λ_max`` and drops those modes from every inverse (a
pseudo-inverse), so nothing blows up: the finite-time factor ``(1 − e^{−ηλt}) / λ`` is
bounded by ``ηt`` anyway, and at ``t = ∞`` the dropped modes are exactly the ones a
pseudo-inverse drops. ``kappa`` is then capped at ``1 / rcond`` and ``lambda_min`` reported
at the noise floor ``rcond · λ_max``; the ``singular`` flag says so.

Where the analytic kernel itself is less precise than float64 rounding, the cutoff is that
precision instead (:data:`KERNEL_PRECISION`, used by :func:`default_rcond` with an
``activation``): neural-tangents' ReLU (arc-cosine) kernel is good to ~1e-7, and deep in
ReLU's ordered phase the non-constant modes of Θ fall below that (1e-10 λ_max at depth 60,
σ_w² = 0.75) while still steering the arg-max of a 1e-7-sized prediction: with the float64
cutoff such points came out "trainable" at depths far beyond 8ξ₁.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg
from scipy.sparse import linalg as sparse_linalg

from .validate import check_square

__all__ = [
    "KERNEL_PRECISION",
    "default_rcond",
    "eigh_sym",
    "extreme_eigenvalues",
    "spectrum",
    "ntk_diag_offdiag",
]

_EPS = np.finfo(np.float64).eps


#: Relative precision of the analytic kernels where it is worse than float64 rounding:
#: neural-tangents' ReLU (arc-cosine) kernel, whose angle of a point with itself comes out
#: ~1e-8 rather than 0, is good to ~1e-7 (measured against the closed-form recursion).
KERNEL_PRECISION = {"relu": 1e-7}


def default_rcond(n: int, activation: str | None = None) -> float:
    """Relative eigenvalue cutoff: ``n · ε`` (float64 rounding of an ``n × n`` eigensolve)
    or the kernel's own precision for ``activation``, whichever is larger."""
    return max(float(n) * _EPS, KERNEL_PRECISION.get(activation, 0.0))


def eigh_sym(theta: Any, rcond: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the symmetrised kernel, with the kept-mode mask.

    Returns ``(evals, evecs, keep)``: ascending eigenvalues ``(*B, n)``,
    eigenvectors ``(*B, n, n)`` (columns), and ``keep = evals > rcond·λ_max``.

    Raises:
        ValueError: non-finite input, or ``λ_max <= 0`` (not a kernel).
    """
    theta = check_square("ntk_train", theta)
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


#: From this many points on, :func:`extreme_eigenvalues` uses Lanczos iterations instead of
#: a full ``eigvalsh``: at n = 10 000 (the paper's memorization split, one BLAS thread) a
#: full eigvalsh takes ~1.5 min per kernel, the Cholesky factor and Lanczos ~0.3 of that.
LANCZOS_MIN_N = 4096
#: ARPACK's relative tolerance on each extreme eigenvalue (of Θ and of (Θ + sI)⁻¹)
LANCZOS_TOL = 1e-12


def _extremes_lanczos(sym: np.ndarray) -> tuple[float, float] | None:
    """(λ_min, λ_max) of one symmetric matrix by Lanczos: λ_max of Θ, and λ_min through the
    largest eigenvalue 1/(λ_min + s) of (Θ + sI)⁻¹ applied by a Cholesky factor (ARPACK's
    shift-invert mode, done by hand so that the factor is Cholesky, not LU). The shift
    ``s = 2nε·λ_max`` keeps a numerically singular Θ positive definite. ``None`` where
    that fails (λ_min < −s) or ARPACK does not converge: the caller falls back to eigvalsh."""
    n = sym.shape[-1]
    v0 = np.random.default_rng(0).standard_normal(n)  # ARPACK's own start vector is random
    try:
        lmax = float(sparse_linalg.eigsh(sym, k=1, which="LA", tol=LANCZOS_TOL, v0=v0, return_eigenvectors=False)[0])
        shift = 2.0 * n * _EPS * abs(lmax)
        factor = linalg.cho_factor(sym + shift * np.eye(n), lower=True, check_finite=False)
        inverse = sparse_linalg.LinearOperator(
            (n, n), matvec=lambda v: linalg.cho_solve(factor, v, check_finite=False), dtype=np.float64
        )
        mu = float(sparse_linalg.eigsh(inverse, k=1, which="LA", tol=LANCZOS_TOL, v0=v0, return_eigenvectors=False)[0])
    except (np.linalg.LinAlgError, sparse_linalg.ArpackNoConvergence, sparse_linalg.ArpackError):
        return None
    return 1.0 / mu - shift, lmax


def extreme_eigenvalues(sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and the largest eigenvalue of symmetric matrices ``(*B, n, n)``, each of
    shape ``B``: by ``numpy.linalg.eigvalsh`` below :data:`LANCZOS_MIN_N` points, by
    Lanczos iterations (:func:`_extremes_lanczos`, relative error ~:data:`LANCZOS_TOL`)
    from there on, falling back to eigvalsh for a matrix where those fail."""
    n = sym.shape[-1]
    if n < LANCZOS_MIN_N:
        # eigenvalues only: the eigenvectors (eigh_sym) cost several times more
        evals = np.linalg.eigvalsh(sym)
        return evals[..., 0], evals[..., -1]
    flat = sym.reshape((-1, n, n))
    out = np.empty((flat.shape[0], 2))
    for i, m in enumerate(flat):
        found = _extremes_lanczos(m)
        if found is None:
            evals = np.linalg.eigvalsh(m)
            found = (evals[0], evals[-1])
        out[i] = found
    return out[:, 0].reshape(sym.shape[:-2]), out[:, 1].reshape(sym.shape[:-2])


def spectrum(ntk_train: Any, rcond: float | None = None, *, eig: tuple | None = None) -> dict[str, np.ndarray]:
    """λ_min, λ_max, κ and a singular flag of Θ(train, train).

    ``lambda_min`` is clipped at the noise floor ``rcond · λ_max``; when the
    computed smallest eigenvalue is at or below it, ``singular`` is ``True``
    and ``kappa = 1 / rcond`` (a cap, never inf or NaN).

    Returns:
        dict with ``lambda_min``, ``lambda_max``, ``kappa`` (float, shape ``B``),
        ``singular`` (bool, ``B``), ``lambda_min_raw`` (the unclipped smallest
        eigenvalue, may be ~0 or slightly negative) and ``rcond``.
    """
    theta = check_square("ntk_train", ntk_train)
    rc = default_rcond(theta.shape[-1]) if rcond is None else float(rcond)
    if eig is None:
        raw, lmax = extreme_eigenvalues(0.5 * (theta + np.swapaxes(theta, -1, -2)))
        if np.any(lmax <= 0):
            raise ValueError("kernel has no positive eigenvalue (λ_max <= 0)")
    else:
        raw, lmax = eig[0][..., 0], eig[0][..., -1]
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
    theta = check_square("ntk_train", ntk_train)
    n = theta.shape[-1]
    diag = np.trace(theta, axis1=-2, axis2=-1) / n
    if n < 2:
        return diag, np.full_like(diag, np.nan)
    off = (theta.sum(axis=(-2, -1)) - diag * n) / (n * (n - 1))
    return diag, off


# kernel statistics over pairs of examples (freeze/chaos, checkerboard)
# ----------------------------------------------------------------------------


def normalized(theta: np.ndarray) -> np.ndarray:
    """Θ_ab / √(Θ_aa Θ_bb) over the last two axes."""
    theta = np.asarray(theta, dtype=np.float64)
    d = np.sqrt(np.diagonal(theta, axis1=-2, axis2=-1))
    return theta / (d[..., :, None] * d[..., None, :])


def offdiag_stats(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over pairs a < b of the normalized kernel, shape ``B``."""
    r = normalized(theta)
    n = r.shape[-1]
    iu = np.triu_indices(n, 1)
    v = r[..., iu[0], iu[1]]
    return v.mean(axis=-1), v.std(axis=-1)


def pair_stats(kernel: np.ndarray) -> dict:
    """Per-depth statistics of a stack of kernels (B × N × N) over pairs a < b.

    ``diag``: mean diagonal; ``corr_mean``/``corr_std``: mean and spread of the normalized
    kernel; ``gap_isqrt``: mean of (1 − corr)^(−1/2), the variable in which the ReLU
    critical correlation law is linear (:func:`relu_critical_law`).
    """
    r = normalized(kernel)
    iu = np.triu_indices(r.shape[-1], 1)
    v = r[..., iu[0], iu[1]]
    with np.errstate(divide="ignore"):
        isq = np.mean(1.0 / np.sqrt(np.maximum(1.0 - v, 1e-300)), axis=-1)
    return {
        "diag": np.mean(np.diagonal(kernel, axis1=-2, axis2=-1), axis=-1),
        "corr_mean": v.mean(axis=-1),
        "corr_std": v.std(axis=-1),
        "gap_isqrt": isq,
    }
