"""Mean-field signal propagation: q*, c*, χ₁, χ_c*, depth scales, phase tables.

For a dense layer in NTK parameterization followed by φ, the kernel maps are
``K ↦ σ_w² T(K) + σ_b²`` with ``T(K) = E[φ(u)φ(v)]`` and the derivative kernel
``Ṫ(K) = E[φ'(u)φ'(v)]``. Both come from neural-tangents: the activation layer's
``kernel_fn`` is applied to a :class:`neural_tangents.Kernel` whose covariance we set
directly, so T and Ṫ are exactly the maps the analytic kernels stage iterates.

- q*: largest root of ``g(q) = σ_w² T(q) + σ_b² − q`` by Newton iteration (derivative
  by autodiff), started to the right of the root where g is concave and negative;
  where no stable root exists (ReLU with σ_w² ≥ 2) q* = inf and ``bounded`` is False.
- c*: root of ``h(c) = (σ_w² T(q*, q* c) + σ_b²)/q* − c`` on [0, 1) by Newton from
  c = 0 (h is convex on [0, 1] because the correlation map has non-negative Taylor
  coefficients, so the iteration is monotone); c* = 1 in the ordered phase. The slope is
  ``h'(c) = σ_w² Ṫ(q*, q* c) − 1`` (Price's theorem), and T, Ṫ are evaluated for the one
  off-diagonal entry only (a 1 × 1 cross-kernel between two inputs of length q*): for the
  quadrature-based tanh that is one 2-D quadrature per map instead of the four entries of
  a 2 × 2 kernel and their autodiff (``bench/bench_theory.py`` measures the ratio).
- χ₁ = σ_w² Ṫ(q*, q*) and χ_c* = σ_w² Ṫ(q*, q* c*) (Price's theorem: Ṫ is the
  slope of T in its off-diagonal argument, which the tests check by autodiff).
- ξ_c = −1/log χ_c*, ξ₁ = −1/log χ₁ (ordered), ξ* = −1/(log χ_c* − log χ₁) (chaotic).

Everything is jitted and vmapped over a flattened (σ_w², σ_b²) grid, in batches of grid
points (:func:`grid_batch_size`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from neural_tangents import stax

from ..config import grid
from ..tables import PHASE_COLUMNS
from .layers import activation_layer

ACTIVATIONS = ("erf", "tanh", "relu")


@functools.cache
def dual_maps(activation: str, quadrature_degree: int | None, with_derivative: bool = True) -> Callable:
    """``dual(K) -> (T(K), Ṫ(K))`` for a covariance matrix K of shape (n, n), n ∈ {1, 2}.

    Built on neural-tangents' kernel function of the activation layer. Without the
    derivative, Ṫ is not computed (returned as None): the fixed-point iterations need
    only T, and for the quadrature-based tanh that halves their cost.
    """
    _, _, kernel_fn = activation_layer(activation, quadrature_degree)
    _, _, identity_fn = stax.Identity()
    templates = {n: identity_fn(np.ones((n, 1)), None) for n in (1, 2)}

    def dual(K: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        n = K.shape[0]
        k = templates[n].replace(
            nngp=K,
            cov1=jnp.diagonal(K),
            ntk=jnp.ones_like(K) if with_derivative else None,
            is_input=False,
            is_gaussian=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = kernel_fn(k)
        return out.nngp, out.ntk

    return dual


@functools.cache
def cross_maps(activation: str, quadrature_degree: int | None) -> Callable:
    """``cross(q, c) -> (T, Ṫ)`` of two inputs of equal length q and correlation c.

    The same neural-tangents kernel function as :func:`dual_maps`, applied to the 1 × 1
    cross-covariance ``q c`` between two single inputs (``cov1 = cov2 = q``), so only the
    off-diagonal entry the correlation map needs is integrated.
    """
    _, _, kernel_fn = activation_layer(activation, quadrature_degree)
    _, _, identity_fn = stax.Identity()
    template = identity_fn(np.ones((1, 1)), np.ones((1, 1)))

    def cross(q, c) -> tuple[jnp.ndarray, jnp.ndarray]:
        diag = jnp.reshape(q, (1,))
        k = template.replace(
            nngp=jnp.reshape(q * c, (1, 1)),
            cov1=diag,
            cov2=diag,
            ntk=jnp.ones((1, 1), dtype=diag.dtype),
            is_input=False,
            is_gaussian=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = kernel_fn(k)
        return out.nngp[0, 0], out.ntk[0, 0]

    return cross


def q_map(activation: str, q, sigma_w2, sigma_b2, quadrature_degree: int | None):
    """One step of the length map q ↦ σ_w² T(q) + σ_b²."""
    T, _ = dual_maps(activation, quadrature_degree, False)(jnp.reshape(q, (1, 1)))
    return sigma_w2 * T[0, 0] + sigma_b2


def c_map(activation: str, c, q, sigma_w2, sigma_b2, quadrature_degree: int | None):
    """One step of the correlation map at fixed length q."""
    T, _ = cross_maps(activation, quadrature_degree)(q, c)
    return (sigma_w2 * T + sigma_b2) / q


def _newton(update: Callable, x0, max_iters: int, rtol: float = 1e-13, noise_rtol: float = 1e-8):
    """``(x, iterations)``: iterate ``x ← update(x)`` until the step is below
    ``rtol·max(1, |x|)``, until it stops shrinking once below ``noise_rtol·max(1, |x|)``,
    or for ``max_iters``.

    A while loop rather than a fixed count: under vmap it stops when every grid point
    has converged, which matters for the quadrature-based tanh kernel. Near the critical
    line h'(c*) = χ_c* − 1 is small and rounding in the quadrature sum, divided by it,
    keeps Newton steps at ~1e-13 forever; a step that no longer shrinks in the last
    digits means the iteration has reached that floor, so it stops there instead of
    running every lane to ``max_iters``.
    """

    def cond(state):
        i, x, dx, dx_prev = state
        scale = jnp.maximum(1.0, jnp.abs(x))
        stalled = (dx >= dx_prev) & (dx < noise_rtol * scale)
        return (i < max_iters) & (dx > rtol * scale) & ~stalled

    def body(state):
        i, x, dx, _ = state
        x_new = update(x)
        return i + 1, x_new, jnp.abs(x_new - x), dx

    init = (0, jnp.asarray(x0, dtype=jnp.float64), jnp.inf, jnp.inf)
    iters, x, _, _ = jax.lax.while_loop(cond, body, init)
    return x, iters


def correlation_root(activation: str, quadrature_degree: int, newton_iters: int, q, sigma_w2, sigma_b2):
    """``(c, iterations)``: the smallest root on [0, 1) of the correlation map's
    ``h(c) = (σ_w² T(q, q c) + σ_b²)/q − c`` at length q, by Newton from c = 0 with the
    Price slope ``h'(c) = σ_w² Ṫ(q, q c) − 1``. Tends to 1 where no root lies below 1."""
    cross = cross_maps(activation, quadrature_degree)
    c_hi = 1.0 - 1e-12

    def newton_c(c):
        T, Tdot = cross(q, c)
        step = ((sigma_w2 * T + sigma_b2) / q - c) / (sigma_w2 * Tdot - 1.0)
        step = jnp.where(jnp.isfinite(step), step, 0.0)
        return jnp.clip(c - step, 0.0, c_hi)

    return _newton(newton_c, jnp.asarray(0.0), newton_iters)


def _fixed_point_one(activation: str, quadrature_degree: int, newton_iters: int, sigma_w2, sigma_b2):
    """q*, c*, χ₁, χ_c*, the fixed-point residuals and Newton iteration counts at one
    (σ_w², σ_b²)."""
    deg = quadrature_degree

    def g(q):
        return q_map(activation, q, sigma_w2, sigma_b2, deg) - q

    def newton_q(q):
        step = g(q) / jax.grad(g)(q)
        return jnp.maximum(q - step, 0.0)

    q0 = sigma_w2 + sigma_b2 + 1.0
    q, q_iters = _newton(newton_q, q0, newton_iters)
    q_res = jnp.abs(g(q)) / jnp.maximum(1.0, q)
    # The root must be a stable fixed point of the length map (slope < 1); otherwise the
    # length diverges (ReLU with σ_w² > 2 has only the unstable root q = 0 when σ_b² = 0).
    slope = jax.grad(q_map, argnums=1)(activation, jnp.maximum(q, 1e-12), sigma_w2, sigma_b2, deg)
    bounded = jnp.isfinite(q) & (q_res < 1e-8) & (slope < 1.0 + 1e-9)
    q_safe = jnp.where(bounded, jnp.maximum(q, 1e-12), 1.0)

    _, Tdot_diag = dual_maps(activation, deg)(jnp.reshape(q_safe, (1, 1)))
    chi_1 = sigma_w2 * Tdot_diag[0, 0]

    c_newton, c_iters = correlation_root(activation, deg, newton_iters, q_safe, sigma_w2, sigma_b2)
    chaotic = bounded & (chi_1 > 1.0)
    c = jnp.where(chaotic, c_newton, 1.0)
    # one evaluation at the root gives both its residual and χ_c* (used where chaotic)
    T, Tdot = cross_maps(activation, deg)(q_safe, c_newton)
    c_res = jnp.where(chaotic, jnp.abs((sigma_w2 * T + sigma_b2) / q_safe - c_newton), 0.0)
    chi_c = jnp.where(chaotic, sigma_w2 * Tdot, chi_1)
    q = jnp.where(bounded, q, jnp.inf)
    return q, c, chi_1, chi_c, q_res, c_res, bounded, q_iters, c_iters


@functools.cache
def _fixed_points_fn(activation: str, quadrature_degree: int, newton_iters: int):
    one = functools.partial(_fixed_point_one, activation, quadrature_degree, newton_iters)
    batch = grid_batch_size(activation, quadrature_degree)

    def all_points(sigma_w2, sigma_b2):
        return jax.lax.map(lambda p: one(*p), (sigma_w2, sigma_b2), batch_size=batch)

    return jax.jit(all_points)


# Elements of one quadrature buffer per batch of grid points (2^22 float64 = 32 MB).
QUADRATURE_ELEMENTS_PER_BATCH = 2**22


def grid_batch_size(activation: str, quadrature_degree: int) -> int:
    """Grid points vmapped together; batches run one after another (``lax.map``).

    The quadrature-based tanh holds ``degree²`` nodes per point in each of its buffers:
    the whole paper grid at once (36,000 points, degree 128) peaked at 19 GB. A batch's
    while loops also stop at that batch's slowest point rather than the whole grid's.
    """
    if activation == "tanh":
        return max(1, QUADRATURE_ELEMENTS_PER_BATCH // quadrature_degree**2)
    return 4096


def depth_scales(chi_1: np.ndarray, chi_c: np.ndarray) -> dict[str, np.ndarray]:
    """ξ_c everywhere; ξ₁ in the ordered phase and ξ* in the chaotic phase (NaN elsewhere)."""
    chi_1 = np.asarray(chi_1, dtype=np.float64)
    chi_c = np.asarray(chi_c, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi_c = np.where(chi_c < 1, -1.0 / np.log(chi_c), np.inf)
        xi_1 = np.where(chi_1 < 1, -1.0 / np.log(chi_1), np.nan)
        gap = np.log(chi_c) - np.log(chi_1)
        xi_star = np.where(chi_1 > 1, np.where(gap < 0, -1.0 / gap, np.inf), np.nan)
    return {"xi_1": xi_1, "xi_c": xi_c, "xi_star": xi_star}


def phase_diagram(
    activation: str,
    sigma_w2: np.ndarray,
    sigma_b2: np.ndarray,
    quadrature_degree: int | None,
    newton_iters: int,
) -> dict[str, np.ndarray]:
    """Mean-field quantities on every (σ_w², σ_b²) pair of the two 1-D grids.

    Returns flat arrays (σ_w² varying slowest) keyed by the ``phase_<activation>.csv``
    columns, plus the residuals ``q_residual`` and ``c_residual`` of the fixed points and
    the Newton iterations ``q_iterations`` and ``c_iterations`` each took.

    ``quadrature_degree`` (config ``theory.quadrature_degree``) is the Gauss–Hermite degree
    of tanh, which only tanh needs (``None`` for erf and relu). ``newton_iters`` is config
    ``theory.newton_iters``.
    """
    if activation == "tanh" and quadrature_degree is None:
        raise ValueError("activation tanh needs its Gauss–Hermite degree (quadrature_degree)")
    sw, sb = np.meshgrid(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float), indexing="ij")
    sw, sb = sw.ravel(), sb.ravel()
    fn = _fixed_points_fn(activation, quadrature_degree, newton_iters)
    q, c, chi_1, chi_c, q_res, c_res, bounded, q_it, c_it = (
        np.asarray(a) for a in fn(jnp.asarray(sw), jnp.asarray(sb))
    )
    out = {
        "sigma_w2": sw,
        "sigma_b2": sb,
        "q_star": q,
        "c_star": c,
        "chi_1": chi_1,
        "chi_c": chi_c,
        "q_residual": q_res,
        "c_residual": c_res,
        "q_iterations": q_it,
        "c_iterations": c_it,
        "bounded": bounded.astype(bool),
    }
    out.update(depth_scales(chi_1, chi_c))
    # ReLU beyond σ_w² = 2 has no finite q*: the signal explodes rather than decorrelates.
    out["phase"] = np.where(~out["bounded"], "unbounded", np.where(chi_1 > 1.0, "chaotic", "ordered"))
    return out


def correlation_trajectory(
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    c0: float,
    depth: int,
    quadrature_degree: int | None,
    newton_iters: int,
) -> np.ndarray:
    """c^l for l = 0..depth from c⁰ = c0, at the fixed length q* (mean-field)."""
    fp = phase_diagram(activation, [sigma_w2], [sigma_b2], quadrature_degree, newton_iters)
    q = float(fp["q_star"][0])

    def step(c, _):
        c_next = c_map(activation, c, q, sigma_w2, sigma_b2, quadrature_degree)
        return c_next, c_next

    _, cs = jax.lax.scan(step, jnp.asarray(float(c0)), None, length=depth)
    return np.concatenate([[c0], np.asarray(cs)])


def phase_table(activation: str, sigma_w2, sigma_b2, quadrature_degree: int | None, newton_iters: int):
    """The tidy ``phase_<activation>.csv`` table as a pandas DataFrame."""
    d = phase_diagram(activation, sigma_w2, sigma_b2, quadrature_degree, newton_iters)
    frame = pd.DataFrame({k: d[k] for k in PHASE_COLUMNS if k != "activation"})
    frame.insert(0, "activation", activation)
    frame["q_residual"] = d["q_residual"]
    frame["c_residual"] = d["c_residual"]
    frame["q_iterations"] = d["q_iterations"]
    frame["c_iterations"] = d["c_iterations"]
    return frame


def depth_scale_table(activation: str, cfg: dict) -> Any:
    """ξ_c, ξ₁, ξ* (and χ's) against σ_w² at one σ_b²: the F2 depth-scale panel."""
    c = cfg["depth_scales"]
    return phase_table(
        activation,
        np.asarray(grid(c["sigma_w2"]), float),
        [c["sigma_b2"]],
        cfg["quadrature_degree"],
        cfg["newton_iters"],
    )


def correlation_table(activation: str, cfg: dict) -> Any:
    """c^l against depth from several c⁰ at the (σ_w², σ_b²) of ``cfg['correlation']``,
    with the linearized prediction c* + (c^a − c*) χ_c*^(l−a), anchored at a = depth/4
    past the nonlinear transient (the F2 convergence panel)."""
    c = cfg["correlation"]
    rows = []
    for sw in c["sigma_w2"]:
        fp = phase_diagram(activation, [sw], [c["sigma_b2"]], cfg["quadrature_degree"], cfg["newton_iters"])
        c_star, chi_c = float(fp["c_star"][0]), float(fp["chi_c"][0])
        for c0 in c["c0"]:
            cs = correlation_trajectory(
                activation, sw, c["sigma_b2"], c0, c["depth"], cfg["quadrature_degree"], cfg["newton_iters"]
            )
            depth = np.arange(len(cs))
            anchor = c["depth"] // 4  # past the nonlinear transient
            rows.append(
                pd.DataFrame(
                    {
                        "activation": activation,
                        "sigma_w2": sw,
                        "sigma_b2": c["sigma_b2"],
                        "c0": c0,
                        "depth": depth,
                        "c": cs,
                        "c_star": c_star,
                        "chi_c": chi_c,
                        "phase": str(fp["phase"][0]),
                        "c_pred_linear": c_star + (cs[anchor] - c_star) * chi_c ** (depth - anchor).astype(float),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _phase_from_config(activation: str, cfg: dict) -> Any:
    return phase_table(
        activation,
        np.asarray(grid(cfg["sigma_w2"]), float),
        np.asarray(grid(cfg["sigma_b2"]), float),
        cfg["quadrature_degree"],
        cfg["newton_iters"],
    )


TABLES = {"phase": _phase_from_config, "depth_scales": depth_scale_table, "correlation": correlation_table}
