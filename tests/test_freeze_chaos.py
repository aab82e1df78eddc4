"""Freeze/chaos stage: standardized nonlinearity, BatchNorm empirical NTK, arc-cosine
check, the mean-field predictions (limits, rates, laws) against scalar recursions and
analytic kernels, the checkerboard statistics on synthetic kernels, and the F12/F13
targets in the test config."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_phases import freeze_chaos as job
from ntk_phases.analytic import checkerboard, layers
from ntk_phases.analytic import freeze_chaos as fc
from ntk_phases.numerics import fits


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
    k = fc.depth_kernels(x, spec, [1])
    # closed form: Σ¹ = 2 x·x'/d (unit q), ρ = cos θ; K² = 2·(sin θ + (π − θ) cos θ)/(2π) · q,
    # Θ² = K² + 2·Σ¹·(π − θ)/(2π)
    s1 = 2.0 * x @ x.T / 7
    q = np.sqrt(np.outer(np.diag(s1), np.diag(s1)))
    th = np.arccos(np.clip(s1 / q, -1, 1))
    k2 = 2.0 * q * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    ntk = k2 + 2.0 * s1 * (np.pi - th) / (2 * np.pi)
    np.testing.assert_allclose(k["ntk"][0], ntk, rtol=1e-10)
    np.testing.assert_allclose(fc.normalized(k["ntk"][0]), fc.normalized(ntk), rtol=1e-10)


def test_batchnorm_ntk_uses_the_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 10))
    x2 = x.copy()
    x2[3:] = rng.standard_normal((3, 10))  # same first point, other batch-mates
    bn_a = job.empirical_ntk_mlp(x, 32, 2, True, seed=0)
    bn_b = job.empirical_ntk_mlp(x2, 32, 2, True, seed=0)
    assert abs(bn_a[0, 0] - bn_b[0, 0]) > 1e-3 * abs(bn_a[0, 0])
    plain_a = job.empirical_ntk_mlp(x, 32, 2, False, seed=0)
    plain_b = job.empirical_ntk_mlp(x2, 32, 2, False, seed=0)
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
        {"activation": "relu", "block": "plain", "sigma_w2": 2.0, "sigma_b2": 0.5, "regime": "critical"}
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
    assert fits.fitted_rate(depth, gap, floor=job.GAP_FLOOR) == pytest.approx(0.5)


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
        p = fc.prediction(spec)
        assert p["pred_regime"] == regime
        k = fc.depth_kernels(x, spec, depths)
        rho = fc.pair_stats(k["ntk"])
        gap = 1 - rho["corr_mean"] if regime == "freeze" else rho["corr_mean"]
        assert fits.fitted_rate(depths[w], gap[w], p["pred_poly"]) == pytest.approx(p["pred_rate"], rel=0.02)
        if regime == "chaos":  # NNGP correlation → c*, spread of ρ at χ_c*/χ₁
            assert rho["corr_mean"][-1] < 1e-3
            assert fc.pair_stats(k["nngp"])["corr_mean"][-1] == pytest.approx(p["c_star"], abs=1e-3)
            assert fits.fitted_rate(depths[w], rho["corr_std"][w], 1.0) == pytest.approx(p["pred_std_rate"], rel=0.05)
    # dropout: ρ ≈ c*/((1 − χ_c*) l)
    spec = {"activation": "relu", "block": "dropout", "sigma_w2": 2.0, "sigma_b2": 0.1, "regime": "chaos"}
    p = fc.prediction(spec, dropout_rate=0.2)
    rho = fc.pair_stats(fc.depth_kernels(x, spec, depths, dropout_rate=0.2)["ntk"])["corr_mean"]
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
    assert job.duplicate_variants(list(specs.values())) == set()
    cfg["relu_sigma_b2"] = [0.1]
    assert job.duplicate_variants(fc.variant_specs(cfg)) == {"relu_plain"}
    with pytest.raises(ValueError):
        fc.variant_specs({**cfg, "norm_sigma_b2": 1.0})


@pytest.mark.slow
def test_f12_f13_targets_build(test_config_run):
    workflow_copy, r = test_config_run  # the shared end-to-end run of config/test.yaml
    assert r.returncode == 0, r.stderr[-3000:]
    for fig in ("F12", "F13"):
        for ext in ("pdf", "png"):
            assert (workflow_copy / f"results/test/figures/{fig}.{ext}").stat().st_size > 1000
    import pandas as pd

    claims = pd.read_csv(workflow_copy / "results/test/metrics/claims_c8.csv")
    assert set(claims["claim"]) == {"C8"} and len(claims) > 5
    assert claims["measured"].notna().all()
    checker = claims[claims["arch"].str.startswith("deconv_")]
    assert len(checker) == 4 and checker["quantity"].str.contains("parity contrast").sum() == 2
    table = pd.read_csv(workflow_copy / "results/test/freeze_chaos/checkerboard.csv")
    assert {"parity_contrast", "far_corr", "parity_ratio"} <= set(table.columns)
