"""The streaming kernels→metrics job against the two-step path it replaces.

The reference is the direct computation: every kernel block of every depth from
:func:`sweep.depth_sweep` (test diagonals from pinned test × test blocks), then
:func:`streaming.metrics_frame`. The stream never holds the kernels of all depths and takes
K(x, x) from the ``cov1`` of the test × train block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntk_phases.analytic import sweep
from ntk_phases.numerics import streaming

TIMES = [1.0, 8.0, 64.0, 4096.0]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x_train = rng.standard_normal((12, 4, 4, 1))
    x_test = rng.standard_normal((7, 4, 4, 1))
    y = np.eye(10)[rng.integers(0, 10, 12)]
    return x_train, y - y.mean(0), x_test, rng.integers(0, 10, 7)


def reference(data, arch, activation, sw2, sb2, depths):
    x_train, y_train, x_test, y_test = data
    sw = sweep.depth_sweep(x_train, x_test, arch, activation, sw2, sb2, depths, tanh_deg=32)
    return streaming.metrics_frame(sw, y_train, y_test, TIMES)


def streamed(data, arch, activation, sw2, sb2, depths, plan=None):
    x_train, y_train, x_test, y_test = data
    res = sweep.stream_metrics(
        x_train,
        y_train,
        x_test,
        y_test,
        arch,
        activation,
        sw2,
        sb2,
        depths,
        TIMES,
        memory_mb=500,
        tanh_deg=32,
        plan=plan,
        rcond=None,  # the schema defaults: metrics.rcond null, convention ours (η = 2/λ_max, f₀ included)
        learning_rate=None,
        initial_function=True,
    )
    values = {k: v for k, v in res.items() if k not in ("sigma_w2", "depths", "plan")}
    return pd.concat(
        [
            pd.DataFrame(streaming.tidy_rows({k: v[i] for k, v in values.items()}, s, sb2, res["depths"], TIMES))
            for i, s in enumerate(res["sigma_w2"])
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize(
    "arch, activation", [("fcn", "erf"), ("fcn", "relu"), ("fcn", "tanh"), ("cnn_f", "erf"), ("cnn_p", "erf")]
)
def test_stream_equals_two_step_path(data, arch, activation):
    """One batch: the same numbers as kernels then metrics, to 1e-12."""
    sw2, depths = [0.9, 1.6, 2.8], [0, 1, 3, 12]
    ref = reference(data, arch, activation, sw2, 0.1, depths)
    got = streamed(data, arch, activation, sw2, 0.1, depths)
    pd.testing.assert_frame_equal(got[ref.columns], ref, check_exact=False, rtol=1e-12, atol=1e-14)


def test_batches_do_not_change_the_table(data):
    """Test points in batches of 3 (2 + 1 entries split over batches) and train blocks of 5."""
    sw2, depths = [1.2, 2.5], [0, 2, 10, 30]
    whole = streamed(data, "fcn", "erf", sw2, 0.18, depths)
    plan = sweep.BatchPlan(train_block=5, test_batch=3, stored_bytes=0, budget_bytes=0)
    batched = streamed(data, "fcn", "erf", sw2, 0.18, depths, plan=plan)
    pd.testing.assert_frame_equal(batched, whole, check_exact=False, rtol=1e-10, atol=1e-13)
    # the single entries of P(Θ)Y come from the first batches, in test-point order
    assert not batched.filter(like="mean_pred_entry").isna().any().any()


def test_plan_follows_the_budget():
    args = ("fcn", (64,), 256, 10_000, 8, 29, 5)
    small, large = sweep.plan_batches(*args, 500, "erf", 64), sweep.plan_batches(*args, 4000, "erf", 64)
    assert small.test_batch < large.test_batch <= 10_000
    assert small.train_block == large.train_block == 256
    pooled = sweep.plan_batches("cnn_p", (32, 32, 3), 128, 128, 1, 9, 5, 4000, "erf", 64)
    assert pooled.train_block < 128 and pooled.test_batch >= 1
    with pytest.raises(ValueError, match="kernels.memory_mb"):
        sweep.plan_batches(*args, 50, "erf", 64)
