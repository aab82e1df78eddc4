"""Checkerboard artefacts of transposed convolutions in freeze and chaos (SPEC C8, F13).

DCGAN-like stacks of stride-2 transposed convolutions from a small latent grid to an
image; the analytic output-space NTK (``stax.ConvTranspose``, full spatial covariance) of
one latent input, in freeze and chaos. Statistics of the *normalized* output-space kernel
R_pq = Θ_pq / √(Θ_pp Θ_qq) over pixel pairs p ≠ q (:func:`parity_contrast`,
:func:`far_correlation`); the even/odd ratio of the diagonal Θ_pp is kept as a reported
column only.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from neural_tangents import stax

from ..numerics.spectral import normalized
from .layers import activation_layer

log = logging.getLogger("ntk_phases.freeze_chaos")


def deconv_ntk(spec: dict, depth: int, latent: int, channels: int, kernel: int, seed: int = 0) -> np.ndarray:
    """Analytic output-space NTK (H·W × H·W) of a stride-2 transposed-convolution stack.

    ``depth`` layers [ConvTranspose(k, stride 2, SAME) → φ], then a ConvTranspose
    readout (stride 1) to one channel; the input is one latent grid latent × latent ×
    channels with i.i.d. N(0, 1) entries. Output side = latent · 2^depth.
    """
    sw, sb = np.sqrt(spec["sigma_w2"]), np.sqrt(spec["sigma_b2"])
    layers = []
    for _ in range(int(depth)):
        layers.append(stax.ConvTranspose(1, (kernel, kernel), strides=(2, 2), padding="SAME", W_std=sw, b_std=sb))
        if spec["block"] == "layernorm":
            layers.append(stax.LayerNorm(axis=-1))
        layers.append(activation_layer(spec["activation"]))
    layers.append(stax.ConvTranspose(1, (kernel, kernel), strides=(1, 1), padding="SAME", W_std=sw, b_std=sb))
    _, _, kfn = stax.serial(*layers)
    z = np.random.default_rng(seed).standard_normal((1, latent, latent, channels))
    # neural-tangents orders full spatial covariances as (H1, H2, W1, W2)
    ntk = np.asarray(kfn(z, None, get="ntk", diagonal_spatial=False))[0, 0].transpose(0, 2, 1, 3)
    side = latent * 2 ** int(depth)
    return ntk.reshape(side * side, side * side)


def parity_ratio(diag_img: np.ndarray, border: int = 0) -> float:
    """Mean of an H × W map on (even, even) pixels over its mean on (odd, odd) pixels.

    Reported only: on the NTK diagonal it mixes the checkerboard with the tap count of a
    stride-2 transposed convolution, which differs by parity in freeze and chaos alike.
    """
    img = np.asarray(diag_img)
    if border:
        img = img[border:-border, border:-border]
        # keep the parity of the original grid
        off = border % 2
        ev, od = img[off::2, off::2], img[1 - off :: 2, 1 - off :: 2]
    else:
        ev, od = img[0::2, 0::2], img[1::2, 1::2]
    return float(ev.mean() / od.mean())


def pixel_grid(side: int, border: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and parity class 2·(row mod 2) + (col mod 2) of the pixels of a side ×
    side image (row-major), and a mask of those at least ``border`` pixels from the edge."""
    i, j = np.divmod(np.arange(side * side), side)
    inner = (np.minimum(i, side - 1 - i) >= border) & (np.minimum(j, side - 1 - j) >= border)
    return i, j, 2 * (i % 2) + (j % 2), inner


def parity_class_means(r: np.ndarray, side: int, border: int = 0) -> np.ndarray:
    """4 × 4 means of the normalized kernel R_pq over pairs p ≠ q by the parity classes of
    p and q (pixels within ``border`` of the edge left out)."""
    _, _, cls, inner = pixel_grid(side, border)
    off = ~np.eye(len(r), dtype=bool)
    out = np.full((4, 4), np.nan)
    for a in range(4):
        for b in range(4):
            m = np.outer(inner & (cls == a), inner & (cls == b)) & off
            if m.any():
                out[a, b] = r[m].mean()
    return out


def parity_contrast(r: np.ndarray, side: int, border: int = 0) -> float:
    """Checkerboard amplitude of a normalized output-space kernel: max − min of the 4 × 4
    parity-class pair means (:func:`parity_class_means`).

    A kernel whose correlations do not depend on pixel parity gives 0, whether it is flat
    (frozen, R ≈ const) or translation invariant and localized (chaos: only the O(ξ²/N)
    nearest pairs differ by parity). A checkerboard (pairs of the same parity class more
    or less correlated across the whole image) gives its amplitude, on R's scale [−1, 1].
    """
    m = parity_class_means(r, side, border)
    return float(np.nanmax(m) - np.nanmin(m))


def far_correlation(r: np.ndarray, side: int) -> float:
    """Mean normalized kernel R_pq over pixel pairs at least side/2 apart (Euclidean):
    long-range correlation, ≈ 1 for a frozen (constant) kernel, ≈ 0 for a localized one."""
    i, j, _, _ = pixel_grid(side)
    dist = np.hypot(i[:, None] - i[None, :], j[:, None] - j[None, :])
    return float(r[dist >= side / 2].mean())


def deconv_specs(cfg: dict) -> list[dict]:
    c = cfg["checkerboard"]
    return [
        {
            "name": "freeze",
            "activation": "relu",
            "block": "plain",
            "sigma_w2": 2.0,
            "sigma_b2": float(c["freeze_sigma_b2"]),
        },
        {
            "name": "chaos",
            "activation": "std_relu",
            "block": "layernorm",
            "sigma_w2": 1.0,
            "sigma_b2": float(c["chaos_sigma_b2"]),
        },
    ]


def checkerboard_tables(cfg: dict):
    """(statistics per (regime, depth), maps of the deepest network as an npz dict)."""
    c = cfg["checkerboard"]
    rows, maps = [], {}
    for spec in deconv_specs(cfg):
        for depth in range(1, int(c["max_depth"]) + 1):
            t0 = time.perf_counter()
            ntk = deconv_ntk(spec, depth, int(c["latent"]), int(c["channels"]), int(c["kernel"]))
            side = int(c["latent"]) * 2**depth
            diag = np.diagonal(ntk).reshape(side, side)
            r = normalized(ntk)
            rows.append(
                {
                    "regime": spec["name"],
                    "activation": spec["activation"],
                    "block": spec["block"],
                    "sigma_w2": spec["sigma_w2"],
                    "sigma_b2": spec["sigma_b2"],
                    "depth": depth,
                    "side": side,
                    "parity_contrast": parity_contrast(r, side),
                    "parity_contrast_interior": parity_contrast(r, side, border=2) if side > 6 else np.nan,
                    "far_corr": far_correlation(r, side),
                    "mean_corr": float(r[~np.eye(len(r), dtype=bool)].mean()),
                    "parity_ratio": parity_ratio(diag),
                    "parity_ratio_interior": parity_ratio(diag, border=2) if side > 6 else np.nan,
                    "diag_cv": float(diag.std() / diag.mean()),
                }
            )
            if depth == int(c["max_depth"]):
                p = side // 2 * side + side // 2  # a central pixel
                maps[f"{spec['name']}_diag"] = diag
                maps[f"{spec['name']}_row"] = r[p].reshape(side, side)
                maps[f"{spec['name']}_class_means"] = parity_class_means(r, side)
            log.info("deconv %s depth %d (%dx%d): %.1fs", spec["name"], depth, side, side, time.perf_counter() - t0)
    return pd.DataFrame(rows), maps
