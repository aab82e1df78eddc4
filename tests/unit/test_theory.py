"""Mean-field theory against closed forms (Erf, ReLU) and internal identities."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntk_phases.analytic import meanfield

SW = np.array([0.3, 0.8, 1.2, 1.5, 1.76, 2.0, 2.5, 3.0, 4.0])
SB = np.array([0.0, 0.05, 0.18, 0.3])
NEWTON_ITERS = 60  # the schema default of theory.newton_iters


@pytest.fixture(scope="module")
def erf():
    return meanfield.phase_diagram("erf", SW, SB, None, NEWTON_ITERS)


def test_erf_q_star_is_a_fixed_point_of_the_closed_form_q_map(erf):
    q, sw, sb = erf["q_star"], erf["sigma_w2"], erf["sigma_b2"]
    q_next = sw * (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)) + sb
    assert np.all(erf["bounded"])
    assert np.max(np.abs(q_next - q)) < 1e-10


def test_erf_chi_1_closed_form(erf):
    q, sw = erf["q_star"], erf["sigma_w2"]
    expected = sw * 4 / (np.pi * np.sqrt(1 + 4 * q))
    np.testing.assert_allclose(erf["chi_1"], expected, rtol=1e-10)


def test_erf_c_star_is_a_fixed_point_of_the_closed_form_c_map(erf):
    q, c, sw, sb = erf["q_star"], erf["c_star"], erf["sigma_w2"], erf["sigma_b2"]
    chaotic = erf["phase"] == "chaotic"
    assert chaotic.sum() > 5 and (~chaotic).sum() > 5
    with np.errstate(invalid="ignore", divide="ignore"):  # q* = 0 in the ordered phase at σ_b² = 0
        c_next = (sw * (2 / np.pi) * np.arcsin(2 * q * c / (1 + 2 * q)) + sb) / q
    np.testing.assert_allclose(c_next[chaotic], c[chaotic], atol=1e-10)
    assert np.all(c[chaotic] < 1) and np.all(c[~chaotic] == 1)
    # c* is stable: the slope of the correlation map there is below 1
    assert np.all(erf["chi_c"] < 1 + 1e-12)


def test_erf_chi_c_closed_form(erf):
    q, c, sw = erf["q_star"], erf["c_star"], erf["sigma_w2"]
    # Ṫ for erf: (4/π) / sqrt((1+2q)^2 - 4 q^2 c^2)
    expected = sw * (4 / np.pi) / np.sqrt((1 + 2 * q) ** 2 - 4 * (q * c) ** 2)
    np.testing.assert_allclose(erf["chi_c"], expected, rtol=1e-9)


def test_chi_c_equals_autodiff_slope_of_the_correlation_map(erf):
    # Price's theorem: σ_w² Ṫ(q, qc) is dT/dc of the normalized map; checked by autodiff.
    i = np.flatnonzero((erf["phase"] == "chaotic") & (erf["sigma_b2"] > 0))[:4]
    for k in i:
        q, c, sw, sb = (float(erf[n][k]) for n in ("q_star", "c_star", "sigma_w2", "sigma_b2"))
        slope = jax.grad(meanfield.c_map, argnums=1)("erf", c, q, sw, sb, None)
        assert abs(float(slope) - erf["chi_c"][k]) < 1e-10


def test_erf_critical_sigma_w2_at_sigma_b2_018():
    sw = np.linspace(1.6, 1.9, 301)
    d = meanfield.phase_diagram("erf", sw, [0.18], None, NEWTON_ITERS)
    crit = np.interp(1.0, d["chi_1"], sw)
    assert abs(crit - 1.76) < 0.02, crit


def test_relu_closed_forms():
    sw = np.array([0.5, 1.0, 1.5, 1.9])
    sb = np.array([0.05, 0.18])
    d = meanfield.phase_diagram("relu", sw, sb, None, NEWTON_ITERS)
    np.testing.assert_allclose(d["chi_1"], d["sigma_w2"] / 2, rtol=1e-12)
    np.testing.assert_allclose(d["q_star"], d["sigma_b2"] / (1 - d["sigma_w2"] / 2), rtol=1e-10)
    assert np.all(d["phase"] == "ordered") and np.all(d["c_star"] == 1)


def test_relu_beyond_sigma_w2_2_is_unbounded():
    d = meanfield.phase_diagram("relu", [2.5, 3.0], [0.0, 0.1], None, NEWTON_ITERS)
    assert np.all(~d["bounded"]) and np.all(np.isinf(d["q_star"]))
    assert np.all(d["phase"] == "unbounded")


def test_tanh_dual_against_independent_quadrature():
    q, c = 0.7, 0.4
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    u = np.sqrt(q) * z[:, None]
    v = np.sqrt(q) * (c * z[:, None] + np.sqrt(1 - c**2) * z[None, :])
    ww = w[:, None] * w[None, :]
    T12 = (ww * np.tanh(u) * np.tanh(v)).sum()
    Td12 = (ww / np.cosh(u) ** 2 / np.cosh(v) ** 2).sum()
    T, Td = meanfield.dual_maps("tanh", 64)(q * np.array([[1.0, c], [c, 1.0]]))
    assert abs(float(T[0, 1]) - T12) < 1e-9
    assert abs(float(Td[0, 1]) - Td12) < 1e-9


def test_tanh_fixed_points_are_fixed():
    d = meanfield.phase_diagram("tanh", [1.0, 2.0, 3.0], [0.05, 0.2], 64, 60)
    assert np.max(d["q_residual"]) < 1e-10 and np.max(d["c_residual"]) < 1e-10
    assert set(d["phase"]) == {"ordered", "chaotic"}


@pytest.mark.parametrize("activation", ["erf", "relu", "tanh"])
def test_cross_maps_equal_the_off_diagonal_of_the_2x2_dual(activation):
    """The 1 × 1 cross-kernel the c* iteration uses is the off-diagonal entry of the full
    2 × 2 kernel map, for T and for Ṫ."""
    cross = meanfield.cross_maps(activation, 64)
    dual = meanfield.dual_maps(activation, 64)
    for q, c in [(0.3, 0.0), (0.7, 0.4), (2.0, 0.95), (5.0, -0.6)]:
        T, Td = cross(q, c)
        T2, Td2 = dual(q * np.array([[1.0, c], [c, 1.0]]))
        assert abs(float(T) - float(T2[0, 1])) < 1e-13 * max(1.0, abs(float(T2[0, 1])))
        assert abs(float(Td) - float(Td2[0, 1])) < 1e-13 * max(1.0, abs(float(Td2[0, 1])))


def test_newton_stops_at_the_rounding_floor():
    """A map whose steps halve down to a 1e-11 noise floor (as the c* iteration's do near
    the critical line, where h' is small): the loop stops once steps stop shrinking there,
    close to the root, instead of running to the iteration cap."""

    def update(x):
        return 0.5 * (x + 0.3) + 1e-11 * jax.numpy.sin(1e13 * x)

    x, iters = jax.jit(lambda x0: meanfield._newton(update, x0, 1000))(0.0)
    assert abs(float(x) - 0.3) < 5e-11  # within a few noise amplitudes of the root
    assert int(iters) < 100  # without the stall rule: all 1000


def test_tanh_near_critical_points_converge_before_the_cap():
    """Near-critical tanh points whose c* Newton steps sat at ~1e-13 until all 60 allowed
    iterations were spent (measured before the stall rule): now each stops well before."""
    # grid points of config.yaml's theory grid: σ_w² 1.87, 2.06, 2.25, 2.31; σ_b² 0.07-0.21
    sw = np.linspace(0.05, 3.0, 48)[[29, 32, 35, 36]]
    sb = np.linspace(0.01, 0.25, 25)[[6, 11, 17, 20]]
    d = meanfield.phase_diagram("tanh", sw, sb, 64, 60)
    assert (d["phase"] == "chaotic").sum() >= 4
    assert np.max(d["c_residual"]) < 1e-12
    assert np.max(d["c_iterations"]) < 60 and np.max(d["q_iterations"]) < 60


def test_depth_scales():
    s = meanfield.depth_scales(np.array([0.5, 2.0]), np.array([0.5, 0.8]))
    assert s["xi_1"][0] == pytest.approx(-1 / np.log(0.5)) and np.isnan(s["xi_1"][1])
    assert np.isnan(s["xi_star"][0])
    assert s["xi_star"][1] == pytest.approx(-1 / (np.log(0.8) - np.log(2.0)))
    assert s["xi_c"][1] == pytest.approx(-1 / np.log(0.8))


def test_correlation_trajectory_converges_at_rate_chi_c():
    sw, sb = 2.5, 0.05
    d = meanfield.phase_diagram("erf", [sw], [sb], None, 60)
    cs = meanfield.correlation_trajectory("erf", sw, sb, c0=0.9, depth=80, quadrature_degree=None, newton_iters=60)
    gaps = np.abs(cs - d["c_star"][0])
    assert gaps[80] < 1e-3 * gaps[0]
    # asymptotically the gap shrinks by χ_c* per layer (linearization at c*)
    rate = gaps[71] / gaps[70]
    assert abs(rate - d["chi_c"][0]) < 1e-3


def test_grid_batches_give_the_same_table(monkeypatch):
    """The grid is solved in batches of points (bounded memory for the quadrature-based
    tanh); the batch size, and a last batch that is not full, change nothing."""
    sw, sb = np.linspace(0.5, 3.0, 7), np.array([0.05, 0.2])
    whole = meanfield.phase_diagram("tanh", sw, sb, 32, 40)
    monkeypatch.setattr(meanfield, "QUADRATURE_ELEMENTS_PER_BATCH", 3 * 32**2)
    meanfield._fixed_points_fn.cache_clear()
    assert meanfield.grid_batch_size("tanh", 32) == 3  # 14 points: batches of 3, 3, 3, 3, 2
    batched = meanfield.phase_diagram("tanh", sw, sb, 32, 40)
    meanfield._fixed_points_fn.cache_clear()
    for key in ("q_star", "c_star", "chi_1", "chi_c"):
        np.testing.assert_allclose(batched[key], whole[key], rtol=1e-13, atol=1e-15, err_msg=key)
    assert (batched["phase"] == whole["phase"]).all()
