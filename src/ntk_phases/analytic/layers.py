"""The layers of the analytic networks: one activation registry, stax layers, kernel maps.

Pure functions (arrays in, arrays out), float64 throughout (``jax_enable_x64``, set up
once by :mod:`ntk_phases.analytic`: deep chaotic kernels overflow float32).

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
  ~10% once the pre-activation variance is ~4; see the note on the degree
  below for measured errors), it is not symmetric in its two arguments, and it
  materializes ``deg**2`` copies of every kernel entry: prefer ``erf`` for
  kernel sweeps, and raise ``tanh_deg`` with ``batch_size``/``sigma_chunk``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from neural_tangents import stax
from scipy import integrate

from ..architectures import ACTIVATIONS, Architecture, get_architecture

__all__ = [
    "LAYER_ACTIVATIONS",
    "LayerKernelFns",
    "activation_layer",
    "as_architecture",
    "build_layer_kernel_fns",
    "standardized_relu",
    "stax_network",
]

# The Gauss–Hermite degree of the numerical ``tanh`` layer (``tanh_deg``) is the config key
# ``theory.quadrature_degree`` (its default lives in the schema). neural-tangents
# suggests 25 as a starting point, but for tanh that is far too coarse once the
# pre-activation variance q exceeds ~1: measured relative errors of one layer
# (T = E[φφ] / Ṫ = E[φ'φ'], correlation 0.99, against degree 3000):
#
# ====  ==============  ==============  ==============  ==============
# deg   q = 1           q = 4           q = 10          q = 25
# ====  ==============  ==============  ==============  ==============
# 25    3e-5 / 4e-4     7e-3 / 8e-2     4e-2 / 4e-1     9e-2 / 1
# 50    7e-8 / 2e-6     3e-4 / 7e-3     6e-3 / 1e-1     3e-2 / 4e-1
# 100   7e-12 / 3e-10   3e-6 / 1e-4     3e-4 / 1e-2     4e-3 / 1e-1
# 200   3e-14 / 4e-14   5e-9 / 4e-7     5e-6 / 3e-4     3e-4 / 2e-2
# ====  ==============  ==============  ==============  ==============
#
# Cost and memory grow as deg² per kernel entry (the layer materializes a
# ``(deg, deg, *kernel.shape)`` array), so raise ``tanh_deg`` together with
# ``batch_size``/``sigma_chunk`` for large σ_w². The quadrature is also not
# symmetric in its two arguments: Θ(x, x') − Θ(x', x) is of the order of the
# error above.


# ----------------------------------------------------------------------------
# the activation registry
# ----------------------------------------------------------------------------

#: Standardized (centred) ReLU: φ(z) = (relu(z) − 1/√(2π)) / √(1/2 − 1/(2π)), zero mean and
#: unit second moment under N(0, 1); its dual kernels are closed forms (arc-cosine).
RELU_MEAN = 1.0 / np.sqrt(2.0 * np.pi)
RELU_STD = float(np.sqrt(0.5 - 1.0 / (2.0 * np.pi)))


def standardized_relu(z):
    """(relu(z) − E relu) / std relu under N(0, 1); works on NumPy and JAX arrays."""
    if isinstance(z, np.ndarray) or np.isscalar(z):
        return (np.maximum(z, 0.0) - RELU_MEAN) / RELU_STD
    return (jnp.maximum(z, 0.0) - RELU_MEAN) / RELU_STD


def gaussian_moments(fn, var: float = 1.0, kink: float = 0.0) -> tuple[float, float]:
    """E[fn(z)] and E[fn(z)²] for z ~ N(0, var) by adaptive quadrature (scipy ``quad``),
    split at ``kink`` (where fn is not smooth)."""
    sd = float(np.sqrt(var))

    def moment(power):
        def f(z):
            return (
                float(np.asarray(fn(np.asarray(z)))) ** power * np.exp(-0.5 * (z / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
            )

        return sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12)[0] for a, b in ((-np.inf, kink), (kink, np.inf)))

    return moment(1), moment(2)


def _arccos_terms(cov12, var1, var2):

    prod = jnp.sqrt(var1 * var2)
    rho = jnp.clip(cov12 / jnp.where(prod > 0, prod, 1.0), -1.0, 1.0)
    theta = jnp.arccos(rho)
    return prod, theta


def _std_relu_nngp(cov12, var1, var2):
    """E φ(u) φ(v) for (u, v) centred Gaussian with the given (co)variances."""
    prod, theta = _arccos_terms(cov12, var1, var2)
    e_rr = prod / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta))
    m1 = jnp.sqrt(var1 / (2 * jnp.pi))
    m2 = jnp.sqrt(var2 / (2 * jnp.pi))
    return (e_rr - RELU_MEAN * (m1 + m2) + RELU_MEAN**2) / RELU_STD**2


def _std_relu_d_nngp(cov12, var1, var2):
    """E φ'(u) φ'(v) = P(u > 0, v > 0) / std²."""
    _, theta = _arccos_terms(cov12, var1, var2)
    return (jnp.pi - theta) / (2 * jnp.pi) / RELU_STD**2


def std_relu_layer():
    """``stax.Elementwise`` of the standardized ReLU with closed-form dual kernels."""
    return stax.Elementwise(standardized_relu, _std_relu_nngp, _std_relu_d_nngp)


def _tanh_prime(x):
    return 1.0 - jnp.tanh(x) ** 2


def _tanh(tanh_deg: int | None):
    if tanh_deg is None:
        raise ValueError("the numerical tanh layer needs its Gauss–Hermite degree (tanh_deg)")
    with warnings.catch_warnings():
        # neural-tangents warns on every construction that accuracy is
        # controlled by `deg`; we pass the analytic derivative.
        warnings.simplefilter("ignore")
        return stax.ElementwiseNumerical(jnp.tanh, deg=tanh_deg, df=_tanh_prime)


#: name -> the stax layer of the nonlinearity (``tanh``: Gauss–Hermite quadrature of degree
#: ``tanh_deg``; ``std_relu``: the standardized ReLU of the freeze/chaos variants).
_LAYERS = {
    "erf": lambda tanh_deg: stax.Erf(),
    "relu": lambda tanh_deg: stax.Relu(),
    "tanh": _tanh,
    "std_relu": lambda tanh_deg: std_relu_layer(),
}
LAYER_ACTIVATIONS = tuple(_LAYERS)


def activation_layer(activation: str, tanh_deg: int | None = None):
    """The neural-tangents ``stax`` layer of a nonlinearity (tanh by Gauss–Hermite quadrature
    of degree ``tanh_deg``, which only tanh needs and tanh must be given: no default)."""
    if activation not in _LAYERS:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(LAYER_ACTIVATIONS)}")
    return _LAYERS[activation](tanh_deg)


def as_architecture(arch: str | Architecture, convention: str = "ours") -> Architecture:
    """An architecture given by name (of ``convention``; a bare name means ours) or as is."""
    return arch if isinstance(arch, Architecture) else get_architecture(arch, convention)


@dataclass(frozen=True)
class LayerKernelFns:
    """Layer-level kernel maps of one architecture and activation.

    ``sigma_w`` and ``sigma_b`` are standard deviations (not variances) and may
    be traced JAX values (``jax.vmap``/``jax.jit``).

    Attributes:
        arch: the architecture description.
        activation: ``"erf"``, ``"relu"`` or ``"tanh"``.
        tanh_deg: quadrature degree used for ``tanh`` (``None`` for the others).
        diagonal_spatial: whether the input Kernel keeps only the spatial
            diagonal of the covariance (``False`` for pooled readouts).
    """

    arch: Architecture
    activation: str
    tanh_deg: int | None
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


def build_layer_kernel_fns(arch: str | Architecture, activation: str, *, tanh_deg: int | None = None) -> LayerKernelFns:
    """Kernel maps of the input preprocessing, one hidden layer and the readout.

    Args:
        arch: architecture name (``fcn``, ``cnn_f``, ``cnn_p``) or description.
        activation: ``erf``, ``relu`` or ``tanh``.
        tanh_deg: Gauss–Hermite degree for ``tanh`` (required there, no default; ignored
            otherwise).
    """
    a = as_architecture(arch)
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    if activation == "tanh" and tanh_deg is None:
        raise ValueError("activation tanh needs its Gauss–Hermite degree (tanh_deg)")
    diagonal_spatial = not (a.hidden == "conv" and a.readout == "pool")
    return LayerKernelFns(a, activation, None if tanh_deg is None else int(tanh_deg), diagonal_spatial)


def stax_network(
    arch: str | Architecture,
    activation: str,
    depth: int,
    sigma_w,
    sigma_b,
    *,
    tanh_deg: int | None = None,
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
