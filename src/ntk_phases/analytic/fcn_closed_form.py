"""Fast path of the depth sweep for fully connected networks with erf or relu.

:func:`ntk_phases.analytic.sweep.sweep_block` hands a block to :func:`sweep` when the
architecture's hidden layer is dense and the activation has a closed-form kernel
(:func:`supports`); every other case stays on neural-tangents' layer maps. The result
is the same stream of ``(depth_index, nngp, ntk, cov1)``, equal to the
neural-tangents path to ~1e-14 relative (``tests/unit/test_fcn_closed_form.py`` checks
1e-12 on both conventions, both phases, depths past 100).

One hidden layer ``[Dense(σ_w, σ_b), φ]`` maps the NNGP ``K``, the NTK ``Θ`` and each
point's variance ``q`` (neural-tangents' ``cov1``/``cov2``) as

    K̃ = σ_w² K + σ_b²,   q̃ = σ_w² q + σ_b²,   Θ̃ = K̃ + σ_w² Θ        (Dense)
    K' = T(K̃; q̃₁, q̃₂),   Θ' = Ṫ(K̃; q̃₁, q̃₂) Θ̃,   q' = T(q̃; q̃, q̃)    (φ)

with neural-tangents' own formulas, operation for operation:

- erf: ``T = (2/π) atan2(2K, √((1+2q₁)(1+2q₂) − 4K²))``,
  ``Ṫ = (4/π) / √((1+2q₁)(1+2q₂) − 4K²)``, ``q' = (2/π) atan2(q, √(q + 1/4))``;
- relu: ``θ = atan2(√(q₁q₂ − K²), K)`` (π/2 where both vanish),
  ``Ṫ = 1/2 − θ/(2π)``, ``T = √(q₁q₂ − K²)/(2π) + Ṫ K``, ``q' = q/2``.

relu is bit-for-bit neural-tangents'. The one exception is erf's arc tangent of the
``n₁ × n₂`` block: XLA evaluates a float64 ``atan2`` by a scalar library call per entry
(~20 ns, two thirds of a layer), so :func:`atan2` evaluates it with vectorized
arithmetic instead (Cephes' rational approximation of atan, within 2 ulp of numpy;
the per-point variances keep ``jnp.arctan2``). Those ulps stay ~1e-14 relative at depth
100 against neural-tangents: the maps do not amplify relative errors, save for pairs of
nearly parallel inputs in the chaotic phase (c = 1 is unstable there; the diagonal
itself is pinned), where any rounding grows like χ₁^l until the pair decorrelates —
with correlation 1 − 5e-7, both this path and neural-tangents' are ~1e-10 from the
recursion in extended precision.

Exact diagonals as in :mod:`ntk_phases.analytic.sweep`: a block of a set with itself
(``pin``) resets ``K[i, i] = q[i]`` after every layer.

Everything heavy is one jitted ``lax.fori_loop`` over the layers between two recorded
depths, mapped over (σ_w, tile of rows) so that a tile's temporaries stay in cache; the
readout (``ours``: Dense(σ_w, σ_b); ``notebook``: none) is applied at the recorded
depths only, and the next gap's layers are dispatched before the caller reduces the
current depth (asynchronous dispatch: they can overlap).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["ACTIVATIONS", "ENABLED", "atan2", "supports", "sweep"]

#: Switch for the fast path (tests and benchmarks turn it off to compare with the
#: neural-tangents layer maps).
ENABLED = True

#: Activations with a closed-form layer map here.
ACTIVATIONS = ("erf", "relu")

_READOUTS = ("flatten", "none")


def supports(arch, activation: str) -> bool:
    """Whether :func:`sweep` computes this architecture and activation (and is enabled)."""
    return (
        ENABLED
        and arch.hidden == "dense"
        and arch.order == "affine_first"  # the maps below are [Dense, φ] layers
        and arch.readout in _READOUTS
        and activation in ACTIVATIONS
    )


# ----------------------------------------------------------------------------
# vectorized float64 atan2
# ----------------------------------------------------------------------------

# Cephes atan.c (double): atan(x) = x + x·z·P(z)/Q(z), z = x², |x| <= 0.66.
_P = (
    -8.750608600031904122785e-1,
    -1.615753718733365076637e1,
    -7.500855792314704667340e1,
    -1.228866684490136173410e2,
    -6.485021904942025371773e1,
)
_Q = (  # leading coefficient 1
    2.485846490142306297962e1,
    1.650270098316988542046e2,
    4.328810604912902668951e2,
    4.853903996359136964868e2,
    1.945506571482613964425e2,
)
_PIO2 = 1.5707963267948966  # π/2 rounded to float64
_PIO4 = 0.7853981633974483
_PI = 3.141592653589793
_MOREBITS = 6.123233995736765886130e-17  # π/2 − _PIO2


def atan2(y, x, x_positive: bool = False):
    """``arctan2(y, x)`` by vectorizable arithmetic (float64, ≤ ~2 ulp from libm).

    Reduced to ``t = min(|x|, |y|) / max(|x|, |y|)`` in [0, 1] (``(a − b)/(a + b)``
    with offset π/4 above 0.66), Cephes' rational approximation, then the octant.
    ``atan2(±0, 0) = ±0`` as in numpy; infinities are not handled (kernels are finite).
    ``x_positive``: the caller guarantees ``x > 0`` (the same values, fewer operations).
    """
    ax, ay = (x if x_positive else jnp.abs(x)), jnp.abs(y)
    swap = ay > ax
    num = jnp.where(swap, ax, ay)
    den = jnp.where(swap, ay, ax)
    mid = num > 0.66 * den
    safe_den = den if x_positive else jnp.where(den == 0, 1.0, den)
    t = jnp.where(mid, num - den, num) / jnp.where(mid, num + den, safe_den)
    z = t * t
    p = _P[0]
    for c in _P[1:]:
        p = p * z + c
    q = z + _Q[0]
    for c in _Q[1:]:
        q = q * z + c
    r = t * (z * p / q) + t
    r = jnp.where(mid, (r + 0.5 * _MOREBITS) + _PIO4, r)  # atan(t) for t in [0, 1]
    r = jnp.where(swap, (_PIO2 - r) + _MOREBITS, r)  # atan(|y| / |x|), first quadrant
    if not x_positive:
        r = jnp.where(jnp.signbit(x), (_PI - r) + 2 * _MOREBITS, r)
    return jnp.where(jnp.signbit(y), -r, r)


# ----------------------------------------------------------------------------
# layer maps (one σ_w; vmapped by the caller)
# ----------------------------------------------------------------------------


def _dense(nngp, ntk, cov1, cov2, sigma_w, sigma_b):
    """``Dense(W_std=σ_w, b_std=σ_b)`` in NTK parameterization (neural-tangents' order)."""
    w2, b2 = sigma_w**2, sigma_b**2
    nngp = nngp * w2 + b2
    cov1 = cov1 * w2 + b2
    cov2 = None if cov2 is None else cov2 * w2 + b2
    return nngp, nngp + w2 * ntk, cov1, cov2


def _erf(nngp, ntk, cov1, cov2):
    factor = 2 / np.pi
    d1 = 1 + 2 * cov1
    d2 = d1 if cov2 is None else 1 + 2 * cov2
    prod = d1[:, None] * d2[None, :]
    square_root = jnp.sqrt(jnp.maximum(prod - 4 * nngp**2, 0.0))
    # square_root >= sqrt(1 + 2 q1 + 2 q2) >= 1 (Cauchy–Schwarz: K² <= q1 q2)
    nngp = factor * atan2(2 * nngp, square_root, x_positive=True)
    ntk = ntk * (2 * factor / square_root)

    def diag(c):
        return factor * jnp.arctan2(c, jnp.sqrt(c + 1.0 / 4))

    return nngp, ntk, diag(cov1), None if cov2 is None else diag(cov2)


def _relu(nngp, ntk, cov1, cov2):
    prod = cov1[:, None] * (cov1 if cov2 is None else cov2)[None, :]
    square_root = jnp.sqrt(jnp.maximum(prod - nngp**2, 0.0))
    angles = jnp.where((square_root == 0.0) & (nngp == 0.0), np.pi / 2, jnp.arctan2(square_root, nngp))
    factor = 1 / (2 * np.pi)
    dot_sigma = 0.5 - factor * angles
    nngp = factor * square_root + dot_sigma * nngp
    return nngp, ntk * dot_sigma, 0.5 * cov1, None if cov2 is None else 0.5 * cov2


_PHI = {"erf": _erf, "relu": _relu}


def _hidden(state, sigma_w, sigma_b, activation, diag_offset):
    """One hidden layer on a tile of rows; ``diag_offset`` (pinned blocks only) is the
    tile's first row index: entry ``(i, diag_offset + i)`` is reset to the row variance."""
    nngp, ntk, cov1, cov2 = _PHI[activation](*_dense(*state, sigma_w, sigma_b))
    if diag_offset is not None:
        rows = diag_offset + jnp.arange(nngp.shape[0])
        on_diag = rows[:, None] == jnp.arange(nngp.shape[1])[None, :]
        nngp = jnp.where(on_diag, cov1[:, None], nngp)
    return nngp, ntk, cov1, cov2


#: Entries of one tile (rows × columns of one σ_w) that the layer loop keeps in cache.
TILE_ENTRIES = 32768


def tile_rows(n1: int, n2: int) -> int:
    """Rows per tile for an ``n1 × n2`` block."""
    return int(min(n1, max(8, TILE_ENTRIES // max(n2, 1))))


@functools.lru_cache(maxsize=16)
def _compiled(activation: str, readout: str, pin: bool, tile: int):
    """Jitted ``start`` (input Kernel → tiled state), ``advance`` (n layers) and ``read``
    (readout at a recorded depth, back to ``(S, n1, n2)``).

    The state holds every (σ_w, tile of ``tile`` rows) as one leading axis: ``nngp`` and
    ``ntk`` ``(S·nt, tile, n2)``, the row variances ``(S·nt, tile)`` and the column
    variances ``(S·nt, n2)`` (the same in every tile of a σ_w, carried per tile so that
    tiles are independent). ``advance`` maps over that axis (``lax.map``) and runs all
    its layers on one tile before the next, so the layer's temporaries stay in cache.
    """

    def start(nngp, ntk, cov1, cov2, sigma_w):
        n1, n2 = nngp.shape
        s, nt = sigma_w.shape[0], -(-n1 // tile)
        ntk = jnp.broadcast_to(ntk, nngp.shape).astype(nngp.dtype)
        if pin:
            idx = jnp.arange(n1)
            nngp = nngp.at[idx, idx].set(cov1)
        cols = cov1 if cov2 is None else cov2
        pad = nt * tile - n1
        # padding rows: zero covariance, unit variance (finite under every map)
        nngp, ntk = (jnp.pad(a, ((0, pad), (0, 0))) for a in (nngp, ntk))
        rows = jnp.pad(cov1, (0, pad), constant_values=1.0)

        def rep(a):
            a = a.reshape((nt, tile) + a.shape[1:])
            return jnp.broadcast_to(a, (s,) + a.shape).reshape((s * nt, tile) + a.shape[2:])

        return rep(nngp), rep(ntk), rep(rows), jnp.broadcast_to(cols, (s * nt, n2))

    def advance(state, sigma_w, sigma_b, n_layers):
        nt = state[0].shape[0] // sigma_w.shape[0]
        w = jnp.repeat(sigma_w, nt)
        offsets = jnp.tile(jnp.arange(nt) * tile, sigma_w.shape[0])

        def one(args):
            *s, w_i, off = args
            return lax.fori_loop(
                0,
                n_layers,
                lambda _, st: _hidden(st, w_i, sigma_b, activation, off if pin else None),
                tuple(s),
            )

        return lax.map(one, (*state, w, offsets))

    def read(state, sigma_w, sigma_b, n1):
        nngp, ntk, rows, _ = state
        s = sigma_w.shape[0]

        def untile(a):
            return a.reshape((s, -1) + a.shape[2:])[:, :n1]

        nngp, ntk, rows = untile(nngp), untile(ntk), untile(rows)
        if readout == "flatten":  # Flatten is the identity on a dense kernel
            w2, b2 = sigma_w**2, sigma_b**2
            nngp = nngp * w2[:, None, None] + b2
            ntk = nngp + w2[:, None, None] * ntk
            rows = rows * w2[:, None] + b2
        return nngp, ntk, rows

    # n_layers is static (one compile per distinct gap between recorded depths): with a
    # traced trip count, jaxlib 0.5.3's default XLA:CPU runtime restored this loop from
    # the persistent compilation cache as a no-op (fresh compiles were right)
    return (
        jax.jit(start),
        jax.jit(advance, static_argnums=3),
        jax.jit(read, static_argnums=3),
    )


def sweep(
    k0,
    readout: str,
    activation: str,
    sigma_w: np.ndarray,
    sigma_b: float,
    depths: np.ndarray,
    pin: bool,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(depth_index, nngp, ntk, cov1)`` at each of ``depths`` (sorted).

    Args:
        k0: the neural-tangents Kernel of the inputs (after any read-in layer); its
            ``cov2`` is ``None`` for a block of a set with itself.
        readout: ``"flatten"`` (Dense(σ_w, σ_b) readout) or ``"none"``.
        activation: ``"erf"`` or ``"relu"``.
        sigma_w: ``(S,)`` standard deviations; sigma_b: standard deviation.
        depths: sorted distinct depths >= 0.
        pin: reset the diagonal of ``nngp`` to ``cov1`` after every layer.
    """
    if activation not in ACTIVATIONS or readout not in _READOUTS:
        raise ValueError(f"no closed form for activation {activation!r}, readout {readout!r}")
    n1, n2 = k0.nngp.shape
    start, advance, read = _compiled(activation, readout, bool(pin), tile_rows(n1, n2))
    sw = jnp.asarray(sigma_w, dtype=jnp.float64)
    sb = jnp.asarray(sigma_b, dtype=jnp.float64)
    cov2 = None if pin else k0.cov2
    state = start(k0.nngp, jnp.asarray(k0.ntk, dtype=jnp.float64), k0.cov1, cov2, sw)
    depths = [int(d) for d in depths]
    if depths[0] > 0:
        state = advance(state, sw, sb, depths[0])
    out = read(state, sw, sb, n1)
    for di, depth in enumerate(depths):
        if di + 1 < len(depths):
            # dispatched before the caller reduces this depth: XLA computes the next
            # layers while the caller works on the arrays just yielded
            state = advance(state, sw, sb, depths[di + 1] - depth)
        nngp, ntk, cov1 = (np.asarray(a) for a in out)
        if di + 1 < len(depths):
            out = read(state, sw, sb, n1)
        yield di, nngp, ntk, cov1
