"""Freeze and chaos of the NTK (Jacot, Gabriel & Hongler; SPEC claim C8, figures F12, F13).

Pure functions (arrays in, arrays out) plus a thin CLI (:func:`main`) for the rules.

- **Normalized NTK** ρ(x, x') = Θ(x, x') / √(Θ(x, x) Θ(x', x')) against depth, its mean
  and spread over input pairs, for analytic (infinite-width, neural-tangents ``stax``)
  variants: ReLU with bias variances β at σ_w² = 2 (the critical line χ₁ = 1) and in the
  variance-preserving parameterization σ_w² = 2(1 − β) (freeze), erf across σ_w², a centred /
  standardized ReLU, LayerNorm, dropout and residual blocks. Every variant with a mean-field
  prediction gets it from :func:`prediction` (derivations in :func:`prediction` and the
  helpers it calls): limits, per-layer rates, power laws.
- **BatchNorm** has no per-example analytic kernel: the empirical NTK
  (:func:`ntk_phases.finite.empirical.empirical_ntk`) of finite flax networks whose BatchNorm uses the
  statistics of the evaluated batch, with and without BatchNorm, a few widths and seeds.
- **Checkerboard**: DCGAN-like stacks of stride-2 transposed convolutions from a small
  latent grid to an image; the analytic output-space NTK (``stax.ConvTranspose``,
  full spatial covariance) of one latent input, in freeze and chaos. Statistics of the
  *normalized* output-space kernel R_pq = Θ_pq / √(Θ_pp Θ_qq) over pixel pairs p ≠ q
  (:func:`parity_contrast`, :func:`far_correlation`); the even/odd ratio of the diagonal
  Θ_pp is kept as a reported column only.

Standardized ReLU: φ(z) = (relu(z) − 1/√(2π)) / √(1/2 − 1/(2π)), zero mean and unit
second moment under N(0, 1). Its dual kernels are closed forms (arc-cosine), used through
``stax.Elementwise``; :func:`gaussian_moments` checks the standardization by quadrature.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import io
from .cli import setup_logging
from .finite.empirical import empirical_ntk
from .finite.models import batch_apply_fn, make_batchnorm_mlp
from .numerics import streaming
from .numerics.fits import extrapolated_limit, fitted_exponent, fitted_rate, rate_ok, rel_ok, slope

log = logging.getLogger("ntk_phases.freeze_chaos")

RELU_MEAN = 1.0 / np.sqrt(2.0 * np.pi)
RELU_STD = float(np.sqrt(0.5 - 1.0 / (2.0 * np.pi)))

CLAIM_COLUMNS = [
    "claim", "arch", "activation", "quantity", "predicted", "measured", "tolerance",
    "passed", "sigma_w2", "sigma_b2", "depth_min", "depth_max", "note",
]


# ---------------------------------------------------------------------------
# standardized nonlinearity
# ---------------------------------------------------------------------------


def standardized_relu(z):
    """(relu(z) − E relu) / std relu under N(0, 1); works on NumPy and JAX arrays."""
    if isinstance(z, np.ndarray) or np.isscalar(z):
        return (np.maximum(z, 0.0) - RELU_MEAN) / RELU_STD
    return (jnp.maximum(z, 0.0) - RELU_MEAN) / RELU_STD


def gaussian_moments(fn, var: float = 1.0, kink: float = 0.0) -> tuple[float, float]:
    """E[fn(z)] and E[fn(z)²] for z ~ N(0, var) by adaptive quadrature (scipy ``quad``),
    split at ``kink`` (where fn is not smooth)."""
    from scipy import integrate

    sd = float(np.sqrt(var))

    def moment(power):
        def f(z):
            return float(np.asarray(fn(np.asarray(z)))) ** power * np.exp(-0.5 * (z / sd) ** 2) / (sd * np.sqrt(2 * np.pi))

        return sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12)[0] for a, b in ((-np.inf, kink), (kink, np.inf)))

    return moment(1), moment(2)


def _arccos_terms(cov12, var1, var2):

    prod = jnp.sqrt(var1 * var2)
    rho = jnp.clip(cov12 / jnp.where(prod > 0, prod, 1.0), -1.0, 1.0)
    theta = jnp.arccos(rho)
    return prod, theta


def _std_relu_nngp(cov12, var1, var2):
    """E φ(u) φ(v) for (u, v) centred Gaussian with the given (co)variances."""
    prod, theta = _arccos_terms(cov12, var1, var2)
    e_rr = prod / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta))
    m1 = jnp.sqrt(var1 / (2 * jnp.pi))
    m2 = jnp.sqrt(var2 / (2 * jnp.pi))
    return (e_rr - RELU_MEAN * (m1 + m2) + RELU_MEAN**2) / RELU_STD**2


def _std_relu_d_nngp(cov12, var1, var2):
    """E φ'(u) φ'(v) = P(u > 0, v > 0) / std²."""
    _, theta = _arccos_terms(cov12, var1, var2)
    return (jnp.pi - theta) / (2 * jnp.pi) / RELU_STD**2


def std_relu_layer():
    """``stax.Elementwise`` of the standardized ReLU with closed-form dual kernels."""
    from neural_tangents import stax

    return stax.Elementwise(standardized_relu, _std_relu_nngp, _std_relu_d_nngp)


# ---------------------------------------------------------------------------
# analytic variants
# ---------------------------------------------------------------------------


def variant_specs(cfg: dict) -> list[dict]:
    """The analytic variants of a ``freeze_chaos`` config section.

    Each spec: name, family (``bias`` | ``bias_vp`` | ``erf`` | ``norm``), activation, block,
    sigma_w2, sigma_b2, and the regime theory assigns (``critical`` | ``freeze`` | ``chaos``;
    None: from the erf mean-field χ₁). ``bias``: ReLU at σ_w² = 2, where χ₁ = 1 for every
    β (critical). ``bias_vp``: ReLU at σ_w² = 2(1 − β), the variance-preserving
    parameterization of Jacot et al. (q* = 1, χ₁ = 1 − β: freeze). The centred ReLU uses
    σ_w² = 1 − σ_b² for the same reason: its standardization holds at q = 1 only, and at
    σ_w² = 1, σ_b² > 0 the length q drifts upward and the network slides back to the
    ReLU critical line after a chaotic transient.
    """
    specs = []
    for b in cfg["relu_sigma_b2"]:
        specs.append({"name": f"relu_b{b:g}", "family": "bias", "activation": "relu", "block": "plain",
                      "sigma_w2": 2.0, "sigma_b2": float(b), "regime": "critical"})
    for b in cfg.get("relu_vp_sigma_b2", []):
        if not 0 < b < 1:
            raise ValueError(f"relu_vp_sigma_b2 must lie in (0, 1), got {b}")
        specs.append({"name": f"relu_vp_b{b:g}", "family": "bias_vp", "activation": "relu", "block": "plain",
                      "sigma_w2": 2.0 * (1.0 - b), "sigma_b2": float(b), "regime": "freeze"})
    for s in cfg["erf_sigma_w2"]:
        specs.append({"name": f"erf_w{s:g}", "family": "erf", "activation": "erf", "block": "plain",
                      "sigma_w2": float(s), "sigma_b2": float(cfg["erf_sigma_b2"]), "regime": None})
    b = float(cfg["norm_sigma_b2"])
    if not 0 <= b < 1:
        raise ValueError(f"norm_sigma_b2 must lie in [0, 1) (centred ReLU: σ_w² = 1 − σ_b²), got {b}")
    specs += [
        {"name": "relu_plain", "family": "norm", "activation": "relu", "block": "plain", "sigma_w2": 2.0,
         "sigma_b2": b, "regime": "critical"},
        {"name": "relu_centred", "family": "norm", "activation": "std_relu", "block": "plain",
         "sigma_w2": 1.0 - b, "sigma_b2": b, "regime": "chaos"},
        {"name": "relu_layernorm", "family": "norm", "activation": "std_relu", "block": "layernorm",
         "sigma_w2": 1.0, "sigma_b2": b, "regime": "chaos"},
        {"name": "relu_dropout", "family": "norm", "activation": "relu", "block": "dropout", "sigma_w2": 2.0,
         "sigma_b2": b, "regime": "chaos"},
        {"name": "relu_residual", "family": "norm", "activation": "relu", "block": "residual", "sigma_w2": 2.0,
         "sigma_b2": b, "regime": "critical"},
    ]
    return specs


def _activation(name: str):
    from neural_tangents import stax

    return {"relu": stax.Relu, "erf": stax.Erf, "std_relu": std_relu_layer}[name]()


def block_layers(spec: dict, dropout_rate: float = 0.1) -> list:
    """One hidden layer of a variant as stax layers.

    ``plain``: Dense → φ. ``layernorm``: Dense → LayerNorm → φ; with φ the standardized
    ReLU this is, at infinite width, ReLU followed by a LayerNorm over neurons that
    centres and scales (for a homogeneous ReLU the per-example centring/scaling of
    post-activations is the standardized ReLU of the normalized pre-activation;
    neural-tangents' LayerNorm itself only rescales). ``dropout``: Dense → φ → Dropout
    (train mode). ``residual``: x + Dense(φ(x)) (FanOut/FanInSum).
    """
    from neural_tangents import stax

    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    dense = stax.Dense(1, W_std=sw, b_std=sb)
    phi = _activation(spec["activation"])
    block = spec["block"]
    if block == "plain":
        return [dense, phi]
    if block == "layernorm":
        return [dense, stax.LayerNorm(), phi]
    if block == "dropout":
        return [dense, phi, stax.Dropout(1.0 - dropout_rate, mode="train")]
    if block == "residual":
        return [stax.FanOut(2), stax.parallel(stax.Identity(), stax.serial(phi, dense)), stax.FanInSum()]
    raise ValueError(f"unknown block {block!r}")


def depth_kernels(x: np.ndarray, spec: dict, depths: Sequence[int], dropout_rate: float = 0.1) -> dict:
    """NTK and NNGP (N × N, float64) of ``x`` after each depth in ``depths`` plus a readout.

    The hidden-layer kernel map is applied iteratively to a neural-tangents Kernel, so one
    pass covers every depth. Residual variants start with a Dense embedding layer.
    ``diag_err``: max relative difference between the diagonal of the NNGP matrix and the
    separately propagated variances (``Kernel.cov1``). In chaos c = 1 is an unstable fixed
    point of the correlation map, so rounding on the diagonal grows like χ₁^l (erf at
    σ_w² = 4: O(1) by depth ~80); :func:`reliable_depths` cuts there.
    """
    from neural_tangents import stax

    jax.config.update("jax_enable_x64", True)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    depths = sorted({int(d) for d in depths})
    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    first = [stax.Dense(1, W_std=1.0, b_std=0.0)] if spec["block"] == "residual" else [stax.Identity()]
    _, _, in_fn = stax.serial(*first)
    _, _, hid_fn = stax.serial(*block_layers(spec, dropout_rate))
    _, _, out_fn = stax.serial(stax.Dense(1, W_std=sw, b_std=sb))
    hid_fn, out_fn = jax.jit(hid_fn), jax.jit(out_fn)
    k = in_fn(x, None, get=None)
    ntk, nngp, err = [], [], []
    for layer in range(max(depths) + 1):
        if layer > 0:
            k = hid_fn(k)
        if layer in depths:
            out = out_fn(k)
            ntk.append(np.asarray(out.ntk))
            nngp.append(np.asarray(out.nngp))
            var = np.asarray(out.cov1).reshape(-1)
            err.append(float(np.max(np.abs(np.diagonal(nngp[-1]) - var) / var)))
    return {"depths": np.asarray(depths), "ntk": np.stack(ntk), "nngp": np.stack(nngp), "diag_err": np.asarray(err)}


DIAG_RTOL = 1e-2  # relative error of the kernel diagonal beyond which depths are dropped


def reliable_depths(k: dict, rtol: float = DIAG_RTOL) -> np.ndarray:
    """Mask of the depths before the first one whose kernels are non-finite or whose
    diagonal has drifted by more than ``rtol`` (see :func:`depth_kernels`)."""
    ok = (np.isfinite(k["ntk"]).all(axis=(1, 2)) & np.isfinite(k["nngp"]).all(axis=(1, 2))
          & (k["diag_err"] <= rtol))
    return np.cumprod(ok).astype(bool)


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
    return {"diag": np.mean(np.diagonal(kernel, axis1=-2, axis2=-1), axis=-1), "corr_mean": v.mean(axis=-1),
            "corr_std": v.std(axis=-1), "gap_isqrt": isq}


# ---------------------------------------------------------------------------
# mean-field predictions
# ---------------------------------------------------------------------------

# f(c) = c + A (1 − c)^{3/2} + O((1 − c)^{5/2}) for the normalized ReLU correlation map f
# below: θ = arccos c, f = (sin θ + (π − θ) cos θ)/π = 1 − θ²/2 + θ³/(3π) + O(θ⁴) and
# c = 1 − θ²/2 + O(θ⁴), θ³ = (2(1 − c))^{3/2}.
RELU_A = 2.0 * np.sqrt(2.0) / (3.0 * np.pi)


def relu_corr(c):
    """Normalized ReLU correlation map f(c) = 2 E relu(u) relu(v) for unit-variance u, v."""
    c = np.clip(c, -1.0, 1.0)
    return (np.sqrt(1.0 - c**2) + (np.pi - np.arccos(c)) * c) / np.pi


def relu_corr_deriv(c):
    """f'(c) = 2 E relu'(u) relu'(v) = 1 − arccos(c)/π (≈ 1 − √(2(1 − c))/π near c = 1)."""
    return 1.0 - np.arccos(np.clip(c, -1.0, 1.0)) / np.pi


def std_relu_corr(c):
    """E φ(u) φ(v) for the standardized ReLU at unit variance: (f(c)/2 − 1/(2π))/s²."""
    return (relu_corr(c) / 2.0 - RELU_MEAN**2) / RELU_STD**2


def std_relu_corr_deriv(c):
    """E φ'(u) φ'(v) at unit variance: f'(c)/(2 s²); 1/(2 s²) ≈ 1.467 at c = 1."""
    return relu_corr_deriv(c) / (2.0 * RELU_STD**2)


def stable_fixed_point(g, lo: float = -1.0, hi: float = 1.0 - 1e-9) -> float:
    """The root of g(c) = c in [lo, hi] (brentq; g(lo) > lo and g(hi) < hi required)."""
    from scipy import optimize

    return float(optimize.brentq(lambda c: g(c) - c, lo, hi, xtol=1e-15))


def std_relu_mean_field(b: float) -> dict:
    """q* = 1 mean field of the standardized ReLU with σ_w² = 1 − b, σ_b² = b.

    c-map g(c) = (1 − b) ĉ(c) + b; χ₁ = g'(1) = (1 − b)/(2 s²); c* ∈ (0, 1) the root of
    g(c) = c when χ₁ > 1, χ_c* = g'(c*). A LayerNorm after Dense(σ_w², σ_b²) maps onto this
    with b = σ_b²/(σ_w² + σ_b²): it divides the pre-activation kernel (and the NTK) by
    σ_w² + σ_b².
    """
    chi_1 = (1.0 - b) * std_relu_corr_deriv(1.0)
    if chi_1 <= 1.0:
        return {"chi_1": chi_1, "chi_c": chi_1, "c_star": 1.0}
    c_star = stable_fixed_point(lambda c: (1.0 - b) * std_relu_corr(c) + b)
    return {"chi_1": chi_1, "chi_c": float((1.0 - b) * std_relu_corr_deriv(c_star)), "c_star": c_star}


def dropout_mean_field(keep: float) -> dict:
    """ReLU, σ_w² = 2, dropout (train mode: the kernel diagonal is divided by ``keep``).

    q_{l+1} = q_l/keep + β grows like keep^{−l}, so β/q → 0 and c_{l+1} → keep · f(c_l):
    fixed point c* = keep f(c*) < 1, slope χ_c* = keep f'(c*). NTK: keep^l Θ_l(x, x) grows
    like l (each layer adds q_{l+1} ∝ keep^{−l−1} to Θ_l/keep), keep^l Θ_l(x, x') tends to
    the constant Q c*/(1 − χ_c*), so ρ_l ≈ c*/((1 − χ_c*) l): a power law, not geometric.
    """
    c_star = stable_fixed_point(lambda c: keep * relu_corr(c))
    chi_c = float(keep * relu_corr_deriv(c_star))
    return {"c_star": c_star, "chi_c": chi_c, "l_rho": c_star / (1.0 - chi_c)}


def _mean_field(activation: str, sigma_w2: float, sigma_b2: float) -> dict:
    from . import theory

    fp = theory.phase_diagram(activation, [sigma_w2], [sigma_b2])
    return {k: float(np.ravel(fp[k])[0]) for k in ("chi_1", "chi_c", "c_star")}


PREDICTION_KEYS = ("pred_regime", "pred_limit", "pred_rate", "pred_poly", "pred_std_rate", "pred_exponent",
                   "pred_l_rho", "pred_law_slope", "pred_growth", "chi_1", "chi_c", "c_star", "pred_note")


def _chaos_rates(mf: dict) -> dict:
    """Chaos (Xiao et al. 2020): Θ(x, x) = q*(χ₁^{l+1} − 1)/(χ₁ − 1) grows like χ₁^l while
    Θ(x, x') → q* c*/(1 − χ_c*) when χ_c* < 1, so the pair mean of ρ decays like
    (max(χ_c*, 1)/χ₁)^l; its data-dependent part (spread over pairs) is fed by
    c_l − c* ∝ χ_c*^l and decays like l (χ_c*/χ₁)^l. With c* = 0 (odd φ, σ_b² = 0) the
    constant part vanishes and the mean itself decays like l (χ_c*/χ₁)^l."""
    chi_1, chi_c, c_star = mf["chi_1"], mf["chi_c"], mf["c_star"]
    if abs(c_star) < 1e-10:
        return {"pred_rate": chi_c / chi_1, "pred_poly": 1.0, "pred_std_rate": np.nan,
                "pred_note": "c* = 0: rho ~ l (chi_c*/chi_1)^l"}
    return {"pred_rate": max(chi_c, 1.0) / chi_1, "pred_poly": 0.0, "pred_std_rate": chi_c / chi_1,
            "pred_note": "mean rho ~ (max(chi_c*,1)/chi_1)^l; spread ~ l (chi_c*/chi_1)^l"}


def prediction(spec: dict, dropout_rate: float = 0.1) -> dict:
    """Mean-field predictions for the normalized NTK of one variant (NaN: none).

    ``pred_limit``: lim ρ_l; ``pred_rate``, ``pred_poly``: the freeze gap 1 − ρ_l or the
    chaos mean ρ_l ∝ l^poly · rate^l; ``pred_std_rate``: the chaos spread of ρ over pairs
    ∝ l · rate^l; ``pred_exponent``, ``pred_l_rho``: power law ρ_l ≈ l_rho · l^exponent;
    ``pred_law_slope``: slope of the critical correlation law (:func:`relu_critical_law`);
    ``pred_growth``: per-layer growth of the NNGP diagonal.

    - erf: χ₁, χ_c*, c* from :mod:`ntk_phases.theory`. Freeze (χ₁ < 1): 1 − c_l ∝ χ₁^l and
      the derivative kernel is smooth at c = 1 (Ė(c) = χ₁ − O(1 − c)), so the NTK gap obeys
      δ_{l+1} = χ₁ δ_l + O(χ₁^l): 1 − ρ_l ∝ l χ₁^l. Chaos: :func:`_chaos_rates`.
    - ReLU, σ_w² = 2(1 − β), σ_b² = β (freeze, q* = 1, χ₁ = 1 − β): 1 − c_l ∝ χ₁^l, but the
      derivative kernel χ₁ f'(c) = χ₁(1 − arccos(c)/π) has a √(1 − c) term (the origin of
      the (1 − c)^{3/2} term of f), which feeds the NTK gap at rate χ₁^{1/2} > χ₁:
      1 − ρ_l ∝ χ₁^{l/2}.
    - ReLU, σ_w² = 2, β ≥ 0 (critical, χ₁ = 1 at every q): see :func:`relu_critical_law`;
      the NTK: Θ_{l+1} = Σ_{l+1} + f'(c_l) Θ_l. β = 0: 1 − c_l ≈ 9π²/(2 l²),
      f'(c_l) ≈ 1 − 3/l, so Θ(x, x') ≈ Σ_k q (k/l)³ ≈ q l/4 against Θ(x, x) = q l: ρ → 1/4.
      β > 0: q_l ≈ β l, 1 − c_l ≈ 9π²/(8 l²) (independent of β), f'(c_l) ≈ 1 − 3/(2 l),
      Θ(x, x') ≈ ∫ β k (k/l)^{3/2} dk = 2 β l²/7 against Θ(x, x) ≈ β l²/2: ρ → 4/7, not 1.
      Both limits are approached polynomially: for β > 0 like l^{−1/2} (the initial
      condition enters the law as a constant next to A τ_l ∝ √l), for β = 0 like 1/l.
    - Residual, no scaling (FanOut → [Identity, φ → Dense] → FanInSum, ReLU): the length
      grows geometrically, q_{l+1} = (1 + σ_w²/2) q_l + β; with κ = (σ_w²/2)/(1 + σ_w²/2) the
      correlation obeys 1 − c_{l+1} = (1 − c_l) − κ A (1 − c_l)^{3/2}: polynomial approach to
      1 ("edge of chaos", Yang & Schoenholz 2017), (1 − c_l)^{−1/2} ≈ const + κ A l/2. The
      off-diagonal NTK is multiplied, relative to the diagonal, by 1 − κ arccos(c_l)/π ≈
      1 − 3/l (κ cancels) and both are fed ∝ q_l, the diagonal growing like l q_l: ρ → 1/4,
      neither freeze (1) nor chaos (0), for every σ_w², β.
    - Standardized ReLU (σ_w² = 1 − σ_b²) and LayerNorm: :func:`std_relu_mean_field`, chaos.
    - Dropout: :func:`dropout_mean_field`.
    """
    out = {k: np.nan for k in PREDICTION_KEYS}
    out.update(pred_regime=spec["regime"] or "", pred_note="")
    act, block, sw2, sb2 = spec["activation"], spec["block"], spec["sigma_w2"], spec["sigma_b2"]
    if act == "erf" and block == "plain":
        mf = _mean_field("erf", sw2, sb2)
        out.update(mf)
        if mf["chi_1"] < 1:
            out.update(pred_regime="freeze", pred_limit=1.0, pred_rate=mf["chi_1"], pred_poly=1.0,
                       pred_note="smooth phi: 1 - rho ~ l chi_1^l")
        else:
            out.update(pred_regime="chaos", pred_limit=0.0, **_chaos_rates(mf))
    elif act == "relu" and block == "plain" and np.isclose(sw2 + 2 * sb2, 2.0) and sb2 > 0:
        chi_1 = 1.0 - sb2
        out.update(pred_regime="freeze", pred_limit=1.0, pred_rate=np.sqrt(chi_1), pred_poly=0.0, chi_1=chi_1,
                   chi_c=chi_1, c_star=1.0, pred_note="ReLU: sqrt(1 - c) term in E phi'phi' -> 1 - rho ~ chi_1^(l/2)")
    elif act == "relu" and block == "plain" and sw2 == 2.0:
        out.update(pred_regime="critical", pred_limit=0.25 if sb2 == 0 else 4.0 / 7.0, pred_law_slope=RELU_A,
                   chi_1=1.0,
                   pred_note=("beta = 0: rho -> 1/4" if sb2 == 0 else "beta > 0: rho -> 4/7 (not 1)")
                   + "; 1 - c ~ 9 pi^2/(" + ("2" if sb2 == 0 else "8") + " l^2)")
    elif act == "relu" and block == "residual":
        kappa = (sw2 / 2) / (1 + sw2 / 2)
        out.update(pred_regime="critical", pred_limit=0.25, pred_law_slope=kappa * RELU_A / 2,
                   pred_growth=1 + sw2 / 2, pred_note="unscaled residual: q x (1 + sigma_w^2/2) per block, "
                   "(1 - c)^(-1/2) linear in l, rho -> 1/4")
    elif act == "std_relu" and block in ("plain", "layernorm"):
        if block == "plain" and not np.isclose(sw2 + sb2, 1.0):
            return out  # q drifts off q* = 1, where φ is standardized: no fixed-point theory
        b_eff = sb2 / (sw2 + sb2)
        mf = std_relu_mean_field(b_eff)
        out.update(mf)
        if mf["chi_1"] > 1:
            out.update(pred_regime="chaos", pred_limit=0.0, **_chaos_rates(mf))
            out["pred_note"] = f"q* = 1, effective sigma_b^2 = {b_eff:.4g}; " + out["pred_note"]
    elif act == "relu" and block == "dropout" and sw2 == 2.0:
        mf = dropout_mean_field(1.0 - dropout_rate)
        out.update(pred_regime="chaos", pred_limit=0.0, pred_exponent=-1.0, pred_l_rho=mf["l_rho"],
                   chi_c=mf["chi_c"], c_star=mf["c_star"], pred_note="rho ~ c*/((1 - chi_c*) l)")
    return out


def analytic_table(data: dict, cfg: dict):
    """Tidy table: one row per (variant, depth) with ρ mean/std, κ, mean_pred_rms, test_acc."""
    import pandas as pd

    from . import data as data_mod

    n, m = int(cfg["n_train"]), int(cfg["n_test"])
    x = np.concatenate([data["x_train"][:n], data["x_test"][:m]])
    y_train = data_mod.mse_targets(data["y_train"][:n])
    y_test = data["y_test"][:m]
    depths = list(range(1, int(cfg["max_depth"]) + 1))
    rows = []
    for spec in variant_specs(cfg):
        t0 = time.perf_counter()
        k = depth_kernels(x, spec, depths, cfg["dropout_rate"])
        ok = reliable_depths(k)
        if not ok.all():
            log.warning("%s: kernels beyond depth %d dropped (diagonal drift %.2g > %g or non-finite)",
                        spec["name"], k["depths"][ok].max(initial=0), k["diag_err"][~ok][0], DIAG_RTOL)
        if not ok.any():
            continue
        ntk, nngp = k["ntk"][ok], k["nngp"][ok]
        rho = pair_stats(ntk[:, :n, :n])
        corr = pair_stats(nngp[:, :n, :n])
        met = streaming.kernel_metrics(
            ntk[:, :n, :n], ntk[:, n:, :n], nngp[:, :n, :n], nngp[:, n:, :n],
            np.diagonal(nngp[:, n:, n:], axis1=-2, axis2=-1), y_train, y_test, [float(cfg["time"])],
        )
        rows.append(pd.DataFrame({
            "variant": spec["name"], "family": spec["family"], "activation": spec["activation"],
            "block": spec["block"], "sigma_w2": spec["sigma_w2"], "sigma_b2": spec["sigma_b2"],
            "regime": spec["regime"] or "", "depth": k["depths"][ok], "diag_err": k["diag_err"][ok],
            "rho_mean": rho["corr_mean"],
            "rho_std": rho["corr_std"], "ntk_diag": rho["diag"], "nngp_diag": corr["diag"],
            "c_mean": corr["corr_mean"], "c_gap_isqrt": corr["gap_isqrt"],
            "kappa": met["kappa"], "singular": met["singular"], "mean_pred_rms": met["mean_pred_rms"],
            "test_acc": met["test_acc"][..., 0], "t": float(cfg["time"]),
            **prediction(spec, cfg["dropout_rate"]),
        }))
        log.info("%s: depths 1..%d in %.1fs; rho %.3f -> %.3f", spec["name"], k["depths"][ok].max(),
                 time.perf_counter() - t0, rho["corr_mean"][0], rho["corr_mean"][-1])
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------
# empirical NTK with / without BatchNorm (flax)
# ---------------------------------------------------------------------------


def empirical_ntk_mlp(x: np.ndarray, width: int, depth: int, batchnorm: bool, seed: int,
                      sigma_w2: float = 2.0, sigma_b2: float = 0.1) -> np.ndarray:
    """Empirical NTK (N × N) of a random flax MLP on the batch ``x`` (BatchNorm over ``x``):
    :func:`ntk_phases.finite.empirical.empirical_ntk` with float32 contraction."""
    x = jnp.asarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    model = make_batchnorm_mlp(width, depth, batchnorm, sigma_w2, sigma_b2)
    variables = model.init(jax.random.PRNGKey(seed), x)
    f = batch_apply_fn(model, variables)
    return empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x), accumulate="float32")


def empirical_table(data: dict, cfg: dict):
    """ρ mean/std of empirical NTKs with and without BatchNorm per (width, depth, seed)."""
    import pandas as pd

    e = cfg["empirical"]
    x = data["x_train"][: int(e["n"])]
    rows = []
    for bn in (False, True):
        for width in e["widths"]:
            for depth in e["depths"]:
                for seed in e["seeds"]:
                    theta = empirical_ntk_mlp(x, int(width), int(depth), bn, int(seed), 2.0, e["sigma_b2"])
                    mu, sd = offdiag_stats(theta)
                    rows.append({"variant": "relu_batchnorm" if bn else "relu_plain", "batchnorm": bn,
                                 "width": int(width), "depth": int(depth), "seed": int(seed),
                                 "sigma_w2": 2.0, "sigma_b2": float(e["sigma_b2"]),
                                 "rho_mean": float(mu), "rho_std": float(sd)})
        log.info("empirical NTK batchnorm=%s done", bn)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# checkerboard: transposed convolutions
# ---------------------------------------------------------------------------


def deconv_ntk(spec: dict, depth: int, latent: int, channels: int, kernel: int, seed: int = 0) -> np.ndarray:
    """Analytic output-space NTK (H·W × H·W) of a stride-2 transposed-convolution stack.

    ``depth`` layers [ConvTranspose(k, stride 2, SAME) → φ], then a ConvTranspose
    readout (stride 1) to one channel; the input is one latent grid latent × latent ×
    channels with i.i.d. N(0, 1) entries. Output side = latent · 2^depth.
    """
    from neural_tangents import stax

    jax.config.update("jax_enable_x64", True)
    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    layers = []
    for _ in range(int(depth)):
        layers.append(stax.ConvTranspose(1, (kernel, kernel), strides=(2, 2), padding="SAME", W_std=sw, b_std=sb))
        if spec["block"] == "layernorm":
            layers.append(stax.LayerNorm(axis=-1))
        layers.append(_activation(spec["activation"]))
    layers.append(stax.ConvTranspose(1, (kernel, kernel), strides=(1, 1), padding="SAME", W_std=sw, b_std=sb))
    _, _, kfn = stax.serial(*layers)
    z = np.random.default_rng(seed).standard_normal((1, latent, latent, channels))
    # neural-tangents orders full spatial covariances as (H1, H2, W1, W2)
    ntk = np.asarray(kfn(z, None, get="ntk", diagonal_spatial=False))[0, 0].transpose(0, 2, 1, 3)
    side = latent * 2 ** int(depth)
    return ntk.reshape(side * side, side * side)


def parity_ratio(diag_img: np.ndarray, border: int = 0) -> float:
    """Mean of an H × W map on (even, even) pixels over its mean on (odd, odd) pixels.

    Reported only: on the NTK diagonal it mixes the checkerboard with the tap count of a
    stride-2 transposed convolution, which differs by parity in freeze and chaos alike.
    """
    img = np.asarray(diag_img)
    if border:
        img = img[border:-border, border:-border]
        # keep the parity of the original grid
        off = border % 2
        ev, od = img[off::2, off::2], img[1 - off::2, 1 - off::2]
    else:
        ev, od = img[0::2, 0::2], img[1::2, 1::2]
    return float(ev.mean() / od.mean())


def pixel_grid(side: int, border: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and parity class 2·(row mod 2) + (col mod 2) of the pixels of a side ×
    side image (row-major), and a mask of those at least ``border`` pixels from the edge."""
    i, j = np.divmod(np.arange(side * side), side)
    inner = (np.minimum(i, side - 1 - i) >= border) & (np.minimum(j, side - 1 - j) >= border)
    return i, j, 2 * (i % 2) + (j % 2), inner


def parity_class_means(r: np.ndarray, side: int, border: int = 0) -> np.ndarray:
    """4 × 4 means of the normalized kernel R_pq over pairs p ≠ q by the parity classes of
    p and q (pixels within ``border`` of the edge left out)."""
    _, _, cls, inner = pixel_grid(side, border)
    off = ~np.eye(len(r), dtype=bool)
    out = np.full((4, 4), np.nan)
    for a in range(4):
        for b in range(4):
            m = np.outer(inner & (cls == a), inner & (cls == b)) & off
            if m.any():
                out[a, b] = r[m].mean()
    return out


def parity_contrast(r: np.ndarray, side: int, border: int = 0) -> float:
    """Checkerboard amplitude of a normalized output-space kernel: max − min of the 4 × 4
    parity-class pair means (:func:`parity_class_means`).

    A kernel whose correlations do not depend on pixel parity gives 0, whether it is flat
    (frozen, R ≈ const) or translation invariant and localized (chaos: only the O(ξ²/N)
    nearest pairs differ by parity). A checkerboard (pairs of the same parity class more
    or less correlated across the whole image) gives its amplitude, on R's scale [−1, 1].
    """
    m = parity_class_means(r, side, border)
    return float(np.nanmax(m) - np.nanmin(m))


def far_correlation(r: np.ndarray, side: int) -> float:
    """Mean normalized kernel R_pq over pixel pairs at least side/2 apart (Euclidean):
    long-range correlation, ≈ 1 for a frozen (constant) kernel, ≈ 0 for a localized one."""
    i, j, _, _ = pixel_grid(side)
    dist = np.hypot(i[:, None] - i[None, :], j[:, None] - j[None, :])
    return float(r[dist >= side / 2].mean())


def deconv_specs(cfg: dict) -> list[dict]:
    c = cfg["checkerboard"]
    return [
        {"name": "freeze", "activation": "relu", "block": "plain", "sigma_w2": 2.0,
         "sigma_b2": float(c["freeze_sigma_b2"])},
        {"name": "chaos", "activation": "std_relu", "block": "layernorm", "sigma_w2": 1.0,
         "sigma_b2": float(c["chaos_sigma_b2"])},
    ]


def checkerboard_tables(cfg: dict):
    """(statistics per (regime, depth), maps of the deepest network as an npz dict)."""
    import pandas as pd

    c = cfg["checkerboard"]
    rows, maps = [], {}
    for spec in deconv_specs(cfg):
        for depth in range(1, int(c["max_depth"]) + 1):
            t0 = time.perf_counter()
            ntk = deconv_ntk(spec, depth, int(c["latent"]), int(c["channels"]), int(c["kernel"]))
            side = int(c["latent"]) * 2**depth
            diag = np.diagonal(ntk).reshape(side, side)
            r = normalized(ntk)
            rows.append({"regime": spec["name"], "activation": spec["activation"], "block": spec["block"],
                         "sigma_w2": spec["sigma_w2"], "sigma_b2": spec["sigma_b2"], "depth": depth,
                         "side": side, "parity_contrast": parity_contrast(r, side),
                         "parity_contrast_interior": parity_contrast(r, side, border=2) if side > 6 else np.nan,
                         "far_corr": far_correlation(r, side),
                         "mean_corr": float(r[~np.eye(len(r), dtype=bool)].mean()),
                         "parity_ratio": parity_ratio(diag),
                         "parity_ratio_interior": parity_ratio(diag, border=2) if side > 6 else np.nan,
                         "diag_cv": float(diag.std() / diag.mean())})
            if depth == int(c["max_depth"]):
                p = side // 2 * side + side // 2  # a central pixel
                maps[f"{spec['name']}_diag"] = diag
                maps[f"{spec['name']}_row"] = r[p].reshape(side, side)
                maps[f"{spec['name']}_class_means"] = parity_class_means(r, side)
            log.info("deconv %s depth %d (%dx%d): %.1fs", spec["name"], depth, side, side, time.perf_counter() - t0)
    return pd.DataFrame(rows), maps


# ---------------------------------------------------------------------------
# claims C8
# ---------------------------------------------------------------------------


def _row(arch, act, quantity, predicted, measured, tol, passed, sw2, sb2, dmin, dmax, note=""):
    measured = float(measured)
    return {"claim": "C8", "arch": arch, "activation": act, "quantity": quantity, "predicted": float(predicted),
            "measured": measured, "tolerance": float(tol),
            "passed": bool(passed) if np.isfinite(measured) else False, "sigma_w2": float(sw2),
            "sigma_b2": float(sb2), "depth_min": int(dmin), "depth_max": int(dmax), "note": note}


# 1 − ρ below this is not resolved in float64: the ReLU derivative kernel depends on
# arccos(c) ≈ √(2(1 − c)), so once 1 − c reaches machine ε the NTK gap is quantized at
# ~√ε ≈ 1.5e-8; 1e-6 keeps two digits above that.
GAP_FLOOR = 1e-6


def relu_critical_law(g) -> tuple[np.ndarray, np.ndarray]:
    """(clock τ_l, y_l) in which the ReLU critical correlation law is linear, slope A·κ.

    Plain ReLU, σ_w² = 2: q_{l+1} = q_l + β and c_{l+1} = (q_l f(c_l) + β)/q_{l+1}. With
    u_l = q_l (1 − c_l) and f(c) = c + A (1 − c)^{3/2} + …, u_{l+1} = u_l − A u_l^{3/2}/√q_l,
    so y_l = u_l^{−1/2} grows by A/(2√q_l) per layer: linear in τ_l = Σ_{k<l} 1/(2√q_k)
    with slope A = 2√2/(3π) (the coefficient of the (1 − c)^{3/2} term) for every β.
    Residual blocks: y_l = (1 − c_l)^{−1/2}, τ_l = l, slope κ A/2 (:func:`prediction`).
    ``g``: one variant's rows of the analytic table, sorted by depth (consecutive depths).
    """
    q = g["nngp_diag"].to_numpy()
    isq = g["c_gap_isqrt"].to_numpy()
    if g["block"].iloc[0] == "residual":
        return g["depth"].to_numpy(dtype=float), isq
    tau = np.concatenate([[0.0], np.cumsum(0.5 / np.sqrt(q[:-1]))])
    return tau, isq / np.sqrt(q)


def duplicate_variants(specs: list[dict]) -> set[str]:
    """Names of variants identical (activation, block, σ_w², σ_b²) to an earlier one."""
    seen, dup = set(), set()
    for s in specs:
        key = (s["activation"], s["block"], s["sigma_w2"], s["sigma_b2"])
        if key in seen:
            dup.add(s["name"])
        seen.add(key)
    return dup


def variant_claims(g, tol: dict) -> list[dict]:
    """C8 rows of one analytic variant from its mean-field predictions (:func:`prediction`).

    Limits are read at the deepest depth, rates, exponents and laws are fitted on the deep
    window (depth ≥ max_depth/2). Regimes: freeze (ρ → 1, rate of 1 − ρ), chaos (ρ → 0,
    rate of the mean and of the spread of ρ, or a power law), critical (a limit strictly
    between 0 and 1 reached polynomially, the correlation law, and the length growth).
    """
    g = g.sort_values("depth")
    name, act = g["variant"].iloc[0], g["activation"].iloc[0]
    sw2, sb2 = g["sigma_w2"].iloc[0], g["sigma_b2"].iloc[0]
    depth = g["depth"].to_numpy()
    dmax = int(depth.max())
    w = depth >= max(2, dmax // 2)
    d0, d1 = int(depth[w].min()), int(depth[w].max())
    rho, rho_std = g["rho_mean"].to_numpy(), g["rho_std"].to_numpy()
    p = g.iloc[0]
    regime = p["pred_regime"]
    mf = ", ".join(f"{k}={p[k]:.4g}" for k in ("chi_1", "chi_c", "c_star") if np.isfinite(p[k]))
    note = "; ".join(x for x in (mf, p["pred_note"] if isinstance(p["pred_note"], str) else "") if x)
    rows = []

    def add(q, pred, meas, t, ok, lo=d0, hi=d1, extra=""):
        rows.append(_row(name, act, q, pred, meas, t, ok, sw2, sb2, lo, hi, "; ".join(x for x in (note, extra) if x)))

    if regime == "freeze" and np.isfinite(p["pred_rate"]):
        # ρ → 1 is asymptotic (at depth 30, 1 − ρ ∝ l χ₁^l can still exceed the tolerance):
        # the claims are the limit under the predicted approach law and the rate.
        poly = float(p["pred_poly"])
        lim = extrapolated_limit(depth[w], rho[w], p["pred_rate"], poly)
        add(f"extrapolated lim rho: fit rho_l = rho_inf - C l^{poly:g} r^l, r predicted (freeze: -> 1)", 1.0, lim,
            tol["freeze_limit"], abs(lim - 1.0) <= tol["freeze_limit"],
            extra=f"rho at max depth {dmax} = {rho[-1]:.4g}; tolerance absolute")
        rate = fitted_rate(depth[w], 1.0 - rho[w], poly, GAP_FLOOR)
        add(f"per-layer factor r of (1 - rho)/l^{poly:g} (freeze)", p["pred_rate"], rate, tol["rate_rel"],
            rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]),
            extra=f"relative tolerance on log r; points with 1 - rho > {GAP_FLOOR:g}")
    elif regime == "freeze":
        add("normalized offdiag NTK at max depth (freeze: -> 1)", 1.0, rho[-1], tol["freeze_limit"],
            abs(rho[-1] - 1.0) <= tol["freeze_limit"], dmax, dmax)
        rate = fitted_rate(depth[w], 1.0 - rho[w])
        add("per-layer factor of 1 - rho (freeze; fitted, < 1 expected)", 1.0, rate, 0.0, rate < 1.0,
            extra="no closed-form rate; passes if the gap shrinks")
    elif regime == "chaos":
        add("normalized offdiag NTK at max depth (chaos: < 1)", 0.0, rho[-1], tol["chaos_gap"],
            rho[-1] <= 1.0 - tol["chaos_gap"], dmax, dmax, "passes if rho <= 1 - tolerance")
        if np.isfinite(p["pred_rate"]):
            poly = float(p["pred_poly"])
            rate = fitted_rate(depth[w], rho[w], poly)
            add(f"per-layer factor of mean rho/l^{poly:g} (chaos)", p["pred_rate"], rate, tol["rate_rel"],
                rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]), extra="relative tolerance on log r")
        if np.isfinite(p["pred_std_rate"]):
            # a drift δ of the kernel diagonal (diag_err, see depth_kernels) perturbs Θ(x, x) by
            # up to ~√δ (the √(1 − c) kink of ReLU-type derivative kernels), so every ρ by
            # ~√δ·ρ: the spread over pairs is signal only well above that
            err = g["diag_err"].to_numpy() if "diag_err" in g else np.zeros_like(rho)
            clean = w & (rho_std > 10 * np.sqrt(err) * np.abs(rho))
            rate = fitted_rate(depth[clean], rho_std[clean], 1.0)
            add("per-layer factor of the spread of rho over pairs / l (chaos)", p["pred_std_rate"], rate,
                tol["rate_rel"], rate_ok(measured=rate, predicted=p["pred_std_rate"], tol=tol["rate_rel"]),
                int(depth[clean].min(initial=d0)), int(depth[clean].max(initial=d0)),
                "relative tolerance on log r; depths where the spread exceeds 10 sqrt(diagonal drift) rho")
        if np.isfinite(p["pred_exponent"]):
            expo = fitted_exponent(depth[w], rho[w])
            add("exponent of rho against l (chaos, power law)", p["pred_exponent"], expo, tol["rate_rel"],
                rel_ok(measured=expo, predicted=p["pred_exponent"], tol=tol["rate_rel"]), extra="relative tolerance")
            add("l * rho at max depth (chaos, power law)", p["pred_l_rho"], dmax * rho[-1], tol["rate_rel"],
                rel_ok(measured=dmax * rho[-1], predicted=p["pred_l_rho"], tol=tol["rate_rel"]), dmax, dmax, "relative tolerance")
        if not np.isfinite(p["pred_rate"]) and not np.isfinite(p["pred_exponent"]):
            rate = fitted_rate(depth[w], rho[w])
            add("per-layer factor of rho (chaos; fitted, < 1 expected)", 1.0, rate, 0.0, rate < 1.0,
                extra="no closed-form rate; passes if the gap shrinks")
    elif regime == "critical":
        lim = float(p["pred_limit"])
        add(f"normalized offdiag NTK at max depth (critical: -> {lim:.4g}, not 1)", lim, rho[-1],
            tol["edge_limit"], abs(rho[-1] - lim) <= tol["edge_limit"], dmax, dmax,
            "polynomial approach (beta > 0: ~ l^(-1/2); beta = 0, residual: ~ 1/l); tolerance absolute")
        tau, y = relu_critical_law(g)
        law_slope = slope(tau[w], y[w])
        expo = fitted_exponent(depth[w], 1.0 - g["c_mean"].to_numpy()[w])
        add("slope of the correlation law (NNGP: (1-c)^(-1/2) linear; (1-c)^(3/2) term of the ReLU map)",
            p["pred_law_slope"], law_slope, tol["rate_rel"],
            rel_ok(measured=law_slope, predicted=p["pred_law_slope"], tol=tol["rate_rel"]),
            extra=f"A = 2 sqrt2/(3 pi); relative tolerance; fitted exponent of 1 - c: {expo:.3g} (-> -2)")
        if g["block"].iloc[0] == "residual":
            growth = fitted_rate(depth[w], g["nngp_diag"].to_numpy()[w])
            add("per-block growth factor of the output variance (unscaled residual)", p["pred_growth"], growth,
                tol["rate_rel"], rel_ok(measured=growth, predicted=p["pred_growth"], tol=tol["rate_rel"]),
                extra="1 + sigma_w^2/2; relative tolerance")
    return rows


def claims_c8(analytic, empirical, checker, cfg: dict):
    """C8 rows (see SPEC): per-variant limits, rates and laws (:func:`variant_claims`),
    β monotonicity, normalization ordering, BatchNorm (empirical), checkerboard.
    Nothing is tuned: failures stay."""
    import pandas as pd

    tol = cfg["tolerances"]
    rows = []
    dmax = int(analytic["depth"].max())
    dup = duplicate_variants(variant_specs(cfg))
    for name, g in analytic.groupby("variant", sort=False):
        if name not in dup:  # e.g. relu_plain is relu_b{norm_sigma_b2}: no repeated rows
            rows += variant_claims(g, tol)
    # β monotone toward freeze at fixed depth (both parameterizations)
    for fam, label in (("bias", "sigma_w^2 = 2"), ("bias_vp", "sigma_w^2 = 2(1 - beta)")):
        bias = analytic[(analytic["family"] == fam) & (analytic["depth"] == dmax)].sort_values("sigma_b2")
        if len(bias) > 1:
            diffs = np.diff(bias["rho_mean"].to_numpy())
            rows.append(_row(f"relu_{fam}", "relu", f"min over consecutive beta of d rho ({label}; larger beta -> "
                             "freeze)", 0.0, diffs.min(), 0.0, diffs.min() > 0, bias["sigma_w2"].iloc[-1],
                             bias["sigma_b2"].max(), dmax, dmax,
                             "betas " + ",".join(f"{b:g}" for b in bias["sigma_b2"])))
    # normalization toward chaos at fixed depth
    norm = analytic[(analytic["family"] == "norm") & (analytic["depth"] == dmax)].set_index("variant")
    if "relu_plain" in norm.index:
        ref = float(norm.loc["relu_plain", "rho_mean"])
        for v in ("relu_centred", "relu_layernorm", "relu_dropout"):
            if v in norm.index:
                meas = float(norm.loc[v, "rho_mean"])
                rows.append(_row(v, norm.loc[v, "activation"], "rho(variant) - rho(plain ReLU) at max depth (< 0)",
                                 0.0, meas - ref, 0.0, meas < ref, norm.loc[v, "sigma_w2"], norm.loc[v, "sigma_b2"],
                                 dmax, dmax, f"plain ReLU rho = {ref:.4g}"))
    # BatchNorm (empirical): widest width, deepest depth, mean over seeds
    if empirical is not None and len(empirical):
        wmax, dm = empirical["width"].max(), empirical["depth"].max()
        sub = empirical[(empirical["width"] == wmax) & (empirical["depth"] == dm)]
        bn = sub[sub["batchnorm"]]["rho_mean"]
        pl = sub[~sub["batchnorm"]]["rho_mean"]
        se = float(np.sqrt(bn.var(ddof=1) / len(bn) + pl.var(ddof=1) / len(pl))) if len(bn) > 1 else np.nan
        rows.append(_row("relu_batchnorm", "relu", "rho(BatchNorm) - rho(plain), empirical NTK (< 0)", 0.0,
                         bn.mean() - pl.mean(), se, bn.mean() < pl.mean(), 2.0, sub["sigma_b2"].iloc[0], dm, dm,
                         f"width {wmax}, {len(bn)} seeds; tolerance = standard error of the difference"))
    if checker is not None and len(checker):
        rows += checkerboard_claims(checker, tol)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def checkerboard_claims(checker, tol: dict) -> list[dict]:
    """Two rows per regime at the deepest stack, predictions fixed before measuring.

    Parity contrast of the normalized output-space NTK (:func:`parity_contrast`): freeze
    shows a checkerboard, contrast > ``checker``; chaos removes it, contrast ≤ ``checker``.
    Long-range correlation (:func:`far_correlation`): freeze ≥ ``checker_far_freeze``
    (frozen: every pixel pair correlated), chaos |·| ≤ ``checker_far_chaos`` (localized).
    The even/odd ratio of the NTK diagonal is reported in the note, not claimed.
    """
    rows = []
    for regime, g in checker.groupby("regime"):
        g = g.sort_values("depth")
        last = g.iloc[-1]
        frz = regime == "freeze"
        d = int(last["depth"])
        diag_note = (f"diagonal even/odd ratio (reported, not claimed) {last['parity_ratio']:.4g}; "
                     f"interior contrast {last['parity_contrast_interior']:.4g}")
        c, t = float(last["parity_contrast"]), tol["checker"]
        rows.append(_row(f"deconv_{regime}", last["activation"],
                         "parity contrast of normalized output-space NTK, max - min of parity-class pair means"
                         + (" (freeze: checkerboard, > tol)" if frz else " (chaos: flat, <= tol)"),
                         t if frz else 0.0, c, t, c > t if frz else c <= t, last["sigma_w2"], last["sigma_b2"], d, d,
                         ("passes if contrast > tolerance; " if frz else "passes if contrast <= tolerance; ")
                         + diag_note))
        f = float(last["far_corr"])
        t = tol["checker_far_freeze"] if frz else tol["checker_far_chaos"]
        rows.append(_row(f"deconv_{regime}", last["activation"],
                         "mean normalized output-space NTK over pixel pairs >= side/2 apart"
                         + (" (freeze: long-range, >= tol)" if frz else " (chaos: localized, |.| <= tol)"),
                         1.0 if frz else 0.0, f, t, f >= t if frz else abs(f) <= t, last["sigma_w2"],
                         last["sigma_b2"], d, d, "passes if far correlation >= tolerance" if frz
                         else "passes if |far correlation| <= tolerance"))
    return rows


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``run``: every freeze/chaos table in one job (neural-tangents is imported once)."""
    p = argparse.ArgumentParser(description="Freeze and chaos (C8, F12, F13)")
    p.add_argument("--data", required=True)
    p.add_argument("--config-json", required=True)
    p.add_argument("--analytic", required=True)
    p.add_argument("--empirical", required=True)
    p.add_argument("--checkerboard", required=True)
    p.add_argument("--maps", required=True)
    p.add_argument("--claims", required=True)
    args = p.parse_args(argv)
    setup_logging()
    cfg = json.loads(args.config_json)
    from . import data as data_mod

    d = data_mod.load(args.data)
    timings = {}
    t0 = time.perf_counter()
    analytic = analytic_table(d, cfg)
    timings["analytic_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    empirical = empirical_table(d, cfg)
    timings["empirical_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    checker, maps = checkerboard_tables(cfg)
    timings["checkerboard_s"] = time.perf_counter() - t0
    claims = claims_c8(analytic, empirical, checker, cfg)
    for path, frame in ((args.analytic, analytic), (args.empirical, empirical), (args.checkerboard, checker),
                        (args.claims, claims)):
        io.write_csv(path, frame)
        io.write_provenance(path, config=cfg, inputs=[args.data], timings=timings)
    with io.atomic_path(args.maps, suffix=".npz") as tmp:
        np.savez(tmp, **maps)
    for _, r in claims.iterrows():
        log.info("C8 %-16s %-62s predicted %-9.4g measured %-9.4g %s", r["arch"], r["quantity"][:62],
                 r["predicted"], r["measured"], "PASS" if r["passed"] else "FAIL")
    log.info("timings %s; %d of %d C8 claims passed", {k: round(v, 1) for k, v in timings.items()},
             int(claims["passed"].sum()), len(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
