"""Analytic NNGP and NTK kernels of the architectures, for every depth in one pass.

Pure functions (arrays in, arrays out), float64 throughout (``jax_enable_x64``
is switched on at import: deep chaotic kernels overflow float32).

An architecture (:mod:`ntk_phases.architectures`) is turned into neural-tangents
``stax`` layers (NTK parameterization, the ``stax`` default):

- input preprocessing: ``Flatten`` for ``fcn`` (NHWC images become vectors),
  nothing for the convolutional architectures;
- one hidden layer: ``Dense(W_std=σ_w, b_std=σ_b)`` or
  ``Conv(3x3, padding="CIRCULAR", W_std=σ_w, b_std=σ_b)``, then φ
  (``erf``: ``stax.Erf()``, ``relu``: ``stax.Relu()``, ``tanh``:
  ``stax.ElementwiseNumerical(jnp.tanh, deg, df)`` — Gauss–Hermite quadrature);
  φ then the affine map for an architecture of ``order="activation_first"`` (the
  notebook's F3–F5 network, ``fcn_preact``);
- readout: ``Flatten`` (or ``GlobalAvgPool`` for ``cnn_p``) then
  ``Dense(1, W_std=σ_w, b_std=σ_b)``.

A network of depth ``l`` is ``input, hidden × l, readout``; depth 0 is the
readout applied to the input.

:func:`depth_sweep` applies the hidden layer's kernel map repeatedly to a
running neural-tangents :class:`~neural_tangents.Kernel` (a Python loop over
layers calling one jitted, σ_w-vmapped step) and applies the readout map at the
requested depths, so all depths cost as much as the deepest one.
:func:`kernels_per_depth_reference` rebuilds one ``stax.serial`` network per
depth; it exists for tests and the benchmark only.

neural-tangents notes (0.6.5, checked here):

- ``W_std`` may be a traced value: ``Dense``/``Conv`` kernel maps only compute
  ``W_std**2 * cov + b_std**2`` and the shape inference (``jax.eval_shape`` of
  ``apply_fn``) closes over it without concretizing, so ``jax.vmap`` over σ_w
  works directly; no workaround is needed (tests compare against a Python loop
  over σ_w).
- ``Conv`` flips the static ``Kernel.is_reversed`` flag at every layer, so the
  carried Kernel does not have a fixed pytree structure from one layer to the
  next. That rules out a plain ``lax.scan`` over single layers; the per-layer
  step is jitted instead and simply compiles twice (one per parity).
- ``cnn_f`` only needs the spatial diagonal of the covariance (the flatten
  readout averages it), ``cnn_p`` needs the full spatial covariance (global
  average pooling sums every pair of positions): the input Kernel is built with
  ``diagonal_spatial`` accordingly, exactly what ``stax.serial`` infers for
  the whole network. The full spatial covariance makes ``cnn_p`` cost
  ``O(n1 n2 (HW)^2)`` memory per σ_w: use ``batch_size``/``sigma_chunk``.
- Exact diagonals (a correction to plain neural-tangents): a Kernel stores
  each point's variance twice, in ``cov1[i]`` and in ``nngp[i, i]``, and
  updates them by different formulas (the nonlinearity's map on the
  diagonal, and its two-point map at correlation ``nngp[i, i] /
  √(cov1[i] cov1[i])``). They differ in the last bits, so the computed
  self-correlation is 1 − O(ε); in the chaotic phase c = 1 is an unstable
  fixed point of the correlation map (slope χ₁ > 1) and that error grows
  like χ₁^l. Measured with plain ``stax.serial`` on 8x8 digits, erf,
  σ_w² = 3, σ_b² = 0.18: Θ_aa off by 4e-4 (relative) at depth 100 (1e-9 at
  depth 50), against the exact scalar recursion of the diagonal. The sweep
  therefore computes blocks of a set with itself as ``kernel_fn(x, None)``
  and resets ``nngp[i, i] = cov1[i]`` after every layer (``_pin_diagonal``),
  which holds Θ_aa to the scalar recursion to ~1e-14 (tested at depth 100).
  Off-diagonal entries and test × train blocks are untouched; they match
  ``stax.serial`` to ~1e-14 at any depth.
- ``tanh`` through ``ElementwiseNumerical``: its Gauss–Hermite quadrature is
  coarse for saturating activations (at the suggested ``deg=25``, Ṫ is off by
  ~10% once the pre-activation variance is ~4; see :data:`DEFAULT_TANH_DEG`
  for measured errors), it is not symmetric in its two arguments, and it
  materializes ``deg**2`` copies of every kernel entry: prefer ``erf`` for
  kernel sweeps, and raise ``tanh_deg`` with ``batch_size``/``sigma_chunk``.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

from ntk_phases.architectures import (
    ACTIVATIONS,
    Architecture,
    get_architecture,
)  # noqa: E402
from ntk_phases.analytic import fcn_closed_form  # noqa: E402

__all__ = [
    "DEFAULT_TANH_DEG",
    "LayerKernelFns",
    "build_layer_kernel_fns",
    "stax_network",
    "depth_sweep",
    "kernels_per_depth_reference",
    "estimate_block_bytes",
    "batch_size_for_budget",
    "measure_peak_memory",
    "current_rss_bytes",
]

#: Gauss–Hermite degree of the numerical ``tanh`` layer. neural-tangents
#: suggests 25 as a starting point, but for tanh that is far too coarse once the
#: pre-activation variance q exceeds ~1: measured relative errors of one layer
#: (T = E[φφ] / Ṫ = E[φ'φ'], correlation 0.99, against degree 3000):
#:
#: ====  ==============  ==============  ==============  ==============
#: deg   q = 1           q = 4           q = 10          q = 25
#: ====  ==============  ==============  ==============  ==============
#: 25    3e-5 / 4e-4     7e-3 / 8e-2     4e-2 / 4e-1     9e-2 / 1
#: 50    7e-8 / 2e-6     3e-4 / 7e-3     6e-3 / 1e-1     3e-2 / 4e-1
#: 100   7e-12 / 3e-10   3e-6 / 1e-4     3e-4 / 1e-2     4e-3 / 1e-1
#: 200   3e-14 / 4e-14   5e-9 / 4e-7     5e-6 / 3e-4     3e-4 / 2e-2
#: ====  ==============  ==============  ==============  ==============
#:
#: Cost and memory grow as deg² per kernel entry (the layer materializes a
#: ``(deg, deg, *kernel.shape)`` array), so raise ``tanh_deg`` together with
#: ``batch_size``/``sigma_chunk`` for large σ_w². The quadrature is also not
#: symmetric in its two arguments: Θ(x, x') − Θ(x', x) is of the order of the
#: error above.
DEFAULT_TANH_DEG = 64

_KERNEL_KEYS = ("nngp", "ntk")


def _tanh_prime(x):
    return 1.0 - jnp.tanh(x) ** 2


def activation_layer(activation: str, tanh_deg: int = DEFAULT_TANH_DEG):
    """The neural-tangents ``stax`` layer of a nonlinearity (tanh by quadrature)."""
    if activation == "erf":
        return stax.Erf()
    if activation == "relu":
        return stax.Relu()
    if activation == "tanh":
        with warnings.catch_warnings():
            # neural-tangents warns on every construction that accuracy is
            # controlled by `deg`; we pass the analytic derivative.
            warnings.simplefilter("ignore")
            return stax.ElementwiseNumerical(jnp.tanh, deg=tanh_deg, df=_tanh_prime)
    raise ValueError(
        f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}"
    )


def _as_arch(arch: str | Architecture, convention: str = "ours") -> Architecture:
    return arch if isinstance(arch, Architecture) else get_architecture(arch, convention)


@dataclass(frozen=True)
class LayerKernelFns:
    """Layer-level kernel maps of one architecture and activation.

    ``sigma_w`` and ``sigma_b`` are standard deviations (not variances) and may
    be traced JAX values (``jax.vmap``/``jax.jit``).

    Attributes:
        arch: the architecture description.
        activation: ``"erf"``, ``"relu"`` or ``"tanh"``.
        tanh_deg: quadrature degree used for ``tanh``.
        diagonal_spatial: whether the input Kernel keeps only the spatial
            diagonal of the covariance (``False`` for pooled readouts).
    """

    arch: Architecture
    activation: str
    tanh_deg: int
    diagonal_spatial: bool

    # -- stax layers ---------------------------------------------------------
    def input_layers(self) -> list:
        """Preprocessing layers (``Flatten`` for ``fcn``) and the read-in layer, if any."""
        layers = [stax.Flatten()] if self.arch.hidden == "dense" else []
        if self.arch.readin == "dense":
            layers.append(stax.Dense(1, W_std=1.0, b_std=None))
        return layers

    def hidden_layers(self, sigma_w, sigma_b) -> list:
        """One hidden layer as stax layers: ``[affine, φ]``, or ``[φ, affine]`` for an
        architecture of ``order="activation_first"``."""
        if self.arch.hidden == "dense":
            affine = stax.Dense(1, W_std=sigma_w, b_std=sigma_b)
        elif self.arch.hidden == "conv":
            affine = stax.Conv(
                1,
                tuple(self.arch.kernel_size),
                padding=self.arch.padding,
                W_std=sigma_w,
                b_std=sigma_b,
            )
        else:
            raise ValueError(f"unknown hidden layer type {self.arch.hidden!r}")
        phi = activation_layer(self.activation, self.tanh_deg)
        return [phi, affine] if self.arch.order == "activation_first" else [affine, phi]

    def readout_layers(self, sigma_w, sigma_b) -> list:
        """Readout ``[Flatten | GlobalAvgPool, Dense(1)]`` as stax layers (none: ``[]``)."""
        if self.arch.readout == "none":
            return []
        if self.arch.readout == "flatten":
            pool = stax.Flatten()
        elif self.arch.readout == "pool":
            pool = stax.GlobalAvgPool()
        else:
            raise ValueError(f"unknown readout {self.arch.readout!r}")
        return [pool, stax.Dense(1, W_std=sigma_w, b_std=sigma_b)]

    # -- kernel maps -----------------------------------------------------------
    def input_kernel(self, x1, x2=None):
        """The neural-tangents Kernel of the (preprocessed) inputs.

        ``x2=None`` means ``x2 = x1`` (neural-tangents convention: ``cov2`` is
        then not stored).
        """
        layers = self.input_layers() or [stax.Identity()]
        _, _, kernel_fn = stax.serial(*layers)
        return kernel_fn(
            x1,
            x2,
            get=None,
            diagonal_batch=True,
            diagonal_spatial=self.diagonal_spatial,
        )

    def hidden(self, k, sigma_w, sigma_b):
        """Apply one hidden layer's kernel map to a Kernel."""
        _, _, kernel_fn = stax.serial(*self.hidden_layers(sigma_w, sigma_b))
        return kernel_fn(k)

    def readout(self, k, sigma_w, sigma_b):
        """Apply the readout kernel map; returns ``(nngp, ntk, cov1)``.

        ``nngp``/``ntk`` have shape ``(n1, n2)``; ``cov1`` is the NNGP
        variance of the output at the first batch, shape ``(n1,)``.
        """
        layers = self.readout_layers(sigma_w, sigma_b)
        out = stax.serial(*layers)[2](k) if layers else k
        return out.nngp, out.ntk, out.cov1


def build_layer_kernel_fns(
    arch: str | Architecture, activation: str, *, tanh_deg: int = DEFAULT_TANH_DEG
) -> LayerKernelFns:
    """Kernel maps of the input preprocessing, one hidden layer and the readout.

    Args:
        arch: architecture name (``fcn``, ``cnn_f``, ``cnn_p``) or description.
        activation: ``erf``, ``relu`` or ``tanh``.
        tanh_deg: Gauss–Hermite degree for ``tanh`` (ignored otherwise).
    """
    a = _as_arch(arch)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}"
        )
    diagonal_spatial = not (a.hidden == "conv" and a.readout == "pool")
    return LayerKernelFns(a, activation, int(tanh_deg), diagonal_spatial)


def stax_network(
    arch: str | Architecture,
    activation: str,
    depth: int,
    sigma_w,
    sigma_b,
    *,
    tanh_deg: int = DEFAULT_TANH_DEG,
):
    """The full ``stax.serial`` network of a given depth: ``(init_fn, apply_fn, kernel_fn)``.

    ``sigma_w``/``sigma_b`` are standard deviations. Width arguments are 1
    (ignored by ``kernel_fn`` in NTK parameterization).
    """
    fns = build_layer_kernel_fns(arch, activation, tanh_deg=tanh_deg)
    layers = list(fns.input_layers())
    for _ in range(int(depth)):
        layers += fns.hidden_layers(sigma_w, sigma_b)
    layers += fns.readout_layers(sigma_w, sigma_b)
    return stax.serial(*layers)


# ----------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------


def _check_inputs(x: Any, name: str, arch: Architecture) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values")
    if arch.hidden == "conv" and x.ndim != 4:
        raise ValueError(
            f"{name} must be NHWC (4-D) for {arch.name}, got shape {x.shape}"
        )
    if x.ndim < 2:
        raise ValueError(f"{name} must have a leading batch axis, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


def _check_sigmas(sigma_w2: Any, sigma_b2: Any) -> tuple[np.ndarray, float]:
    sw2 = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
    if sw2.ndim != 1:
        raise ValueError(
            f"sigma_w2 must be a scalar or 1-D array, got shape {sw2.shape}"
        )
    if not np.all(np.isfinite(sw2)) or np.any(sw2 <= 0):
        raise ValueError("sigma_w2 must be finite and > 0")
    sb2 = float(sigma_b2)
    if not np.isfinite(sb2) or sb2 < 0:
        raise ValueError("sigma_b2 must be finite and >= 0")
    return sw2, sb2


def _check_depths(depths: Sequence[int]) -> np.ndarray:
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


def _pin_diagonal(k):
    """Set the batch diagonal of ``nngp`` to the variances ``cov1``.

    For a block of an input set with itself, ``nngp[i, i]`` and ``cov1[i]``
    are the same covariance (same layout, spatial axes included, as
    neural-tangents keeps ``cov1`` at full batch-diagonal resolution).
    """
    idx = jnp.arange(k.nngp.shape[0])
    return k.replace(nngp=k.nngp.at[idx, idx].set(k.cov1))


@functools.lru_cache(maxsize=32)
def _jitted_maps(arch: Architecture, activation: str, tanh_deg: int):
    """Jitted, σ_w-vmapped kernel maps, cached so repeated sweeps reuse compiles.

    Returns ``(fns, broadcast, hidden, readout)``; ``broadcast`` and
    ``hidden`` take a static ``pin`` flag (diagonal blocks, see
    :func:`_pin_diagonal` and the module docstring).
    """
    fns = build_layer_kernel_fns(arch, activation, tanh_deg=tanh_deg)

    def broadcast(k, sigma_w, pin):
        # Identity under vmap with out_axes=0: gives every Kernel leaf a
        # leading σ_w axis so that all later steps share in_axes=0.
        del sigma_w
        return _pin_diagonal(k) if pin else k

    def hidden(k, sigma_w, sigma_b, pin):
        k = fns.hidden(k, sigma_w, sigma_b)
        return _pin_diagonal(k) if pin else k

    broadcast_v = jax.jit(
        jax.vmap(broadcast, in_axes=(None, 0, None)), static_argnums=2
    )
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
    tanh_deg: int,
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
    k = broadcast_v(k0, sw, pin)
    layer = 0
    for di, depth in enumerate(depths):
        while layer < depth:
            with warnings.catch_warnings():
                # the input Kernel's scalar NTK cannot be donated (shape change)
                warnings.filterwarnings("ignore", message="Some donated buffers")
                k = hidden_v(k, sw, sb, pin)
            layer += 1
        nngp, ntk, cov1 = readout_v(k, sw, sb)
        yield di, np.asarray(nngp), np.asarray(ntk), np.asarray(cov1)


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
    tanh_deg: int = DEFAULT_TANH_DEG,
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
        tanh_deg: Gauss–Hermite degree for ``tanh``.

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
    a = _as_arch(arch)
    build_layer_kernel_fns(a, activation, tanh_deg=tanh_deg)  # validates activation
    x_train = _check_inputs(x_train, "x_train", a)
    if x_test is not None:
        x_test = _check_inputs(x_test, "x_test", a)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(
                f"x_test shape {x_test.shape} does not match x_train {x_train.shape}"
            )
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    dd = _check_depths(depths)
    sw_all, sb = np.sqrt(sw2), float(np.sqrt(sb2))
    S, D, n = sw2.size, dd.size, x_train.shape[0]
    m = 0 if x_test is None else x_test.shape[0]

    out: dict[str, np.ndarray] = {
        "sigma_w2": sw2,
        "sigma_b2": np.asarray(sb2),
        "depths": dd,
    }
    for key in _KERNEL_KEYS:
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
        blocks = sweep_block(a, activation, int(tanh_deg), x1, x2, sw_all[s_sl], sb, dd)
        for di, nngp, ntk, _ in blocks:
            for key, val in (("nngp", nngp), ("ntk", ntk)):
                if prefix is not None:
                    out[f"{key}_{prefix}"][s_sl, di, sl1, sl2] = val
                    if mirror:
                        out[f"{key}_{prefix}"][s_sl, di, sl2, sl1] = np.swapaxes(
                            val, -1, -2
                        )
                if test_diag:
                    out[f"{key}_test_diag"][s_sl, di, sl1] = np.diagonal(
                        val, axis1=-2, axis2=-1
                    )

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
                f"non-finite values in {key} (overflow at large depth/σ_w²?); "
                "reduce the depth range or σ_w² grid"
            )
    return out


# ----------------------------------------------------------------------------
# reference: one stax.serial network per depth (tests and benchmark only)
# ----------------------------------------------------------------------------


def kernels_per_depth_reference(
    x_train: Any,
    x_test: Any | None,
    arch: str | Architecture,
    activation: str,
    sigma_w2: Any,
    sigma_b2: float,
    depths: Sequence[int],
    *,
    full_test: bool = False,
    vmap_sigma: bool = True,
    jit: bool = True,
    tanh_deg: int = DEFAULT_TANH_DEG,
) -> dict[str, np.ndarray]:
    """Same output as :func:`depth_sweep`, rebuilding ``stax.serial`` per depth.

    Slow (cost grows with the sum of the depths); for tests and the benchmark
    only. ``vmap_sigma=False`` loops over σ_w² in Python with concrete
    ``W_std`` (eagerly, no jit) instead of vmapping, as an independent check
    of the traced path; ``jit`` compiles each depth's vmapped network as a
    whole (compile time grows with depth).
    Test diagonals are taken from the full test×test kernel.
    """
    a = _as_arch(arch)
    x_train = _check_inputs(x_train, "x_train", a)
    if x_test is not None:
        x_test = _check_inputs(x_test, "x_test", a)
    sw2, sb2 = _check_sigmas(sigma_w2, sigma_b2)
    dd = _check_depths(depths)
    sb = float(np.sqrt(sb2))

    def kernels_one(depth, sw):
        _, _, kernel_fn = stax_network(a, activation, depth, sw, sb, tanh_deg=tanh_deg)
        res = {}
        k = kernel_fn(x_train, None, ("nngp", "ntk"))
        res["nngp_train"], res["ntk_train"] = k.nngp, k.ntk
        if x_test is not None:
            k = kernel_fn(x_test, x_train, ("nngp", "ntk"))
            res["nngp_test_train"], res["ntk_test_train"] = k.nngp, k.ntk
            k = kernel_fn(x_test, None, ("nngp", "ntk"))
            res["nngp_test"], res["ntk_test"] = k.nngp, k.ntk
        return res

    per_depth = []
    for depth in dd:
        if vmap_sigma:
            fn = jax.vmap(lambda sw, depth=int(depth): kernels_one(depth, sw))
            if jit:
                fn = jax.jit(fn)
            res = {k: np.asarray(v) for k, v in fn(jnp.asarray(np.sqrt(sw2))).items()}
        else:
            rows = [kernels_one(int(depth), float(np.sqrt(s))) for s in sw2]
            res = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
        per_depth.append(res)

    out: dict[str, np.ndarray] = {
        "sigma_w2": sw2,
        "sigma_b2": np.asarray(sb2),
        "depths": dd,
    }
    for key in per_depth[0]:
        out[key] = np.stack([r[key] for r in per_depth], axis=1)
    if x_test is not None:
        for key in _KERNEL_KEYS:
            out[f"{key}_test_diag"] = np.diagonal(
                out[f"{key}_test"], axis1=-2, axis2=-1
            ).copy()
            if not full_test:
                del out[f"{key}_test"]
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
    activation: str = "erf",
    tanh_deg: int = DEFAULT_TANH_DEG,
) -> int:
    """Rough peak bytes of propagating one ``n1 × n2`` block of examples.

    ``input_shape`` is one example's shape ``(H, W, C)``. A kernel entry
    carries ``P`` spatial values: 1 (``fcn``), ``H·W`` (``cnn_f``,
    spatial diagonal) or ``(H·W)²`` (``cnn_p``, full spatial covariance). The
    numerical ``tanh`` layer adds ``4·deg²`` temporaries per entry (measured).
    """
    a = _as_arch(arch)
    spatial = int(np.prod(input_shape[:-1])) if len(input_shape) > 1 else 1
    if a.hidden == "dense":
        p = 1
    elif a.readout == "pool":
        p = spatial**2
    else:
        p = spatial
    live = _LIVE_ARRAYS + (_TANH_ARRAYS_PER_NODE * tanh_deg**2 if activation == "tanh" else 0)
    return int(live * n_sigma * n1 * n2 * p * 8)


def batch_size_for_budget(
    arch: str | Architecture,
    input_shape: Sequence[int],
    n_examples: int,
    budget_bytes: float,
    n_sigma: int = 1,
    activation: str = "erf",
    tanh_deg: int = DEFAULT_TANH_DEG,
) -> int:
    """Largest ``batch_size`` whose :func:`estimate_block_bytes` fits a budget (>= 1)."""
    per_pair = estimate_block_bytes(
        arch, input_shape, 1, 1, n_sigma, activation, tanh_deg
    )
    b = int(np.floor(np.sqrt(max(budget_bytes, 0) / per_pair)))
    return int(min(max(b, 1), n_examples))


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; else max RSS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def measure_peak_memory(
    fn: Callable[..., Any], *args: Any, interval: float = 0.002, **kwargs: Any
) -> tuple[Any, dict[str, float]]:
    """Run ``fn(*args, **kwargs)`` and sample this process's RSS meanwhile.

    ``ru_maxrss`` only ever grows over a process's life, so a background
    thread samples the current RSS instead; XLA's CPU buffers live in process
    memory, so this captures them. Returns ``(result, stats)`` with
    ``stats = {"baseline_bytes", "peak_bytes", "peak_increase_bytes",
    "seconds"}``. Freed memory is not always returned to the OS at once, so
    measure small configurations before large ones.
    """
    baseline = current_rss_bytes()
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], current_rss_bytes())
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        stop.set()
        thread.join()
    seconds = time.perf_counter() - t0
    peak[0] = max(peak[0], current_rss_bytes())
    return result, {
        "baseline_bytes": float(baseline),
        "peak_bytes": float(peak[0]),
        "peak_increase_bytes": float(peak[0] - baseline),
        "seconds": seconds,
    }
