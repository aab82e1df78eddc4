"""Finite-width flax networks in NTK parameterization, built from :mod:`architectures`.

Conventions (identical to ``neural_tangents.stax`` with ``parameterization='ntk'``):

- Dense layer with fan-in ``n``: ``y = (σ_w/√n) x·W + σ_b b`` with ``W, b ~ N(0, 1)``.
- Conv layer: the same with fan-in ``n = kh·kw·c_in``; stride 1; ``CIRCULAR`` padding
  (the input is wrapped with ``jnp.pad(mode='wrap')`` exactly as stax does — ``lo =
  (k−1)//2``, ``hi = k−1−lo`` — then a ``VALID`` convolution); layout NHWC / HWIO.
- depth ``l`` = number of hidden ``[affine, φ]`` layers; depth 0 is the readout alone.
- ``fcn`` flattens the input first; ``cnn_f`` flattens after the convolutions; ``cnn_p``
  global-average-pools over the spatial axes; the readout is ``Dense(n_out)`` with the same
  ``σ_w, σ_b``.

``σ_w`` and ``σ_b`` (standard deviations, not variances) are *call arguments*, not
parameters, so one compiled function (vmapped over them) serves a whole σ_w² grid, and the
stored parameters are the standard normals of stax's NTK parameterization.

Hidden layers 2..l share shapes, so they are stored stacked (leading axis ``l−1``) and run
with ``lax.scan``: compile time does not grow with depth.

Parameter tree (``params``): ``input_W, input_b`` (first hidden layer, depth ≥ 1),
``hidden_W, hidden_b`` (stacked layers 2..l, depth ≥ 2), ``readout_W, readout_b``.

This module imports only jax, flax and numpy (never neural-tangents), so training runs on
any jax version.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..architectures import ACTIVATIONS, Architecture, get_architecture

Params = Any  # a pytree (dict) of arrays

ACTIVATION_FNS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "erf": jax.scipy.special.erf,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
}
assert set(ACTIVATION_FNS) == set(ACTIVATIONS)

_CONV_DIMS = ("NHWC", "HWIO", "NHWC")


def _std_normal(key: jax.Array, shape: Sequence[int], dtype: Any) -> jax.Array:
    return jax.random.normal(key, shape, dtype)


def circular_pad(x: jax.Array, kernel_size: Sequence[int]) -> jax.Array:
    """Wrap an NHWC batch so that a VALID conv with ``kernel_size`` keeps H and W (stax's
    ``CIRCULAR``: ``SAME`` pad amounts, ``mode='wrap'``)."""
    pads = [(0, 0)]
    for k in kernel_size:
        lo = (k - 1) // 2
        pads.append((lo, k - 1 - lo))
    pads.append((0, 0))
    return jnp.pad(x, pads, mode="wrap")


def ntk_dense(x: jax.Array, W: jax.Array, b: jax.Array, sigma_w, sigma_b) -> jax.Array:
    """``(σ_w/√fan_in) x·W + σ_b b`` on the last axis."""
    # math.sqrt: a Python float is weakly typed, so float32 stays float32 under x64
    return (sigma_w / math.sqrt(W.shape[0])) * (x @ W) + sigma_b * b


def ntk_conv(x: jax.Array, W: jax.Array, b: jax.Array, sigma_w, sigma_b, padding: str) -> jax.Array:
    """NHWC conv, HWIO kernel, stride 1, fan-in ``kh·kw·c_in``."""
    kh, kw, cin, _ = W.shape
    if padding == "CIRCULAR":
        x = circular_pad(x, (kh, kw))
        pad = "VALID"
    elif padding in ("SAME", "VALID"):
        pad = padding
    else:
        raise ValueError(f"unknown padding {padding!r}")
    dt = jnp.result_type(x, W)  # lax.conv needs equal dtypes (x @ W promotes by itself)
    y = jax.lax.conv_general_dilated(x.astype(dt), W.astype(dt), (1, 1), pad, dimension_numbers=_CONV_DIMS)
    return (sigma_w / math.sqrt(kh * kw * cin)) * y + sigma_b * b


class NTKNetwork(nn.Module):
    """A network of one architecture family; see the module docstring for conventions."""

    hidden: str  # "dense" | "conv"
    readout: str  # "flatten" | "pool"
    activation: str
    depth: int
    width: int
    n_out: int
    kernel_size: tuple[int, int]
    padding: str
    param_dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, sigma_w, sigma_b) -> jax.Array:
        phi = ACTIVATION_FNS[self.activation]
        pd = self.param_dtype
        x = jnp.asarray(x)
        if self.hidden == "dense":
            x = x.reshape(x.shape[0], -1)
            affine = ntk_dense
            w_shape = lambda cin: (cin, self.width)  # noqa: E731
        elif self.hidden == "conv":
            if x.ndim != 4:
                raise ValueError(f"conv networks take NHWC inputs, got shape {x.shape}")
            affine = functools.partial(ntk_conv, padding=self.padding)
            w_shape = lambda cin: (*self.kernel_size, cin, self.width)  # noqa: E731
        else:
            raise ValueError(f"unknown hidden layer type {self.hidden!r}")

        if self.depth >= 1:
            W = self.param("input_W", _std_normal, w_shape(x.shape[-1]), pd)
            b = self.param("input_b", _std_normal, (self.width,), pd)
            x = phi(affine(x, W, b, sigma_w, sigma_b))
        if self.depth >= 2:
            Ws = self.param("hidden_W", _std_normal, (self.depth - 1, *w_shape(self.width)), pd)
            bs = self.param("hidden_b", _std_normal, (self.depth - 1, self.width), pd)

            def layer(h, wb):
                return phi(affine(h, wb[0], wb[1], sigma_w, sigma_b)), None

            x, _ = jax.lax.scan(layer, x, (Ws, bs))

        if self.readout == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif self.readout == "pool":
            x = x.mean(axis=tuple(range(1, x.ndim - 1))) if x.ndim > 2 else x
        else:
            raise ValueError(f"unknown readout {self.readout!r}")
        W = self.param("readout_W", _std_normal, (x.shape[-1], self.n_out), pd)
        b = self.param("readout_b", _std_normal, (self.n_out,), pd)
        return ntk_dense(x, W, b, sigma_w, sigma_b)


@dataclass(frozen=True)
class Model:
    """A built network: ``init(key, input_shape) -> params`` and
    ``apply(params, x, sigma_w, sigma_b) -> (batch, n_out)`` outputs."""

    architecture: Architecture
    activation: str
    depth: int
    width: int
    n_out: int
    module: NTKNetwork

    @property
    def name(self) -> str:
        return self.architecture.name

    def init(self, key: jax.Array, input_shape: Sequence[int]) -> Params:
        """Standard-normal parameters. ``input_shape`` includes a (ignored) batch axis,
        like stax's ``init_fn``: e.g. ``(-1, 8, 8, 1)``."""
        x = jnp.zeros((1, *tuple(input_shape)[1:]), self.module.param_dtype)
        return self.module.init(key, x, 1.0, 0.0)["params"]

    def apply(self, params: Params, x: jax.Array, sigma_w, sigma_b) -> jax.Array:
        """Network outputs for a batch ``x``; ``sigma_w``, ``sigma_b`` are standard
        deviations (scalars, possibly traced)."""
        return self.module.apply({"params": params}, x, sigma_w, sigma_b)

    def __call__(self, params: Params, x: jax.Array, sigma_w, sigma_b) -> jax.Array:
        return self.apply(params, x, sigma_w, sigma_b)


@functools.cache
def make_model(
    arch_name: str,
    activation: str,
    depth: int,
    width: int,
    n_out: int,
    param_dtype: Any,
) -> Model:
    """Build the flax model for ``arch_name`` (``fcn``, ``cnn_f``, ``cnn_p``)."""
    arch = get_architecture(arch_name)
    if activation not in ACTIVATION_FNS:
        raise ValueError(f"unknown activation {activation!r}; known: {sorted(ACTIVATION_FNS)}")
    if depth < 0 or width < 1 or n_out < 1:
        raise ValueError(f"bad sizes depth={depth} width={width} n_out={n_out}")
    module = NTKNetwork(
        hidden=arch.hidden,
        readout=arch.readout,
        activation=activation,
        depth=int(depth),
        width=int(width),
        n_out=int(n_out),
        kernel_size=tuple(arch.kernel_size),
        padding=arch.padding,
        param_dtype=param_dtype,
    )
    return Model(arch, activation, int(depth), int(width), int(n_out), module)


def apply(model: Model, params: Params, x: jax.Array, sigma_w, sigma_b) -> jax.Array:
    """Functional alias of :meth:`Model.apply`."""
    return model.apply(params, x, sigma_w, sigma_b)


def param_count(params: Params) -> int:
    """Total number of scalar parameters."""
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


# ----------------------------------------------------------------------------- freeze/chaos MLP


def make_batchnorm_mlp(width: int, depth: int, batchnorm: bool, sigma_w2: float, sigma_b2: float):
    """Flax MLP in NTK parameterization: depth × [Dense → (BatchNorm) → ReLU] → Dense(1).

    BatchNorm uses the statistics of the batch it is applied to (training mode, no
    learned scale or offset), so each output depends on the whole batch.
    """
    sw, sb = float(np.sqrt(sigma_w2)), float(np.sqrt(sigma_b2))

    class NTKDense(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            w = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
            b = self.param("bias", nn.initializers.normal(1.0), (self.features,))
            return sw / np.sqrt(x.shape[-1]) * x @ w + sb * b

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = x.reshape(x.shape[0], -1)
            for _ in range(depth):
                x = NTKDense(width)(x)
                if batchnorm:
                    x = nn.BatchNorm(
                        use_running_average=False, use_scale=False, use_bias=False, momentum=0.0, epsilon=1e-6
                    )(x)
                x = jnp.maximum(x, 0.0)
            return NTKDense(1)(x)

    return MLP()


def batch_apply_fn(model, variables: dict):
    """``f(params, x)`` evaluating the model on the whole batch ``x`` (batch statistics)."""
    state = {k: v for k, v in variables.items() if k != "params"}

    def f(params, x):
        if not state:
            return model.apply({"params": params}, x)
        return model.apply({"params": params, **state}, x, mutable=list(state))[0]

    return f
