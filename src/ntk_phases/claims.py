"""Claims (SPEC §1): rates, limits and laws fitted from the tables and compared with the
mean-field predictions. Pure functions on pandas tables; nothing is asserted here: a claim
that fails is reported with ``passed = False``.

Every row of ``metrics/claims.csv``, whoever makes it (C1-C5 and C9 here, C6/C7 in
:mod:`ntk_phases.finite`, C8 in :mod:`ntk_phases.freeze_chaos`), has one schema,
:data:`SCHEMA`: :func:`claim_row` builds a row, :func:`conform` brings a producer's table
to the schema, :func:`schema_violations` lists the cells that break it.

Every rate is a least-squares slope of a log quantity over a "deep" depth window that
starts past the transient (a few depth scales) and ends before numerical floors (the
``singular`` flag, or a gap below 1e-10 of the limit).

C9 (the depth scales bound the phases, measured): at each σ_w², the deepest depth at
which an accuracy keeps more than half of its shallow gap over chance
(:func:`phase_boundary`), fitted against the mean-field depth scale through the origin
(:func:`fit_through_origin`); :func:`depth_scale_law` does both for one table and phase.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import io
from .cli import setup_logging
from .numerics.fits import fit_power_law, fit_residuals, fit_through_origin, log_slope, rel_ok
from .numerics.spectral import KERNEL_PRECISION

log = logging.getLogger("ntk_phases.claims")

# ----------------------------------------------------------------------------- schema

#: Conditions: the rule under which ``passed`` was decided, written into the table.
REL = "|measured - predicted| <= tolerance * |predicted|"
ABS = "|measured - predicted| <= tolerance"
LOG_REL = "|log measured - log predicted| <= tolerance * |log predicted|"
ABOVE = "measured > predicted"
BELOW = "measured < predicted"
REPORTED = "reported, no prediction: passed if measured is finite"
NOT_MEASURED = "not measured"

#: The one row schema of every claims table: column -> meaning. SPEC §3's seven columns
#: come first, in its order.
SCHEMA: dict[str, str] = {
    "claim": "claim ID, C1-C9 (SPEC §1)",
    "arch": "architecture (fcn, cnn_f, cnn_p), or the network variant a C8 row is about "
            "(relu_layernorm, deconv_freeze, ...)",
    "quantity": "what was measured, in words",
    "predicted": "the prediction: mean-field theory, the paper, or the notebook",
    "measured": "the value fitted from, or read off, the tables",
    "tolerance": "the number `condition` uses (relative, absolute, or a factor: the "
                 "condition says which)",
    "passed": "whether `condition` holds (False whenever measured is not finite)",
    "activation": "nonlinearity (erf, tanh, relu)",
    "condition": "the rule under which `passed` was decided, a formula in predicted, "
                 "measured and tolerance",
    "sigma_w2": "σ_w² of the configuration measured",
    "sigma_b2": "σ_b² of the configuration measured",
    "depth_min": "shallowest depth of the window or grid used (= depth_max for one depth)",
    "depth_max": "deepest depth of the window or grid used",
    "note": "what else the row needs to be read: other settings (width, m, t) and "
            "sub-results (C9: R², spread of l_boundary/ξ, points, censored points)",
}
COLUMNS = list(SCHEMA)

#: Claims whose rows are laws fitted across σ_w² (their σ_w² range is in ``note``).
ACROSS_SIGMA_W2 = {"C9"}


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (
        isinstance(v, (float, np.floating)) and not np.isfinite(v))


#: The only cells that may be empty: column -> (when, the test of a row that says so).
#: Every other cell of every row is filled.
NOT_APPLICABLE: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "predicted": ("a reported quantity without a prediction (condition = REPORTED), or a "
                  "prediction that is itself fitted and could not be (C4's FCN rate): passed "
                  "is False and note starts with 'not measured'",
                  lambda r: r["condition"] == REPORTED
                  or (not bool(r["passed"]) and str(r["note"]).startswith(NOT_MEASURED))),
    "measured": ("nothing could be measured: passed is False and note starts with "
                 "'not measured', saying why",
                 lambda r: not bool(r["passed"]) and str(r["note"]).startswith(NOT_MEASURED)),
    "tolerance": ("a condition that uses no tolerance (a strict inequality, or reported)",
                  lambda r: "tolerance" not in str(r["condition"])),
    "sigma_w2": ("a law fitted across σ_w² (C9); note gives the σ_w² range",
                 lambda r: r["claim"] in ACROSS_SIGMA_W2),
    "note": ("no remark", lambda r: True),
}


def claim_row(claim: str, arch: str, activation: str, quantity: str, predicted: float,
              measured: float, tolerance: float | None, passed: bool, condition: str, *,
              sigma_w2: float | None, sigma_b2: float, depth_min: int, depth_max: int,
              note: str = "") -> dict:
    """One row of :data:`SCHEMA`. ``passed`` is forced False where ``measured`` is not
    finite, or where a prediction is needed (any condition but REPORTED) and is not
    finite; the note then starts with 'not measured' (prepended if absent)."""
    measured = float(measured) if measured is not None else float("nan")
    predicted = float("nan") if predicted is None else float(predicted)
    unpredicted = condition != REPORTED and not np.isfinite(predicted)
    ok = bool(passed) and bool(np.isfinite(measured)) and not unpredicted
    note = note or ""
    if not note.startswith(NOT_MEASURED):
        if not np.isfinite(measured):
            note = f"{NOT_MEASURED}: no finite value (too few points in the window?)" + (f"; {note}" if note else "")
        elif unpredicted:
            note = f"{NOT_MEASURED}: no finite prediction (too few points in its window?)" + (f"; {note}" if note else "")
    return {
        "claim": claim, "arch": arch, "quantity": quantity,
        "predicted": predicted,
        "measured": measured,
        "tolerance": float("nan") if tolerance is None else float(tolerance),
        "passed": ok, "activation": activation, "condition": condition,
        "sigma_w2": float("nan") if sigma_w2 is None else float(sigma_w2),
        "sigma_b2": float(sigma_b2), "depth_min": int(depth_min), "depth_max": int(depth_max),
        "note": note,
    }


def schema_violations(frame: pd.DataFrame) -> list[str]:
    """Every way ``frame`` breaks :data:`SCHEMA` (empty list: it conforms): columns other
    than :data:`COLUMNS` (in order), empty cells outside :data:`NOT_APPLICABLE`, a pass
    on a non-finite measurement."""
    out = []
    if list(frame.columns) != COLUMNS:
        out.append(f"columns {list(frame.columns)} are not {COLUMNS}")
        return out
    for i, r in enumerate(frame.to_dict("records")):
        for col in COLUMNS:
            if _empty(r[col]) and not (col in NOT_APPLICABLE and NOT_APPLICABLE[col][1](r)):
                out.append(f"row {i} ({r['claim']} {r['arch']} {str(r['quantity'])[:50]!r}): "
                           f"{col} empty")
        if bool(r["passed"]) and _empty(r["measured"]):
            out.append(f"row {i} ({r['claim']}): passed without a measurement")
    return out


#: Conditions decided by predicted, measured and tolerance alone, as functions: a test
#: recomputes ``passed`` from them. (C3's and C9's conditions also use numbers in note.)
CONDITIONS: dict[str, Callable[[float, float, float], bool]] = {
    REL: lambda p, m, t: abs(m - p) <= t * abs(p),
    ABS: lambda p, m, t: abs(m - p) <= t,
    LOG_REL: lambda p, m, t: m > 0 and p > 0 and abs(np.log(m) - np.log(p)) <= t * abs(np.log(p)),
    ABOVE: lambda p, m, t: m > p,
    BELOW: lambda p, m, t: m < p,
    BELOW + " (tolerance: standard error, reported)": lambda p, m, t: m < p,
    REPORTED: lambda p, m, t: bool(np.isfinite(m)),
    "measured >= predicted - tolerance": lambda p, m, t: m >= p - t,
    "measured - predicted >= tolerance": lambda p, m, t: m - p >= t,
    "measured < 0 and |measured - predicted| <= tolerance": lambda p, m, t: m < 0 and abs(m - p) <= t,
    "measured > tolerance": lambda p, m, t: m > t,
    "measured <= tolerance": lambda p, m, t: m <= t,
    "measured >= tolerance": lambda p, m, t: m >= t,
    "|measured| <= tolerance": lambda p, m, t: abs(m) <= t,
    "measured <= 1 - tolerance": lambda p, m, t: m <= 1 - t,
}


def c8_condition(quantity: str, note: str) -> str:
    """The rule of a C8 row of :func:`ntk_phases.freeze_chaos.claims_c8`, read from its
    quantity and note (that module writes the rule into those texts; until it builds its
    rows with :func:`claim_row` this adapter states it in ``condition``)."""
    q, n = str(quantity), str(note) if isinstance(note, str) else ""
    if "parity contrast" in q:
        return "measured > tolerance" if "freeze" in q else "measured <= tolerance"
    if "pixel pairs" in q:
        return "measured >= tolerance" if "freeze" in q else "|measured| <= tolerance"
    if "fitted, < 1 expected" in q:
        return BELOW
    if "(chaos: < 1)" in q:
        return "measured <= 1 - tolerance"
    if "min over consecutive beta" in q:
        return ABOVE
    if q.startswith("rho(") and "(< 0)" in q:
        return BELOW + " (tolerance: standard error, reported)" if "standard error" in n else BELOW
    if "relative tolerance on log r" in n:
        return LOG_REL
    if "tolerance absolute" in n or "freeze: -> 1" in q:
        return ABS
    if "relative tolerance" in n:
        return REL
    return ""


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """A producer's claims table on :data:`SCHEMA`: the columns in order (missing ones
    empty), C8 rows without a condition given theirs (:func:`c8_condition`)."""
    out = frame.reindex(columns=COLUMNS).copy()
    out["condition"] = out["condition"].astype(object)
    missing = out["condition"].isna() | out["condition"].astype(str).str.strip().eq("")
    c8 = missing & out["claim"].eq("C8")
    out.loc[c8, "condition"] = [c8_condition(q, n) for q, n in
                                zip(out.loc[c8, "quantity"], out.loc[c8, "note"])]
    out["condition"] = out["condition"].replace("", np.nan)
    measured = pd.to_numeric(out["measured"], errors="coerce")
    out["passed"] = out["passed"].astype(bool) & np.isfinite(measured)
    note = out["note"].where(out["note"].notna(), "").astype(object).map(str)
    lost = ~np.isfinite(measured) & ~note.str.startswith(NOT_MEASURED)
    note[lost] = (f"{NOT_MEASURED}: no finite value; " + note[lost]).str.rstrip("; ")
    out["note"] = note.where(note != "", np.nan).astype(object)
    return out


# ----------------------------------------------------------------------------- C1-C5


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


def _row(claim, arch, act, quantity, predicted, measured, tol, passed, pts, window, note="",
         condition=REL):
    """A C1-C5 row at the configuration of ``pts`` over the depth ``window``."""
    return claim_row(claim, arch, act, quantity, predicted, measured, tol, passed, condition,
                     sigma_w2=float(pts["sigma_w2"].iloc[0]), sigma_b2=float(pts["sigma_b2"].iloc[0]),
                     depth_min=int(window[0]) if len(window) else -1,
                     depth_max=int(window[-1]) if len(window) else -1, note=note)


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
    rows.append(_row("C1", arch, act, "growth factor of ntk_diag per layer (chi_1)", chi1,
                     rate, 0.01, rel_ok(measured=rate, predicted=chi1, tol=0.01), pts, w))
    limit = q * c / (1 - chic)
    meas = float(pts["ntk_offdiag"].iloc[-1])
    rows.append(_row("C1", arch, act, "ntk_offdiag limit q*c*/(1-chi_c*)", limit, meas, 0.01,
                     rel_ok(measured=meas, predicted=limit, tol=0.01), pts, d[-1:], "at the deepest depth"))
    km1 = pts["kappa"].to_numpy() - 1
    ok = deep & (km1 > 1e-12)
    rate = log_slope(d[ok], km1[ok])
    rows.append(_row("C1", arch, act, "decay factor of kappa-1 per layer (1/chi_1)", 1 / chi1, rate, 0.02,
                     rel_ok(measured=rate, predicted=1 / chi1, tol=0.02), pts, d[ok], "kappa -> 1"))
    mp = pts["mean_pred_rms"].to_numpy()
    ok = deep & (d > 0) & (mp > 1e-300)
    rate = log_slope(d[ok], mp[ok] / d[ok])
    rows.append(_row("C1", arch, act, "decay factor of mean_pred_rms/l per layer (chi_c*/chi_1)",
                     chic / chi1, rate, 0.05, rel_ok(measured=rate, predicted=chic / chi1, tol=0.05), pts, d[ok]))
    return rows


# Fits stop where the signal reaches the kernel's precision: float64 rounding, or
# neural-tangents' ReLU (arc-cosine) kernel's ~1e-7 (metrics.KERNEL_PRECISION).
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
        return {"rate": "sqrt_chi_1", "poly": 0, "name": "sqrt(chi_1): relu",
                "lambda_min": r"$\propto\chi_1^{l/2}$", "kappa": r"$\propto\chi_1^{-l/2}$"}
    return {"rate": "chi_1", "poly": 1, "name": "chi_1",
            "lambda_min": r"$\propto l\,\chi_1^{l}$", "kappa": r"$\propto 1/(l\,\chi_1^{l})$"}


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
    rows.append(_row("C2", arch, act, "ntk_diag limit p* = q*/(1-chi_1)", p_star, meas, 1e-3,
                     rel_ok(measured=meas, predicted=p_star, tol=1e-3), pts, d[-1:], "at the deepest depth"))
    gap = np.abs(pts["ntk_diag"].to_numpy() - p_star)
    ok = (d >= max(3, 2 * xi)) & (gap > 100 * floor * p_star)
    if nonsmooth:
        rate = log_slope(d[ok], gap[ok] / d[ok])
        rows.append(_row("C2", arch, act, "decay factor of |ntk_diag - p*|/l per layer (chi_1; double root)",
                         chi1, rate, 0.02, rel_ok(measured=rate, predicted=chi1, tol=0.02), pts, d[ok],
                         f"|ntk_diag - p*| alone: {log_slope(d[ok], gap[ok]):.4f}"))
    else:
        rate = log_slope(d[ok], gap[ok])
        rows.append(_row("C2", arch, act, "decay factor of |ntk_diag - p*| per layer (chi_1)", chi1, rate, 0.02,
                         rel_ok(measured=rate, predicted=chi1, tol=0.02), pts, d[ok]))
    meas = float(pts["lambda_max"].iloc[-1])
    rows.append(_row("C2", arch, act, "lambda_max limit m p*", n_train * p_star, meas, 0.01,
                     rel_ok(measured=meas, predicted=n_train * p_star, tol=0.01), pts, d[-1:], f"m = {n_train}"))
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
    rows.append(_row("C2", arch, act, f"decay factor of lambda_min{per} per layer ({name}; "
                     f"lambda_min ~ {'l ' if poly else ''}rate^l)",
                     lam, rate, 0.15, rel_ok(measured=rate, predicted=lam, tol=0.15), pts, d[fine],
                     f"non-singular depths; lambda_min alone: {plain:.4f}" if poly else "non-singular depths"))
    rate = log_slope(d[fine], pts.loc[fine, "kappa"].to_numpy() * lf)
    plain = log_slope(d[fine], pts.loc[fine, "kappa"].to_numpy())
    rows.append(_row("C2", arch, act, f"growth factor of kappa{times} per layer (1/{name}; "
                     f"kappa ~ 1/({'l ' if poly else ''}rate^l))",
                     1 / lam, rate, 0.15, rel_ok(measured=rate, predicted=1 / lam, tol=0.15), pts, d[fine],
                     f"non-singular depths; kappa alone: {plain:.4f}" if poly else "non-singular depths"))
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
        rows.append(_row("C3", arch, act, f"{label}: rms residual of power-law fit / exponential fit",
                         1.0, r_pow / max(r_exp, 1e-300), None, passed, pts, d[ok],
                         f"chi_1 = {pts['chi_1'].iloc[0]:.4f}; power-law exponent {expo:.3f}; "
                         f"max/min over the window {np.exp(span):.3g}", condition=CRITICAL))
    return rows


def cnn_f_claims(fcn_pts: pd.DataFrame, cnn_pts: pd.DataFrame, act: str) -> list[dict]:
    """C4: CNN-F's chaotic rates equal the FCN's (same σ_w², σ_b²)."""
    rows = []
    xi = fcn_pts["xi_star"].iloc[0]
    for col, label, tol in (("ntk_diag", "growth factor of ntk_diag", 0.02),
                            ("mean_pred_rms", "decay factor of mean_pred_rms/l", 0.10)):
        rates = []
        for pts in (fcn_pts, cnn_pts):
            d = pts["depth"].to_numpy()
            y = pts[col].to_numpy()
            ok = (d >= max(5, 3 * xi)) & (y > 0) & (d > 0)
            if col == "mean_pred_rms":
                y = y / np.maximum(d, 1)
            rates.append((log_slope(d[ok], y[ok]), d[ok]))
        (fr, _), (cr, w) = rates
        rows.append(_row("C4", "cnn_f", act, f"{label}: cnn_f vs fcn", fr, cr, tol, rel_ok(measured=cr, predicted=fr, tol=tol),
                         cnn_pts, w, "predicted = the FCN's fitted rate"))
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
        rows.append(_row("C5", "cnn_p", act, f"mean_pred_rms cnn_p/cnn_f at d = {dval}", 1.0, r, None,
                         r > 1, pts, [deepest], "pooling slows the collapse of P(Theta)Y", condition=ABOVE))
    # the exponent needs two image sizes with a finite ratio (one size: no slope at all)
    fit = ratio[np.isfinite(ratio) & (ratio > 0)]
    slope = (fit_power_law(fit.index.to_numpy(float), fit.to_numpy())[0]
             if len(fit) >= 2 else float("nan"))
    rows.append(_row("C5", "cnn_p", act, "fitted exponent of (cnn_p/cnn_f ratio) against d",
                     None, slope, None, bool(np.isfinite(slope)), pts, [deepest],
                     "scaling measured, not assumed (SPEC C5); d = "
                     + ", ".join(f"{v:g}" for v in ratio.index), condition=REPORTED))
    return rows


# ----------------------------------------------------------------------------- C9

#: The colab's overlay is 8ξ: the prediction the fitted slope a is compared with.
C9_PREDICTED = 8.0
#: a passes within a factor 8 of 8: [1, 64]. Why this band. An accuracy leaves its
#: plateau where the signal that carries it, ∝ e^(−l/ξ), has fallen from its shallow
#: amplitude A to what the predictor still resolves, ε: l_boundary = ξ ln(A/ε), so
#: a = ln(A/ε) is the log of a ratio set by the setting, not a universal number, and
#: "a not near 8" is a finding. Ordered phase: the slowest modes relax as e^(−ηλt) with
#: λ/λ_max ∝ χ₁^l, so a ≈ ln t up to O(1) (t = 4096: 8.3, the colab's 8). Chaotic phase:
#: for the true network ε is its random initial function's O(1) noise against an O(1)
#: learned signal (a of order 1); for the float64 mean predictor ε is rounding (A/ε up to
#: 1/eps ≈ 4.5e15: a ≤ 36). The band's floor a = 1 is A/ε = e: below it the accuracy
#: halves before the signal has decayed by one e-fold, so the depth scale does not set the
#: boundary; its ceiling 64 (the factor-8 mirror) lies above anything float64 resolves.
#: What decides the law is R² (and the spread of l_boundary/ξ, reported).
C9_FACTOR = 8.0
#: The law is linear when l_boundary/ξ is one number: R² of the fit through the origin.
C9_R2_MIN = 0.9
#: A shallow accuracy less than this above chance has no gap to lose: no boundary.
C9_MIN_GAP = 0.05
#: Fewer resolved σ_w² values than this: the law is not measured.
C9_MIN_POINTS = 3
C9_CONDITION = f"R2 >= {C9_R2_MIN:g} and predicted/tolerance <= measured <= predicted*tolerance"
#: phase -> (depth scale, the split whose accuracy fails there)
C9_PHASES = {"ordered": ("xi_1", "train"), "chaotic": ("xi_star", "test")}
#: predictor -> its accuracy column (split filled in) and its words
C9_PREDICTORS = {
    "mean": ("{split}_acc_mean", "mean predictor (f0 dropped)"),
    "network": ("{split}_acc", "true network (with its random initial function)"),
}
#: Predictors whose accuracy is numerical where Θ is singular: the mean predictor's
#: argmax reads the sign of signals ∝ e^(−l/ξ) down to the eigenvalue cutoff, below which
#: the pseudo-inverse drops them (so in exact arithmetic its ordered-phase train accuracy
#: never falls; in float64 it falls at l ≈ ξ₁ ln(1/rcond), ≈ 30 ξ₁: a cutoff, not a law).
#: The true network's dropped modes are ones that do not train at any t it reaches
#: (ηλt ≪ 1) and whose outputs stay at f₀: physical, kept.
C9_SINGULAR_EXCLUDED = {"mean"}


def phase_boundary(depth, acc, chance: float, min_gap: float = C9_MIN_GAP, resolved=None) -> dict:
    """Deepest depth at which ``acc`` stays above chance + half its shallow gap.

    The shallow value is the accuracy at the shallowest depth ≥ 1 (depth 0, the linear
    readout, is not a member of the deep family). The boundary is where ``acc`` first
    reaches the threshold, linearly interpolated between the grid depths either side
    (so it lies between the deepest depth above and the first depth at or below).
    ``resolved`` (bool per depth, default all): depths whose accuracy is mathematics,
    not numerics (the mean predictor where Θ is not singular).
    ``status``: ``resolved``; ``censored`` (never reaches it: the boundary lies beyond
    the deepest depth, reported as ``l_boundary``); ``singular`` (not reached before
    the first unresolved depth, reported as ``l_boundary``: the boundary lies beyond
    it, or is numerical); ``no_gap`` (shallow value within ``min_gap`` of chance);
    ``diverged`` (a missing accuracy before the crossing).
    """
    d = np.asarray(depth, float)
    a = np.asarray(acc, float)
    ok = np.ones(len(d), bool) if resolved is None else np.asarray(resolved, bool)
    o = np.argsort(d)
    d, a, ok = d[o], a[o], ok[o]
    if (d >= 1).any():
        d, a, ok = d[d >= 1], a[d >= 1], ok[d >= 1]
    out = {"l_boundary": float("nan"), "status": "no_gap", "shallow": float(a[0]) if len(a) else np.nan,
           "threshold": float("nan")}
    if not len(a) or not np.isfinite(a[0]) or a[0] - chance < min_gap:
        return out
    thr = chance + 0.5 * (a[0] - chance)
    out["threshold"] = float(thr)
    if not ok[0]:
        out.update(l_boundary=float(d[0]), status="singular")
        return out
    for i in range(1, len(d)):
        if not ok[i]:
            out.update(l_boundary=float(d[i]), status="singular")
            return out
        if not np.isfinite(a[i]):
            out["status"] = "diverged"
            return out
        if a[i] <= thr:
            frac = (a[i - 1] - thr) / (a[i - 1] - a[i])
            out.update(l_boundary=float(d[i - 1] + frac * (d[i] - d[i - 1])), status="resolved")
            return out
    out.update(l_boundary=float(d[-1]), status="censored")
    return out


def depth_scale_law(frame: pd.DataFrame, phase: str, acc_col: str, chance: float,
                    min_gap: float = C9_MIN_GAP, exclude_singular: bool = False
                    ) -> tuple[pd.DataFrame, dict]:
    """C9 for one phase of one grid: ``frame`` holds one accuracy per (σ_w², depth) (one
    σ_b², one time) and the depth scales (``xi_1``, ``xi_star``, ``phase`` per σ_w²).
    Returns the boundary per σ_w² of that phase (with finite ξ > 0: σ_w², ξ,
    l_boundary, status, shallow, threshold) and the fit over the resolved ones
    (:func:`fit_through_origin`, plus counts per status). ``exclude_singular``: depths
    where Θ is ``singular`` do not count (:func:`phase_boundary`'s ``resolved``)."""
    xi_col = C9_PHASES[phase][0]
    rows = []
    for sw, g in frame[frame["phase"] == phase].groupby("sigma_w2"):
        xi = float(g[xi_col].iloc[0])
        if not (np.isfinite(xi) and xi > 0):
            continue
        res = ~g["singular"].astype(bool).to_numpy() if exclude_singular and "singular" in g else None
        b = phase_boundary(g["depth"].to_numpy(), g[acc_col].to_numpy(), chance, min_gap, res)
        rows.append({"sigma_w2": float(sw), "xi": xi, **b})
    cols = ["sigma_w2", "xi", "l_boundary", "status", "shallow", "threshold"]
    bounds = pd.DataFrame(rows, columns=cols)
    ok = bounds[bounds["status"] == "resolved"]
    fit = fit_through_origin(ok["xi"], ok["l_boundary"])
    for s in ("resolved", "censored", "singular", "no_gap", "diverged"):
        fit[s] = int((bounds["status"] == s).sum())
    fit["sigma_w2_min"] = float(ok["sigma_w2"].min()) if len(ok) else np.nan
    fit["sigma_w2_max"] = float(ok["sigma_w2"].max()) if len(ok) else np.nan
    return bounds, fit


def infinite_law_frame(table: pd.DataFrame, sigma_b2: float | None = None) -> pd.DataFrame:
    """An ``infinite_<arch>_<act>`` table at its last t and one σ_b² (default: the
    smallest), one row per (σ_w², depth)."""
    sb = table["sigma_b2"].min() if sigma_b2 is None else sigma_b2
    sub = table[np.isclose(table["sigma_b2"], sb)]
    return sub[sub["t"] == sub["t"].max()].sort_values(["sigma_w2", "depth"])


def finite_law_frame(table: pd.DataFrame, overlay: pd.DataFrame) -> pd.DataFrame:
    """A trained grid (``metrics/finite_<arch>_<act>``) at its last step: train/test
    accuracy, mean over ok seeds (NaN where every seed diverged), one row per (σ_w²,
    depth), with the depth scales of ``overlay`` (``training/depth_scales_*``) matched
    on σ_w²."""
    last = table[table["step"] == table["step"].max()]
    ok = last[last["status"] == "ok"]
    acc = ok.groupby(["sigma_w2", "depth"])[["train_acc", "test_acc"]].mean()
    cells = last[["sigma_w2", "depth"]].drop_duplicates().set_index(["sigma_w2", "depth"])
    frame = cells.join(acc).reset_index()
    scales = depth_scales_at(overlay, np.unique(frame["sigma_w2"]))
    frame = frame.merge(scales, on="sigma_w2", how="left")
    frame["sigma_b2"] = float(table["sigma_b2"].iloc[0])
    return frame.sort_values(["sigma_w2", "depth"])


def depth_scales_at(overlay: pd.DataFrame, sigma_w2) -> pd.DataFrame:
    """ξ₁, ξ* and the phase at each ``sigma_w2`` from a depth-scale table on its own
    (finer) σ_w² grid: its row where a value is on it, else 1/ξ (−log χ₁, or
    log χ₁ − log χ_c*: smooth in σ_w², unlike ξ) interpolated linearly between the two
    neighbouring rows; a value between an ordered and a chaotic row is ``critical``
    (both scales infinite). Values outside the table's range are an error."""
    ov = overlay.sort_values("sigma_w2").reset_index(drop=True)
    sw = ov["sigma_w2"].to_numpy(float)
    out = []
    for s in np.asarray(sigma_w2, float):
        if s < sw[0] - 1e-9 or s > sw[-1] + 1e-9:
            raise ValueError(f"depth-scale table covers sigma_w2 {sw[0]:g}-{sw[-1]:g}, not {s:g}")
        hit = np.flatnonzero(np.isclose(sw, s, rtol=1e-9, atol=1e-9))
        if hit.size:
            r = ov.iloc[hit[0]]
            out.append({"sigma_w2": s, "xi_1": r["xi_1"], "xi_star": r["xi_star"], "phase": r["phase"]})
            continue
        hi = int(np.searchsorted(sw, s))
        lo, hi = ov.iloc[hi - 1], ov.iloc[hi]
        row = {"sigma_w2": s, "xi_1": np.inf, "xi_star": np.inf, "phase": "critical"}
        if lo["phase"] == hi["phase"] and lo["phase"] in ("ordered", "chaotic"):
            col = "xi_1" if lo["phase"] == "ordered" else "xi_star"
            w = (s - lo["sigma_w2"]) / (hi["sigma_w2"] - lo["sigma_w2"])
            inv = (1 - w) / float(lo[col]) + w / float(hi[col])
            row.update({col: 1.0 / inv if inv > 0 else np.inf, "phase": lo["phase"]})
        out.append(row)
    return pd.DataFrame(out, columns=["sigma_w2", "xi_1", "xi_star", "phase"])


def depth_scale_fits(frame: pd.DataFrame, columns: dict[str, str], chance: float,
                     exclude_singular: bool = False) -> dict:
    """``phase -> (boundaries, fit)`` for the phases of ``frame`` that have σ_w² values
    with a finite depth scale; ``columns``: phase -> accuracy column. Figures draw these
    (the same numbers as the C9 rows: see :func:`law_fits`)."""
    out = {}
    for phase, col in columns.items():
        if col not in frame or not (frame["phase"] == phase).any():
            continue
        bounds, fit = depth_scale_law(frame, phase, col, chance, exclude_singular=exclude_singular)
        if len(bounds):
            out[phase] = (bounds, fit)
    return out


def law_fits(frame: pd.DataFrame, predictor: str, chance: float) -> dict:
    """:func:`depth_scale_fits` of one predictor (``mean``, ``network``) as C9 measures
    it (singular depths excluded for the mean predictor): what F6, F6_mean, F7 draw."""
    return depth_scale_fits(frame, predictor_columns(predictor), chance,
                            exclude_singular=predictor in C9_SINGULAR_EXCLUDED)


def predictor_columns(predictor: str) -> dict[str, str]:
    """phase -> the accuracy column C9 reads for ``predictor`` (``mean``, ``network``)."""
    pattern = C9_PREDICTORS[predictor][0]
    return {ph: pattern.format(split=split) for ph, (_, split) in C9_PHASES.items()}


def _c9_note(fit: dict, xi_name: str, depth_max: float, extra: str) -> str:
    counts = (f"excluded: {fit['censored']} censored (boundary beyond the deepest depth "
              f"{depth_max:g}), {fit['singular']} beyond the first singular Theta (numerical there), "
              f"{fit['no_gap']} with no gap over chance, {fit['diverged']} diverged")
    if fit["resolved"] < C9_MIN_POINTS:
        return (f"{NOT_MEASURED}: {fit['resolved']} resolved sigma_w2 value(s), fewer than "
                f"{C9_MIN_POINTS}; {counts}; {extra}")
    return (f"R2 = {fit['r2']:.3f}; l_boundary/{xi_name} over sigma_w2: mean {fit['ratio_mean']:.3g}, "
            f"cv {fit['ratio_cv']:.3f} (min {fit['ratio_min']:.3g}, max {fit['ratio_max']:.3g}); "
            f"{fit['resolved']} points, sigma_w2 {fit['sigma_w2_min']:.3g}-{fit['sigma_w2_max']:.3g}; "
            f"{counts}; {extra}")


def c9_rows(frame: pd.DataFrame, *, arch: str, act: str, predictor: str, chance: float,
            what: str) -> list[dict]:
    """C9 rows of one grid (``frame`` as for :func:`depth_scale_law`) and predictor, one
    per phase present: a of l_boundary = a ξ against 8, passed when R² ≥ 0.9 and a
    within a factor :data:`C9_FACTOR` of 8 (:func:`law_fits`); ``what``: the setting
    (width, time), for the quantity."""
    rows = []
    columns = predictor_columns(predictor)
    depth_min, depth_max = float(frame["depth"].min()), float(frame["depth"].max())
    for phase, (bounds, fit) in law_fits(frame, predictor, chance).items():
        xi_col = C9_PHASES[phase][0]
        xi_name = {"xi_1": "xi_1", "xi_star": "xi*"}[xi_col]
        col = columns[phase]
        measured = fit["a"] if fit["resolved"] >= C9_MIN_POINTS else np.nan
        passed = bool(np.isfinite(measured) and fit["r2"] >= C9_R2_MIN
                      and C9_PREDICTED / C9_FACTOR <= measured <= C9_PREDICTED * C9_FACTOR)
        extra = (f"boundary: deepest depth with {col} > chance + (shallow - chance)/2, chance "
                 f"{chance:g}; sigma_w2 grid {bounds['sigma_w2'].min():.3g}-{bounds['sigma_w2'].max():.3g} "
                 f"({len(bounds)} {phase} values)")
        if predictor in C9_SINGULAR_EXCLUDED:
            extra += "; depths where Theta is singular excluded"
        rows.append(claim_row(
            "C9", arch, act, f"{phase}: a in l_boundary = a*{xi_name}, {what}: {col}",
            C9_PREDICTED, measured, C9_FACTOR, passed, C9_CONDITION, sigma_w2=None,
            sigma_b2=float(frame["sigma_b2"].iloc[0]), depth_min=int(depth_min), depth_max=int(depth_max),
            note=_c9_note(fit, xi_name, depth_max, extra)))
    return rows


def c9_claims(tables: dict[tuple[str, str], pd.DataFrame],
              finite: list[tuple[pd.DataFrame, pd.DataFrame]], chance: float) -> list[dict]:
    """C9 for every infinite-width table (each σ_b², mean predictor and true network, at
    the last t) and every trained grid (``(table, overlay)``, at the last step)."""
    rows = []
    for (arch, act), table in sorted(tables.items()):
        for sb in sorted(table["sigma_b2"].unique()):
            frame = infinite_law_frame(table, sb)
            t = float(frame["t"].iloc[0])
            for pred, (_, words) in C9_PREDICTORS.items():
                cols = predictor_columns(pred)
                if not all(c in frame for c in cols.values()):
                    log.warning("%s/%s: no %s columns; C9 (%s) skipped", arch, act, cols, pred)
                    continue
                rows += c9_rows(frame, arch=arch, act=act, predictor=pred, chance=chance,
                                what=f"infinite width, {words}, t = {t:g}")
    for table, overlay in finite:
        arch, act = str(table["arch"].iloc[0]), str(table["activation"].iloc[0])
        frame = finite_law_frame(table, overlay)
        width, step, seeds = int(table["width"].iloc[0]), int(table["step"].max()), table["seed"].nunique()
        rows += c9_rows(frame, arch=arch, act=act, predictor="network", chance=chance,
                        what=f"finite width {width}, trained, step {step}, mean over {seeds} seed(s)")
    return rows


# ----------------------------------------------------------------------------- table


def claims_table(tables: dict[tuple[str, str], pd.DataFrame], pooling: pd.DataFrame | None,
                 cfg: dict, finite: list[tuple[pd.DataFrame, pd.DataFrame]] | None = None,
                 chance: float = 0.1) -> pd.DataFrame:
    """C1-C5 and C9 rows from the infinite-width tables keyed by (arch, activation), the
    C5 pooling table and the trained grids ``finite`` (``(table, overlay)`` pairs)."""
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
            log.warning("%s/%s: no chaotic point near sigma_w2=%s (phase %s); C1 skipped", arch, act,
                        cfg["claims"]["chaotic_sigma_w2"], chaotic["phase"].iloc[0])
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
    rows += c9_claims(tables, finite or [], chance)
    return pd.DataFrame(rows, columns=COLUMNS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Claims C1-C5, C9 from the tables; other stages' claims appended")
    p.add_argument("--tables", nargs="+", required=True)
    p.add_argument("--pooling", default=None)
    p.add_argument("--finite-grid", nargs="*", default=[],
                   help="C9: trained grids (metrics/finite_<arch>_<act>.csv)")
    p.add_argument("--finite-overlays", nargs="*", default=[],
                   help="C9: one depth-scale table per --finite-grid table, same order")
    p.add_argument("--data-json", default=None, help="the dataset's metadata (n_classes: chance)")
    p.add_argument("--extra", nargs="*", default=[], help="claim tables of other stages to append")
    p.add_argument("--config-json", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    setup_logging()
    if len(args.finite_grid) != len(args.finite_overlays):
        p.error("give one --finite-overlays table per --finite-grid table")
    cfg = json.loads(args.config_json)
    tables = {}
    for path in args.tables:
        f = pd.read_csv(path)
        tables[(str(f["arch"].iloc[0]), str(f["activation"].iloc[0]))] = f
    pooling = pd.read_csv(args.pooling) if args.pooling else None
    finite = [(pd.read_csv(t), pd.read_csv(o)) for t, o in zip(args.finite_grid, args.finite_overlays)]
    chance = 0.1
    if args.data_json:
        with open(args.data_json) as fh:
            chance = 1.0 / int(json.load(fh)["n_classes"])
    out = claims_table(tables, pooling, cfg, finite, chance)
    extra = [conform(pd.read_csv(e)) for e in args.extra]
    out = pd.concat([out, *extra], ignore_index=True) if extra else out
    for v in schema_violations(out):
        log.error("claims schema: %s", v)
    io.write_csv(args.out, out)
    inputs = (args.tables + ([args.pooling] if args.pooling else []) + args.finite_grid
              + args.finite_overlays + ([args.data_json] if args.data_json else []) + args.extra)
    io.write_provenance(args.out, config=cfg, inputs=inputs)
    for _, r in out.iterrows():
        log.info("%s %-6s %-5s %-70s predicted %-10.4g measured %-10.4g %s", r["claim"], r["arch"], r["activation"],
                 r["quantity"][:70], r["predicted"], r["measured"], "PASS" if r["passed"] else "FAIL")
    log.info("%d of %d claims passed", int(out["passed"].sum()), len(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
