"""Claims C1-C5 (SPEC §1) on synthetic per-point tables whose answer is known.

Each table follows the law the claim tests exactly, with χ₁, χ_c*, q*, c* of a real
configuration: Erf's closed-form (arcsine) kernel at the configs' points σ_w² = 2.5
(chaotic) and 1.0 (ordered), σ_b² = 0.18 (the same numbers as ``theory.phase_table`` to
~1e-15; computed here in numpy so that this file does not load jax), and ReLU's exact
q*, χ₁. Every row must pass on the law, fail when its rate or limit is moved clearly
outside the tolerance coded in claims/c1_c5.py, and (where meaningful) pass just inside it;
every row fills the claims schema.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from ntk_phases.claims import c1_c5, schema
from ntk_phases.numerics import fits

SB = 0.18
N_TRAIN = 32


# ----------------------------------------------------------------------------- theory


def erf_point(sigma_w2: float, sigma_b2: float) -> dict:
    """q*, c*, χ₁, χ_c*, ξ₁, ξ* of Erf from its closed-form dual kernel
    E[erf(u) erf(v)] = (2/π) arcsin(2 q c / (1 + 2 q)) (equal variances q) and
    E[erf'(u) erf'(v)] = (4/π) / sqrt((1 + 2q)² − (2 q c)²); fixed points by iteration."""
    q = 1.0
    for _ in range(500):
        q = sigma_w2 * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)) + sigma_b2
    chi1 = sigma_w2 * (4 / np.pi) / np.sqrt(1 + 4 * q)
    c = 0.5
    for _ in range(5000):
        c = (sigma_w2 * (2 / np.pi) * np.arcsin(2 * q * c / (1 + 2 * q)) + sigma_b2) / q
    c = min(c, 1.0)
    chic = sigma_w2 * (4 / np.pi) / np.sqrt((1 + 2 * q) ** 2 - (2 * q * c) ** 2)
    xi1 = -1 / np.log(chi1) if chi1 < 1 else np.nan
    xis = -1 / (np.log(chic) - np.log(chi1)) if chi1 > 1 else np.nan
    return dict(sigma_w2=sigma_w2, sigma_b2=sigma_b2, q_star=q, c_star=c, chi_1=chi1, chi_c=chic, xi_1=xi1, xi_star=xis)


def relu_point(sigma_w2: float, sigma_b2: float) -> dict:
    """ReLU's q-map q -> σ_w² q/2 + σ_b² is linear: q* = σ_b²/(1 − σ_w²/2), χ₁ = σ_w²/2."""
    chi1 = sigma_w2 / 2
    return dict(
        sigma_w2=sigma_w2,
        sigma_b2=sigma_b2,
        q_star=sigma_b2 / (1 - chi1),
        c_star=1.0,
        chi_1=chi1,
        chi_c=chi1,
        xi_1=-1 / np.log(chi1),
        xi_star=np.nan,
    )


CHAOS = erf_point(2.5, SB)  # χ₁ ≈ 1.189, χ_c* ≈ 0.880, c* ≈ 0.616, ξ* ≈ 3.33
ORDER = erf_point(1.0, SB)  # χ₁ ≈ 0.725 = χ_c*, c* = 1, ξ₁ ≈ 3.11
RELU = relu_point(1.0, SB)  # χ₁ = 0.5, q* = 0.36, ξ₁ ≈ 1.44


def test_the_points_are_the_phases_they_stand_for():
    assert CHAOS["chi_1"] > 1 and CHAOS["c_star"] < 1 and CHAOS["chi_c"] < 1
    assert 3.3 < CHAOS["xi_star"] < 3.4
    assert ORDER["chi_1"] < 1 and ORDER["c_star"] == pytest.approx(1.0, abs=1e-12)
    assert ORDER["chi_c"] == pytest.approx(ORDER["chi_1"], rel=1e-12)  # χ_c* = χ₁ where c* = 1


# ----------------------------------------------------------------------------- tables


def frame(point: dict, depth, **cols) -> pd.DataFrame:
    """A per-point table: the theory columns of ``point`` on every row, then ``cols``."""
    d = np.asarray(depth)
    out = pd.DataFrame(
        {"depth": d, **{k: np.full(len(d), v, float) for k, v in point.items()}, "t": 1.0, "singular": False}
    )
    for k, v in cols.items():
        out[k] = v
    return out


DC = np.arange(0, 61)  # chaotic depths: deep window is l >= max(5, 3ξ*) = 10


def chaotic(rate=None, limit=None, kappa_rate=None, mp_rate=None, point=CHAOS, depth=DC, amp=1.0):
    """C1's laws: Θ_aa = A χ₁^l; Θ_ab = L (1 − χ_c*^l / 2) → L = q*c*/(1 − χ_c*);
    κ − 1 = B χ₁^−l; P(Θ)Y rms = C l (χ_c*/χ₁)^l. Each argument replaces one rate/limit."""
    chi1, chic = point["chi_1"], point["chi_c"]
    L = point["q_star"] * point["c_star"] / (1 - chic) if limit is None else limit
    d = depth.astype(float)
    return frame(
        point,
        depth,
        ntk_diag=amp * 0.8 * (chi1 if rate is None else rate) ** d,
        ntk_offdiag=L * (1 - 0.5 * chic**d),
        kappa=1 + 5.0 * (1 / chi1 if kappa_rate is None else kappa_rate) ** d,
        mean_pred_rms=amp * 0.3 * d * (chic / chi1 if mp_rate is None else mp_rate) ** d,
    )


def by(rows: list[dict], text: str) -> dict:
    """The one row whose quantity contains ``text``."""
    hit = [r for r in rows if text in r["quantity"]]
    assert len(hit) == 1, (text, [r["quantity"] for r in rows])
    return hit[0]


def conforms(rows: list[dict]) -> None:
    assert schema.schema_violations(pd.DataFrame(rows)) == []


# ----------------------------------------------------------------------------- helpers


def test_log_slope_is_the_per_layer_factor_and_needs_three_points():
    d = np.arange(2, 12)
    assert fits.log_slope(d, 7.0 * 1.2345**d) == pytest.approx(1.2345, rel=1e-12)
    assert fits.log_slope(d, 3.0 * 0.61**d) == pytest.approx(0.61, rel=1e-12)
    assert math.isnan(fits.log_slope(d[:2], 0.61 ** d[:2]))  # a rate from two points is not a fit


def test_fit_residuals_tell_a_power_law_from_an_exponential():
    d = np.arange(4, 41)
    r_pow, r_exp, expo = fits.fit_residuals(d, 2.0 * d**1.5)
    assert r_pow < 1e-12 < r_exp and expo == pytest.approx(1.5, abs=1e-10)
    r_pow, r_exp, _ = fits.fit_residuals(d, 2.0 * 1.3**d)
    assert r_exp < 1e-12 < r_pow


def test_per_point_keeps_the_first_time_sorted_by_depth():
    f = pd.DataFrame({"depth": [3, 1, 2, 3, 1, 2], "t": [8, 1, 8, 1, 8, 1], "kappa": [30, 1, 20, 3, 10, 2]})
    pp = c1_c5.per_point(f)
    assert list(pp["depth"]) == [1, 2, 3] and list(pp["kappa"]) == [1, 2, 3]
    assert list(pp.index) == [0, 1, 2]


def test_nearest_sigma_takes_the_nearest_grid_value_at_the_smallest_sigma_b2():
    rows = [
        {"sigma_w2": sw, "sigma_b2": sb, "depth": l, "v": 100 * sw + 10 * sb + l}
        for sw in (1.0, 2.0, 3.0)
        for sb in (0.3, 0.05)
        for l in (2, 0, 1)
    ]
    out = c1_c5.nearest_sigma(pd.DataFrame(rows), 2.4)
    assert set(out["sigma_w2"]) == {2.0} and set(out["sigma_b2"]) == {0.05}
    assert list(out["depth"]) == [0, 1, 2]
    assert set(c1_c5.nearest_sigma(pd.DataFrame(rows), 2.9)["sigma_w2"]) == {3.0}


# ----------------------------------------------------------------------------- C1


def test_c1_passes_on_the_chaotic_laws_with_the_predicted_numbers():
    rows = c1_c5.chaotic_claims(chaotic(), "fcn", "erf", N_TRAIN)
    conforms(rows)
    assert [r["claim"] for r in rows] == ["C1"] * 4 and all(r["passed"] for r in rows)
    chi1, chic = CHAOS["chi_1"], CHAOS["chi_c"]
    g = by(rows, "growth factor of ntk_diag")
    assert g["predicted"] == chi1 and g["measured"] == pytest.approx(chi1, rel=1e-10)
    # the window starts past the transient: max(5, 3 ξ*) = 9.99 -> 10
    assert (g["depth_min"], g["depth_max"]) == (10, 60)
    lim = by(rows, "ntk_offdiag limit")
    assert lim["predicted"] == pytest.approx(CHAOS["q_star"] * CHAOS["c_star"] / (1 - chic), rel=1e-15)
    assert lim["depth_min"] == lim["depth_max"] == 60
    assert by(rows, "kappa-1")["measured"] == pytest.approx(1 / chi1, rel=1e-10)
    assert by(rows, "mean_pred_rms/l")["measured"] == pytest.approx(chic / chi1, rel=1e-10)
    assert {r["sigma_w2"] for r in rows} == {2.5} and {r["sigma_b2"] for r in rows} == {SB}


@pytest.mark.parametrize(
    "key, text, tol",
    [
        ("rate", "growth factor of ntk_diag", 0.01),
        ("limit", "ntk_offdiag limit", 0.01),
        ("kappa_rate", "kappa-1", 0.02),
        ("mp_rate", "mean_pred_rms/l", 0.05),
    ],
)
def test_c1_each_row_fails_outside_its_tolerance_and_passes_inside(key, text, tol):
    chi1, chic = CHAOS["chi_1"], CHAOS["chi_c"]
    true = {
        "rate": chi1,
        "limit": CHAOS["q_star"] * CHAOS["c_star"] / (1 - chic),
        "kappa_rate": 1 / chi1,
        "mp_rate": chic / chi1,
    }[key]
    for factor, passes in ((1 + 2 * tol, False), (1 - 2 * tol, False), (1 + tol / 2, True)):
        rows = c1_c5.chaotic_claims(chaotic(**{key: true * factor}), "fcn", "erf", N_TRAIN)
        conforms(rows)
        assert bool(by(rows, text)["passed"]) == passes, (factor, by(rows, text))
        # the other rows read other columns: untouched
        assert all(r["passed"] for r in rows if text not in r["quantity"])


def test_c1_kappa_fit_skips_depths_where_kappa_is_1_in_float64():
    f = chaotic()
    f.loc[f["depth"] >= 50, "kappa"] = 1.0  # κ − 1 below rounding: log(0) must not enter
    r = by(c1_c5.chaotic_claims(f, "fcn", "erf", N_TRAIN), "kappa-1")
    assert r["passed"] and r["depth_max"] == 49


def test_c1_offdiag_limit_is_read_at_the_deepest_depth():
    # Θ_ab = L (1 − χ_c*^l/2): 4 % short of L at l = 20, 2e-4 at l = 60
    assert not by(c1_c5.chaotic_claims(chaotic(depth=np.arange(21)), "fcn", "erf", N_TRAIN), "ntk_offdiag limit")[
        "passed"
    ]


def test_c1_too_short_a_window_is_not_measured_and_still_conforms():
    rows = c1_c5.chaotic_claims(chaotic(depth=np.arange(0, 12)), "fcn", "erf", N_TRAIN)  # 2 deep depths
    conforms(rows)
    g = by(rows, "growth factor of ntk_diag")
    assert not g["passed"] and math.isnan(g["measured"]) and g["note"].startswith(schema.NOT_MEASURED)


# ----------------------------------------------------------------------------- C2

DO = np.arange(0, 81)  # ordered depths: window l >= max(3, 2ξ₁) = 7 (Erf), 3 (ReLU)


def ordered(point=ORDER, relu=False, gap_rate=None, limit=None, lmax=None, lmin_rate=None, kappa_rate=None, depth=DO):
    """C2's laws, p* = q*/(1 − χ₁). Smooth φ: Θ_aa − p* = −0.6 p* χ₁^l, λ_min = 0.5 l χ₁^l,
    κ = λ_max/λ_min ∝ 1/(l χ₁^l). ReLU: Θ_aa − p* = −0.6 p* l χ₁^l, λ_min = 0.5 χ₁^(l/2),
    κ ∝ χ₁^(−l/2). λ_max = m p*. Each argument replaces one rate/limit."""
    chi1 = point["chi_1"]
    p = point["q_star"] / (1 - chi1) if limit is None else limit
    d = depth.astype(float)
    lf = 1.0 if relu else np.maximum(d, 1)  # the polynomial factor (none for ReLU's λ_min)
    g = chi1 if gap_rate is None else gap_rate
    gap = 0.6 * p * (d if relu else 1.0) * g**d
    lam = np.sqrt(chi1) if relu else chi1
    lmin = 0.5 * lf * (lam if lmin_rate is None else lmin_rate) ** d
    lmax_v = N_TRAIN * p if lmax is None else lmax
    kappa = lmax_v / (0.5 * lf * (lam if kappa_rate is None else kappa_rate) ** d)
    return frame(point, depth, ntk_diag=p - gap, lambda_max=lmax_v, lambda_min=lmin, kappa=kappa)


def test_c2_smooth_passes_on_the_ordered_laws_with_the_predicted_numbers():
    rows = c1_c5.ordered_claims(ordered(), "fcn", "erf", N_TRAIN)
    conforms(rows)
    assert [r["claim"] for r in rows] == ["C2"] * 5 and all(r["passed"] for r in rows)
    chi1, p = ORDER["chi_1"], ORDER["q_star"] / (1 - ORDER["chi_1"])
    assert by(rows, "ntk_diag limit p*")["predicted"] == pytest.approx(p, rel=1e-15)
    gap = by(rows, "|ntk_diag - p*| per layer")
    assert gap["measured"] == pytest.approx(chi1, rel=1e-9)
    # the window ends where Θ_aa − p* reaches 100 × float64 precision of p*
    assert gap["depth_min"] == 7 and gap["depth_max"] < 80
    assert by(rows, "lambda_max limit m p*")["predicted"] == pytest.approx(N_TRAIN * p, rel=1e-15)
    assert by(rows, "lambda_min/l")["measured"] == pytest.approx(chi1, rel=1e-10)
    assert by(rows, "kappa*l")["measured"] == pytest.approx(1 / chi1, rel=1e-10)


@pytest.mark.parametrize(
    "key, text, tol",
    [
        ("limit", "ntk_diag limit p*", 1e-3),
        ("gap_rate", "|ntk_diag - p*| per layer", 0.02),
        ("lmax", "lambda_max limit m p*", 0.01),
        ("lmin_rate", "lambda_min/l", 0.15),
        ("kappa_rate", "kappa*l", 0.15),
    ],
)
def test_c2_smooth_each_row_fails_outside_its_tolerance_and_passes_inside(key, text, tol):
    chi1, p = ORDER["chi_1"], ORDER["q_star"] / (1 - ORDER["chi_1"])
    true = {"limit": p, "gap_rate": chi1, "lmax": N_TRAIN * p, "lmin_rate": chi1, "kappa_rate": chi1}[key]
    for factor, passes in ((1 + 2 * tol, False), (1 - 2 * tol, False), (1 + tol / 2, True)):
        f = ordered(**{key: true * factor})
        if key == "limit":  # Θ_aa converges to a wrong p*; the gap is still measured from the true p*
            f["ntk_diag"] = ordered()["ntk_diag"] * factor
        rows = c1_c5.ordered_claims(f, "fcn", "erf", N_TRAIN)
        conforms(rows)
        assert bool(by(rows, text)["passed"]) == passes, (factor, by(rows, text))


def test_c2_spectrum_fits_skip_singular_depths():
    f = ordered()
    # from l = 30 the table says Θ is singular and λ_min sits on a cutoff-sized floor, far
    # above the 100 × precision filter: only the `singular` flag keeps it out of the fit
    sing = f["depth"] >= 30
    f.loc[sing, "singular"] = True
    f.loc[sing, "lambda_min"] = 1e-6 * f.loc[sing, "lambda_max"]
    f.loc[sing, "kappa"] = 1e6
    rows = c1_c5.ordered_claims(f, "fcn", "erf", N_TRAIN)
    assert by(rows, "lambda_min/l")["passed"] and by(rows, "lambda_min/l")["depth_max"] == 29
    assert by(rows, "kappa*l")["passed"]
    f["singular"] = False
    rows = c1_c5.ordered_claims(f, "fcn", "erf", N_TRAIN)
    assert not by(rows, "lambda_min/l")["passed"] and not by(rows, "kappa*l")["passed"]


def test_c2_relu_passes_on_its_nonsmooth_laws():
    rows = c1_c5.ordered_claims(ordered(RELU, relu=True, depth=np.arange(41)), "fcn", "relu", N_TRAIN)
    conforms(rows)
    assert all(r["passed"] for r in rows), [(r["quantity"], r["measured"]) for r in rows if not r["passed"]]
    chi1 = RELU["chi_1"]
    gap = by(rows, "|ntk_diag - p*|/l per layer (chi_1; double root)")
    assert gap["measured"] == pytest.approx(chi1, rel=1e-9)
    # ReLU's kernel is good to 1e-7: the window stops where 0.6 l χ₁^l reaches 100 × 1e-7
    # (l = 20: 1.1e-5; l = 21: 6.0e-6)
    assert gap["depth_min"] == 3 and gap["depth_max"] == 20
    lm = by(rows, "lambda_min per layer (sqrt(chi_1): relu")
    assert lm["predicted"] == pytest.approx(math.sqrt(chi1), rel=1e-15)
    assert lm["measured"] == pytest.approx(math.sqrt(chi1), rel=1e-10)
    assert by(rows, "growth factor of kappa per layer")["measured"] == pytest.approx(1 / math.sqrt(chi1), rel=1e-10)


def test_c2_relu_rows_reject_the_smooth_forms():
    # The smooth forms on ReLU: Θ_aa − p* ∝ χ₁^l (no double root), λ_min ∝ χ₁^l
    f = ordered(RELU, relu=False, depth=np.arange(41))
    rows = c1_c5.ordered_claims(f, "fcn", "relu", N_TRAIN)
    conforms(rows)
    assert not by(rows, "double root")["passed"]
    assert not by(rows, "lambda_min per layer")["passed"]
    assert not by(rows, "growth factor of kappa")["passed"]


def test_c2_smooth_rows_reject_the_double_root():
    # Θ_aa − p* ∝ l χ₁^l (ReLU's form) read as a smooth φ's χ₁^l: the l shifts the fitted
    # rate by more than C2's 2 %
    f = ordered()
    chi1, p = ORDER["chi_1"], ORDER["q_star"] / (1 - ORDER["chi_1"])
    d = f["depth"].to_numpy(float)
    f["ntk_diag"] = p - 0.6 * p * d * chi1**d
    assert not by(c1_c5.ordered_claims(f, "fcn", "erf", N_TRAIN), "|ntk_diag - p*| per layer")["passed"]


# ----------------------------------------------------------------------------- C3


def c3_grid(kappa_crit, mp_crit) -> pd.DataFrame:
    """Three σ_w² around the critical line at σ_b² = 0.18 (exponential off it) and a
    σ_b² = 0.3 copy with χ₁ = 1 exactly whose values would fail: C3 reads the first σ_b²."""
    d = np.arange(0, 61).astype(float)
    parts = []
    for sw, chi1 in ((1.6, 0.9), (1.75, 1.0004), (1.9, 1.1)):
        crit = sw == 1.75
        parts.append(
            frame(
                {"sigma_w2": sw, "sigma_b2": SB, "chi_1": chi1},
                d,
                kappa=kappa_crit(d) if crit else 2 * chi1 ** (-d) + 1,
                mean_pred_rms=mp_crit(d) if crit else 0.3 * 0.7**d,
            )
        )
    parts.append(
        frame({"sigma_w2": 1.75, "sigma_b2": 0.3, "chi_1": 1.0}, d, kappa=2 * 1.3**d, mean_pred_rms=0.3 * 0.5**d)
    )
    return c1_c5.per_point(pd.concat(parts, ignore_index=True))


def test_c3_power_laws_pass_at_the_point_nearest_the_critical_line():
    rows = c1_c5.critical_claims(
        c3_grid(lambda d: 2 * np.maximum(d, 1) ** 1.5, lambda d: 0.3 * np.maximum(d, 1) ** -0.7), "fcn", "erf"
    )
    conforms(rows)
    assert [r["claim"] for r in rows] == ["C3", "C3"] and all(r["passed"] for r in rows)
    assert {r["sigma_w2"] for r in rows} == {1.75} and {r["sigma_b2"] for r in rows} == {SB}
    k = by(rows, "kappa")
    assert k["measured"] < 1e-6 and k["depth_min"] == 4 and k["depth_max"] == 60
    assert "power-law exponent 1.500" in k["note"] and "chi_1 = 1.0004" in k["note"]
    assert "power-law exponent -0.700" in by(rows, "mean_pred_rms")["note"]


def test_c3_exponential_kappa_with_a_large_span_fails():
    rows = c1_c5.critical_claims(c3_grid(lambda d: 2 * 1.2**d, lambda d: 0.3 * np.maximum(d, 1) ** -0.7), "fcn", "erf")
    conforms(rows)
    k = by(rows, "kappa")
    assert not k["passed"] and k["measured"] > 1e3  # an exponential fits, a power law does not
    assert by(rows, "mean_pred_rms")["passed"]
    # and an exponentially collapsing mean predictor fails the same way
    rows = c1_c5.critical_claims(c3_grid(lambda d: 2 * np.maximum(d, 1) ** 1.5, lambda d: 0.3 * 0.8**d), "fcn", "erf")
    assert by(rows, "kappa")["passed"] and not by(rows, "mean_pred_rms")["passed"]


def test_c3_a_quantity_that_barely_changes_passes_either_way():
    # exponential, but κ grows less than 10x over l = 4..60 (1.04^56 ≈ 9): both fits are
    # noise there, so the coded rule passes it (the 'max/min < 10' branch)
    rows = c1_c5.critical_claims(c3_grid(lambda d: 2 * 1.04**d, lambda d: 0.3 * np.maximum(d, 1) ** -0.7), "fcn", "erf")
    k = by(rows, "kappa")
    assert k["measured"] > 1 and k["passed"] and "max/min over the window 8.9" in k["note"]


def test_c3_kappa_skips_singular_depths():
    g = c3_grid(lambda d: 2 * np.maximum(d, 1) ** 1.5, lambda d: 0.3 * np.maximum(d, 1) ** -0.7)
    crit = (g["sigma_w2"] == 1.75) & (g["sigma_b2"] == SB) & (g["depth"] >= 40)
    g.loc[crit, "kappa"] = 1e16  # numerical where Θ is singular
    g.loc[crit, "singular"] = True
    k = by(c1_c5.critical_claims(g, "fcn", "erf"), "kappa")
    assert k["passed"] and k["depth_max"] == 39


# ----------------------------------------------------------------------------- C4


def test_c4_equal_rates_pass_and_rates_5_percent_apart_fail_the_2_percent_row():
    fcn = chaotic()
    cnn = chaotic(amp=3.7)  # other amplitudes (finite-size corrections), the same rates
    rows = c1_c5.cnn_f_claims(fcn, cnn, "erf")
    conforms(rows)
    assert [(r["claim"], r["arch"]) for r in rows] == [("C4", "cnn_f")] * 2
    assert all(r["passed"] for r in rows)
    for r in rows:
        assert r["measured"] == pytest.approx(r["predicted"], rel=1e-10)
    assert by(rows, "ntk_diag")["predicted"] == pytest.approx(CHAOS["chi_1"], rel=1e-10)

    chi1, chic = CHAOS["chi_1"], CHAOS["chi_c"]
    rows = c1_c5.cnn_f_claims(fcn, chaotic(rate=1.05 * chi1, mp_rate=1.05 * chic / chi1), "erf")
    conforms(rows)
    assert not by(rows, "growth factor of ntk_diag")["passed"]  # tolerance 2 %
    assert by(rows, "mean_pred_rms/l")["passed"]  # tolerance 10 %
    rows = c1_c5.cnn_f_claims(fcn, chaotic(rate=1.01 * chi1, mp_rate=1.15 * chic / chi1), "erf")
    assert by(rows, "growth factor of ntk_diag")["passed"]
    assert not by(rows, "mean_pred_rms/l")["passed"]


# ----------------------------------------------------------------------------- C5


def pooling(ratio_at_d: dict[int, float]) -> pd.DataFrame:
    """CNN-F and CNN-P mean predictors over depth per image size d; at the deepest depth
    CNN-P's is CNN-F's times ``ratio_at_d[d]`` (shallower depths: ratio 0.5, not read)."""
    rows = []
    for d, ratio in ratio_at_d.items():
        for l in (1, 4, 10, 20):
            f = 0.3 * l * 0.7**l
            for arch, v in (("cnn_f", f), ("cnn_p", f * (ratio if l == 20 else 0.5))):
                rows.append(
                    {
                        "arch": arch,
                        "activation": "erf",
                        "sigma_w2": 2.5,
                        "sigma_b2": SB,
                        "d": d,
                        "depth": l,
                        "t": 1.0,
                        "mean_pred_rms": v,
                    }
                )
    return pd.DataFrame(rows)


def test_c5_ratios_above_1_pass_and_the_exponent_is_the_built_one():
    sizes = (4, 9, 16, 36, 64)
    rows = c1_c5.pooling_claims(pooling({d: 1.5 * d**0.4 for d in sizes}))
    conforms(rows)
    assert [r["claim"] for r in rows] == ["C5"] * 6 and all(r["passed"] for r in rows)
    for r, d in zip(rows[:-1], sizes):
        assert f"d = {d}" in r["quantity"] and r["measured"] == pytest.approx(1.5 * d**0.4, rel=1e-12)
        assert r["depth_min"] == r["depth_max"] == 20
    expo = rows[-1]
    assert expo["condition"] == schema.REPORTED and math.isnan(expo["predicted"])
    assert abs(expo["measured"] - 0.4) < 1e-10


def test_c5_a_ratio_below_1_fails_its_row_only():
    sizes = (4, 9, 16, 36, 64)
    ratios = {d: 1.5 * d**0.4 for d in sizes}
    ratios[9] = 0.9
    rows = c1_c5.pooling_claims(pooling(ratios))
    conforms(rows)
    assert [r["passed"] for r in rows[:-1]] == [True, False, True, True, True]
    assert by(rows, "at d = 9")["measured"] == pytest.approx(0.9, rel=1e-12)
    assert rows[-1]["passed"]  # the exponent is reported, not judged


# ----------------------------------------------------------------------------- known defects


# C4's prediction is the FCN's fitted rate: a window too short to fit gives a row that
# says 'not measured' instead of an unexplained empty prediction.
def test_c4_rows_conform_when_the_fcn_window_is_too_short():
    short = chaotic(depth=np.arange(12))  # deep window l >= 10: two depths
    for rows in (c1_c5.cnn_f_claims(short, short, "erf"), c1_c5.cnn_f_claims(short, chaotic(), "erf")):
        conforms(rows)
        assert not any(bool(r["passed"]) for r in rows)
        assert all(r["note"].startswith(schema.NOT_MEASURED) for r in rows)


# One image size has no exponent: the REPORTED row must not pass with a number.
def test_c5_one_image_size_gives_no_exponent():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # polyfit's RankWarning: one point
        rows = c1_c5.pooling_claims(pooling({16: 2.0}))
    assert math.isnan(rows[-1]["measured"]) and not rows[-1]["passed"]
