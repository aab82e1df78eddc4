"""The one-pass depth sweep reduced to metrics as it goes: no kernel ever leaves memory.

One call computes, for a chunk of σ_w² values (vmapped together) and one σ_b², the
analytic NNGP and NTK at every requested depth and reduces each depth at once to the
metrics of :mod:`ntk_phases.numerics.streaming` (spectrum, entries, mean predictor,
gradient-flow and expected accuracies). Test points are streamed in batches:

1. train × train at every depth (:func:`ntk_phases.depth_sweep`, diagonal
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

The layer loop itself, :func:`depth_loop`, with the diagonal pinning of
:func:`pin_diagonal`, is also the loop of the freeze/chaos variants
(:func:`ntk_phases.analytic.freeze_chaos.depth_kernels`).
"""

from __future__ import annotations

import functools
import logging
import resource
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..architectures import Architecture
from ..numerics import streaming
from . import fcn_closed_form
from .layers import as_architecture, build_layer_kernel_fns

log = logging.getLogger("ntk_phases.sweep")

#: the kernels a sweep returns per depth (the reference sweep of the tests too)
KERNEL_KEYS = ("nngp", "ntk")

# ----------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------


def check_inputs(x: Any, name: str, arch: Architecture) -> np.ndarray:
    """``x`` as float64, checked: finite, a batch axis, NHWC for convolutions."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values")
    if arch.hidden == "conv" and x.ndim != 4:
        raise ValueError(f"{name} must be NHWC (4-D) for {arch.name}, got shape {x.shape}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have a leading batch axis, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


def check_sigmas(sigma_w2: Any, sigma_b2: Any) -> tuple[np.ndarray, float]:
    """σ_w² as a 1-D float64 array (> 0) and σ_b² as a float (≥ 0)."""
    sw2 = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
    if sw2.ndim != 1:
        raise ValueError(f"sigma_w2 must be a scalar or 1-D array, got shape {sw2.shape}")
    if not np.all(np.isfinite(sw2)) or np.any(sw2 <= 0):
        raise ValueError("sigma_w2 must be finite and > 0")
    sb2 = float(sigma_b2)
    if not np.isfinite(sb2) or sb2 < 0:
        raise ValueError("sigma_b2 must be finite and >= 0")
    return sw2, sb2


def check_depths(depths: Sequence[int]) -> np.ndarray:
    """The distinct depths (integers ≥ 0), sorted."""
    d = np.asarray(depths)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("depths must be a non-empty 1-D sequence of integers")
    if not np.issubdtype(d.dtype, np.integer):
        if not np.all(d == np.round(d)):
            raise ValueError("depths must be integers")
        d = d.astype(np.int64)
    if np.any(d < 0):
        raise ValueError("depths must be >= 0")
    return np.unique(d)


def _blocks(n: int, batch_size: int | None) -> list[slice]:
    b = n if not batch_size else max(1, int(batch_size))
    return [slice(i, min(i + b, n)) for i in range(0, n, b)]


# ----------------------------------------------------------------------------
# one-pass sweep
# ----------------------------------------------------------------------------


def pin_diagonal(k):
    """Set the batch diagonal of ``nngp`` to the variances ``cov1``.

    For a block of an input set with itself, ``nngp[i, i]`` and ``cov1[i]``
    are the same covariance (same layout, spatial axes included, as
    neural-tangents keeps ``cov1`` at full batch-diagonal resolution).
    """
    idx = jnp.arange(k.nngp.shape[0])
    return k.replace(nngp=k.nngp.at[idx, idx].set(k.cov1))


def diagonal_drift(k):
    """max_i |nngp[i, i] − cov1[i]| / cov1[i] of a dense (no spatial axes) Kernel of a set
    with itself: how far the two copies of each variance have drifted apart (0 after
    :func:`pin_diagonal`)."""
    var = jnp.reshape(k.cov1, (-1,))
    return jnp.max(jnp.abs(jnp.diagonal(k.nngp) - var) / var)


def depth_loop(state: Any, step: Callable[[Any], Any], readout: Callable[[Any], Any], depths: Sequence[int]):
    """The one depth loop of the analytic kernels: yield ``(i, readout(state))`` after
    ``depths[i]`` applications of ``step`` to ``state``, for sorted, distinct ``depths``.

    ``state`` is a neural-tangents Kernel after the input layers, or anything that carries
    one (with diagnostics); ``step`` is one hidden layer's kernel map, diagonal pinning
    (:func:`pin_diagonal`) included where wanted. The hidden map runs ``max(depths)`` times
    in all, the readout only at the requested depths, so all depths cost as much as the
    deepest. Used by :func:`sweep_block` (the infinite-width stage) and by
    :func:`ntk_phases.analytic.freeze_chaos.depth_kernels` (the freeze/chaos variants).
    """
    layer = 0
    for di, depth in enumerate(depths):
        while layer < depth:
            state = step(state)
            layer += 1
        yield di, readout(state)


@functools.lru_cache(maxsize=32)
def _jitted_maps(arch: Architecture, activation: str, tanh_deg: int | None):
    """Jitted, σ_w-vmapped kernel maps, cached so repeated sweeps reuse compiles.

    Returns ``(fns, broadcast, hidden, readout)``; ``broadcast`` and
    ``hidden`` take a static ``pin`` flag (diagonal blocks, see
    :func:`pin_diagonal` and the module docstring).
    """
    fns = build_layer_kernel_fns(arch, activation, tanh_deg=tanh_deg)

    def broadcast(k, sigma_w, pin):
        # Identity under vmap with out_axes=0: gives every Kernel leaf a
        # leading σ_w axis so that all later steps share in_axes=0.
        del sigma_w
        return pin_diagonal(k) if pin else k

    def hidden(k, sigma_w, sigma_b, pin):
        k = fns.hidden(k, sigma_w, sigma_b)
        return pin_diagonal(k) if pin else k

    broadcast_v = jax.jit(jax.vmap(broadcast, in_axes=(None, 0, None)), static_argnums=2)
    # The previous layer's Kernel is dead after each step: donate its buffers.
    hidden_v = jax.jit(
        jax.vmap(hidden, in_axes=(0, 0, None, None)),
        static_argnums=3,
        donate_argnums=0,
    )
    readout_v = jax.jit(jax.vmap(fns.readout, in_axes=(0, 0, None)))
    return fns, broadcast_v, hidden_v, readout_v


def sweep_block(
    arch: Architecture,
    activation: str,
    tanh_deg: int | None,
    x1: np.ndarray,
    x2: np.ndarray | None,
    sigma_w: np.ndarray,
    sigma_b: float,
    depths: np.ndarray,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(depth_index, nngp, ntk, cov1)`` for one block of examples.

    One pass over layers: the hidden map is applied ``max(depths)`` times in
    total and the readout only at the requested depths. ``x2=None`` marks a
    block of ``x1`` with itself, whose diagonal is pinned at every layer.

    Dense hidden layers with erf or relu go through the closed-form layer maps
    of :mod:`ntk_phases.analytic.fcn_closed_form` (jitted ``fori_loop`` over
    layers, equal to the neural-tangents maps to ~1e-14; its ``ENABLED`` flag
    switches it off); every other case uses neural-tangents' maps below.
    """
    fns, broadcast_v, hidden_v, readout_v = _jitted_maps(arch, activation, tanh_deg)
    pin = x2 is None
    sw = jnp.asarray(sigma_w, dtype=jnp.float64)
    sb = jnp.asarray(sigma_b, dtype=jnp.float64)
    k0 = fns.input_kernel(jnp.asarray(x1), None if pin else jnp.asarray(x2))
    if fcn_closed_form.supports(arch, activation):
        # dense hidden layers with erf/relu: the closed-form layer maps (same numbers)
        yield from fcn_closed_form.sweep(k0, arch.readout, activation, sigma_w, sigma_b, depths, pin)
        return

    def step(k):
        with warnings.catch_warnings():
            # the input Kernel's scalar NTK cannot be donated (shape change)
            warnings.filterwarnings("ignore", message="Some donated buffers")
            return hidden_v(k, sw, sb, pin)

    def readout(k):
        nngp, ntk, cov1 = readout_v(k, sw, sb)
        return np.asarray(nngp), np.asarray(ntk), np.asarray(cov1)

    for di, (nngp, ntk, cov1) in depth_loop(broadcast_v(k0, sw, pin), step, readout, depths):
        yield di, nngp, ntk, cov1


def depth_sweep(
    x_train: Any,
    x_test: Any | None,
    arch: str | Architecture,
    activation: str,
    sigma_w2: Any,
    sigma_b2: float,
    depths: Sequence[int],
    *,
    full_test: bool = False,
    test_diag: bool = True,
    batch_size: int | None = None,
    sigma_chunk: int | None = None,
    tanh_deg: int | None = None,
) -> dict[str, np.ndarray]:
    """Analytic NNGP and NTK at every requested depth, for a grid of σ_w².

    One pass over layers per block of examples, vmapped over σ_w (a traced
    ``W_std``). Depth ``l`` is ``l`` hidden layers plus the readout (depth 0:
    readout on the input).

    Args:
        x_train: training inputs, ``(n, H, W, C)`` (``fcn`` also takes ``(n, d)``).
        x_test: test inputs ``(m, ...)`` or ``None`` (then no test keys).
        arch: ``fcn``, ``cnn_f``, ``cnn_p`` or an :class:`Architecture`.
        activation: ``erf``, ``relu`` or ``tanh``.
        sigma_w2: weight variance(s), scalar or 1-D array of ``S`` values > 0.
        sigma_b2: bias variance (scalar >= 0).
        depths: depths to return (sorted and de-duplicated in the output).
        full_test: also return the full test×test blocks.
        test_diag: return the test diagonals (``False`` skips the test×test
            blocks they come from, unless ``full_test``).
        batch_size: examples per block (``None``: one block). Each block pair
            is propagated through all depths independently; peak memory then
            scales with ``batch_size**2`` instead of ``n**2`` (see
            :func:`batch_size_for_budget`). The train×train block is symmetric,
            so only blocks on and below its diagonal are computed.
        sigma_chunk: σ_w values vmapped at once (``None``: all); bounds memory
            along the σ axis as ``batch_size`` does along the data axis.
        tanh_deg: Gauss–Hermite degree for ``tanh`` (required there, no default: the
            config's ``kernels.tanh_deg``; ignored otherwise).

    Returns:
        dict of float64 numpy arrays (``S = len(sigma_w2)``, ``D = len(depths)``):

        - ``sigma_w2`` ``(S,)``, ``sigma_b2`` ``()``, ``depths`` ``(D,)`` int;
        - ``nngp_train``, ``ntk_train``: ``(S, D, n, n)``;
        - ``nngp_test_train``, ``ntk_test_train``: ``(S, D, m, n)``;
        - ``nngp_test_diag``, ``ntk_test_diag``: ``(S, D, m)`` (``K(x, x)``,
          ``Θ(x, x)`` at each test point);
        - with ``full_test``: ``nngp_test``, ``ntk_test``: ``(S, D, m, m)``.

    Raises:
        ValueError: bad arguments, non-finite inputs, or non-finite kernels
            (e.g. overflow at extreme depth/σ_w²).
    """
    a = as_architecture(arch)
    build_layer_kernel_fns(a, activation, tanh_deg=tanh_deg)  # validates activation
    x_train = check_inputs(x_train, "x_train", a)
    if x_test is not None:
        x_test = check_inputs(x_test, "x_test", a)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"x_test shape {x_test.shape} does not match x_train {x_train.shape}")
    sw2, sb2 = check_sigmas(sigma_w2, sigma_b2)
    dd = check_depths(depths)
    sw_all, sb = np.sqrt(sw2), float(np.sqrt(sb2))
    S, D, n = sw2.size, dd.size, x_train.shape[0]
    m = 0 if x_test is None else x_test.shape[0]

    out: dict[str, np.ndarray] = {
        "sigma_w2": sw2,
        "sigma_b2": np.asarray(sb2),
        "depths": dd,
    }
    for key in KERNEL_KEYS:
        out[f"{key}_train"] = np.empty((S, D, n, n))
        if x_test is not None:
            out[f"{key}_test_train"] = np.empty((S, D, m, n))
            if test_diag or full_test:
                out[f"{key}_test_diag"] = np.empty((S, D, m))
            if full_test:
                out[f"{key}_test"] = np.empty((S, D, m, m))

    s_blocks = _blocks(S, sigma_chunk)
    train_blocks = _blocks(n, batch_size)
    test_blocks = _blocks(m, batch_size) if x_test is not None else []

    def fill(prefix, x1, x2, s_sl, sl1, sl2, mirror=False, test_diag=False):
        """Propagate one block pair through all depths and store it."""
        blocks = sweep_block(a, activation, tanh_deg, x1, x2, sw_all[s_sl], sb, dd)
        for di, nngp, ntk, _ in blocks:
            for key, val in (("nngp", nngp), ("ntk", ntk)):
                if prefix is not None:
                    out[f"{key}_{prefix}"][s_sl, di, sl1, sl2] = val
                    if mirror:
                        out[f"{key}_{prefix}"][s_sl, di, sl2, sl1] = np.swapaxes(val, -1, -2)
                if test_diag:
                    out[f"{key}_test_diag"][s_sl, di, sl1] = np.diagonal(val, axis1=-2, axis2=-1)

    for s_sl in s_blocks:
        # train × train: lower block triangle, mirrored. Blocks on the diagonal
        # are computed as (x, None), never (x, x): see the note on exact
        # diagonals in the module docstring.
        for i, bi in enumerate(train_blocks):
            for bj in train_blocks[: i + 1]:
                same = bi == bj
                x2 = None if same else x_train[bj]
                fill("train", x_train[bi], x2, s_sl, bi, bj, mirror=not same)
        if x_test is None:
            continue
        # test × train
        for bi in test_blocks:
            for bj in train_blocks:
                fill("test_train", x_test[bi], x_train[bj], s_sl, bi, bj)
        # test × test: full (lower triangle, mirrored) or diagonal blocks only
        for i, bi in enumerate(test_blocks if test_diag or full_test else []):
            for bj in test_blocks[: i + 1] if full_test else [bi]:
                same = bi == bj
                fill(
                    "test" if full_test else None,
                    x_test[bi],
                    None if same else x_test[bj],
                    s_sl,
                    bi,
                    bj,
                    mirror=not same,
                    test_diag=same,
                )

    for key, val in out.items():
        if val.dtype.kind == "f" and not np.all(np.isfinite(val)):
            raise ValueError(
                f"non-finite values in {key} (overflow at large depth/σ_w²?); reduce the depth range or σ_w² grid"
            )
    return out


# ----------------------------------------------------------------------------
# memory: estimate, batch size for a budget, measurement
# ----------------------------------------------------------------------------

#: Live kernel-sized arrays at the peak of one step (NNGP and NTK, before and
#: after the layer, plus temporaries); calibrated by ``bench/bench_depth_sweep.py``.
_LIVE_ARRAYS = 12
#: Kernel-sized float64 arrays per quadrature node of the numerical ``tanh`` layer
#: (``deg²`` nodes): its integrands and their products are materialized at once.
#: Measured peak RSS against degree (64 vs 128, float64): 3.0 per node and entry for
#: ``fcn`` (64 × 64 examples), 3.4 for ``cnn_p`` (2 examples, 8 × 8 images). Counted
#: as 1 (before), a tanh block's peak was ~3× what the budget allowed for it.
_TANH_ARRAYS_PER_NODE = 4


def estimate_block_bytes(
    arch: str | Architecture,
    input_shape: Sequence[int],
    n1: int,
    n2: int,
    n_sigma: int = 1,
    activation: str | None = None,
    tanh_deg: int | None = None,
) -> int:
    """Rough peak bytes of propagating one ``n1 × n2`` block of examples.

    ``input_shape`` is one example's shape ``(H, W, C)``. A kernel entry
    carries ``P`` spatial values: 1 (``fcn``), ``H·W`` (``cnn_f``,
    spatial diagonal) or ``(H·W)²`` (``cnn_p``, full spatial covariance). The
    numerical ``tanh`` layer adds ``4·deg²`` temporaries per entry (measured): ``tanh_deg``
    is required for ``activation="tanh"`` (no default) and unused otherwise.
    """
    a = as_architecture(arch)
    spatial = int(np.prod(input_shape[:-1])) if len(input_shape) > 1 else 1
    if a.hidden == "dense":
        p = 1
    elif a.readout == "pool":
        p = spatial**2
    else:
        p = spatial
    if activation == "tanh" and tanh_deg is None:
        raise ValueError("activation tanh needs its Gauss–Hermite degree (tanh_deg)")
    live = _LIVE_ARRAYS + (_TANH_ARRAYS_PER_NODE * tanh_deg**2 if activation == "tanh" else 0)
    return int(live * n_sigma * n1 * n2 * p * 8)


def batch_size_for_budget(
    arch: str | Architecture,
    input_shape: Sequence[int],
    n_examples: int,
    budget_bytes: float,
    n_sigma: int = 1,
    activation: str | None = None,
    tanh_deg: int | None = None,
) -> int:
    """Largest ``batch_size`` whose :func:`estimate_block_bytes` fits a budget (>= 1)."""
    per_pair = estimate_block_bytes(arch, input_shape, 1, 1, n_sigma, activation, tanh_deg)
    b = int(np.floor(np.sqrt(max(budget_bytes, 0) / per_pair)))
    return int(min(max(b, 1), n_examples))


# ----------------------------------------------------------------------------
# streaming metrics
# ----------------------------------------------------------------------------

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
    train_block = batch_size_for_budget(arch, input_shape, n_train, free / 2, n_sigma, activation, tanh_deg)
    per_row = (
        estimate_block_bytes(arch, input_shape, 1, train_block, n_sigma, activation, tanh_deg)
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
        for di, k, t, cov1 in sweep_block(arch, activation, tanh_deg, x_rows, x_train[sl], sw, sb, depths):
            nngp[:, di, :, sl], ntk[:, di, :, sl], diag[:, di] = k, t, cov1
    return nngp, ntk, diag


def _check_test_kernels(nngp, ntk, diag) -> None:
    for name, val in (("nngp", nngp), ("ntk", ntk), ("K(x, x)", diag)):
        if not np.all(np.isfinite(val)):
            raise ValueError(
                f"non-finite test {name} kernels (overflow at large depth/σ_w²?); reduce the depth range or σ_w² grid"
            )


def _stream_batch(
    arch, activation, tanh_deg, x_rows, x_train, sw, sb, depths, states, sums, y_rows, first, n_quad
) -> float:
    """Test rows × the whole train set through all layers, each depth's readout kernels
    reduced by :func:`streaming.point_sums` into ``sums`` as it arrives; returns the seconds
    spent waiting for kernels."""
    blocks = sweep_block(arch, activation, tanh_deg, x_rows, x_train, sw, sb, depths)
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
    rcond: float | None,
    learning_rate: Any,
    initial_function: bool,
    n_quad: int = 64,
    plan: BatchPlan | None = None,
) -> dict[str, Any]:
    """Metrics of every (σ_w², depth) of one kernels job, computed without storing kernels.

    Args:
        x_train, x_test: inputs (NHWC, or ``(n, d)`` for ``fcn``).
        y_train: ``(n, C)`` regression targets; y_test: integer labels or one-hot.
        arch, activation, sigma_w2 (``S`` values), sigma_b2, depths (``D``), times (``T``):
            as :func:`ntk_phases.depth_sweep` and :func:`streaming.kernel_metrics`.
        memory_mb: budget for the kernel and metric arrays (:func:`plan_batches`).
        arch: a name (``convention: ours``) or an :class:`~ntk_phases.architectures.Architecture`.
        rcond: config ``metrics.rcond``.
        learning_rate: η (None: 2/λ_max at each kernel); initial_function: include f₀
            in the accuracies (:func:`streaming.train_metrics`'s ``moments``); both follow
            config ``convention`` (:mod:`ntk_phases.conventions`).
        plan: explicit batch sizes instead of those derived from ``memory_mb``.

    Returns:
        dict with ``sigma_w2`` ``(S,)``, ``depths`` ``(D,)``, each of
        :data:`streaming.PER_POINT` as ``(S, D)`` and of :data:`streaming.PER_TIME` as
        ``(S, D, T)``, and ``plan`` (the :class:`BatchPlan` used).
    """
    arch = as_architecture(arch)
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
        plan.train_block,
        _balanced_slices(m, plan.test_batch)[0].stop,
        -(-m // plan.test_batch),
        plan.budget_bytes / 2**20,
        plan.stored_bytes / 2**20,
    )
    t0 = time.perf_counter()
    train = depth_sweep(
        x_train,
        None,
        arch,
        activation,
        sw2,
        sigma_b2,
        dd,
        batch_size=plan.train_block,
        tanh_deg=tanh_deg,
    )
    per_depth, states = [], []
    for di in range(dd.size):
        values, state = streaming.train_metrics(
            train["ntk_train"][:, di],
            train["nngp_train"][:, di],
            y_train,
            tt,
            learning_rate=learning_rate,
            rcond=rcond,
            n_quad=n_quad,
            moments=initial_function,
        )
        per_depth.append(values)
        states.append(state)
    del train
    log.info("train x train: %d depths in %.1fs; peak RSS %.0f MB", dd.size, time.perf_counter() - t0, peak_rss_mb())

    sw, sb = np.sqrt(sw2), float(np.sqrt(sigma_b2))
    sums: list[dict | None] = [None] * dd.size
    for bi, rows in enumerate(_balanced_slices(m, plan.test_batch)):
        t1 = time.perf_counter()
        if plan.train_block >= n:
            # one train block: reduce each depth as soon as its kernels arrive (the same
            # numbers as below, without holding every depth's kernels of the batch)
            t_kernels = _stream_batch(
                arch,
                activation,
                int(tanh_deg),
                x_test[rows],
                x_train,
                sw,
                sb,
                dd,
                states,
                sums,
                y_test[rows],
                rows.start,
                n_quad,
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
                    states[di],
                    ntk[:, di],
                    nngp[:, di],
                    diag[:, di],
                    y_test[rows],
                    first=rows.start,
                    n_quad=n_quad,
                )
                sums[di] = streaming.add_sums(sums[di], batch)
            del nngp, ntk, diag
        t3 = time.perf_counter()
        log.info(
            "test batch %d (points %d-%d of %d): kernels %.1fs, metrics %.1fs; peak RSS %.0f MB",
            bi + 1,
            rows.start,
            rows.stop - 1,
            m,
            t2 - t1,
            t3 - t2,
            peak_rss_mb(),
        )

    out: dict[str, Any] = {"sigma_w2": sw2, "depths": dd, "plan": plan}
    finished = [{**per_depth[di], **streaming.finish_sums(sums[di])} for di in range(dd.size)]
    for key in (*streaming.PER_POINT, *streaming.PER_TIME):
        out[key] = np.stack([f[key] for f in finished], axis=1)
    return out
