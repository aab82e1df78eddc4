"""Fitters of rates, slopes, exponents and limits against depth (or width), and the
tolerance checks of the claims (C1-C9). NumPy only.

Rates are per-layer factors ``r`` of ``y ≈ C l^poly r^l`` (``log_slope``, ``fitted_rate``);
exponents are slopes in log-log (``fitted_exponent``, ``fit_power_law``). The checks take
keyword arguments only, so measured and predicted cannot be swapped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "log_slope",
    "fitted_rate",
    "fitted_exponent",
    "fit_power_law",
    "fit_residuals",
    "fit_through_origin",
    "extrapolated_limit",
    "slope",
    "rel_ok",
    "rate_ok",
]


def fitted_rate(depth: np.ndarray, gap: np.ndarray, poly: float = 0.0, floor: float = 1e-300) -> float:
    """Per-layer factor r of gap ≈ C l^poly r^l: exp of the least-squares slope of
    log(gap) − poly·log(l) against l over the points with gap > floor (nan with < 3)."""
    depth = np.asarray(depth, dtype=float)
    gap = np.asarray(gap, dtype=float)
    ok = np.isfinite(gap) & (gap > floor)
    if ok.sum() < 3:
        return float("nan")
    log_gap = np.log(gap[ok])
    if poly:  # (depth 0 is allowed without a power law)
        log_gap = log_gap - poly * np.log(depth[ok])
    return float(np.exp(np.polyfit(depth[ok], log_gap, 1)[0]))


def log_slope(depth: np.ndarray, y: np.ndarray) -> float:
    """Per-layer factor exp(d log y / d l) from a least-squares fit over the finite
    points (nan with < 3): :func:`fitted_rate` without a power law or a floor."""
    return fitted_rate(depth, y, floor=-np.inf)


def fitted_exponent(depth: np.ndarray, y: np.ndarray) -> float:
    """Exponent p of y ≈ C l^p: least-squares slope of log y against log l."""
    depth = np.asarray(depth, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(depth[ok]), np.log(y[ok]), 1)[0])


def extrapolated_limit(depth: np.ndarray, rho: np.ndarray, rate: float, poly: float) -> float:
    """ρ_∞ of the least-squares fit ρ_l = ρ_∞ + C l^poly rate^l (rate, poly predicted).

    Tests the limit at finite depth without assuming it (a fit of log(1 − ρ) does assume
    ρ_∞ = 1); with the predicted approach law this is what "ρ → 1" claims at depth l.
    """
    depth = np.asarray(depth, dtype=float)
    basis = np.stack([np.ones_like(depth), depth**poly * rate**depth], axis=1)
    coef, *_ = np.linalg.lstsq(basis, np.asarray(rho, dtype=float), rcond=None)
    return float(coef[0])


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of log y against log x."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(intercept)


def fit_residuals(depth: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """RMS residuals of log y fitted by a power law (vs log l) and an exponential (vs l)."""
    ly = np.log(y)
    res_pow = np.polyfit(np.log(depth), ly, 1, full=True)[1]
    res_exp = np.polyfit(depth.astype(float), ly, 1, full=True)[1]
    exponent = np.polyfit(np.log(depth), ly, 1)[0]
    n = len(depth)
    return (
        float(np.sqrt(res_pow[0] / n)) if len(res_pow) else 0.0,
        float(np.sqrt(res_exp[0] / n)) if len(res_exp) else 0.0,
        float(exponent),
    )


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x."""
    return float(np.polyfit(x, y, 1)[0])


def fit_through_origin(xi, l_boundary) -> dict:
    """Least squares l = a ξ through the origin: a, R² (centred: 1 − SS_res/Σ(l − mean l)²,
    the usual definition, which a through-origin fit can make negative; not the inflated
    uncentred one) and the spread of l/ξ (mean, std, coefficient of variation, min, max)."""
    x = np.asarray(xi, float)
    y = np.asarray(l_boundary, float)
    n = len(x)
    out = {
        "a": np.nan,
        "r2": np.nan,
        "n": n,
        "ratio_mean": np.nan,
        "ratio_std": np.nan,
        "ratio_cv": np.nan,
        "ratio_min": np.nan,
        "ratio_max": np.nan,
    }
    if n == 0:
        return out
    ratio = y / x
    out.update(
        ratio_mean=float(ratio.mean()),
        ratio_std=float(ratio.std()),
        ratio_min=float(ratio.min()),
        ratio_max=float(ratio.max()),
    )
    out["ratio_cv"] = out["ratio_std"] / out["ratio_mean"] if out["ratio_mean"] else np.nan
    if n < 2 or not np.any(x):
        return out
    a = float(np.dot(x, y) / np.dot(x, x))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - a * x) ** 2))
    out.update(a=a, r2=1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else -np.inf))
    return out


def rel_ok(*, measured: float, predicted: float, tol: float) -> bool:
    """``|measured − predicted| <= tol · |predicted|`` (the claims' relative tolerance)."""
    return bool(abs(measured - predicted) <= tol * abs(predicted))


def rate_ok(*, measured: float, predicted: float, tol: float) -> bool:
    """Relative tolerance on log(rate), i.e. on the inverse depth scale 1/ξ = −log r: a
    factor 0.97 against 0.95 is a depth scale 33 against 19, not a 2 % agreement."""
    if not (measured > 0 and predicted > 0):
        return False
    return rel_ok(measured=float(np.log(measured)), predicted=float(np.log(predicted)), tol=tol)
