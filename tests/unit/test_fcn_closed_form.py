"""The closed-form FCN layer maps (``ntk_phases.analytic.fcn_closed_form``) against
neural-tangents' layer maps (the same ``sweep.depth_sweep`` with the fast path off).

Both phases (σ_w² from 0.5 to 3.5 at σ_b² = 0.18: χ₁ = 1 near σ_w² = 1.76 for erf),
depths past 100, both conventions (``ours``: dense readout; ``notebook``: read-in
Dense(W_std=1), no readout), erf and relu, train × train (pinned diagonal), test × train
and test diagonals, in several blocks and tiles.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntk_phases.analytic import fcn_closed_form, sweep
from ntk_phases.architectures import get_architecture

SIGMA_W2 = [0.5, 1.2, 1.76, 2.5, 3.5]
SIGMA_B2 = 0.18
DEPTHS = [0, 1, 2, 3, 5, 10, 40, 75, 105, 110]
KEYS = ("nngp_train", "ntk_train", "nngp_test_train", "ntk_test_train", "nngp_test_diag", "ntk_test_diag")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return rng.standard_normal((21, 4, 4, 3)), rng.standard_normal((9, 4, 4, 3))


def block_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max |b| over each (σ_w², depth) block, worst block."""
    err = np.abs(a - b).reshape(a.shape[:2] + (-1,)).max(-1)
    return float(np.max(err / np.abs(b).reshape(b.shape[:2] + (-1,)).max(-1)))


def both_paths(monkeypatch, x_train, x_test, arch, activation, **kw):
    fast = sweep.depth_sweep(x_train, x_test, arch, activation, SIGMA_W2, SIGMA_B2, DEPTHS, **kw)
    monkeypatch.setattr(fcn_closed_form, "ENABLED", False)
    ref = sweep.depth_sweep(x_train, x_test, arch, activation, SIGMA_W2, SIGMA_B2, DEPTHS, **kw)
    monkeypatch.setattr(fcn_closed_form, "ENABLED", True)
    return fast, ref


@pytest.mark.parametrize("convention", ["ours", "notebook"])
@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_equals_neural_tangents(monkeypatch, data, convention, activation):
    """1e-12 relative on every block; relu (neural-tangents' own arc tangent) is exact.
    Blocks of 8 examples and tiles of 3 rows: pinned and unpinned blocks, padded tiles."""
    arch = get_architecture("fcn", convention)
    monkeypatch.setattr(fcn_closed_form, "TILE_ENTRIES", 3 * 8)
    fast, ref = both_paths(monkeypatch, *data, arch, activation, batch_size=8)
    for key in KEYS:
        assert fast[key].shape == ref[key].shape
        err = block_rel(fast[key], ref[key])
        assert err <= (0.0 if activation == "relu" else 1e-12), (key, err)
    # the grid spans both phases: the deep erf kernels differ in shape across σ_w²
    if activation == "erf":
        theta = ref["ntk_train"][:, -1]
        ratio = theta[:, 0, 1] / theta[:, 0, 0]  # Θ_ab / Θ_aa at depth 110
        assert ratio[0] > 0.99 and ratio[-1] < 0.5, ratio


def test_one_block_and_default_tiles(monkeypatch, data):
    """Unbatched blocks with the default tile size (one tile per σ_w)."""
    fast, ref = both_paths(monkeypatch, *data, "fcn", "erf")
    assert max(block_rel(fast[k], ref[k]) for k in KEYS) <= 1e-12


def test_dispatch(monkeypatch, data):
    """sweep_block takes the fast path for dense hidden layers with erf/relu only."""
    calls = []
    real = fcn_closed_form.sweep

    def spy(*args, **kwargs):
        calls.append(args[2])
        yield from real(*args, **kwargs)

    monkeypatch.setattr(fcn_closed_form, "sweep", spy)
    x_train, x_test = data
    for arch, activation in (("fcn", "erf"), ("fcn", "relu"), ("fcn", "tanh"), ("cnn_f", "erf")):
        sweep.depth_sweep(x_train[:4], x_test[:2], arch, activation, [1.5], SIGMA_B2, [0, 2], tanh_deg=16)
    assert calls == ["erf"] * 3 + ["relu"] * 3  # train, test x train, test diagonal
    assert not fcn_closed_form.supports(get_architecture("cnn_p"), "erf")
    assert fcn_closed_form.supports(get_architecture("fcn", "notebook"), "erf")


def test_atan2_against_numpy():
    rng = np.random.default_rng(5)
    mag = 10.0 ** rng.uniform(-12, 12, (2, 200_000))
    y, x = mag * rng.choice([-1.0, 1.0], mag.shape)
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.66, 1.5, 1e-300, 1e300])
    y = np.concatenate([y, np.repeat(special, special.size)])
    x = np.concatenate([x, np.tile(special, special.size)])
    got = np.asarray(fcn_closed_form.atan2(y, x))
    want = np.arctan2(y, x)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(float).tiny)
    assert rel.max() <= 4.5e-16, rel.max()  # within 2 ulp


def extended_recursion(x, sw2, depths):
    """Θ and K of the erf FCN (convention ours) in long double: the pinned recursion."""
    ld = np.longdouble
    pi = 4 * np.arctan(ld(1))
    xs = x.reshape(len(x), -1).astype(ld)
    q = (xs * xs).sum(1) / xs.shape[1]
    k = xs @ xs.T / xs.shape[1]
    t = np.zeros_like(k)
    w2, b2 = ld(np.sqrt(sw2)) ** 2, ld(np.sqrt(SIGMA_B2)) ** 2
    out = {}
    for layer in range(max(depths) + 1):
        if layer in depths:
            ko = k * w2 + b2
            out[layer] = (ko, ko + w2 * t)
        k, q = k * w2 + b2, q * w2 + b2
        t = k + w2 * t
        sq = np.sqrt(np.outer(1 + 2 * q, 1 + 2 * q) - 4 * k * k)
        t = t * (4 / pi) / sq
        k = 2 / pi * np.arctan2(2 * k, sq)
        q = 2 / pi * np.arctan2(q, np.sqrt(q + ld(0.25)))
        np.fill_diagonal(k, q)
    return out


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs 80-bit long double")
def test_erf_against_extended_precision(monkeypatch, data):
    """Both paths against the recursion in long double. Generic inputs: both ~1e-14.
    Two nearly parallel inputs (correlation 1 − 5e-7) in the chaotic phase: c = 1 is
    unstable there, rounding in the first layers grows like χ₁^l until the pair
    decorrelates, and both paths err by ~1e-10 on that pair: the bound is the
    neural-tangents path's own error."""
    x_train = data[0][:12].copy()
    x_train[1] = x_train[0] + 1e-3 * np.random.default_rng(2).standard_normal(x_train[0].shape)
    depths = [0, 10, 40, 75, 105]
    fast, ref = both_paths(monkeypatch, x_train, None, "fcn", "erf")
    for si, s in enumerate(SIGMA_W2):
        exact = extended_recursion(x_train, s, depths)
        for di, depth in zip([DEPTHS.index(d) for d in depths], depths):
            for j, key in enumerate(("nngp_train", "ntk_train")):
                e = exact[depth][j]
                err_fast = np.abs(fast[key][si, di] - e) / np.abs(e)
                err_ref = np.abs(ref[key][si, di] - e) / np.abs(e)
                generic = np.ones(e.shape, bool)
                generic[[0, 1], [1, 0]] = False
                assert err_fast[generic].max() <= 1e-12, (s, depth, key)
                assert err_fast.max() <= max(10 * err_ref.max(), 1e-12), (s, depth, key)
