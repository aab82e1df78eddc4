"""The fitters and tolerance checks of the claims (numerics.fits) and η = f · 2/λ_max."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntk_phases.numerics import fits, predictions


def test_rel_ok_is_relative_to_the_prediction_and_keyword_only():
    assert fits.rel_ok(measured=1.04, predicted=1.0, tol=0.05)
    assert not fits.rel_ok(measured=1.0, predicted=0.9, tol=0.1)  # 0.1 > 0.1 * 0.9
    assert fits.rel_ok(measured=0.9, predicted=1.0, tol=0.1)
    with pytest.raises(TypeError):
        fits.rel_ok(1.0, 0.9, 0.1)  # measured and predicted must be named
    with pytest.raises(TypeError):
        fits.rate_ok(0.95, 0.948, 0.2)


def test_rate_ok_compares_logs_and_needs_positive_rates():
    assert fits.rate_ok(measured=0.95, predicted=0.948, tol=0.2)
    assert not fits.rate_ok(measured=0.97, predicted=0.948, tol=0.2)
    assert not fits.rate_ok(measured=-0.5, predicted=0.948, tol=10.0)


def test_log_slope_is_fitted_rate_without_power_law():
    d = np.arange(0, 12)
    y = 3.0 * 0.7**d * (1 + 1e-3 * np.sin(d))
    assert fits.log_slope(d, y) == fits.fitted_rate(d, y, floor=-np.inf)
    assert fits.log_slope(d, y) == pytest.approx(0.7, rel=1e-3)
    assert fits.log_slope(d[1:], y[1:]) == fits.fitted_rate(d[1:], y[1:])  # depth 0 allowed above
    assert math.isnan(fits.log_slope(d[:2], y[:2]))


def test_eta_is_factor_times_two_over_lambda_max():
    assert predictions.eta_from_lambda_max(4.0) == 0.5
    np.testing.assert_array_equal(predictions.eta_from_lambda_max([2.0, 8.0], 0.5), [0.5, 0.125])
