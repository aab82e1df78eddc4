"""Freeze/chaos stage: standardized nonlinearity, BatchNorm empirical NTK, arc-cosine
check, the mean-field predictions (limits, rates, laws) against scalar recursions and
analytic kernels, the checkerboard statistics on synthetic kernels, and the F12/F13
targets in the test config."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_phases.analytic import checkerboard, layers, sweep
from ntk_phases.analytic import freeze_chaos as fc
from ntk_phases.claims import c8, schema
from ntk_phases.finite import batchnorm
from ntk_phases.numerics import fits, spectral

DROPOUT_RATE = 0.2  # the schema default of freeze_chaos.dropout_rate (only dropout variants use it)
NEWTON_ITERS = 60  # the schema default of theory.newton_iters (only the erf variants use it)


def test_standardized_relu_moments():
    mean, second = layers.gaussian_moments(layers.standardized_relu)
    assert abs(mean) < 1e-9
    assert abs(second - 1.0) < 1e-9
    # the plain ReLU is neither centred nor standardized (the check can fail)
    m_relu, s_relu = layers.gaussian_moments(lambda z: np.maximum(z, 0.0))
    assert m_relu == pytest.approx(1 / np.sqrt(2 * np.pi)) and s_relu == pytest.approx(0.5)
    # the closed-form dual kernel agrees with quadrature at q = 1: E φ² = 1
    assert float(layers._std_relu_nngp(1.0, 1.0, 1.0)) == pytest.approx(1.0, abs=1e-6)
    # and E φ(u) φ(v) = 0 for independent u, v (centred)
    assert float(layers._std_relu_nngp(0.0, 1.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_relu_depth1_matches_arccosine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7))
    x *= np.sqrt(7) / np.linalg.norm(x, axis=1, keepdims=True)
    spec = {"activation": "relu", "block": "plain", "sigma_w2": 2.0, "sigma_b2": 0.0}
    k = fc.depth_kernels(x, spec, [1], DROPOUT_RATE)
    # closed form: Σ¹ = 2 x·x'/d (unit q), ρ = cos θ; K² = 2·(sin θ + (π − θ) cos θ)/(2π) · q,
    # Θ² = K² + 2·Σ¹·(π − θ)/(2π)
    s1 = 2.0 * x @ x.T / 7
    q = np.sqrt(np.outer(np.diag(s1), np.diag(s1)))
    th = np.arccos(np.clip(s1 / q, -1, 1))
    k2 = 2.0 * q * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    ntk = k2 + 2.0 * s1 * (np.pi - th) / (2 * np.pi)
    np.testing.assert_allclose(k["ntk"][0], ntk, rtol=1e-10)
    np.testing.assert_allclose(spectral.normalized(k["ntk"][0]), spectral.normalized(ntk), rtol=1e-10)


def test_batchnorm_ntk_uses_the_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 10))
    x2 = x.copy()
    x2[3:] = rng.standard_normal((3, 10))  # same first point, other batch-mates
    bn_a = batchnorm.empirical_ntk_mlp(x, 32, 2, True, seed=0, sigma_w2=2.0, sigma_b2=0.1)
    bn_b = batchnorm.empirical_ntk_mlp(x2, 32, 2, True, seed=0, sigma_w2=2.0, sigma_b2=0.1)
    assert abs(bn_a[0, 0] - bn_b[0, 0]) > 1e-3 * abs(bn_a[0, 0])
    plain_a = batchnorm.empirical_ntk_mlp(x, 32, 2, False, seed=0, sigma_w2=2.0, sigma_b2=0.1)
    plain_b = batchnorm.empirical_ntk_mlp(x2, 32, 2, False, seed=0, sigma_w2=2.0, sigma_b2=0.1)
    np.testing.assert_allclose(plain_a[:3, :3], plain_b[:3, :3], rtol=1e-5)
    # with batch statistics, the batch of one is not the same network as the batch of 6
    assert np.all(np.isfinite(bn_a)) and np.allclose(bn_a, bn_a.T, rtol=1e-4, atol=1e-6)


def test_parity_ratio():
    img = np.ones((8, 8))
    assert checkerboard.parity_ratio(img) == pytest.approx(1.0)
    img[0::2, 0::2] = 2.0
    assert checkerboard.parity_ratio(img) == pytest.approx(2.0)
    assert checkerboard.parity_ratio(img, border=2) == pytest.approx(2.0)


def _synthetic(side: int, fn) -> np.ndarray:
    """Normalized kernel R_pq = fn(row/col of p, row/col of q), unit diagonal."""
    i, j, _, _ = checkerboard.pixel_grid(side)
    r = fn(i[:, None], j[:, None], i[None, :], j[None, :]).astype(float)
    np.fill_diagonal(r, 1.0)
    return r


def test_checkerboard_statistics_on_synthetic_kernels():
    side = 16
    # frozen and flat: every pair equally correlated -> no checkerboard, long-range
    flat = _synthetic(side, lambda i1, j1, i2, j2: 0.8 + 0 * (i1 + i2 + j1 + j2))
    assert checkerboard.parity_contrast(flat, side) == pytest.approx(0.0, abs=1e-12)
    assert checkerboard.far_correlation(flat, side) == pytest.approx(0.8)
    # checkerboard: pairs in the same (row, col) parity class more correlated, image-wide
    same = lambda i1, j1, i2, j2: ((i1 - i2) % 2 == 0) & ((j1 - j2) % 2 == 0)  # noqa: E731
    cb = _synthetic(side, lambda i1, j1, i2, j2: 0.6 + 0.2 * same(i1, j1, i2, j2))
    assert checkerboard.parity_contrast(cb, side) == pytest.approx(0.2)
    assert checkerboard.parity_contrast(cb, side, border=2) == pytest.approx(0.2)
    assert checkerboard.parity_contrast(cb, side) > 0.05  # the freeze prediction (default tolerance)
    # chaos: translation invariant and localized -> contrast O(ξ²/N) and no long range
    loc = _synthetic(side, lambda i1, j1, i2, j2: np.exp(-((i1 - i2) ** 2 + (j1 - j2) ** 2) / 2.0))
    assert checkerboard.parity_contrast(loc, side) < 0.02
    assert abs(checkerboard.far_correlation(loc, side)) < 1e-6
    # class means: 4 x 4, symmetric
    m = checkerboard.parity_class_means(cb, side)
    assert m.shape == (4, 4) and np.allclose(m, m.T) and np.allclose(np.diag(m), 0.8)


def test_relu_correlation_map_expansion():
    # f(c) = c + A (1 − c)^{3/2} + O((1 − c)^{5/2}), A = 2√2/(3π): the critical laws rest on A
    eps = np.array([1e-2, 1e-3, 1e-4])
    coef = (fc.relu_corr(1 - eps) - (1 - eps)) / eps**1.5
    np.testing.assert_allclose(coef, fc.RELU_A, rtol=3 * eps.max())
    assert abs(coef[-1] - fc.RELU_A) < abs(coef[0] - fc.RELU_A)
    # f'(c) = 2 E relu' relu' and the numpy maps agree with the jax dual kernels
    c = np.linspace(-0.9, 0.9, 7)
    h = 1e-6
    np.testing.assert_allclose((fc.relu_corr(c + h) - fc.relu_corr(c - h)) / (2 * h), fc.relu_corr_deriv(c), rtol=1e-6)
    np.testing.assert_allclose(fc.std_relu_corr(c), np.asarray(layers._std_relu_nngp(c, 1.0, 1.0)), atol=1e-12)
    np.testing.assert_allclose(fc.std_relu_corr_deriv(c), np.asarray(layers._std_relu_d_nngp(c, 1.0, 1.0)), atol=1e-12)


def _relu_scalar_rho(beta: float, depth: int, residual: bool = False, c0: float = 0.3) -> float:
    """Normalized NTK of one input pair by the scalar kernel recursions (σ_w² = 2)."""
    q, k = 2.0 + beta, 2.0 * c0 + beta
    tq, tk = q, k
    for _ in range(depth):
        c = k / q
        if residual:  # x + Dense(relu(x)); everything (β too) rescaled by 1/2 per block against overflow
            tk = (tk * (1 + fc.relu_corr_deriv(c)) + q * fc.relu_corr(c) + beta) / 2
            q, k, tq = (2 * q + beta) / 2, (q * (c + fc.relu_corr(c)) + beta) / 2, (2 * tq + q + beta) / 2
            beta /= 2
        else:
            q, k = q + beta, q * fc.relu_corr(c) + beta
            tq, tk = q + tq, k + fc.relu_corr_deriv(c) * tk
    return tk / tq


def test_critical_relu_limits():
    # σ_w² = 2 is critical for every β: ρ → 1/4 (β = 0), 4/7 (β > 0), unscaled residual → 1/4
    assert _relu_scalar_rho(0.0, 10000) == pytest.approx(0.25, abs=1e-3)
    assert _relu_scalar_rho(0.5, 10000) == pytest.approx(4 / 7, abs=2e-3)
    assert _relu_scalar_rho(0.1, 2000, residual=True) == pytest.approx(0.25, abs=0.01)
    pred = fc.prediction(
        {"activation": "relu", "block": "plain", "sigma_w2": 2.0, "sigma_b2": 0.5, "regime": "critical"},
        DROPOUT_RATE,
        NEWTON_ITERS,
    )
    assert pred["pred_regime"] == "critical" and pred["pred_limit"] == pytest.approx(4 / 7)


def test_fits_recover_synthetic_laws():
    depth = np.arange(10, 31)
    assert fits.fitted_rate(depth, 3.0 * depth * 0.8**depth, poly=1.0) == pytest.approx(0.8)
    assert fits.fitted_exponent(depth, 2.0 / depth) == pytest.approx(-1.0)
    assert fits.extrapolated_limit(depth, 0.97 - 2.0 * 0.9**depth, 0.9, 0.0) == pytest.approx(0.97)
    assert fits.rate_ok(measured=0.95, predicted=0.948, tol=0.2)
    assert not fits.rate_ok(measured=0.97, predicted=0.948, tol=0.2)
    # points below the float64 floor of 1 − ρ are left out, not fitted
    gap = np.where(depth < 20, 0.5**depth, 1e-9)
    assert fits.fitted_rate(depth, gap, floor=c8.GAP_FLOOR) == pytest.approx(0.5)


def test_reliable_depths_cut_at_the_first_drift():
    k = {"ntk": np.ones((4, 2, 2)), "nngp": np.ones((4, 2, 2)), "diag_err": np.array([0, 1e-9, 0.5, 0])}
    np.testing.assert_array_equal(fc.reliable_depths(k), [True, True, False, False])
    k["ntk"][1, 0, 0] = np.inf
    np.testing.assert_array_equal(fc.reliable_depths(k), [True, False, False, False])


def test_mean_field_predictions_match_kernels():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 12))
    x *= np.sqrt(12) / np.linalg.norm(x, axis=1, keepdims=True)
    depths = np.arange(1, 41)
    w = depths >= 20
    specs = [
        ({"activation": "relu", "block": "plain", "sigma_w2": 1.0, "sigma_b2": 0.5, "regime": "freeze"}, "freeze"),
        (
            {"activation": "std_relu", "block": "layernorm", "sigma_w2": 1.0, "sigma_b2": 0.1, "regime": "chaos"},
            "chaos",
        ),
    ]
    for spec, regime in specs:
        p = fc.prediction(spec, DROPOUT_RATE, NEWTON_ITERS)
        assert p["pred_regime"] == regime
        k = fc.depth_kernels(x, spec, depths, DROPOUT_RATE)
        rho = spectral.pair_stats(k["ntk"])
        gap = 1 - rho["corr_mean"] if regime == "freeze" else rho["corr_mean"]
        assert fits.fitted_rate(depths[w], gap[w], p["pred_poly"]) == pytest.approx(p["pred_rate"], rel=0.02)
        if regime == "chaos":  # NNGP correlation → c*, spread of ρ at χ_c*/χ₁
            assert rho["corr_mean"][-1] < 1e-3
            assert spectral.pair_stats(k["nngp"])["corr_mean"][-1] == pytest.approx(p["c_star"], abs=1e-3)
            assert fits.fitted_rate(depths[w], rho["corr_std"][w], 1.0) == pytest.approx(p["pred_std_rate"], rel=0.05)
    # dropout: ρ ≈ c*/((1 − χ_c*) l)
    spec = {"activation": "relu", "block": "dropout", "sigma_w2": 2.0, "sigma_b2": 0.1, "regime": "chaos"}
    p = fc.prediction(spec, dropout_rate=0.2, newton_iters=NEWTON_ITERS)
    rho = spectral.pair_stats(fc.depth_kernels(x, spec, depths, dropout_rate=0.2)["ntk"])["corr_mean"]
    assert depths[-1] * rho[-1] == pytest.approx(p["pred_l_rho"], rel=0.05)


def test_variant_specs_parameterizations():
    cfg = {
        "relu_sigma_b2": [0, 1],
        "relu_vp_sigma_b2": [0.5],
        "erf_sigma_w2": [1.0],
        "erf_sigma_b2": 0.05,
        "norm_sigma_b2": 0.1,
    }
    specs = {s["name"]: s for s in fc.variant_specs(cfg)}
    assert specs["relu_vp_b0.5"]["sigma_w2"] == pytest.approx(1.0)
    assert specs["relu_centred"]["sigma_w2"] == pytest.approx(0.9)  # q* = 1
    assert c8.duplicate_variants(list(specs.values())) == set()
    cfg["relu_sigma_b2"] = [0.1]
    assert c8.duplicate_variants(fc.variant_specs(cfg)) == {"relu_plain"}
    with pytest.raises(ValueError):
        fc.variant_specs({**cfg, "norm_sigma_b2": 1.0})


# ----------------------------------------------------------------------------- the shared depth loop

#: one spec per block kind (and activation family) of the variants
LOOP_SPECS = [
    {"activation": "relu", "block": "plain", "sigma_w2": 2.0, "sigma_b2": 0.5},
    {"activation": "erf", "block": "plain", "sigma_w2": 4.0, "sigma_b2": 0.05},
    {"activation": "std_relu", "block": "plain", "sigma_w2": 0.9, "sigma_b2": 0.1},
    {"activation": "std_relu", "block": "layernorm", "sigma_w2": 1.0, "sigma_b2": 0.1},
    {"activation": "relu", "block": "dropout", "sigma_w2": 2.0, "sigma_b2": 0.1},
    {"activation": "relu", "block": "residual", "sigma_w2": 2.0, "sigma_b2": 0.1},
]


def _unit_inputs(n=6, d=12, seed=4):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x * np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("spec", LOOP_SPECS, ids=lambda s: f"{s['activation']}-{s['block']}")
def test_depth_kernels_equal_stax_serial(spec):
    """The kernels of the one depth loop (pinned) are those of neural-tangents' own
    network of each depth, built here from stax directly: to 1e-12 relative for smooth φ,
    1e-7 for ReLU-type φ (their arccos dual kernel at self-correlation 1 − ε resolves only
    √ε ~ 1e-8, which unpinned stax pays and the pinned loop does not)."""
    from neural_tangents import stax

    x = _unit_inputs()
    depths = [1, 2, 3, 5]
    k = fc.depth_kernels(x, spec, depths, DROPOUT_RATE)
    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    phi = {"relu": stax.Relu(), "erf": stax.Erf(), "std_relu": layers.std_relu_layer()}[spec["activation"]]
    block = {
        "plain": lambda: [stax.Dense(1, W_std=sw, b_std=sb), phi],
        "layernorm": lambda: [stax.Dense(1, W_std=sw, b_std=sb), stax.LayerNorm(), phi],
        "dropout": lambda: [stax.Dense(1, W_std=sw, b_std=sb), phi, stax.Dropout(1 - DROPOUT_RATE, mode="train")],
        "residual": lambda: [
            stax.serial(
                stax.FanOut(2),
                stax.parallel(stax.Identity(), stax.serial(phi, stax.Dense(1, W_std=sw, b_std=sb))),
                stax.FanInSum(),
            )
        ],
    }[spec["block"]]
    first = [stax.Dense(1, W_std=1.0, b_std=0.0)] if spec["block"] == "residual" else []
    rtol = 1e-12 if spec["activation"] == "erf" else 1e-7
    for i, depth in enumerate(depths):
        net = first + [layer for _ in range(depth) for layer in block()] + [stax.Dense(1, W_std=sw, b_std=sb)]
        ref = stax.serial(*net)[2](x, None, ("nngp", "ntk"))
        np.testing.assert_allclose(k["nngp"][i], ref.nngp, rtol=rtol, atol=0)
        np.testing.assert_allclose(k["ntk"][i], ref.ntk, rtol=rtol, atol=0)
    # pinning is exact for every block: the NNGP diagonal and cov1 agree before each pin
    assert k["diag_err"].max() < 1e-14


def test_pinned_diagonal_is_cov1_and_deep_chaos_stays_reliable():
    """Pinned, the carried Kernel's NNGP diagonal *is* cov1 after every layer; deep in
    chaos (erf, σ_w² = 4, χ₁ ≈ 2.6) the unpinned loop's diagonal drifts off cov1 by O(1) and
    its depths are cut, while the pinned one stays finite and reliable at every depth."""
    from neural_tangents import stax

    x = _unit_inputs(8, 16, seed=0)
    spec = {"activation": "erf", "block": "plain", "sigma_w2": 4.0, "sigma_b2": 0.05, "regime": "chaos"}
    _, _, hid = stax.serial(*fc.block_layers(spec, DROPOUT_RATE))
    k0 = sweep.pin_diagonal(stax.Identity()[2](x, None, get=None))
    seen = []
    for _, k in sweep.depth_loop(k0, lambda k: sweep.pin_diagonal(hid(k)), lambda k: k, [1, 10, 40]):
        np.testing.assert_array_equal(np.diagonal(np.asarray(k.nngp)), np.asarray(k.cov1))
        assert float(sweep.diagonal_drift(k)) == 0.0
        seen.append(k)
    assert len(seen) == 3

    depths = np.arange(1, 121)
    pinned = fc.depth_kernels(x, spec, depths, DROPOUT_RATE)
    loose = fc.depth_kernels(x, spec, depths, DROPOUT_RATE, pin=False)
    assert np.isfinite(pinned["ntk"]).all() and np.isfinite(pinned["nngp"]).all()
    assert fc.reliable_depths(pinned).all() and pinned["diag_err"].max() < 1e-14
    assert loose["diag_err"][-1] > 1e-2 and not fc.reliable_depths(loose).all()
    # where the unpinned diagonal is still exact, both agree
    early = loose["diag_err"] < 1e-12
    assert early[:15].all()
    np.testing.assert_allclose(pinned["ntk"][early], loose["ntk"][early], rtol=1e-8)
    # the pinned normalized NTK stays a correlation matrix at depth 120: unit diagonal, |ρ| <= 1
    r = spectral.normalized(pinned["ntk"][-1])
    np.testing.assert_allclose(np.diagonal(r), 1.0, rtol=1e-14)
    assert np.abs(r).max() <= 1 + 1e-12


def test_c8_rows_carry_their_condition():
    """claims.c8 builds rows of the one schema (moved from test_claims: the adapter that
    guessed a condition from quantity/note is gone): each row states its condition, and
    that condition, recomputed from predicted/measured/tolerance, reproduces `passed`."""
    import pandas as pd

    depth = np.arange(1, 13)
    base = {
        "family": "erf",
        "block": "plain",
        "regime": "",
        "diag_err": 0.0,
        "ntk_diag": 1.0,
        "chi_1": 0.8,
        "chi_c": 0.8,
        "c_star": 1.0,
        "pred_limit": 1.0,
        "pred_std_rate": np.nan,
        "pred_exponent": np.nan,
        "pred_l_rho": np.nan,
        "pred_law_slope": np.nan,
        "pred_growth": np.nan,
        "pred_note": "",
    }
    freeze = pd.DataFrame(
        {
            **base,
            "variant": "erf_w1",
            "activation": "erf",
            "sigma_w2": 1.0,
            "sigma_b2": 0.05,
            "depth": depth,
            "rho_mean": 1 - 0.3 * depth * 0.8**depth,
            "rho_std": 0.01,
            "nngp_diag": 1.0,
            "c_mean": 0.9,
            "c_gap_isqrt": 3.0,
            "pred_regime": "freeze",
            "pred_rate": 0.8,
            "pred_poly": 1.0,
        }
    )
    chaos = freeze.assign(
        variant="erf_w4",
        sigma_w2=4.0,
        rho_mean=0.5 * 0.6**depth,
        pred_regime="chaos",
        pred_rate=0.6,
        pred_poly=0.0,
        chi_1=2.6,
    )
    checker = pd.DataFrame(
        [
            {"regime": r, "depth": 2, "activation": "relu", "sigma_w2": 2.0, "sigma_b2": 0.1, "parity_ratio": 1.0}
            | {"parity_contrast": c, "parity_contrast_interior": c, "far_corr": f}
            for r, c, f in (("freeze", 0.2, 0.8), ("chaos", 0.3, 0.02))
        ]
    )
    empirical = pd.DataFrame(
        [
            {"batchnorm": bn, "width": 32, "depth": 4, "seed": s, "sigma_b2": 0.1, "rho_mean": 0.2 + 0.5 * (not bn) + s}
            for bn in (False, True)
            for s in (0, 0.01)
        ]
    )
    tol = {
        "freeze_limit": 0.05,
        "rate_rel": 0.1,
        "chaos_gap": 0.1,
        "edge_limit": 0.1,
        "checker": 0.05,
        "checker_far_freeze": 0.5,
        "checker_far_chaos": 0.1,
    }
    rows = c8.claims_c8(pd.concat([freeze, chaos], ignore_index=True), empirical, checker, {"tolerances": tol})
    assert list(rows.columns) == schema.COLUMNS and schema.schema_violations(rows) == []
    assert set(rows["claim"]) == {"C8"} and rows["condition"].map(bool).all()
    by = {(r["arch"], r["quantity"][:20]): r["condition"] for r in rows.to_dict("records")}
    assert by[("erf_w1", "per-layer factor r o")] == schema.LOG_REL
    assert by[("erf_w1", "extrapolated lim rho")] == schema.ABS
    assert by[("deconv_chaos", "parity contrast of n")] == "measured <= tolerance"
    assert by[("deconv_freeze", "mean normalized outp")] == "measured >= tolerance"
    for r in rows.to_dict("records"):
        assert schema.CONDITIONS[r["condition"]](r["predicted"], r["measured"], r["tolerance"]) == r["passed"], r
    # the synthetic laws are exact: the freeze and chaos rates pass; chaos parity contrast fails
    assert rows["passed"].sum() >= len(rows) - 1
