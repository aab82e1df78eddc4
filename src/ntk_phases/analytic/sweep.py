"""The one-pass depth sweep reduced to metrics as it goes: no kernel ever leaves memory.

One call computes, for a chunk of σ_w² values (vmapped together) and one σ_b², the
analytic NNGP and NTK at every requested depth and reduces each depth at once to the
metrics of :mod:`ntk_phases.numerics.streaming` (spectrum, entries, mean predictor,
gradient-flow and expected accuracies). Test points are streamed in batches:

1. train × train at every depth (:func:`ntk_phases.kernels.depth_sweep`, diagonal
   pinned), each depth reduced by :func:`streaming.train_metrics` to its train metrics
   and the eigendecomposition the test points need;
2. for each batch of test points, test × train is propagated layer by layer (one
   train block at a time); its readout kernels at the recorded depths are reduced by
   :func:`streaming.point_sums` and dropped (with a single train block, each depth as soon
   as it is computed, while the next layers run). K(x, x) at the test points is the
   ``cov1`` carried with that block (the diagonal map of each point), so no test × test
   block is computed.

Batch sizes follow from a memory budget (:func:`plan_batches`), so the peak memory is
set by the budget whatever the number of test points.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels
from ..numerics import streaming

log = logging.getLogger("ntk_phases.sweep")

#: Float64 arrays of size (σ, n, n) kept per recorded depth between the two passes:
#: Θ and K (train metrics' state) and the eigenvectors.
_STORED_PER_DEPTH = 3
#: Float64 arrays of size (T, b, n) alive while one σ_w²'s test batch is reduced
#: (A_t in the eigenbasis and in the data basis, and their products).
_REDUCE_LIVE = 4


@dataclass(frozen=True)
class BatchPlan:
    """Examples per block of the train sweep and per batch of test points."""

    train_block: int
    test_batch: int
    stored_bytes: int
    budget_bytes: int


def plan_batches(
    arch: str,
    input_shape: Sequence[int],
    n_train: int,
    n_test: int,
    n_sigma: int,
    n_depths: int,
    n_times: int,
    memory_mb: float,
    activation: str,
    tanh_deg: int,
) -> BatchPlan:
    """The largest train block and test batch whose arrays fit ``memory_mb``.

    Counted: the train kernels kept across depths; half of the rest for one train block
    propagated through the layers; for a test batch, its propagating blocks, its
    readout kernels at every recorded depth and the reduction temporaries.

    Raises:
        ValueError: when the train kernels kept across depths alone exceed the budget
            (names ``kernels.memory_mb`` and the size needed).
    """
    budget = int(memory_mb * 2**20)
    stored = _STORED_PER_DEPTH * n_sigma * n_depths * n_train * n_train * 8
    free = budget - stored
    if free <= 0:
        raise ValueError(
            f"kernels.memory_mb = {memory_mb:g} is too small: the train kernels of "
            f"{n_sigma} σ_w² values × {n_depths} depths × {n_train}² examples need "
            f"{stored / 2**20:.0f} MB; raise kernels.memory_mb or lower sigma_chunk"
        )
    train_block = kernels.batch_size_for_budget(
        arch, input_shape, n_train, free / 2, n_sigma, activation, tanh_deg
    )
    per_row = (
        kernels.estimate_block_bytes(arch, input_shape, 1, train_block, n_sigma, activation, tanh_deg)
        + (2 * n_sigma * n_depths + _REDUCE_LIVE * n_times) * n_train * 8
    )
    test_batch = int(min(max(free // per_row, 1), max(n_test, 1)))
    return BatchPlan(train_block, test_batch, stored, budget)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _balanced_slices(n: int, size: int) -> list[slice]:
    """As few slices of at most ``size`` as :func:`_slices`, of (nearly) equal length, so
    that the jitted kernel maps see one or two shapes, not a short last batch."""
    count = -(-n // max(size, 1))
    return _slices(n, -(-n // count)) if n else []


def _test_kernels(arch, activation, tanh_deg, x_rows, x_train, sw, sb, depths, train_block):
    """Readout NNGP and NTK ``(S, D, b, n)`` of test rows × the train set at every depth,
    and K(x, x) ``(S, D, b)``: one train block at a time through all layers."""
    s, d, b, n = len(sw), len(depths), len(x_rows), len(x_train)
    nngp, ntk, diag = np.empty((s, d, b, n)), np.empty((s, d, b, n)), np.empty((s, d, b))
    for sl in _slices(n, train_block):
        for di, k, t, cov1 in kernels.sweep_block(
            arch, activation, tanh_deg, x_rows, x_train[sl], sw, sb, depths
        ):
            nngp[:, di, :, sl], ntk[:, di, :, sl], diag[:, di] = k, t, cov1
    return nngp, ntk, diag


def _check_test_kernels(nngp, ntk, diag) -> None:
    for name, val in (("nngp", nngp), ("ntk", ntk), ("K(x, x)", diag)):
        if not np.all(np.isfinite(val)):
            raise ValueError(
                f"non-finite test {name} kernels (overflow at large depth/σ_w²?); "
                "reduce the depth range or σ_w² grid"
            )


def _stream_batch(arch, activation, tanh_deg, x_rows, x_train, sw, sb, depths, states, sums,
                  y_rows, first, n_quad) -> float:
    """Test rows × the whole train set through all layers, each depth's readout kernels
    reduced by :func:`streaming.point_sums` into ``sums`` as it arrives; returns the seconds
    spent waiting for kernels."""
    blocks = kernels.sweep_block(arch, activation, tanh_deg, x_rows, x_train, sw, sb, depths)
    waited = 0.0
    while True:
        t0 = time.perf_counter()
        item = next(blocks, None)
        waited += time.perf_counter() - t0
        if item is None:
            return waited
        di, k, t, cov1 = item
        try:  # point_sums checks that its inputs are finite
            batch = streaming.point_sums(states[di], t, k, cov1, y_rows, first=first, n_quad=n_quad)
        except ValueError:
            _check_test_kernels(k, t, cov1)  # names an overflow of the kernels
            raise
        sums[di] = streaming.add_sums(sums[di], batch)


def stream_metrics(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    arch: str,
    activation: str,
    sigma_w2: Any,
    sigma_b2: float,
    depths: Sequence[int],
    times: Sequence[float],
    *,
    memory_mb: float,
    tanh_deg: int,
    rcond: float | None = None,
    learning_rate: Any = None,
    initial_function: bool = True,
    n_quad: int = 64,
    plan: BatchPlan | None = None,
) -> dict[str, Any]:
    """Metrics of every (σ_w², depth) of one kernels job, computed without storing kernels.

    Args:
        x_train, x_test: inputs (NHWC, or ``(n, d)`` for ``fcn``).
        y_train: ``(n, C)`` regression targets; y_test: integer labels or one-hot.
        arch, activation, sigma_w2 (``S`` values), sigma_b2, depths (``D``), times (``T``):
            as :func:`ntk_phases.kernels.depth_sweep` and :func:`streaming.kernel_metrics`.
        memory_mb: budget for the kernel and metric arrays (:func:`plan_batches`).
        arch: a name (``convention: ours``) or an :class:`~ntk_phases.architectures.Architecture`.
        learning_rate: η (None: 2/λ_max at each kernel); initial_function: include f₀
            in the accuracies (:func:`streaming.train_metrics`'s ``moments``).
        plan: explicit batch sizes instead of those derived from ``memory_mb``.

    Returns:
        dict with ``sigma_w2`` ``(S,)``, ``depths`` ``(D,)``, each of
        :data:`streaming.PER_POINT` as ``(S, D)`` and of :data:`streaming.PER_TIME` as
        ``(S, D, T)``, and ``plan`` (the :class:`BatchPlan` used).
    """
    arch = kernels._as_arch(arch)
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    sw2 = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
    dd = np.unique(np.asarray(depths, dtype=np.int64))
    tt = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"x_test shape {x_test.shape} does not match x_train {x_train.shape}")
    n, m = len(x_train), len(x_test)
    plan = plan or plan_batches(
        arch, x_train.shape[1:], n, m, sw2.size, dd.size, tt.size, memory_mb, activation, tanh_deg
    )
    log.info(
        "batches: train blocks of %d, test batches of %d (%d batches); budget %.0f MB, "
        "train kernels kept across depths %.0f MB",
        plan.train_block, _balanced_slices(m, plan.test_batch)[0].stop, -(-m // plan.test_batch),
        plan.budget_bytes / 2**20,
        plan.stored_bytes / 2**20,
    )
    t0 = time.perf_counter()
    train = kernels.depth_sweep(
        x_train, None, arch, activation, sw2, sigma_b2, dd,
        batch_size=plan.train_block, tanh_deg=tanh_deg,
    )
    per_depth, states = [], []
    for di in range(dd.size):
        values, state = streaming.train_metrics(
            train["ntk_train"][:, di], train["nngp_train"][:, di], y_train, tt,
            learning_rate=learning_rate, rcond=rcond, n_quad=n_quad, moments=initial_function,
        )
        per_depth.append(values)
        states.append(state)
    del train
    log.info("train x train: %d depths in %.1fs; peak RSS %.0f MB", dd.size,
             time.perf_counter() - t0, peak_rss_mb())

    sw, sb = np.sqrt(sw2), float(np.sqrt(sigma_b2))
    sums: list[dict | None] = [None] * dd.size
    for bi, rows in enumerate(_balanced_slices(m, plan.test_batch)):
        t1 = time.perf_counter()
        if plan.train_block >= n:
            # one train block: reduce each depth as soon as its kernels arrive (the same
            # numbers as below, without holding every depth's kernels of the batch)
            t_kernels = _stream_batch(
                arch, activation, int(tanh_deg), x_test[rows], x_train, sw, sb, dd, states,
                sums, y_test[rows], rows.start, n_quad,
            )
            t2 = t1 + t_kernels
        else:
            nngp, ntk, diag = _test_kernels(
                arch, activation, int(tanh_deg), x_test[rows], x_train, sw, sb, dd, plan.train_block
            )
            _check_test_kernels(nngp, ntk, diag)
            t2 = time.perf_counter()
            for di in range(dd.size):
                batch = streaming.point_sums(
                    states[di], ntk[:, di], nngp[:, di], diag[:, di], y_test[rows],
                    first=rows.start, n_quad=n_quad,
                )
                sums[di] = streaming.add_sums(sums[di], batch)
            del nngp, ntk, diag
        t3 = time.perf_counter()
        log.info("test batch %d (points %d-%d of %d): kernels %.1fs, metrics %.1fs; peak RSS %.0f MB",
                 bi + 1, rows.start, rows.stop - 1, m, t2 - t1, t3 - t2, peak_rss_mb())

    out: dict[str, Any] = {"sigma_w2": sw2, "depths": dd, "plan": plan}
    finished = [{**per_depth[di], **streaming.finish_sums(sums[di])} for di in range(dd.size)]
    for key in (*streaming.PER_POINT, *streaming.PER_TIME):
        out[key] = np.stack([f[key] for f in finished], axis=1)
    return out
