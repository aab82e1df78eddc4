"""Freeze/chaos stage: standardized nonlinearity, BatchNorm empirical NTK, arc-cosine
check, and the F12/F13 targets in the test config."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_phases import freeze_chaos as fc

from conftest import ROOT, snakemake


def test_standardized_relu_moments():
    mean, second = fc.gaussian_moments(fc.standardized_relu)
    assert abs(mean) < 1e-9
    assert abs(second - 1.0) < 1e-9
    # the plain ReLU is neither centred nor standardized (the check can fail)
    m_relu, s_relu = fc.gaussian_moments(lambda z: np.maximum(z, 0.0))
    assert m_relu == pytest.approx(1 / np.sqrt(2 * np.pi)) and s_relu == pytest.approx(0.5)
    # the closed-form dual kernel agrees with quadrature at q = 1: E φ² = 1
    assert float(fc._std_relu_nngp(1.0, 1.0, 1.0)) == pytest.approx(1.0, abs=1e-6)
    # and E φ(u) φ(v) = 0 for independent u, v (centred)
    assert float(fc._std_relu_nngp(0.0, 1.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


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
    bn_a = fc.empirical_ntk(x, 32, 2, True, seed=0)
    bn_b = fc.empirical_ntk(x2, 32, 2, True, seed=0)
    assert abs(bn_a[0, 0] - bn_b[0, 0]) > 1e-3 * abs(bn_a[0, 0])
    plain_a = fc.empirical_ntk(x, 32, 2, False, seed=0)
    plain_b = fc.empirical_ntk(x2, 32, 2, False, seed=0)
    np.testing.assert_allclose(plain_a[:3, :3], plain_b[:3, :3], rtol=1e-5)
    # with batch statistics, the batch of one is not the same network as the batch of 6
    assert np.all(np.isfinite(bn_a)) and np.allclose(bn_a, bn_a.T, rtol=1e-4, atol=1e-6)


def test_parity_ratio():
    img = np.ones((8, 8))
    assert fc.parity_ratio(img) == pytest.approx(1.0)
    img[0::2, 0::2] = 2.0
    assert fc.parity_ratio(img) == pytest.approx(2.0)
    assert fc.parity_ratio(img, border=2) == pytest.approx(2.0)


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
