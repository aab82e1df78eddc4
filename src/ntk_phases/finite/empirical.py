"""The empirical NTK of a finite network: Θ̂(x_a, x_b) = Σ_p ∂f(x_a)/∂θ_p ∂f(x_b)/∂θ_p.

One Jacobian contraction (jax only, never neural-tangents) serves the width experiment (F10:
the empirical NTK at initialization against the analytic one) and the freeze/chaos
BatchNorm MLPs (F12), whose outputs depend on the whole batch, so ``f`` maps the parameters
to the outputs of every point at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["empirical_ntk"]

ACCUMULATE = ("float64", "float32")


def empirical_ntk(
    f: Callable[[Any], jax.Array], params: Any, n_points: int, *, accumulate: str = "float64"
) -> np.ndarray:
    """Θ̂ ``(n_points, n_points)`` of ``f: params -> outputs (n_points,)`` (one output unit),
    float64.

    The Jacobian is taken by reverse mode at matmul precision ``highest``, one block per
    parameter leaf; the blocks' products ``J Jᵀ`` are summed in ``accumulate``:

    - ``"float64"``: each float32 block cast to float64 and contracted by NumPy;
    - ``"float32"``: contracted and summed by XLA in float32 (bit for bit what
      ``neural_tangents.empirical_ntk_fn``'s Jacobian contraction gives).
    """
    if accumulate not in ACCUMULATE:
        raise ValueError(f"accumulate must be one of {ACCUMULATE}, got {accumulate!r}")
    with jax.default_matmul_precision("highest"):
        jac = jax.jacrev(f)(params)
    blocks = [jnp.reshape(leaf, (n_points, -1)) for leaf in jax.tree_util.tree_leaves(jac)]
    if accumulate == "float32":
        out = blocks[0] @ blocks[0].T
        for j in blocks[1:]:
            out = out + j @ j.T
        return np.asarray(out, np.float64)
    out = np.zeros((n_points, n_points))
    for j in blocks:
        j = np.asarray(j, np.float64)
        out += j @ j.T
    return out
