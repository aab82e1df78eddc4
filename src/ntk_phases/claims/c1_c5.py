"""Claims C1-C5 (SPEC §1) from the infinite-width tables (``metrics/infinite_<arch>_<act>``)
and the C5 pooling table; rows of :data:`.schema.SCHEMA`.

Every rate is a least-squares slope of a log quantity over a "deep" depth window that
starts past the transient (a few depth scales) and ends before numerical floors (the
``singular`` flag, or a gap below 1e-10 of the limit).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ..numerics.fits import fit_power_law, fit_residuals, log_slope, rel_ok
from ..numerics.spectral import KERNEL_PRECISION
from .schema import ABOVE, REL, REPORTED, claim_row

log = logging.getLogger(__name__)


def per_point(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (σ_w², σ_b², depth): the t-independent columns."""
    t0 = frame["t"].min()
    return frame[frame["t"] == t0].sort_values("depth").reset_index(drop=True)


def nearest_sigma(frame: pd.DataFrame, sigma_w2: float) -> pd.DataFrame:
    """Rows at the grid σ_w² nearest to ``sigma_w2`` (first σ_b²)."""
    sb = frame["sigma_b2"].min()
    sub = frame[frame["sigma_b2"] == sb]
    values = np.unique(sub["sigma_w2"])
    s = values[np.argmin(np.abs(values - sigma_w2))]
    return sub[sub["sigma_w2"] == s].sort_values("depth").reset_index(drop=True)


def _row(claim, arch, act, quantity, predicted, measured, tol, passed, pts, window, note="", condition=REL):
    """A C1-C5 row at the configuration of ``pts`` over the depth ``window``."""
    return claim_row(
        claim,
        arch,
        act,
        quantity,
        predicted,
        measured,
        tol,
        passed,
        condition,
        sigma_w2=float(pts["sigma_w2"].iloc[0]),
        sigma_b2=float(pts["sigma_b2"].iloc[0]),
        depth_min=int(window[0]) if len(window) else -1,
        depth_max=int(window[-1]) if len(window) else -1,
        note=note,
    )


def chaotic_claims(pts: pd.DataFrame, arch: str, act: str, n_train: int) -> list[dict]:
    """C1 at one chaotic point (per_point rows of one σ_w²)."""
    th = pts.iloc[0]
    chi1, chic, q, c = th["chi_1"], th["chi_c"], th["q_star"], th["c_star"]
    xi = th["xi_star"]
    d = pts["depth"].to_numpy()
    deep = d >= max(5, 3 * xi)
    rows = []
    w = d[deep]
    rate = log_slope(w, pts.loc[deep, "ntk_diag"].to_numpy())
    rows.append(
        _row(
            "C1",
            arch,
            act,
            "growth factor of ntk_diag per layer (chi_1)",
            chi1,
            rate,
            0.01,
            rel_ok(measured=rate, predicted=chi1, tol=0.01),
            pts,
            w,
        )
    )
    limit = q * c / (1 - chic)
    meas = float(pts["ntk_offdiag"].iloc[-1])
    rows.append(
        _row(
            "C1",
            arch,
            act,
            "ntk_offdiag limit q*c*/(1-chi_c*)",
            limit,
            meas,
            0.01,
            rel_ok(measured=meas, predicted=limit, tol=0.01),
            pts,
            d[-1:],
            "at the deepest depth",
        )
    )
    km1 = pts["kappa"].to_numpy() - 1
    ok = deep & (km1 > 1e-12)
    rate = log_slope(d[ok], km1[ok])
    rows.append(
        _row(
            "C1",
            arch,
            act,
            "decay factor of kappa-1 per layer (1/chi_1)",
            1 / chi1,
            rate,
            0.02,
            rel_ok(measured=rate, predicted=1 / chi1, tol=0.02),
            pts,
            d[ok],
            "kappa -> 1",
        )
    )
    mp = pts["mean_pred_rms"].to_numpy()
    ok = deep & (d > 0) & (mp > 1e-300)
    rate = log_slope(d[ok], mp[ok] / d[ok])
    rows.append(
        _row(
            "C1",
            arch,
            act,
            "decay factor of mean_pred_rms/l per layer (chi_c*/chi_1)",
            chic / chi1,
            rate,
            0.05,
            rel_ok(measured=rate, predicted=chic / chi1, tol=0.05),
            pts,
            d[ok],
        )
    )
    return rows


# Fits stop where the signal reaches the kernel's precision: float64 rounding, or
# neural-tangents' ReLU (arc-cosine) kernel's ~1e-7 (numerics.spectral.KERNEL_PRECISION).
DEFAULT_PRECISION = 1e-12


# ReLU is not smooth, which changes two of C2's rates (the paper's χ₁ assumes a smooth φ):
# - its q-map q -> σ_w² q/2 + σ_b² is linear with slope exactly χ₁, so the diagonal
#   Θ_aa^l − p* = Σ_k χ₁^(l−k) (q^k − q*) has a double root: ∝ l χ₁^l;
# - its derivative kernel K̇(c) = (π − arccos c)/(2π) σ_w² has a √(1 − c) term, so the
#   off-diagonal NTK entries, and with them λ_min and κ, approach their limit at
#   χ₁^(1/2) per layer (the same term gives 1 − ρ ∝ χ₁^(l/2) in freeze_chaos.prediction).
NONSMOOTH = {"relu"}


def spectrum_forms(act: str) -> dict[str, Any]:
    """The ordered-phase forms of λ_min and κ that C2 tests (and F4 draws): per-layer
    factor ``rate`` of λ_min (κ: 1/rate), times l^``poly`` (κ: l^−poly), with labels.

    Smooth φ (the notebook's overlays): λ_min ∝ l χ₁^l, κ ∝ 1/(l χ₁^l). ReLU: λ_min ∝
    χ₁^(l/2), κ ∝ χ₁^(−l/2) (the √(1 − c) term; no polynomial factor is predicted)."""
    if act in NONSMOOTH:
        return {
            "rate": "sqrt_chi_1",
            "poly": 0,
            "name": "sqrt(chi_1): relu",
            "lambda_min": r"$\propto\chi_1^{l/2}$",
            "kappa": r"$\propto\chi_1^{-l/2}$",
        }
    return {
        "rate": "chi_1",
        "poly": 1,
        "name": "chi_1",
        "lambda_min": r"$\propto l\,\chi_1^{l}$",
        "kappa": r"$\propto 1/(l\,\chi_1^{l})$",
    }


def ordered_claims(pts: pd.DataFrame, arch: str, act: str, n_train: int) -> list[dict]:
    """C2 at one ordered point."""
    floor = KERNEL_PRECISION.get(act, DEFAULT_PRECISION)
    nonsmooth = act in NONSMOOTH
    th = pts.iloc[0]
    chi1, q = th["chi_1"], th["q_star"]
    xi = th["xi_1"]
    p_star = q / (1 - chi1)
    d = pts["depth"].to_numpy()
    rows = []
    meas = float(pts["ntk_diag"].iloc[-1])
    rows.append(
        _row(
            "C2",
            arch,
            act,
            "ntk_diag limit p* = q*/(1-chi_1)",
            p_star,
            meas,
            1e-3,
            rel_ok(measured=meas, predicted=p_star, tol=1e-3),
            pts,
            d[-1:],
            "at the deepest depth",
        )
    )
    gap = np.abs(pts["ntk_diag"].to_numpy() - p_star)
    ok = (d >= max(3, 2 * xi)) & (gap > 100 * floor * p_star)
    if nonsmooth:
        rate = log_slope(d[ok], gap[ok] / d[ok])
        rows.append(
            _row(
                "C2",
                arch,
                act,
                "decay factor of |ntk_diag - p*|/l per layer (chi_1; double root)",
                chi1,
                rate,
                0.02,
                rel_ok(measured=rate, predicted=chi1, tol=0.02),
                pts,
                d[ok],
                f"|ntk_diag - p*| alone: {log_slope(d[ok], gap[ok]):.4f}",
            )
        )
    else:
        rate = log_slope(d[ok], gap[ok])
        rows.append(
            _row(
                "C2",
                arch,
                act,
                "decay factor of |ntk_diag - p*| per layer (chi_1)",
                chi1,
                rate,
                0.02,
                rel_ok(measured=rate, predicted=chi1, tol=0.02),
                pts,
                d[ok],
            )
        )
    meas = float(pts["lambda_max"].iloc[-1])
    rows.append(
        _row(
            "C2",
            arch,
            act,
            "lambda_max limit m p*",
            n_train * p_star,
            meas,
            0.01,
            rel_ok(measured=meas, predicted=n_train * p_star, tol=0.01),
            pts,
            d[-1:],
            f"m = {n_train}",
        )
    )
    fine = (
        (d >= max(3, 2 * xi))
        & ~pts["singular"].to_numpy().astype(bool)
        & (pts["lambda_min"].to_numpy() > 100 * floor * pts["lambda_max"].to_numpy())
    )
    form = spectrum_forms(act)
    lam = np.sqrt(chi1) if form["rate"] == "sqrt_chi_1" else chi1
    name, poly = form["name"], form["poly"]
    lf = np.maximum(d[fine], 1).astype(float) ** poly  # the polynomial factor l^poly
    per = "/l" if poly else ""
    times = "*l" if poly else ""
    rate = log_slope(d[fine], pts.loc[fine, "lambda_min"].to_numpy() / lf)
    plain = log_slope(d[fine], pts.loc[fine, "lambda_min"].to_numpy())
    rows.append(
        _row(
            "C2",
            arch,
            act,
            f"decay factor of lambda_min{per} per layer ({name}; lambda_min ~ {'l ' if poly else ''}rate^l)",
            lam,
            rate,
            0.15,
            rel_ok(measured=rate, predicted=lam, tol=0.15),
            pts,
            d[fine],
            f"non-singular depths; lambda_min alone: {plain:.4f}" if poly else "non-singular depths",
        )
    )
    rate = log_slope(d[fine], pts.loc[fine, "kappa"].to_numpy() * lf)
    plain = log_slope(d[fine], pts.loc[fine, "kappa"].to_numpy())
    rows.append(
        _row(
            "C2",
            arch,
            act,
            f"growth factor of kappa{times} per layer (1/{name}; kappa ~ 1/({'l ' if poly else ''}rate^l))",
            1 / lam,
            rate,
            0.15,
            rel_ok(measured=rate, predicted=1 / lam, tol=0.15),
            pts,
            d[fine],
            f"non-singular depths; kappa alone: {plain:.4f}" if poly else "non-singular depths",
        )
    )
    return rows


CRITICAL = "measured < predicted (power law fits better), or max/min over the window < 10"


def critical_claims(pp: pd.DataFrame, arch: str, act: str) -> list[dict]:
    """C3 at the grid σ_w² closest to the critical line: power law beats exponential."""
    sb = pp["sigma_b2"].min()
    sub = pp[pp["sigma_b2"] == sb]
    crit_sw = sub.loc[(sub["chi_1"] - 1).abs().idxmin(), "sigma_w2"]
    pts = sub[sub["sigma_w2"] == crit_sw].sort_values("depth")
    d = pts["depth"].to_numpy()
    rows = []
    for col, label in (("kappa", "kappa"), ("mean_pred_rms", "mean_pred_rms")):
        y = pts[col].to_numpy()
        ok = (d >= 4) & (y > 0)
        if col == "kappa":
            ok &= ~pts["singular"].to_numpy().astype(bool)
        r_pow, r_exp, expo = fit_residuals(d[ok], y[ok])
        # Polynomial, not exponential: a power law fits log y better than a line in l, or y
        # barely changes (less than 10x) over the whole window, where both fits are noise.
        span = float(np.log(y[ok].max() / y[ok].min()))
        passed = (r_pow < r_exp) or (span < np.log(10))
        rows.append(
            _row(
                "C3",
                arch,
                act,
                f"{label}: rms residual of power-law fit / exponential fit",
                1.0,
                r_pow / max(r_exp, 1e-300),
                None,
                passed,
                pts,
                d[ok],
                f"chi_1 = {pts['chi_1'].iloc[0]:.4f}; power-law exponent {expo:.3f}; "
                f"max/min over the window {np.exp(span):.3g}",
                condition=CRITICAL,
            )
        )
    return rows


def cnn_f_claims(fcn_pts: pd.DataFrame, cnn_pts: pd.DataFrame, act: str) -> list[dict]:
    """C4: CNN-F's chaotic rates equal the FCN's (same σ_w², σ_b²)."""
    rows = []
    xi = fcn_pts["xi_star"].iloc[0]
    for col, label, tol in (
        ("ntk_diag", "growth factor of ntk_diag", 0.02),
        ("mean_pred_rms", "decay factor of mean_pred_rms/l", 0.10),
    ):
        rates = []
        for pts in (fcn_pts, cnn_pts):
            d = pts["depth"].to_numpy()
            y = pts[col].to_numpy()
            ok = (d >= max(5, 3 * xi)) & (y > 0) & (d > 0)
            if col == "mean_pred_rms":
                y = y / np.maximum(d, 1)
            rates.append((log_slope(d[ok], y[ok]), d[ok]))
        (fr, _), (cr, w) = rates
        rows.append(
            _row(
                "C4",
                "cnn_f",
                act,
                f"{label}: cnn_f vs fcn",
                fr,
                cr,
                tol,
                rel_ok(measured=cr, predicted=fr, tol=tol),
                cnn_pts,
                w,
                "predicted = the FCN's fitted rate",
            )
        )
    return rows


def pooling_claims(pool: pd.DataFrame) -> list[dict]:
    """C5: CNN-P's mean predictor against CNN-F's at the deepest depth, per image size d."""
    deepest = pool["depth"].max()
    last = pool[pool["depth"] == deepest]
    piv = last.pivot_table(index="d", columns="arch", values="mean_pred_rms")
    ratio = (piv["cnn_p"] / piv["cnn_f"]).sort_index()
    act = str(pool["activation"].iloc[0])
    pts = pool.iloc[:1]
    rows = []
    for dval, r in ratio.items():
        rows.append(
            _row(
                "C5",
                "cnn_p",
                act,
                f"mean_pred_rms cnn_p/cnn_f at d = {dval}",
                1.0,
                r,
                None,
                r > 1,
                pts,
                [deepest],
                "pooling slows the collapse of P(Theta)Y",
                condition=ABOVE,
            )
        )
    # the exponent needs two image sizes with a finite ratio (one size: no slope at all)
    fit = ratio[np.isfinite(ratio) & (ratio > 0)]
    slope = fit_power_law(fit.index.to_numpy(float), fit.to_numpy())[0] if len(fit) >= 2 else float("nan")
    rows.append(
        _row(
            "C5",
            "cnn_p",
            act,
            "fitted exponent of (cnn_p/cnn_f ratio) against d",
            None,
            slope,
            None,
            bool(np.isfinite(slope)),
            pts,
            [deepest],
            "scaling measured, not assumed (SPEC C5); d = " + ", ".join(f"{v:g}" for v in ratio.index),
            condition=REPORTED,
        )
    )
    return rows


def c1_c5_claims(tables: dict[tuple[str, str], pd.DataFrame], pooling: pd.DataFrame | None, cfg: dict) -> list[dict]:
    """C1-C4 rows of every FCN table keyed by (arch, activation) (C4 where the CNN-F table
    of its activation is there too), then C5's of the pooling table (if any)."""
    rows: list[dict] = []
    for (arch, act), frame in sorted(tables.items()):
        if arch != "fcn":
            continue
        pp = per_point(frame)
        n_train = int(cfg["kernels"]["architectures"][arch]["n_train"])
        chaotic = nearest_sigma(pp, cfg["claims"]["chaotic_sigma_w2"])
        if chaotic["phase"].iloc[0] == "chaotic":
            rows += chaotic_claims(chaotic, arch, act, n_train)
        else:
            log.warning(
                "%s/%s: no chaotic point near sigma_w2=%s (phase %s); C1 skipped",
                arch,
                act,
                cfg["claims"]["chaotic_sigma_w2"],
                chaotic["phase"].iloc[0],
            )
        ordered = nearest_sigma(pp, cfg["claims"]["ordered_sigma_w2"])
        if ordered["phase"].iloc[0] == "ordered":
            rows += ordered_claims(ordered, arch, act, n_train)
        if act != "relu":
            rows += critical_claims(pp, arch, act)
        if ("cnn_f", act) in tables and chaotic["phase"].iloc[0] == "chaotic":
            cnn = nearest_sigma(per_point(tables[("cnn_f", act)]), float(chaotic["sigma_w2"].iloc[0]))
            if np.isclose(cnn["sigma_w2"].iloc[0], chaotic["sigma_w2"].iloc[0]):
                rows += cnn_f_claims(chaotic, cnn, act)
    if pooling is not None:
        rows += pooling_claims(pooling)
    return rows
