"""F1: mean-field phase diagram over (σ_w², σ_b²).

One row per activation, columns q*, c*, χ₁; the critical line χ₁ = 1 dashed in
every panel, ordered and chaotic regions labelled. For ReLU the line is σ_w² = 2
and beyond it the length q* diverges (drawn hatched, 'q* = ∞').
"""

from __future__ import annotations

import logging

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style

log = logging.getLogger("ntk_phases.figures.phase")

PANELS = (
    ("q_star", "magma", "log"),
    ("c_star", "viridis", "linear"),
    ("chi_1", "coolwarm", "chi"),
)


def _pivot(frame: pd.DataFrame, column: str):
    table = frame.pivot(index="sigma_b2", columns="sigma_w2", values=column).sort_index()
    return table.columns.to_numpy(), table.index.to_numpy(), table.to_numpy(dtype=float)


def _panel(ax, frame: pd.DataFrame, column: str, cmap: str, scale: str):
    x, y, z = _pivot(frame, column)
    z = np.ma.masked_invalid(z)
    if scale == "log":
        positive = z[z > 0]
        vmin = float(positive.min()) if positive.size else 1e-3
        norm = mcolors.LogNorm(vmin=max(vmin, 1e-3), vmax=float(z.max()))
        z = np.ma.masked_less_equal(z, 0)
    elif scale == "chi":
        # centred on the critical value χ₁ = 1: blue ordered, red chaotic
        lo, hi = float(z.min()), float(z.max())
        norm = mcolors.TwoSlopeNorm(vcenter=1.0, vmin=min(lo, 0.99), vmax=max(hi, 1.01))
    else:
        norm = mcolors.Normalize(vmin=0.0, vmax=1.0)
    mesh = ax.pcolormesh(x, y, z, cmap=cmap, norm=norm, shading="nearest", rasterized=True)
    plt.colorbar(mesh, ax=ax, label=style.SYMBOLS[column], pad=0.02)
    return x, y


def _critical_line(ax, frame: pd.DataFrame):
    x, y, chi = _pivot(frame, "chi_1")
    if np.nanmin(chi) < 1 < np.nanmax(chi):
        ax.contour(
            x,
            y,
            chi,
            levels=[1.0],
            colors="k",
            **{k: v for k, v in style.THEORY_LINE.items() if k != "linestyle"},
            linestyles="--",
        )


def _label_regions(ax, frame: pd.DataFrame, activation: str):
    for phase, text in (("ordered", "ordered\n" + r"$\chi_1<1$"), ("chaotic", "chaotic\n" + r"$\chi_1>1$")):
        sub = frame[frame["phase"] == phase]
        if len(sub) == 0:
            continue
        # place the label at the centre of the region's σ_w² range, mid σ_b²
        xs = sub["sigma_w2"].to_numpy()
        x_pos = 0.5 * (xs.min() + xs.max())
        y_pos = frame["sigma_b2"].median()
        ax.text(
            x_pos,
            y_pos,
            text,
            ha="center",
            va="center",
            fontsize=10,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.75, "lw": 0},
        )
    unb = frame[frame["phase"] == "unbounded"]
    if len(unb):
        ax.text(
            0.5 * (unb["sigma_w2"].min() + unb["sigma_w2"].max()),
            frame["sigma_b2"].median(),
            r"$q^*=\infty$" + "\n(unbounded)",
            ha="center",
            va="center",
            fontsize=10,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.75, "lw": 0},
        )


def plot(frames: dict[str, pd.DataFrame]):
    """The F1 figure from the phase tables, keyed by activation."""
    style.setup()
    order = [a for a in ("erf", "tanh", "relu") if a in frames]
    fig, axes = plt.subplots(len(order), len(PANELS), figsize=(4.6 * len(PANELS), 3.6 * len(order)), squeeze=False)
    for i, act in enumerate(order):
        frame = frames[act]
        for j, (column, cmap, scale) in enumerate(PANELS):
            ax = axes[i, j]
            _panel(ax, frame, column, cmap, scale)
            _critical_line(ax, frame)
            unb = frame[frame["phase"] == "unbounded"]
            if len(unb):
                ax.axvspan(
                    unb["sigma_w2"].min(),
                    frame["sigma_w2"].max(),
                    facecolor="none",
                    hatch="//",
                    edgecolor="0.5",
                    linewidth=0,
                )
            if j == 0:
                _label_regions(ax, frame, act)
            ax.set_title(f"{act}: {style.SYMBOLS[column]}")
            ax.set_xlabel(style.SYMBOLS["sigma_w2"])
            ax.set_ylabel(style.SYMBOLS["sigma_b2"])
    fig.suptitle(r"Mean-field phase diagram (dashed: critical line $\chi_1 = 1$)")
    return fig
