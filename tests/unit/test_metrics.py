"""Tests of the kernel metrics: spectra, predictors, expected accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_phases.analytic import layers
from ntk_phases.analytic.sweep import depth_sweep
from ntk_phases.numerics import predictions, spectral, streaming
from ntk_phases.tables import INFINITE_COLUMNS


def _orthogonal(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q


def _targets(labels, n_classes):
    y = np.eye(n_classes)[labels]
    return y - y.mean(axis=0)


def _well_conditioned(n, seed):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a @ a.T / n + np.eye(n)


# ---------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------


def test_spectrum_of_known_matrix():
    q = _orthogonal(5, 0)
    evals = np.array([1.0, 2.0, 3.0, 7.0, 10.0])
    a = q @ np.diag(evals) @ q.T
    b = q @ np.diag(evals * 3.0 + 1.0) @ q.T
    spec = spectral.spectrum(np.stack([a, b]))
    np.testing.assert_allclose(spec["lambda_min"], [1.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(spec["lambda_max"], [10.0, 31.0], rtol=1e-12)
    np.testing.assert_allclose(spec["kappa"], [10.0, 31.0 / 4.0], rtol=1e-12)
    assert not spec["singular"].any()


def test_singular_rank_one_is_flagged_not_nan():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(8)
    theta = np.outer(v, v)
    spec = spectral.spectrum(theta)
    assert bool(spec["singular"])
    rcond = spectral.default_rcond(8)
    assert np.isfinite(spec["kappa"]) and spec["kappa"] == pytest.approx(1.0 / rcond)
    assert spec["lambda_min"] == pytest.approx(rcond * spec["lambda_max"])
    # predictors on a singular kernel stay finite
    y = _targets(rng.integers(0, 3, 8), 3)
    ktd = rng.standard_normal((4, 1)) * v[None, :]
    p = predictions.mean_predictor(theta, ktd, y)
    assert np.all(np.isfinite(p))
    flow = predictions.gradient_flow(theta, ktd, y, [0.0, 5.0, np.inf])
    assert np.all(np.isfinite(flow["train"])) and np.all(np.isfinite(flow["test"]))
    mom = predictions.predictive_moments(theta, ktd, theta, ktd, np.full(4, v @ v), y, [1.0, np.inf])
    for key in ("test_mean", "test_var", "train_mean", "train_var"):
        assert np.all(np.isfinite(mom[key])), key


def test_non_finite_and_degenerate_inputs_raise():
    theta = _well_conditioned(4, 0)
    bad = theta.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        spectral.spectrum(bad)
    with pytest.raises(ValueError, match="non-finite"):
        predictions.mean_predictor(theta, np.full((2, 4), np.inf), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="λ_max"):
        spectral.spectrum(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        spectral.spectrum(np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        predictions.expected_accuracy(np.full((2, 3), np.nan), np.ones(2), [0, 1])


def test_ntk_diag_offdiag():
    theta = np.array([[2.0, 1.0, 3.0], [1.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    diag, off = spectral.ntk_diag_offdiag(np.stack([theta, 2 * theta]))
    np.testing.assert_allclose(diag, [4.0, 8.0])
    np.testing.assert_allclose(off, [3.0, 6.0])


# ---------------------------------------------------------------------------
# predictions
# ---------------------------------------------------------------------------


def test_gradient_flow_limits():
    rng = np.random.default_rng(2)
    n, m = 12, 5
    joint = _well_conditioned(n + m, 3)
    theta, ktd = joint[:n, :n], joint[n:, :n]
    y = _targets(rng.integers(0, 3, n), 3)
    flow = predictions.gradient_flow(theta, ktd, y, [0.0, 1e8, np.inf])
    np.testing.assert_allclose(flow["train"][0], 0.0, atol=1e-15)
    np.testing.assert_allclose(flow["train"][1], y, atol=1e-12)
    np.testing.assert_allclose(flow["train"][2], y, atol=1e-12)
    p = predictions.mean_predictor(theta, ktd, y)
    np.testing.assert_allclose(p, ktd @ np.linalg.solve(theta, y), rtol=1e-10)
    np.testing.assert_allclose(flow["test"][2], p, rtol=1e-10)
    np.testing.assert_allclose(flow["test"][1], p, rtol=1e-8)
    lmax = np.linalg.eigvalsh(theta)[-1]
    assert flow["learning_rate"] == pytest.approx(2.0 / lmax)
    # slowest mode: after t steps the train residual along it is e^{-η λ_min t}
    evals, evecs = np.linalg.eigh(theta)
    t = 3.0
    resid = y - predictions.gradient_flow(theta, ktd, y, t)["train"][0]
    along = evecs[:, 0] @ resid
    np.testing.assert_allclose(along, np.exp(-2.0 / lmax * evals[0] * t) * (evecs[:, 0] @ y), rtol=1e-10)


def _fcn_blocks(x_train, x_test, sigma_w2=1.5, sigma_b2=0.1, depth=3):
    _, _, kernel_fn = layers.stax_network("fcn", "erf", depth, np.sqrt(sigma_w2), np.sqrt(sigma_b2))
    dd = kernel_fn(x_train, None, ("nngp", "ntk"))
    td = kernel_fn(x_test, x_train, ("nngp", "ntk"))
    tt = kernel_fn(x_test, None, ("nngp", "ntk"))
    return kernel_fn, dd, td, tt


def test_matches_neural_tangents_predict():
    import neural_tangents as nt

    rng = np.random.default_rng(4)
    x_train, x_test = rng.standard_normal((10, 3, 3, 1)), rng.standard_normal((4, 3, 3, 1))
    y = _targets(rng.integers(0, 3, 10), 3)
    kernel_fn, dd, td, tt = _fcn_blocks(x_train, x_test)
    theta, ktd = np.asarray(dd.ntk), np.asarray(td.ntk)
    ts = np.array([0.5, 3.0, 40.0])
    eta = 2.0 / np.linalg.eigvalsh(theta)[-1]
    nt_lr = eta * y.size  # nt.predict divides time by y_train.size

    predict = nt.predict.gradient_descent_mse(theta, y, learning_rate=nt_lr)
    fx_train, fx_test = predict(ts, 0.0, 0.0, ktd)
    flow = predictions.gradient_flow(theta, ktd, y, ts)
    np.testing.assert_allclose(flow["train"], fx_train, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(flow["test"], fx_test, rtol=1e-9, atol=1e-12)

    ensemble = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y, learning_rate=nt_lr)
    out = ensemble(ts, x_test, "ntk", compute_cov=True)
    mom = predictions.predictive_moments(
        theta,
        ktd,
        np.asarray(dd.nngp),
        np.asarray(td.nngp),
        np.diag(np.asarray(tt.nngp)),
        y,
        ts,
    )
    np.testing.assert_allclose(mom["test_mean"], out.mean, rtol=1e-9, atol=1e-12)
    nt_var = np.diagonal(np.asarray(out.covariance), axis1=-2, axis2=-1)
    np.testing.assert_allclose(mom["test_var"], nt_var, rtol=1e-8, atol=1e-12)
    # training-set covariance of the ensemble: diag(e^{-ηΘt} K e^{-ηΘt})
    out_train = ensemble(ts, None, "ntk", compute_cov=True)
    nt_train_var = np.diagonal(np.asarray(out_train.covariance), axis1=-2, axis2=-1)
    np.testing.assert_allclose(mom["train_var"], nt_train_var, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(mom["train_mean"], out_train.mean, rtol=1e-9, atol=1e-12)


def test_batched_equals_unbatched():
    rng = np.random.default_rng(5)
    n, m = 9, 4
    mats = np.stack([_well_conditioned(n + m, s) for s in range(3)])
    theta, ktd, ktt = (
        mats[:, :n, :n],
        mats[:, n:, :n],
        np.diagonal(mats[:, n:, n:], axis1=1, axis2=2),
    )
    y = _targets(rng.integers(0, 2, n), 2)
    labels = rng.integers(0, 2, m)
    ts = [1.0, 10.0]
    batched = streaming.kernel_metrics(theta, ktd, 0.5 * theta, 0.5 * ktd, 0.5 * ktt, y, labels, ts)
    for i in range(3):
        one = streaming.kernel_metrics(theta[i], ktd[i], 0.5 * theta[i], 0.5 * ktd[i], 0.5 * ktt[i], y, labels, ts)
        for key, val in one.items():
            np.testing.assert_allclose(batched[key][i], val, rtol=1e-10, err_msg=key)


# ---------------------------------------------------------------------------
# expected accuracy
# ---------------------------------------------------------------------------


def test_expected_accuracy_quadrature_vs_monte_carlo():
    rng = np.random.default_rng(6)
    m, c = 40, 4
    mean = rng.standard_normal((m, c)) * 0.7
    var = rng.uniform(0.05, 2.0, m)
    labels = rng.integers(0, c, m)
    got = predictions.expected_accuracy(mean, var, labels)
    draws = mean[None] + np.sqrt(var)[None, :, None] * rng.standard_normal((20000, m, c))
    mc = np.mean(np.argmax(draws, axis=-1) == labels)
    assert got == pytest.approx(mc, abs=4e-3)
    # σ = 0: accuracy of the argmax; σ huge: chance
    assert predictions.expected_accuracy(mean, np.zeros(m), labels) == pytest.approx(predictions.accuracy(mean, labels))
    assert predictions.expected_accuracy(mean, np.full(m, 1e12), labels) == pytest.approx(1 / c, abs=1e-6)
    # a tie at σ = 0 shares the credit, no NaN
    tie = np.array([[1.0, 1.0, 0.0]])
    assert predictions.expected_accuracy(tie, np.zeros(1), [0]) == pytest.approx(0.5)
    # targets instead of labels
    assert predictions.expected_accuracy(mean, var, np.eye(c)[labels]) == pytest.approx(got)


# ---------------------------------------------------------------------------
# physics: deep chaotic network memorizes but does not generalize
# ---------------------------------------------------------------------------


def _clusters(n_train, n_test, n_classes, seed, noise=0.8):
    """Gaussian clusters around class centres, 8x8x1 images of norm √64."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 64))

    def draw(n_per_class):
        labels = np.repeat(np.arange(n_classes), n_per_class)
        x = centres[labels] + noise * rng.standard_normal((labels.size, 64))
        x *= np.sqrt(64) / np.linalg.norm(x, axis=1, keepdims=True)
        return x.reshape(-1, 8, 8, 1), labels

    return draw(n_train) + draw(n_test)


def test_chaotic_deep_memorizes_without_generalizing():
    n_classes = 3
    x_train, lab_train, x_test, lab_test = _clusters(8, 6, n_classes, seed=7, noise=0.3)
    # erf, σ_w² = 4, σ_b² = 0.05: χ₁ ≈ 1.5 (chaotic), ξ* ≈ 1.6 layers
    sweep = depth_sweep(x_train, x_test, "fcn", "erf", [4.0], 0.05, [1, 60])
    y = _targets(lab_train, n_classes)
    ts = [0.0, 4096.0]
    res = streaming.kernel_metrics(
        sweep["ntk_train"][0],
        sweep["ntk_test_train"][0],
        sweep["nngp_train"][0],
        sweep["nngp_test_train"][0],
        sweep["nngp_test_diag"][0],
        y,
        lab_test,
        ts,
    )
    shallow, deep = 0, 1
    # t = 0: the prediction is the random initial function
    np.testing.assert_allclose(res["test_acc"][:, 0], 1 / n_classes, atol=1e-12)
    assert res["train_acc"][deep, 1] > 0.999  # memorizes, f₀ included
    assert res["train_acc_mean"][deep, 1] == 1.0
    # shallow: generalizes
    assert res["test_acc"][shallow, 1] > 0.7
    # deep: the learned signal at test points is exponentially small, the
    # output is the initial function: chance, although the float64 mean
    # predictor still points the right way
    assert res["mean_pred_rms"][deep] < 1e-6 * res["mean_pred_rms"][shallow]
    assert abs(res["test_acc"][deep, 1] - 1 / n_classes) < 0.02
    assert res["test_acc_mean"][deep, 1] > 0.8
    # chaotic spectrum: κ → 1, Θ_aa ≫ Θ_ab
    assert res["kappa"][deep] < 1.5 and not res["singular"][deep]
    assert res["ntk_diag"][deep] > 1e6 * abs(res["ntk_offdiag"][deep])


def test_metrics_frame_columns():
    x_train, lab_train, x_test, lab_test = _clusters(4, 3, 2, seed=9)
    depths = [0, 1, 5, 20, 150]
    sweep = depth_sweep(x_train, x_test, "fcn", "erf", [0.5, 1.5, 3.0], 0.18, depths)
    df = streaming.metrics_frame(
        sweep,
        _targets(lab_train, 2),
        lab_test,
        [1, 8, 64, 64 * 64],
        max_elements=200,
        arch="fcn",
        activation="erf",
        dataset="toy",
    )
    required = list(INFINITE_COLUMNS)
    assert list(df.columns[:3]) == ["arch", "activation", "dataset"]
    assert set(required) <= set(df.columns)
    assert len(df) == 3 * len(depths) * 4
    assert np.isfinite(df[required[3:]].drop(columns="t").to_numpy(float)).all()
    # deep ordered: Θ → p*11ᵀ, numerically singular (flagged, κ capped, no NaN);
    # deep chaotic: κ → 1, test accuracy at chance
    ordered = df[(df.sigma_w2 == 0.5) & (df.depth == 150)]
    assert ordered.singular.all() and (ordered.kappa > 1e12).all()
    # ordered, deep but not singular: trains slowly (f₀ dominates at small t)
    slow = df[(df.sigma_w2 == 0.5) & (df.depth == 20)].set_index("t")
    assert slow.kappa.iloc[0] > 1e6 and not slow.singular.iloc[0]
    assert slow.train_acc[1] < 0.7 and slow.train_acc[64] < slow.train_acc[64 * 64]
    chaotic = df[(df.sigma_w2 == 3.0) & (df.depth == 150)]
    assert (~chaotic.singular).all() and (chaotic.kappa < 1.5).all()
    assert np.allclose(chaotic.test_acc, 0.5, atol=1e-3)
    assert df.groupby(["sigma_w2", "depth", "t"]).size().eq(1).all()
    row = df[(df.sigma_w2 == 1.5) & (df.depth == 5) & (df.t == 8)].iloc[0]
    one = streaming.kernel_metrics(
        sweep["ntk_train"][1, 2],
        sweep["ntk_test_train"][1, 2],
        sweep["nngp_train"][1, 2],
        sweep["nngp_test_train"][1, 2],
        sweep["nngp_test_diag"][1, 2],
        _targets(lab_train, 2),
        lab_test,
        [8.0],
    )
    assert row.kappa == pytest.approx(float(one["kappa"]))
    assert row.test_acc == pytest.approx(float(one["test_acc"][0]))


def test_default_rcond_is_the_larger_of_rounding_and_kernel_precision():
    eps = np.finfo(np.float64).eps
    assert spectral.default_rcond(256) == 256 * eps
    assert spectral.default_rcond(256, "erf") == 256 * eps
    assert spectral.default_rcond(256, "relu") == spectral.KERNEL_PRECISION["relu"] == 1e-7
    # a kernel whose second mode sits below ReLU's precision is singular for relu only
    theta = np.diag([1.0, 1e-9, 1e-9])
    assert not spectral.spectrum(theta, spectral.default_rcond(3, "erf"))["singular"]
    assert spectral.spectrum(theta, spectral.default_rcond(3, "relu"))["singular"]
