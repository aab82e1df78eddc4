"""Claim C8 (SPEC §1): freeze and chaos of the NTK, from the freeze/chaos stage's tables
(the analytic variants, the empirical BatchNorm NTKs and the checkerboard statistics of
:mod:`ntk_phases.stages.freeze_chaos`); rows of :data:`.schema.SCHEMA`, each with the condition
that decides it. numpy / pandas only. Nothing is tuned: failures stay.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..numerics.fits import (
    extrapolated_limit,
    fitted_exponent,
    fitted_rate,
    rate_ok,
    rel_ok,
    slope,
)
from .schema import ABOVE, ABS, BELOW, COLUMNS, LOG_REL, REL, claim_row

#: BatchNorm against plain (empirical NTK): the tolerance is the standard error, reported.
BELOW_SE = BELOW + " (tolerance: standard error, reported)"
CHAOS_GAP = "measured <= 1 - tolerance"


def _row(arch, act, quantity, predicted, measured, tol, passed, condition, sw2, sb2, dmin, dmax, note=""):
    return claim_row(
        "C8",
        arch,
        act,
        quantity,
        predicted,
        measured,
        tol,
        passed,
        condition,
        sigma_w2=sw2,
        sigma_b2=sb2,
        depth_min=dmin,
        depth_max=dmax,
        note=note,
    )


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
    Residual blocks: y_l = (1 − c_l)^{−1/2}, τ_l = l, slope κ A/2
    (:func:`ntk_phases.analytic.freeze_chaos.prediction`).
    ``g``: one variant's rows of the analytic table, sorted by depth (consecutive depths).
    """
    q = g["nngp_diag"].to_numpy()
    isq = g["c_gap_isqrt"].to_numpy()
    if g["block"].iloc[0] == "residual":
        return g["depth"].to_numpy(dtype=float), isq
    tau = np.concatenate([[0.0], np.cumsum(0.5 / np.sqrt(q[:-1]))])
    return tau, isq / np.sqrt(q)


def duplicate_variants(specs: list[dict]) -> set[str]:
    """Names of variants identical (activation, block, σ_w², σ_b²) to an earlier one
    (``specs``: variant specs, or one row per variant of the analytic table)."""
    seen, dup = set(), set()
    for s in specs:
        key = (s["activation"], s["block"], s["sigma_w2"], s["sigma_b2"])
        if key in seen:
            dup.add(s["name"])
        seen.add(key)
    return dup


def variant_claims(g, tol: dict) -> list[dict]:
    """C8 rows of one analytic variant from its mean-field predictions
    (:func:`ntk_phases.analytic.freeze_chaos.prediction`, the ``pred_*`` columns).

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

    def add(q, pred, meas, t, ok, cond, lo=d0, hi=d1, extra=""):
        rows.append(
            _row(name, act, q, pred, meas, t, ok, cond, sw2, sb2, lo, hi, "; ".join(x for x in (note, extra) if x))
        )

    if regime == "freeze" and np.isfinite(p["pred_rate"]):
        # ρ → 1 is asymptotic (at depth 30, 1 − ρ ∝ l χ₁^l can still exceed the tolerance):
        # the claims are the limit under the predicted approach law and the rate.
        poly = float(p["pred_poly"])
        lim = extrapolated_limit(depth[w], rho[w], p["pred_rate"], poly)
        add(
            f"extrapolated lim rho: fit rho_l = rho_inf - C l^{poly:g} r^l, r predicted (freeze: -> 1)",
            1.0,
            lim,
            tol["freeze_limit"],
            abs(lim - 1.0) <= tol["freeze_limit"],
            ABS,
            extra=f"rho at max depth {dmax} = {rho[-1]:.4g}; tolerance absolute",
        )
        rate = fitted_rate(depth[w], 1.0 - rho[w], poly, GAP_FLOOR)
        add(
            f"per-layer factor r of (1 - rho)/l^{poly:g} (freeze)",
            p["pred_rate"],
            rate,
            tol["rate_rel"],
            rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]),
            LOG_REL,
            extra=f"relative tolerance on log r; points with 1 - rho > {GAP_FLOOR:g}",
        )
    elif regime == "freeze":
        add(
            "normalized offdiag NTK at max depth (freeze: -> 1)",
            1.0,
            rho[-1],
            tol["freeze_limit"],
            abs(rho[-1] - 1.0) <= tol["freeze_limit"],
            ABS,
            dmax,
            dmax,
        )
        rate = fitted_rate(depth[w], 1.0 - rho[w])
        add(
            "per-layer factor of 1 - rho (freeze; fitted, < 1 expected)",
            1.0,
            rate,
            0.0,
            rate < 1.0,
            BELOW,
            extra="no closed-form rate; passes if the gap shrinks",
        )
    elif regime == "chaos":
        add(
            "normalized offdiag NTK at max depth (chaos: < 1)",
            0.0,
            rho[-1],
            tol["chaos_gap"],
            rho[-1] <= 1.0 - tol["chaos_gap"],
            CHAOS_GAP,
            dmax,
            dmax,
            "passes if rho <= 1 - tolerance",
        )
        if np.isfinite(p["pred_rate"]):
            poly = float(p["pred_poly"])
            rate = fitted_rate(depth[w], rho[w], poly)
            add(
                f"per-layer factor of mean rho/l^{poly:g} (chaos)",
                p["pred_rate"],
                rate,
                tol["rate_rel"],
                rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]),
                LOG_REL,
                extra="relative tolerance on log r",
            )
        if np.isfinite(p["pred_std_rate"]):
            # a drift δ of the kernel diagonal (diag_err, see analytic.freeze_chaos.depth_kernels;
            # ~1e-16 with the diagonal pinned) perturbs Θ(x, x) by
            # up to ~√δ (the √(1 − c) kink of ReLU-type derivative kernels), so every ρ by
            # ~√δ·ρ: the spread over pairs is signal only well above that
            err = g["diag_err"].to_numpy() if "diag_err" in g else np.zeros_like(rho)
            clean = w & (rho_std > 10 * np.sqrt(err) * np.abs(rho))
            rate = fitted_rate(depth[clean], rho_std[clean], 1.0)
            add(
                "per-layer factor of the spread of rho over pairs / l (chaos)",
                p["pred_std_rate"],
                rate,
                tol["rate_rel"],
                rate_ok(measured=rate, predicted=p["pred_std_rate"], tol=tol["rate_rel"]),
                LOG_REL,
                int(depth[clean].min(initial=d0)),
                int(depth[clean].max(initial=d0)),
                "relative tolerance on log r; depths where the spread exceeds 10 sqrt(diagonal drift) rho",
            )
        if np.isfinite(p["pred_exponent"]):
            expo = fitted_exponent(depth[w], rho[w])
            add(
                "exponent of rho against l (chaos, power law)",
                p["pred_exponent"],
                expo,
                tol["rate_rel"],
                rel_ok(measured=expo, predicted=p["pred_exponent"], tol=tol["rate_rel"]),
                REL,
                extra="relative tolerance",
            )
            add(
                "l * rho at max depth (chaos, power law)",
                p["pred_l_rho"],
                dmax * rho[-1],
                tol["rate_rel"],
                rel_ok(measured=dmax * rho[-1], predicted=p["pred_l_rho"], tol=tol["rate_rel"]),
                REL,
                dmax,
                dmax,
                "relative tolerance",
            )
        if not np.isfinite(p["pred_rate"]) and not np.isfinite(p["pred_exponent"]):
            rate = fitted_rate(depth[w], rho[w])
            add(
                "per-layer factor of rho (chaos; fitted, < 1 expected)",
                1.0,
                rate,
                0.0,
                rate < 1.0,
                BELOW,
                extra="no closed-form rate; passes if the gap shrinks",
            )
    elif regime == "critical":
        lim = float(p["pred_limit"])
        add(
            f"normalized offdiag NTK at max depth (critical: -> {lim:.4g}, not 1)",
            lim,
            rho[-1],
            tol["edge_limit"],
            abs(rho[-1] - lim) <= tol["edge_limit"],
            ABS,
            dmax,
            dmax,
            "polynomial approach (beta > 0: ~ l^(-1/2); beta = 0, residual: ~ 1/l); tolerance absolute",
        )
        tau, y = relu_critical_law(g)
        law_slope = slope(tau[w], y[w])
        expo = fitted_exponent(depth[w], 1.0 - g["c_mean"].to_numpy()[w])
        add(
            "slope of the correlation law (NNGP: (1-c)^(-1/2) linear; (1-c)^(3/2) term of the ReLU map)",
            p["pred_law_slope"],
            law_slope,
            tol["rate_rel"],
            rel_ok(measured=law_slope, predicted=p["pred_law_slope"], tol=tol["rate_rel"]),
            REL,
            extra=f"A = 2 sqrt2/(3 pi); relative tolerance; fitted exponent of 1 - c: {expo:.3g} (-> -2)",
        )
        if g["block"].iloc[0] == "residual":
            growth = fitted_rate(depth[w], g["nngp_diag"].to_numpy()[w])
            add(
                "per-block growth factor of the output variance (unscaled residual)",
                p["pred_growth"],
                growth,
                tol["rate_rel"],
                rel_ok(measured=growth, predicted=p["pred_growth"], tol=tol["rate_rel"]),
                REL,
                extra="1 + sigma_w^2/2; relative tolerance",
            )
    return rows


def claims_c8(analytic, empirical, checker, cfg: dict):
    """C8 rows (see SPEC): per-variant limits, rates and laws (:func:`variant_claims`),
    β monotonicity, normalization ordering, BatchNorm (empirical), checkerboard.
    Nothing is tuned: failures stay."""
    tol = cfg["tolerances"]
    rows = []
    dmax = int(analytic["depth"].max())
    firsts = analytic.groupby("variant", sort=False).head(1)
    dup = duplicate_variants([{**r, "name": r["variant"]} for r in firsts.to_dict("records")])
    for name, g in analytic.groupby("variant", sort=False):
        if name not in dup:  # e.g. relu_plain is relu_b{norm_sigma_b2}: no repeated rows
            rows += variant_claims(g, tol)
    # β monotone toward freeze at fixed depth (both parameterizations)
    for fam, label in (("bias", "sigma_w^2 = 2"), ("bias_vp", "sigma_w^2 = 2(1 - beta)")):
        bias = analytic[(analytic["family"] == fam) & (analytic["depth"] == dmax)].sort_values("sigma_b2")
        if len(bias) > 1:
            diffs = np.diff(bias["rho_mean"].to_numpy())
            rows.append(
                _row(
                    f"relu_{fam}",
                    "relu",
                    f"min over consecutive beta of d rho ({label}; larger beta -> freeze)",
                    0.0,
                    diffs.min(),
                    0.0,
                    diffs.min() > 0,
                    ABOVE,
                    bias["sigma_w2"].iloc[-1],
                    bias["sigma_b2"].max(),
                    dmax,
                    dmax,
                    "betas " + ",".join(f"{b:g}" for b in bias["sigma_b2"]),
                )
            )
    # normalization toward chaos at fixed depth
    norm = analytic[(analytic["family"] == "norm") & (analytic["depth"] == dmax)].set_index("variant")
    if "relu_plain" in norm.index:
        ref = float(norm.loc["relu_plain", "rho_mean"])
        for v in ("relu_centred", "relu_layernorm", "relu_dropout"):
            if v in norm.index:
                meas = float(norm.loc[v, "rho_mean"])
                rows.append(
                    _row(
                        v,
                        norm.loc[v, "activation"],
                        "rho(variant) - rho(plain ReLU) at max depth (< 0)",
                        0.0,
                        meas - ref,
                        0.0,
                        meas < ref,
                        BELOW,
                        norm.loc[v, "sigma_w2"],
                        norm.loc[v, "sigma_b2"],
                        dmax,
                        dmax,
                        f"plain ReLU rho = {ref:.4g}",
                    )
                )
    # BatchNorm (empirical): widest width, deepest depth, mean over seeds
    if empirical is not None and len(empirical):
        wmax, dm = empirical["width"].max(), empirical["depth"].max()
        sub = empirical[(empirical["width"] == wmax) & (empirical["depth"] == dm)]
        bn = sub[sub["batchnorm"]]["rho_mean"]
        pl = sub[~sub["batchnorm"]]["rho_mean"]
        se = float(np.sqrt(bn.var(ddof=1) / len(bn) + pl.var(ddof=1) / len(pl))) if len(bn) > 1 else np.nan
        rows.append(
            _row(
                "relu_batchnorm",
                "relu",
                "rho(BatchNorm) - rho(plain), empirical NTK (< 0)",
                0.0,
                bn.mean() - pl.mean(),
                se,
                bn.mean() < pl.mean(),
                BELOW_SE,
                2.0,
                sub["sigma_b2"].iloc[0],
                dm,
                dm,
                f"width {wmax}, {len(bn)} seeds; tolerance = standard error of the difference",
            )
        )
    if checker is not None and len(checker):
        rows += checkerboard_claims(checker, tol)
    return pd.DataFrame(rows, columns=COLUMNS)


def checkerboard_claims(checker, tol: dict) -> list[dict]:
    """Two rows per regime at the deepest stack, predictions fixed before measuring.

    Parity contrast of the normalized output-space NTK
    (:func:`ntk_phases.analytic.checkerboard.parity_contrast`): freeze shows a checkerboard,
    contrast > ``checker``; chaos removes it, contrast ≤ ``checker``. Long-range correlation
    (:func:`ntk_phases.analytic.checkerboard.far_correlation`): freeze ≥
    ``checker_far_freeze`` (frozen: every pixel pair correlated), chaos |·| ≤
    ``checker_far_chaos`` (localized).
    The even/odd ratio of the NTK diagonal is reported in the note, not claimed.
    """
    rows = []
    for regime, g in checker.groupby("regime"):
        g = g.sort_values("depth")
        last = g.iloc[-1]
        frz = regime == "freeze"
        d = int(last["depth"])
        diag_note = (
            f"diagonal even/odd ratio (reported, not claimed) {last['parity_ratio']:.4g}; "
            f"interior contrast {last['parity_contrast_interior']:.4g}"
        )
        c, t = float(last["parity_contrast"]), tol["checker"]
        rows.append(
            _row(
                f"deconv_{regime}",
                last["activation"],
                "parity contrast of normalized output-space NTK, max - min of parity-class pair means"
                + (" (freeze: checkerboard, > tol)" if frz else " (chaos: flat, <= tol)"),
                t if frz else 0.0,
                c,
                t,
                c > t if frz else c <= t,
                "measured > tolerance" if frz else "measured <= tolerance",
                last["sigma_w2"],
                last["sigma_b2"],
                d,
                d,
                ("passes if contrast > tolerance; " if frz else "passes if contrast <= tolerance; ") + diag_note,
            )
        )
        f = float(last["far_corr"])
        t = tol["checker_far_freeze"] if frz else tol["checker_far_chaos"]
        rows.append(
            _row(
                f"deconv_{regime}",
                last["activation"],
                "mean normalized output-space NTK over pixel pairs >= side/2 apart"
                + (" (freeze: long-range, >= tol)" if frz else " (chaos: localized, |.| <= tol)"),
                1.0 if frz else 0.0,
                f,
                t,
                f >= t if frz else abs(f) <= t,
                "measured >= tolerance" if frz else "|measured| <= tolerance",
                last["sigma_w2"],
                last["sigma_b2"],
                d,
                d,
                "passes if far correlation >= tolerance" if frz else "passes if |far correlation| <= tolerance",
            )
        )
    return rows
