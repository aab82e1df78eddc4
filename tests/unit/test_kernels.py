"""Tests of the one-pass depth sweep against closed forms and per-depth stax networks."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.kernel_reference import kernels_per_depth_reference, measure_peak_memory
from ntk_phases.analytic import sweep

KERNEL_KEYS = (
    "nngp_train",
    "ntk_train",
    "nngp_test_train",
    "ntk_test_train",
    "nngp_test_diag",
    "ntk_test_diag",
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x_train = rng.standard_normal((16, 8, 8, 1))
    x_test = rng.standard_normal((6, 8, 8, 1))
    return x_train, x_test


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 4, 4, 1)), rng.standard_normal((2, 4, 4, 1))


# ---------------------------------------------------------------------------
# independent closed-form NumPy recursions (FCN)
# ---------------------------------------------------------------------------


def _erf_maps(k11, k22, k12):
    a = (1 + 2 * k11) * (1 + 2 * k22)
    t = 2 / np.pi * np.arcsin(2 * k12 / np.sqrt(a))
    tdot = 4 / np.pi / np.sqrt(a - 4 * k12**2)
    return t, tdot


def _relu_maps(k11, k22, k12):
    norm = np.sqrt(k11 * k22)
    c = np.clip(k12 / norm, -1.0, 1.0)
    theta = np.arccos(c)
    t = norm / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    tdot = (np.pi - theta) / (2 * np.pi)
    return t, tdot


def fcn_closed_form(x, activation, sigma_w2, sigma_b2, depth):
    """NNGP and NTK on the joint set ``x`` of an FCN with ``depth`` hidden layers."""
    x = x.reshape(len(x), -1)
    k = x @ x.T / x.shape[1]
    theta = np.zeros_like(k)
    maps = {"erf": _erf_maps, "relu": _relu_maps}[activation]
    for layer in range(depth + 1):
        if layer > 0:
            d = np.diag(k)
            t, tdot = maps(d[:, None], d[None, :], k)
            if activation == "relu":
                # exact on the diagonal (c = 1): θ = 0, Ṫ = 1/2, T = K/2
                np.fill_diagonal(t, d / 2)
                np.fill_diagonal(tdot, 0.5)
            theta = theta * tdot
            k = t
        k = sigma_w2 * k + sigma_b2
        theta = k + sigma_w2 * theta
    return k, theta


def _split(mat, n):
    return {
        "train": mat[:n, :n],
        "test_train": mat[n:, :n],
        "test_diag": np.diag(mat)[n:],
        "test": mat[n:, n:],
    }


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_fcn_matches_closed_form(data, activation):
    x_train, x_test = data
    sw2 = np.array([0.7, 1.8, 4.0])
    sb2 = 0.05
    depths = [0, 1, 2, 5, 12]
    out = sweep.depth_sweep(x_train, x_test, "fcn", activation, sw2, sb2, depths, full_test=True)
    n = len(x_train)
    assert out["ntk_train"].shape == (3, 5, 16, 16)
    assert out["ntk_test_train"].shape == (3, 5, 6, 16)
    assert out["ntk_test_diag"].shape == (3, 5, 6)
    assert out["ntk_test"].shape == (3, 5, 6, 6)
    np.testing.assert_array_equal(out["depths"], depths)
    x_all = np.concatenate([x_train, x_test])
    for i, s in enumerate(sw2):
        for j, depth in enumerate(depths):
            k, theta = fcn_closed_form(x_all, activation, s, sb2, depth)
            for name, ref in (("nngp", k), ("ntk", theta)):
                parts = _split(ref, n)
                for block in ("train", "test_train", "test_diag", "test"):
                    got = out[f"{name}_{block}"][i, j]
                    want = parts[block]
                    if activation == "relu" and name == "ntk":
                        # neural-tangents computes θ = arctan2(√(K11K22 − K12²), K12);
                        # on the diagonal the radicand is rounding noise ~ε·K², so
                        # θ ~ √ε ≈ 1e-8 instead of 0 and Ṫ = (π − θ)/2π is off by
                        # ~1e-9 per layer (conditioning of the arc-cosine kernel at
                        # c = 1). Off the diagonal the match is to 1e-10.
                        np.testing.assert_allclose(got, want, rtol=1e-7)
                        if block in ("train", "test"):
                            off = ~np.eye(got.shape[-1], dtype=bool)
                            got_off = np.where(off, got, 0.0)
                            want_off = np.where(off, want, 0.0)
                            # off-diagonal entries depend on the diagonal ones
                            # through earlier layers only via the NNGP (exact)
                            np.testing.assert_allclose(got_off, want_off, rtol=2e-9)
                    else:
                        np.testing.assert_allclose(
                            got,
                            want,
                            rtol=1e-10,
                            err_msg=f"{name}_{block} σw²={s} l={depth}",
                        )


def test_erf_kernel_is_not_trivially_equal(data):
    """Sanity: the closed form would catch a wrong σ_w² (the test can fail)."""
    x_train, _ = data
    out = sweep.depth_sweep(x_train, None, "fcn", "erf", [1.8], 0.05, [3])
    k, theta = fcn_closed_form(x_train, "erf", 1.9, 0.05, 3)
    assert not np.allclose(out["ntk_train"][0, 0], theta, rtol=1e-6)
    assert "ntk_test_train" not in out


def test_deep_chaotic_diagonal_matches_scalar_recursion(data):
    """Θ_aa at depth 100 in the chaotic phase equals the 1-D diagonal recursion.

    Inputs of equal norm share one diagonal trajectory, K^{l+1} = σ_w² T(K^l) +
    σ_b² with T(q) = (2/π) arcsin(2q/(1+2q)), Θ^{l+1} = K^{l+1} + σ_w² Ṫ(q) Θ^l
    with Ṫ(q) = (4/π)/√(1+4q). Plain stax.serial drifts here (c = 1 is unstable
    when χ₁ > 1: relative error ~1e-4 at depth 100); the sweep pins the diagonal.
    """
    x_train, x_test = data
    flat = x_train.reshape(len(x_train), -1)
    x_train = (flat * np.sqrt(64) / np.linalg.norm(flat, axis=1, keepdims=True)).reshape(x_train.shape)
    sw2, sb2 = 3.0, 0.18
    out = sweep.depth_sweep(x_train, x_train[:5], "fcn", "erf", sw2, sb2, [50, 100])
    k, theta, want = 1.0, 0.0, {}
    for layer in range(101):
        if layer > 0:
            theta *= 4 / np.pi / np.sqrt(1 + 4 * k)
            k = 2 / np.pi * np.arcsin(2 * k / (1 + 2 * k))
        k = sw2 * k + sb2
        theta = k + sw2 * theta
        want[layer] = (k, theta)
    assert want[100][1] > 1e11  # chaotic: Θ_aa grows like χ₁^l
    for j, depth in enumerate([50, 100]):
        k, theta = want[depth]
        np.testing.assert_allclose(np.diagonal(out["nngp_train"][0, j]), k, rtol=1e-12)
        np.testing.assert_allclose(np.diagonal(out["ntk_train"][0, j]), theta, rtol=1e-12)
        np.testing.assert_allclose(out["ntk_test_diag"][0, j], theta, rtol=1e-12)


# ---------------------------------------------------------------------------
# one pass == one stax.serial network per depth
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["fcn", "cnn_f", "cnn_p"])
def test_sweep_matches_per_depth_networks(tiny, arch):
    x_train, x_test = tiny
    sw2, sb2, depths = [0.8, 3.0], 0.1, [0, 1, 2]  # both parities of Kernel.is_reversed
    got = sweep.depth_sweep(x_train, x_test, arch, "erf", sw2, sb2, depths, full_test=True)
    ref = kernels_per_depth_reference(x_train, x_test, arch, "erf", sw2, sb2, depths, full_test=True)
    assert set(got) == set(ref)
    for key in KERNEL_KEYS + ("nngp_test", "ntk_test"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, err_msg=key)
    # depth changes the kernel (the comparison is not vacuous)
    assert not np.allclose(got["ntk_train"][:, 1], got["ntk_train"][:, 2], rtol=1e-3)


def test_sweep_matches_per_depth_tanh(tiny):
    x_train, x_test = tiny
    kw = dict(tanh_deg=8)  # same quadrature on both sides; accuracy is not tested here
    got = sweep.depth_sweep(x_train, x_test, "fcn", "tanh", [1.5], 0.1, [0, 2], **kw)
    ref = kernels_per_depth_reference(x_train, x_test, "fcn", "tanh", [1.5], 0.1, [0, 2], **kw)
    for key in KERNEL_KEYS:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, err_msg=key)


def test_vmap_over_sigma_equals_loop(tiny):
    x_train, x_test = tiny
    sw2, depths = np.array([0.6, 2.7]), [0, 2, 3]
    grid = sweep.depth_sweep(x_train, x_test, "cnn_f", "erf", sw2, 0.2, depths)
    for i, s in enumerate(sw2):
        one = sweep.depth_sweep(x_train, x_test, "cnn_f", "erf", s, 0.2, depths)
        for key in KERNEL_KEYS:
            assert one[key].shape[0] == 1
            np.testing.assert_allclose(grid[key][i], one[key][0], rtol=1e-12, err_msg=key)
    # traced W_std (vmapped sweep) == concrete python-float W_std (eager stax network)
    looped = kernels_per_depth_reference(x_train, x_test, "cnn_f", "erf", sw2, 0.2, [3], vmap_sigma=False)
    for key in KERNEL_KEYS:
        np.testing.assert_allclose(grid[key][:, 2:], looped[key], rtol=1e-10, err_msg=key)


def test_batching_over_data_and_sigma_is_exact(tiny):
    x_train, x_test = tiny
    # 4 train, 2 test, blocks of 2 and one σ per chunk: every block has one shape
    args = (x_train, x_test, "cnn_p", "erf", [0.9, 3.1], 0.05, [0, 2, 3])
    full = sweep.depth_sweep(*args, full_test=True)
    batched = sweep.depth_sweep(*args, full_test=True, batch_size=2, sigma_chunk=1)
    for key in KERNEL_KEYS + ("nngp_test", "ntk_test"):
        np.testing.assert_allclose(batched[key], full[key], rtol=1e-12, err_msg=key)
    # without full_test the diagonal comes from diagonal blocks only
    diag_only = sweep.depth_sweep(*args, batch_size=2, sigma_chunk=1)
    np.testing.assert_allclose(diag_only["ntk_test_diag"], full["ntk_test_diag"], rtol=1e-12)
    assert "ntk_test" not in diag_only


def test_depths_sorted_unique_and_validation(tiny):
    x_train, x_test = tiny
    out = sweep.depth_sweep(x_train, None, "fcn", "erf", 1.0, 0.1, [3, 0, 3])
    np.testing.assert_array_equal(out["depths"], [0, 3])
    assert out["ntk_train"].shape == (1, 2, 4, 4)
    bad = x_train.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sweep.depth_sweep(bad, None, "fcn", "erf", 1.0, 0.1, [1])
    with pytest.raises(ValueError, match="activation"):
        sweep.depth_sweep(x_train, None, "fcn", "gelu", 1.0, 0.1, [1])
    with pytest.raises(ValueError, match="sigma_w2"):
        sweep.depth_sweep(x_train, None, "fcn", "erf", [-1.0], 0.1, [1])
    with pytest.raises(ValueError, match="depths"):
        sweep.depth_sweep(x_train, None, "fcn", "erf", 1.0, 0.1, [-1])
    with pytest.raises(ValueError, match="NHWC"):
        sweep.depth_sweep(x_train.reshape(4, -1), None, "cnn_f", "erf", 1.0, 0.1, [1])
    with pytest.raises(ValueError, match="unknown architecture"):
        sweep.depth_sweep(x_train, None, "rnn", "erf", 1.0, 0.1, [1])


def test_memory_helpers():
    per = sweep.estimate_block_bytes("cnn_p", (8, 8, 1), 10, 10, n_sigma=2)
    assert per == sweep.estimate_block_bytes("cnn_p", (8, 8, 1), 1, 1) * 200
    assert sweep.estimate_block_bytes("cnn_f", (8, 8, 1), 4, 4) * 64 == (
        sweep.estimate_block_bytes("cnn_p", (8, 8, 1), 4, 4)
    )
    b = sweep.batch_size_for_budget("cnn_p", (8, 8, 1), 128, 64e6, n_sigma=1)
    assert 1 <= b < 128
    assert sweep.estimate_block_bytes("cnn_p", (8, 8, 1), b, b) <= 64e6
    assert sweep.estimate_block_bytes("cnn_p", (8, 8, 1), b + 1, b + 1) > 64e6
    assert sweep.batch_size_for_budget("fcn", (8, 8, 1), 50, 1e12) == 50

    def allocate():
        a = np.ones(40_000_000 // 8)
        return float(a.sum())

    result, stats = measure_peak_memory(allocate)
    assert result == 5_000_000.0
    assert stats["peak_increase_bytes"] > 20e6
    assert stats["peak_bytes"] >= stats["baseline_bytes"]


def test_relu_ntk_offdiagonal_approaches_its_limit_at_sqrt_chi1():
    """Why claims.ordered_claims predicts √χ₁ (not χ₁) for ReLU's λ_min and κ: with the
    closed-form recursion above, the gap Θ_aa − Θ_ab of two inputs in the ordered phase
    shrinks by √χ₁ per layer (ReLU's derivative kernel has a √(1 − c) term), while the
    diagonal's distance to p* shrinks like l χ₁^l (a double root)."""
    sw2, sb2 = 1.0, 0.18
    chi1 = sw2 / 2
    x = np.array([[1.0, 0.0], [0.6, 0.8]]) * np.sqrt(2.0)  # two inputs of norm √n₀, c⁰ = 0.6
    depths = np.arange(10, 31)
    gaps, diag_gaps = [], []
    p_star = sb2 / (1 - chi1) / (1 - chi1)  # q* / (1 − χ₁), q* = σ_b² / (1 − χ₁)
    for depth in depths:
        _, theta = fcn_closed_form(x, "relu", sw2, sb2, int(depth))
        gaps.append(theta[0, 0] - theta[0, 1])
        diag_gaps.append(abs(theta[0, 0] - p_star))
    rate = np.exp(np.polyfit(depths, np.log(gaps), 1)[0])
    assert abs(rate - np.sqrt(chi1)) < 0.03 * np.sqrt(chi1), rate
    diag_rate = np.exp(np.polyfit(depths, np.log(np.array(diag_gaps) / depths), 1)[0])
    assert abs(diag_rate - chi1) < 0.02 * chi1, diag_rate


def test_neural_tangents_loads_without_tensorflow_and_keeps_experimental():
    """ntk_phases defers neural-tangents' TensorFlow-only `experimental` subpackage
    (analytic.nt_tensorflow_workaround): importing the analytic layer does not load TensorFlow,
    and the subpackage still works when something asks for it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import ntk_phases.analytic.sweep\n"
        "import neural_tangents as nt\n"
        "print('tensorflow' in sys.modules)\n"
        "print(callable(nt.experimental.empirical_ntk_fn_tf))\n"
        "import neural_tangents.experimental.empirical_tf.empirical as e\n"
        "print('tensorflow' in sys.modules, e.empirical_ntk_fn_tf is nt.experimental.empirical_ntk_fn_tf)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:3] == ["False", "True", "True True"], proc.stdout
