"""The freeze/chaos BatchNorm experiment (F12, C8): BatchNorm has no per-example analytic
kernel, so its NTK is measured on finite flax networks whose BatchNorm uses the
statistics of the evaluated batch, with and without BatchNorm, at a few widths, depths
and seeds (:func:`empirical_table`). jax and flax only.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..numerics.spectral import offdiag_stats
from .empirical import empirical_ntk
from .models import batch_apply_fn, make_batchnorm_mlp

log = logging.getLogger(__name__)

#: σ_w² of the ReLU networks: the critical line at σ_b² → 0, where without BatchNorm the
#: normalized NTK neither freezes nor goes chaotic fast.
RELU_CRITICAL_SIGMA_W2 = 2.0


def empirical_ntk_mlp(
    x: np.ndarray, width: int, depth: int, batchnorm: bool, seed: int, sigma_w2: float, sigma_b2: float
) -> np.ndarray:
    """Empirical NTK (N × N) of a random flax MLP on the batch ``x`` (BatchNorm over ``x``):
    :func:`ntk_phases.finite.empirical.empirical_ntk` with float32 contraction."""
    x = jnp.asarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    model = make_batchnorm_mlp(width, depth, batchnorm, sigma_w2, sigma_b2)
    variables = model.init(jax.random.PRNGKey(seed), x)
    f = batch_apply_fn(model, variables)
    return empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x), accumulate="float32")


def empirical_table(data: dict, cfg: dict):
    """ρ mean/std of empirical NTKs with and without BatchNorm per (width, depth, seed)."""
    e = cfg["empirical"]
    x = data["x_train"][: int(e["n"])]
    rows = []
    for bn in (False, True):
        for width in e["widths"]:
            for depth in e["depths"]:
                for seed in e["seeds"]:
                    theta = empirical_ntk_mlp(
                        x, int(width), int(depth), bn, int(seed), RELU_CRITICAL_SIGMA_W2, e["sigma_b2"]
                    )
                    mu, sd = offdiag_stats(theta)
                    rows.append(
                        {
                            "variant": "relu_batchnorm" if bn else "relu_plain",
                            "batchnorm": bn,
                            "width": int(width),
                            "depth": int(depth),
                            "seed": int(seed),
                            "sigma_w2": RELU_CRITICAL_SIGMA_W2,
                            "sigma_b2": float(e["sigma_b2"]),
                            "rho_mean": float(mu),
                            "rho_std": float(sd),
                        }
                    )
        log.info("empirical NTK batchnorm=%s done", bn)
    return pd.DataFrame(rows)
