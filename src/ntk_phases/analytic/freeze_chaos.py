"""Freeze and chaos of the infinite-width NTK: the variants and their mean-field laws.

Analytic (neural-tangents ``stax``) variants of a fully connected network and the
normalized NTK ρ(x, x') = Θ(x, x') / √(Θ(x, x) Θ(x', x')) against depth, its mean and
spread over input pairs (SPEC claim C8, figure F12): ReLU with bias variances β at
σ_w² = 2 (the critical line χ₁ = 1) and in the variance-preserving parameterization
σ_w² = 2(1 − β) (freeze), erf across σ_w², a centred / standardized ReLU, LayerNorm,
dropout and residual blocks. Every variant with a mean-field prediction gets it from
:func:`prediction` (derivations there and in the helpers it calls): limits, per-layer
rates, power laws.

The standardized ReLU (``std_relu``) is a layer of :mod:`ntk_phases.analytic.layers`, the
one activation registry.

The job that combines these tables with the empirical (BatchNorm, flax) NTKs and the C8
claims is :mod:`ntk_phases.stages.freeze_chaos`; the transposed-convolution statistics are in
:mod:`ntk_phases.analytic.checkerboard`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from neural_tangents import stax
from scipy import optimize

from .. import data as data_mod
from ..numerics import streaming
from ..numerics.spectral import pair_stats
from . import meanfield, sweep
from .layers import RELU_MEAN, RELU_STD, activation_layer

log = logging.getLogger("ntk_phases.freeze_chaos")


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
        specs.append(
            {
                "name": f"relu_b{b:g}",
                "family": "bias",
                "activation": "relu",
                "block": "plain",
                "sigma_w2": 2.0,
                "sigma_b2": float(b),
                "regime": "critical",
            }
        )
    for b in cfg["relu_vp_sigma_b2"]:
        if not 0 < b < 1:
            raise ValueError(f"relu_vp_sigma_b2 must lie in (0, 1), got {b}")
        specs.append(
            {
                "name": f"relu_vp_b{b:g}",
                "family": "bias_vp",
                "activation": "relu",
                "block": "plain",
                "sigma_w2": 2.0 * (1.0 - b),
                "sigma_b2": float(b),
                "regime": "freeze",
            }
        )
    for s in cfg["erf_sigma_w2"]:
        specs.append(
            {
                "name": f"erf_w{s:g}",
                "family": "erf",
                "activation": "erf",
                "block": "plain",
                "sigma_w2": float(s),
                "sigma_b2": float(cfg["erf_sigma_b2"]),
                "regime": None,
            }
        )
    b = float(cfg["norm_sigma_b2"])
    if not 0 <= b < 1:
        raise ValueError(f"norm_sigma_b2 must lie in [0, 1) (centred ReLU: σ_w² = 1 − σ_b²), got {b}")
    specs += [
        {
            "name": "relu_plain",
            "family": "norm",
            "activation": "relu",
            "block": "plain",
            "sigma_w2": 2.0,
            "sigma_b2": b,
            "regime": "critical",
        },
        {
            "name": "relu_centred",
            "family": "norm",
            "activation": "std_relu",
            "block": "plain",
            "sigma_w2": 1.0 - b,
            "sigma_b2": b,
            "regime": "chaos",
        },
        {
            "name": "relu_layernorm",
            "family": "norm",
            "activation": "std_relu",
            "block": "layernorm",
            "sigma_w2": 1.0,
            "sigma_b2": b,
            "regime": "chaos",
        },
        {
            "name": "relu_dropout",
            "family": "norm",
            "activation": "relu",
            "block": "dropout",
            "sigma_w2": 2.0,
            "sigma_b2": b,
            "regime": "chaos",
        },
        {
            "name": "relu_residual",
            "family": "norm",
            "activation": "relu",
            "block": "residual",
            "sigma_w2": 2.0,
            "sigma_b2": b,
            "regime": "critical",
        },
    ]
    return specs


def block_layers(spec: dict, dropout_rate: float) -> list:
    """One hidden layer of a variant as stax layers.

    ``plain``: Dense → φ. ``layernorm``: Dense → LayerNorm → φ; with φ the standardized
    ReLU this is, at infinite width, ReLU followed by a LayerNorm over neurons that
    centres and scales (for a homogeneous ReLU the per-example centring/scaling of
    post-activations is the standardized ReLU of the normalized pre-activation;
    neural-tangents' LayerNorm itself only rescales). ``dropout``: Dense → φ → Dropout
    (train mode). ``residual``: x + Dense(φ(x)) (FanOut/FanInSum).
    """
    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    dense = stax.Dense(1, W_std=sw, b_std=sb)
    phi = activation_layer(spec["activation"])
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


def input_layers(spec: dict) -> list:
    """The layers before the first block: a Dense embedding (σ_w = 1, no bias) for
    residual variants (the identity branch needs a hidden representation), else none."""
    return [stax.Dense(1, W_std=1.0, b_std=0.0)] if spec["block"] == "residual" else [stax.Identity()]


def readout_layers(spec: dict) -> list:
    """The readout: Dense(1) with the variant's σ_w, σ_b."""
    return [stax.Dense(1, W_std=np.sqrt(spec["sigma_w2"]), b_std=np.sqrt(spec["sigma_b2"]))]


def depth_kernels(x: np.ndarray, spec: dict, depths: Sequence[int], dropout_rate: float, *, pin: bool = True) -> dict:
    """NTK and NNGP (N × N, float64) of ``x`` after each depth in ``depths`` plus a readout.

    One pass over layers: the hidden block's kernel map is iterated on a neural-tangents
    Kernel of ``x`` with itself by :func:`ntk_phases.analytic.sweep.depth_loop`, the loop
    of the infinite-width sweep, and, with ``pin`` (the job's only setting; ``False`` for
    diagnostics), the batch diagonal of the NNGP is reset to the separately propagated
    variances ``cov1`` after the input layer and after every block
    (:func:`ntk_phases.analytic.sweep.pin_diagonal`).

    Why pinning: each variance is stored twice, in ``nngp[i, i]`` and ``cov1[i]``, and
    updated by different formulas (the two-point map at self-correlation
    ``nngp[i, i]/cov1[i]`` against the one-point map), so they part in the last bits.
    In chaos c = 1 is an unstable fixed point of the correlation map and that rounding
    grows like χ₁^l (erf at σ_w² = 4: O(1) by depth ~80); pinned, it cannot accumulate.
    Pinning is exact for every block here, because ``cov1[i]`` is the same covariance as
    ``nngp[i, i]`` after each of them: Dense, φ, LayerNorm (normalizes both by ``cov1``),
    FanOut/FanInSum (the same sums) and Dropout in train mode, whose kernel map multiplies
    ``cov1`` and the NNGP/NTK batch diagonal (same input, same mask) by 1/keep alike
    (neural-tangents' ``Dropout``: ``_diag_mul`` of ``cov1`` and, where ``x1_is_x2``, of
    the diagonals); tested via ``diag_err``.

    ``diag_err``: for each depth, the largest relative difference between the NNGP
    diagonal and ``cov1`` over all blocks up to that depth, measured just before each
    pinning (unpinned: the accumulated drift itself). Pinned, it is the rounding of one
    block (~1e-16; ~1e-8 for ReLU-type maps, whose arccos at c = 1 − ε resolves only
    √ε), and a large value would mean a block whose ``cov1`` is not the diagonal, for
    which pinning is wrong; :func:`reliable_depths` cuts there, and at non-finite kernels.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    depths = sorted({int(d) for d in depths})
    _, _, in_fn = stax.serial(*input_layers(spec))
    _, _, hid_fn = stax.serial(*block_layers(spec, dropout_rate))
    _, _, out_fn = stax.serial(*readout_layers(spec))

    def settle(k, err):
        """(Kernel, running drift) after one map: the drift measured, then the pin."""
        err = jnp.maximum(err, sweep.diagonal_drift(k))
        return (sweep.pin_diagonal(k) if pin else k), err

    @jax.jit
    def step(state):
        return settle(hid_fn(state[0]), state[1])

    @jax.jit
    def readout(state):
        out = out_fn(state[0])
        return out.ntk, out.nngp, state[1]

    state = settle(in_fn(x, None, get=None), jnp.zeros(()))
    ntk, nngp, err = [], [], []
    for _, (t, k, e) in sweep.depth_loop(state, step, readout, depths):
        ntk.append(np.asarray(t))
        nngp.append(np.asarray(k))
        err.append(float(e))
    return {"depths": np.asarray(depths), "ntk": np.stack(ntk), "nngp": np.stack(nngp), "diag_err": np.asarray(err)}


DIAG_RTOL = 1e-2  # relative difference of the kernel diagonal and cov1 beyond which depths are dropped


def reliable_depths(k: dict, rtol: float = DIAG_RTOL) -> np.ndarray:
    """Mask of the depths before the first one whose kernels are non-finite or whose
    ``diag_err`` exceeds ``rtol`` (see :func:`depth_kernels`: with pinning, finiteness
    decides; a large ``diag_err`` flags a block for which pinning would be wrong)."""
    ok = np.isfinite(k["ntk"]).all(axis=(1, 2)) & np.isfinite(k["nngp"]).all(axis=(1, 2)) & (k["diag_err"] <= rtol)
    return np.cumprod(ok).astype(bool)


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


def _mean_field(activation: str, sigma_w2: float, sigma_b2: float, newton_iters: int) -> dict:
    # erf only (no quadrature degree: that is tanh's)
    fp = meanfield.phase_diagram(activation, [sigma_w2], [sigma_b2], None, newton_iters)
    return {k: float(np.ravel(fp[k])[0]) for k in ("chi_1", "chi_c", "c_star")}


PREDICTION_KEYS = (
    "pred_regime",
    "pred_limit",
    "pred_rate",
    "pred_poly",
    "pred_std_rate",
    "pred_exponent",
    "pred_l_rho",
    "pred_law_slope",
    "pred_growth",
    "chi_1",
    "chi_c",
    "c_star",
    "pred_note",
)


def _chaos_rates(mf: dict) -> dict:
    """Chaos (Xiao et al. 2020): Θ(x, x) = q*(χ₁^{l+1} − 1)/(χ₁ − 1) grows like χ₁^l while
    Θ(x, x') → q* c*/(1 − χ_c*) when χ_c* < 1, so the pair mean of ρ decays like
    (max(χ_c*, 1)/χ₁)^l; its data-dependent part (spread over pairs) is fed by
    c_l − c* ∝ χ_c*^l and decays like l (χ_c*/χ₁)^l. With c* = 0 (odd φ, σ_b² = 0) the
    constant part vanishes and the mean itself decays like l (χ_c*/χ₁)^l."""
    chi_1, chi_c, c_star = mf["chi_1"], mf["chi_c"], mf["c_star"]
    if abs(c_star) < 1e-10:
        return {
            "pred_rate": chi_c / chi_1,
            "pred_poly": 1.0,
            "pred_std_rate": np.nan,
            "pred_note": "c* = 0: rho ~ l (chi_c*/chi_1)^l",
        }
    return {
        "pred_rate": max(chi_c, 1.0) / chi_1,
        "pred_poly": 0.0,
        "pred_std_rate": chi_c / chi_1,
        "pred_note": "mean rho ~ (max(chi_c*,1)/chi_1)^l; spread ~ l (chi_c*/chi_1)^l",
    }


def prediction(spec: dict, dropout_rate: float, newton_iters: int) -> dict:
    """Mean-field predictions for the normalized NTK of one variant (NaN: none).

    ``pred_limit``: lim ρ_l; ``pred_rate``, ``pred_poly``: the freeze gap 1 − ρ_l or the
    chaos mean ρ_l ∝ l^poly · rate^l; ``pred_std_rate``: the chaos spread of ρ over pairs
    ∝ l · rate^l; ``pred_exponent``, ``pred_l_rho``: power law ρ_l ≈ l_rho · l^exponent;
    ``pred_law_slope``: slope of the critical correlation law (:func:`relu_critical_law`);
    ``pred_growth``: per-layer growth of the NNGP diagonal.

    - erf: χ₁, χ_c*, c* from :mod:`ntk_phases.analytic.meanfield`. Freeze (χ₁ < 1): 1 − c_l ∝ χ₁^l and
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

    ``dropout_rate`` is config ``freeze_chaos.dropout_rate``, ``newton_iters`` config
    ``theory.newton_iters`` (the erf fixed points).
    """
    out = {k: np.nan for k in PREDICTION_KEYS}
    out.update(pred_regime=spec["regime"] or "", pred_note="")
    act, block, sw2, sb2 = spec["activation"], spec["block"], spec["sigma_w2"], spec["sigma_b2"]
    if act == "erf" and block == "plain":
        mf = _mean_field("erf", sw2, sb2, newton_iters)
        out.update(mf)
        if mf["chi_1"] < 1:
            out.update(
                pred_regime="freeze",
                pred_limit=1.0,
                pred_rate=mf["chi_1"],
                pred_poly=1.0,
                pred_note="smooth phi: 1 - rho ~ l chi_1^l",
            )
        else:
            out.update(pred_regime="chaos", pred_limit=0.0, **_chaos_rates(mf))
    elif act == "relu" and block == "plain" and np.isclose(sw2 + 2 * sb2, 2.0) and sb2 > 0:
        chi_1 = 1.0 - sb2
        out.update(
            pred_regime="freeze",
            pred_limit=1.0,
            pred_rate=np.sqrt(chi_1),
            pred_poly=0.0,
            chi_1=chi_1,
            chi_c=chi_1,
            c_star=1.0,
            pred_note="ReLU: sqrt(1 - c) term in E phi'phi' -> 1 - rho ~ chi_1^(l/2)",
        )
    elif act == "relu" and block == "plain" and sw2 == 2.0:
        out.update(
            pred_regime="critical",
            pred_limit=0.25 if sb2 == 0 else 4.0 / 7.0,
            pred_law_slope=RELU_A,
            chi_1=1.0,
            pred_note=("beta = 0: rho -> 1/4" if sb2 == 0 else "beta > 0: rho -> 4/7 (not 1)")
            + "; 1 - c ~ 9 pi^2/("
            + ("2" if sb2 == 0 else "8")
            + " l^2)",
        )
    elif act == "relu" and block == "residual":
        kappa = (sw2 / 2) / (1 + sw2 / 2)
        out.update(
            pred_regime="critical",
            pred_limit=0.25,
            pred_law_slope=kappa * RELU_A / 2,
            pred_growth=1 + sw2 / 2,
            pred_note="unscaled residual: q x (1 + sigma_w^2/2) per block, (1 - c)^(-1/2) linear in l, rho -> 1/4",
        )
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
        out.update(
            pred_regime="chaos",
            pred_limit=0.0,
            pred_exponent=-1.0,
            pred_l_rho=mf["l_rho"],
            chi_c=mf["chi_c"],
            c_star=mf["c_star"],
            pred_note="rho ~ c*/((1 - chi_c*) l)",
        )
    return out


def analytic_table(data: dict, cfg: dict):
    """Tidy table: one row per (variant, depth) with ρ mean/std, κ, mean_pred_rms, test_acc."""
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
            log.warning(
                "%s: kernels beyond depth %d dropped (diagonal drift %.2g > %g or non-finite)",
                spec["name"],
                k["depths"][ok].max(initial=0),
                k["diag_err"][~ok][0],
                DIAG_RTOL,
            )
        if not ok.any():
            continue
        ntk, nngp = k["ntk"][ok], k["nngp"][ok]
        rho = pair_stats(ntk[:, :n, :n])
        corr = pair_stats(nngp[:, :n, :n])
        met = streaming.kernel_metrics(
            ntk[:, :n, :n],
            ntk[:, n:, :n],
            nngp[:, :n, :n],
            nngp[:, n:, :n],
            np.diagonal(nngp[:, n:, n:], axis1=-2, axis2=-1),
            y_train,
            y_test,
            [float(cfg["time"])],
        )
        rows.append(
            pd.DataFrame(
                {
                    "variant": spec["name"],
                    "family": spec["family"],
                    "activation": spec["activation"],
                    "block": spec["block"],
                    "sigma_w2": spec["sigma_w2"],
                    "sigma_b2": spec["sigma_b2"],
                    "regime": spec["regime"] or "",
                    "depth": k["depths"][ok],
                    "diag_err": k["diag_err"][ok],
                    "rho_mean": rho["corr_mean"],
                    "rho_std": rho["corr_std"],
                    "ntk_diag": rho["diag"],
                    "nngp_diag": corr["diag"],
                    "c_mean": corr["corr_mean"],
                    "c_gap_isqrt": corr["gap_isqrt"],
                    "kappa": met["kappa"],
                    "singular": met["singular"],
                    "mean_pred_rms": met["mean_pred_rms"],
                    "test_acc": met["test_acc"][..., 0],
                    "t": float(cfg["time"]),
                    **prediction(spec, cfg["dropout_rate"], cfg["newton_iters"]),
                }
            )
        )
        log.info(
            "%s: depths 1..%d in %.1fs; rho %.3f -> %.3f",
            spec["name"],
            k["depths"][ok].max(),
            time.perf_counter() - t0,
            rho["corr_mean"][0],
            rho["corr_mean"][-1],
        )
    return pd.concat(rows, ignore_index=True)
