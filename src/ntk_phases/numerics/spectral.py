"""Eigendecomposition of kernels with a relative cutoff, spectra and κ.

Pure NumPy functions (float64): every function accepts kernels with any leading batch shape
``B`` (e.g. ``(n_sigma, n_depth)``).

Everything is computed in the eigenbasis of the symmetrised Θ (``numpy.linalg.eigh``).
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

from .validate import check_square

__all__ = ["KERNEL_PRECISION", "default_rcond", "eigh_sym", "spectrum", "ntk_diag_offdiag"]

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
