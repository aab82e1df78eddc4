"""Claims: the one claims-row schema (every producer's rows, which cells may be empty) and
C9, the depth-scale law, on synthetic grids whose answer is known."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntk_phases.claims import c9, schema
from ntk_phases.numerics import fits

CHANCE = 0.1
SRC = Path(__file__).resolve().parents[2] / "src" / "ntk_phases"


def test_claims_package_init_imports_nothing():
    """``ntk_phases.claims`` is a docstring: importing it runs no code (no side effects)."""
    body = ast.parse((SRC / "claims" / "__init__.py").read_text()).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


# ----------------------------------------------------------------------------- schema


def _row(**kw):
    base = dict(
        claim="C1",
        arch="fcn",
        activation="erf",
        quantity="q",
        predicted=1.0,
        measured=1.0,
        tolerance=0.1,
        passed=True,
        condition=schema.REL,
        sigma_w2=2.5,
        sigma_b2=0.18,
        depth_min=3,
        depth_max=9,
        note="",
    )
    base.update(kw)
    args = [
        base.pop(k)
        for k in (
            "claim",
            "arch",
            "activation",
            "quantity",
            "predicted",
            "measured",
            "tolerance",
            "passed",
            "condition",
        )
    ]
    return schema.claim_row(*args, **base)


def test_claim_row_has_every_column_in_schema_order():
    r = _row()
    assert list(r) == schema.COLUMNS == list(schema.SCHEMA)
    # SPEC §3's columns first, then the rule and the configuration
    assert schema.COLUMNS[:7] == ["claim", "arch", "quantity", "predicted", "measured", "tolerance", "passed"]
    assert {"passed", "condition", "sigma_w2", "sigma_b2", "depth_min", "depth_max"} <= set(schema.COLUMNS)
    assert schema.schema_violations(pd.DataFrame([r])) == []


def test_schema_flags_empty_cells_outside_the_documented_cases():
    ok = [
        _row(),
        _row(claim="C5", predicted=None, tolerance=None, condition=schema.REPORTED),  # reported
        _row(claim="C5", tolerance=None, condition=schema.ABOVE),  # no tolerance in the rule
        _row(claim="C9", sigma_w2=None, condition=c9.C9_CONDITION, tolerance=5.0, note="R2 = 1"),
        _row(measured=float("nan"), passed=True),  # becomes False + 'not measured: ...'
        _row(predicted=None, passed=True),  # a fitted prediction that could not be: idem
    ]
    frame = pd.DataFrame(ok)
    assert schema.schema_violations(frame) == []
    for i in (-2, -1):
        assert not frame["passed"].iloc[i] and frame["note"].iloc[i].startswith("not measured")
    bad = pd.DataFrame(
        [
            _row(sigma_w2=None),  # sigma_w2 empty on a single-point claim
            _row(tolerance=None),  # the rule uses a tolerance
            {**_row(), "predicted": float("nan")},  # not a reported row, and it passed
            {**_row(), "condition": ""},  # no rule
            {**_row(), "activation": None},
        ]
    )
    v = schema.schema_violations(bad)
    assert [s.split(": ")[-1] for s in v] == [
        "sigma_w2 empty",
        "tolerance empty",
        "predicted empty",
        "condition empty",
        "activation empty",
    ]
    assert schema.schema_violations(bad.drop(columns="note"))[0].startswith("columns")
    # the CSV round trip keeps a conforming table conforming
    assert schema.schema_violations(schema.conform(pd.read_csv(pd.io.common.StringIO(frame.to_csv(index=False))))) == []


def test_every_documented_empty_column_says_when():
    for col, (when, test) in schema.NOT_APPLICABLE.items():
        assert col in schema.SCHEMA and when and callable(test)
    assert set(schema.NOT_APPLICABLE) == {"predicted", "measured", "tolerance", "sigma_w2", "note"}


# ----------------------------------------------------------------------------- C9 pieces


def test_phase_boundary_interpolates_the_half_gap_crossing():
    depth = np.arange(0, 41, 4)  # 0, 4, ..., 40 (depth 0 is ignored)
    acc = np.where(depth <= 12, 0.9, 0.1)  # plateau to 12, chance from 16
    b = c9.phase_boundary(depth, acc, CHANCE)
    assert b["status"] == "resolved" and b["shallow"] == 0.9
    assert math.isclose(b["threshold"], 0.5)
    assert math.isclose(b["l_boundary"], 14.0)  # halfway between 12 and 16
    # linear in depth between grid points: exact
    acc = np.clip(0.9 - 0.02 * (depth - 4), 0.1, 0.9)
    b = c9.phase_boundary(depth, acc, CHANCE)
    assert math.isclose(b["l_boundary"], 24.0)  # 0.9 - 0.02 (l - 4) = 0.5
    # unsorted input, same answer
    o = np.random.default_rng(0).permutation(len(depth))
    assert math.isclose(c9.phase_boundary(depth[o], acc[o], CHANCE)["l_boundary"], 24.0)


def test_phase_boundary_censored_no_gap_diverged():
    depth = np.array([1, 2, 4, 8, 16])
    b = c9.phase_boundary(depth, [0.9, 0.9, 0.8, 0.7, 0.6], CHANCE)
    assert b["status"] == "censored" and b["l_boundary"] == 16
    assert c9.phase_boundary(depth, [0.12, 0.11, 0.1, 0.1, 0.1], CHANCE)["status"] == "no_gap"
    b = c9.phase_boundary(depth, [0.9, np.nan, 0.1, 0.1, 0.1], CHANCE)
    assert b["status"] == "diverged" and np.isnan(b["l_boundary"])
    # a missing value after the crossing does not matter
    assert c9.phase_boundary(depth, [0.9, 0.9, 0.1, np.nan, 0.1], CHANCE)["status"] == "resolved"


def test_fit_through_origin_known_slope():
    xi = np.array([1.0, 2.0, 3.0, 5.0])
    f = fits.fit_through_origin(xi, 6.0 * xi)
    assert math.isclose(f["a"], 6.0) and math.isclose(f["r2"], 1.0)
    assert math.isclose(f["ratio_mean"], 6.0) and f["ratio_cv"] < 1e-12 and f["n"] == 4
    # a constant boundary is no law: the centred R² says so (uncentred would be ~0.8)
    g = fits.fit_through_origin(xi, np.full(4, 10.0))
    assert g["r2"] < 0 and g["ratio_cv"] > 0.3
    # least squares through the origin: a = Σξl / Σξ²
    y = np.array([5.0, 13.0, 17.0, 31.0])
    assert math.isclose(fits.fit_through_origin(xi, y)["a"], float(xi @ y / (xi @ xi)))


# ----------------------------------------------------------------------------- C9 on grids


def _grid(a_ord: float, a_cha: float, *, depths=None, t=(1.0, 4096.0), noise=0.0, chaotic_gap=0.8):
    """A synthetic infinite-width table: erf-like depth scales, ordered σ_w² < 1.75 (six
    values, ξ₁ up to 35 at 1.7) and chaotic above (five values); train (ordered) and test
    (chaotic) accuracies fall from 0.9 to chance in a steep logistic step at a·ξ, the other
    split stays at 0.9; the mean-predictor columns fall at twice that depth."""
    depths = np.arange(0, 101) if depths is None else np.asarray(depths)
    rng = np.random.default_rng(1)
    rows = []
    for sw in (0.5, 0.75, 1.0, 1.25, 1.5, 1.7, 2.0, 2.25, 2.5, 2.75, 3.0):
        ordered = sw < 1.75
        xi1 = 1.0 / abs(np.log(sw / 1.75)) if ordered else np.inf
        xis = np.inf if ordered else 1.0 / np.log(sw / 1.75)
        xi = xi1 if ordered else xis
        a = a_ord if ordered else a_cha
        for tt in t:
            for d in depths:

                def step(l_b, gap=0.8):
                    return CHANCE + gap / (1.0 + np.exp(np.clip((d - l_b) / 0.3, -700, 700)))

                fall = step(a * xi, 0.8 if ordered else chaotic_gap) + noise * rng.normal()
                fall_mean = step(2 * a * xi, 0.8 if ordered else chaotic_gap)
                rows.append(
                    {
                        "arch": "fcn",
                        "activation": "erf",
                        "sigma_w2": sw,
                        "sigma_b2": 0.18,
                        "depth": d,
                        "t": tt,
                        "phase": "ordered" if ordered else "chaotic",
                        "xi_1": xi1,
                        "xi_star": xis,
                        "train_acc": fall if ordered else 0.9,
                        "test_acc": 0.9 if ordered else fall,
                        "train_acc_mean": fall_mean if ordered else 0.9,
                        "test_acc_mean": 0.9 if ordered else fall_mean,
                    }
                )
    return pd.DataFrame(rows)


def test_depth_scale_law_recovers_a_known_slope():
    table = _grid(8.0, 3.0)
    frame = c9.infinite_law_frame(table)
    assert frame["t"].unique().tolist() == [4096.0]
    bounds, fit = c9.depth_scale_law(frame, "ordered", "train_acc", CHANCE)
    res = bounds[bounds["status"] == "resolved"]
    # every resolved boundary is a·ξ to the grid's interpolation error
    assert np.allclose(res["l_boundary"], 8.0 * res["xi"], atol=0.35)
    assert abs(fit["a"] - 8.0) < 0.05 and fit["r2"] > 0.999 and fit["ratio_cv"] < 0.03
    # 8 ξ₁ beyond depth 100 near the critical line: censored, not fitted
    assert fit["censored"] == int((8.0 * bounds["xi"] > 100).sum()) > 0
    assert fit["resolved"] + fit["censored"] == len(bounds) == 6
    bounds, fit = c9.depth_scale_law(frame, "chaotic", "test_acc", CHANCE)
    assert abs(fit["a"] - 3.0) < 0.05 and fit["r2"] > 0.999 and len(bounds) == 5


def test_c9_rows_pass_fail_and_not_measured():
    rows = c9.c9_claims({("fcn", "erf"): _grid(8.0, 3.0)}, [], CHANCE)
    frame = pd.DataFrame(rows, columns=schema.COLUMNS)
    assert schema.schema_violations(frame) == []
    assert len(frame) == 4  # {mean, network} x {ordered, chaotic}
    assert set(frame["claim"]) == {"C9"} and frame["sigma_w2"].isna().all()
    assert (frame["predicted"] == c9.C9_PREDICTED).all() and (frame["tolerance"] == c9.C9_FACTOR).all()
    net = frame[frame["quantity"].str.contains("true network")]
    net.index = net["quantity"].str.split(":").str[0]
    assert abs(net.loc["ordered", "measured"] - 8.0) < 0.05 and net.loc["ordered", "passed"]
    assert abs(net.loc["chaotic", "measured"] - 3.0) < 0.05 and net.loc["chaotic", "passed"]
    assert "R2 = 1.000" in net.loc["ordered", "note"] and "censored" in net.loc["ordered", "note"]
    # the mean predictor falls at 2 a ξ: ordered 16 (resolved where 16 ξ₁ < 100), chaotic 6
    mean = frame[frame["quantity"].str.contains("mean predictor")]
    assert np.allclose(sorted(mean["measured"]), [6.0, 16.0], atol=0.1)
    # a outside [8/8, 8·8]: fails, and says what it is
    high = pd.DataFrame(
        c9.c9_claims({("fcn", "erf"): _grid(80.0, 80.0, depths=np.arange(0, 1201, 2), t=(4096.0,))}, [], CHANCE)
    )
    high = high[high["quantity"].str.contains("true network")]
    assert (~high["passed"]).all() and np.allclose(high["measured"], 80.0, rtol=0.01)
    assert (high["note"].str.startswith("R2 = 1.000")).all()  # a clean law, out of the band
    # a scatter with no law: R² < 0.9 fails even with a in the band
    rng = np.random.default_rng(3)
    scattered = fits.fit_through_origin(np.array([1.0, 2, 3, 4]), rng.uniform(5, 40, 4))
    assert scattered["r2"] < c9.C9_R2_MIN
    # too few points (shallow grid: everything censored): not measured
    short = pd.DataFrame(c9.c9_claims({("cnn_p", "erf"): _grid(8.0, 3.0, depths=[0, 1, 2, 4, 8])}, [], CHANCE))
    ordered = short[short["quantity"].str.startswith("ordered")]
    assert ordered["measured"].isna().all() and (~ordered["passed"]).all()
    assert ordered["note"].str.startswith("not measured").all()
    assert schema.schema_violations(short[schema.COLUMNS]) == []


def test_c9_on_a_trained_grid_with_seeds_and_divergence():
    depths = [1, 4, 8, 16, 24, 32]
    sws = np.linspace(0.5, 3.0, 6)
    rows, ov = [], []
    for sw in sws:
        ordered = sw < 1.75
        xi = 1.0 / abs(np.log(sw / 1.75))
        ov.append(
            {
                "sigma_w2": sw + 1e-12,
                "xi_1": xi if ordered else np.inf,
                "xi_star": np.inf if ordered else xi,
                "phase": "ordered" if ordered else "chaotic",
                "chi_1": sw / 1.75,
            }
        )
        for d in depths:
            for seed in (0, 1):
                acc = CHANCE + 0.8 / (1 + np.exp((d - 4.0 * xi) / 0.3))
                diverged = sw == sws[-1] and seed == 1  # one seed lost: mean of the other
                for step in (16, 256):
                    rows.append(
                        {
                            "arch": "fcn",
                            "activation": "erf",
                            "width": 64,
                            "sigma_w2": sw,
                            "sigma_b2": 0.18,
                            "depth": d,
                            "seed": seed,
                            "step": step,
                            "train_acc": acc if ordered else 0.95,
                            "test_acc": 0.9 if ordered else acc,
                            "status": "diverged" if diverged else "ok",
                        }
                    )
    table, overlay = pd.DataFrame(rows), pd.DataFrame(ov)
    frame = c9.finite_law_frame(table, overlay)
    assert len(frame) == len(sws) * len(depths) and frame["xi_1"].notna().all()
    out = pd.DataFrame(c9.c9_claims({}, [(table, overlay)], CHANCE))
    assert schema.schema_violations(out[schema.COLUMNS]) == []
    assert list(out["quantity"].str.split(":").str[0]) == ["ordered", "chaotic"]
    assert out["quantity"].str.contains("finite width 64, trained, step 256").all()
    # the grid's depths are coarse: the ordered law is resolved where 4ξ lies inside it
    assert (out["depth_max"] == 32).all() and (out["depth_min"] == 1).all()
    for r in out.to_dict("records"):
        if np.isfinite(r["measured"]):
            assert abs(r["measured"] - 4.0) < 0.5, r
        else:
            assert r["note"].startswith("not measured")
    with pytest.raises(ValueError):
        c9.finite_law_frame(table, overlay.assign(sigma_w2=overlay["sigma_w2"] + 0.1))


def test_singular_depths_censor_the_mean_predictor():
    """The mean predictor's accuracy where Θ is singular is numerical (the pseudo-inverse
    dropped modes): a crossing there is not a boundary."""
    depth = np.arange(0, 41, 4)
    acc = np.where(depth <= 20, 0.9, 0.1)
    sing = depth >= 16
    b = c9.phase_boundary(depth, acc, CHANCE, resolved=~sing)
    assert b["status"] == "singular" and b["l_boundary"] == 16
    # depth 0 (the linear kernel) may be singular: it is not part of the scan
    b = c9.phase_boundary(depth, acc, CHANCE, resolved=depth >= 1)
    assert b["status"] == "resolved" and math.isclose(b["l_boundary"], 22.0)
    table = _grid(8.0, 3.0)
    table["singular"] = (table["phase"] == "ordered") & (table["depth"] >= 30)
    frame = c9.infinite_law_frame(table)
    fits = c9.law_fits(frame, "mean", CHANCE)
    assert fits["ordered"][1]["singular"] > 0
    assert (fits["ordered"][0].query("status == 'resolved'")["l_boundary"] < 30).all()
    # the true network keeps singular depths (its dropped modes do not train anyway)
    assert c9.law_fits(frame, "network", CHANCE)["ordered"][1]["singular"] == 0


def test_depth_scales_at_interpolates_inverse_scales_on_a_finer_grid():
    sw = np.linspace(0.5, 3.0, 251)  # step 0.01: 1.75 (critical) is on it
    chi = sw / 1.75
    with np.errstate(divide="ignore"):
        ov = pd.DataFrame(
            {
                "sigma_w2": sw,
                "xi_1": np.where(chi < 1, -1 / np.log(chi), np.nan),
                "xi_star": np.where(chi > 1, 1 / (0.5 * np.log(chi)), np.nan),
                "phase": np.where(chi < 1, "ordered", np.where(chi > 1, "chaotic", "critical")),
            }
        )
    want = np.array([0.5, 1.0, 1.234, 1.735, 1.765, 2.5, 2.999])
    got = c9.depth_scales_at(ov, want)
    c = want / 1.75
    exact = np.where(c < 1, -1 / np.log(c), 1 / (0.5 * np.log(c)))
    col = np.where(c < 1, got["xi_1"], got["xi_star"])
    assert list(got["phase"]) == ["ordered"] * 4 + ["chaotic"] * 3
    assert np.allclose(col, exact, rtol=2e-3)  # 1/ξ is smooth: linear interpolation holds near χ₁ = 1
    assert c9.depth_scales_at(ov, [1.75])["phase"].iloc[0] == "critical"  # on the grid: its row
    assert c9.depth_scales_at(ov, [1.7505])["phase"].iloc[0] == "critical"  # straddles it
    with pytest.raises(ValueError):
        c9.depth_scales_at(ov, [3.5])
