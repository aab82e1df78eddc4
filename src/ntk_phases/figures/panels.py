"""Panels shared by the figure families: the trained-grid heat map (F7, F8's finite row)
with its mean-field depth-scale overlay, and the C9 depth-scale law a·ξ drawn over a grid
(F6, F7)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..claims import c9
from . import style


def edges(values) -> np.ndarray:
    """Cell edges around sorted centres (midpoints; end cells mirrored)."""
    v = np.asarray(sorted(values), float)
    if len(v) == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def heat(frame: pd.DataFrame, step: int, col: str):
    """Mean over ok seeds of ``col`` at ``step`` as a (depth × σ_w²) array, and the number
    of diverged seeds per cell."""
    at = frame[frame["step"] == step]
    ok = at[at["status"] == "ok"]
    sw = np.sort(frame["sigma_w2"].unique())
    depths = np.sort(frame["depth"].unique())
    mean = ok.pivot_table(index="depth", columns="sigma_w2", values=col, aggfunc="mean")
    mean = mean.reindex(index=depths, columns=sw)
    div = (
        at.assign(d=at["status"].eq("diverged"))
        .pivot_table(index="depth", columns="sigma_w2", values="d", aggfunc="sum")
        .reindex(index=depths, columns=sw)
        .fillna(0)
    )
    return sw, depths, mean.to_numpy(), div.to_numpy()


def depth_scale_overlay(ax, ov: pd.DataFrame, depth_max: float):
    ov = ov.sort_values("sigma_w2")
    sw = ov["sigma_w2"].to_numpy()
    for col, mask, label, color in (
        ("xi_1", ov["phase"].eq("ordered").to_numpy(), r"$8\xi_1$", "white"),
        ("xi_star", ov["phase"].eq("chaotic").to_numpy(), r"$8\xi^*$", "black"),
    ):
        y = np.where(mask, 8.0 * ov[col].to_numpy(), np.nan)
        ax.plot(sw, y, color=color, label=label, **style.THEORY_LINE)
    chi = ov["chi_1"].to_numpy()
    idx = np.flatnonzero((chi[:-1] - 1) * (chi[1:] - 1) <= 0)
    if len(idx):
        i = idx[0]
        crit = float(np.interp(1.0, chi[i : i + 2], sw[i : i + 2]))
        ax.axvline(crit, color="0.5", lw=1.0, ls=":", label=r"$\chi_1 = 1$")
    ax.set_ylim(0, depth_max)


def accuracy_cmap():
    """viridis with grey for cells where every seed diverged (NaN means)."""
    return plt.get_cmap("viridis").with_extremes(bad="0.75")


def draw_heat(
    ax,
    frame: pd.DataFrame,
    overlay: pd.DataFrame,
    step: int,
    col: str,
    cmap,
    fits: dict | None = None,
    markers: str | None = None,
    fit_legend: bool = False,
):
    """One trained-grid panel (F7, F8's finite row): the mean over ok seeds of ``col`` at
    ``step`` over (σ_w², depth), a red × on cells with diverged seeds, and the mean-field
    8ξ₁ / 8ξ* depths and χ₁ = 1 from ``overlay``; ``fits`` (F7): the C9 law a·ξ
    measured on the grid (:func:`ntk_phases.claims.c9.depth_scale_fits`), ``markers``: the
    phase whose measured boundaries to mark. Returns the mesh (for a colour bar)."""
    sw, depths, z, div = heat(frame, step, col)
    mesh = ax.pcolormesh(edges(sw), edges(depths), z, cmap=cmap, vmin=0, vmax=1, shading="flat")
    for i, k in zip(*np.nonzero(div)):
        ax.text(sw[k], depths[i], "×", ha="center", va="center", color="red", fontsize=9)
    depth_scale_overlay(ax, overlay, edges(depths)[-1])
    if fits:
        step_max = int(frame["step"].max())
        draw_fits(
            ax,
            fits,
            float(depths.max()),
            markers=markers,
            label=fit_legend,
            what={"ordered": f"train, step {step_max}", "chaotic": f"test, step {step_max}"},
        )
    ax.set_xlim(edges(sw)[0], edges(sw)[-1])
    ax.set_xlabel(style.SYMBOLS["sigma_w2"])
    ax.set_ylabel(style.SYMBOLS["depth"])
    return mesh


FIT_COLOUR = "#ff3fd2"  # magenta: apart from viridis and from the white 8ξ


def fit_label(phase: str, fit: dict, what: str = "") -> str:
    """Legend text of a C9 fit: its a, R² and points, or why there is none."""
    xi = r"\xi_1" if phase == "ordered" else r"\xi^*"
    out = []
    for key, word in (("censored", "censored"), ("singular", r"singular $\Theta$")):
        if fit.get(key):
            out.append(f"{fit[key]} {word}")
    extra = (", " + ", ".join(out)) if out else ""
    if fit["resolved"] < c9.C9_MIN_POINTS:
        return rf"no $a\,{xi}$ fit: {fit['resolved']} resolved{extra}" + (f" ({what})" if what else "")
    return rf"fit ${fit['a']:.3g}\,{xi}$, $R^2$ {fit['r2']:.2f} ({fit['resolved']} pts{extra})" + (
        f", {what}" if what else ""
    )


def draw_fits(ax, fits: dict, dmax: float, markers: str | None = None, label: bool = False, what: dict | None = None):
    """The C9 law a·ξ measured on this grid (``fits``: :func:`claims.c9.law_fits`) as a
    magenta line over each phase's σ_w², clipped at the grid; ``markers``: the phase whose
    measured boundaries to mark (o: resolved; magenta ^: censored, at the deepest depth;
    grey ^: not reached before the first singular Θ, at that depth)."""
    what = what or {}
    for phase, (bounds, fit) in fits.items():
        lab = fit_label(phase, fit, what.get(phase, "")) if label else None
        if fit["resolved"] >= c9.C9_MIN_POINTS:
            b = bounds.sort_values("sigma_w2")
            ls = "-" if phase == "ordered" else "-."
            ax.plot(
                b["sigma_w2"], np.minimum(fit["a"] * b["xi"], dmax * 1.02), color=FIT_COLOUR, lw=1.8, ls=ls, label=lab
            )
        elif label:
            ax.plot([], [], color=FIT_COLOUR, lw=0, label=lab)
        if markers == phase:
            res = bounds[bounds["status"] == "resolved"]
            cen = bounds[bounds["status"] == "censored"]
            ax.scatter(
                res["sigma_w2"],
                res["l_boundary"],
                s=22,
                color=FIT_COLOUR,
                edgecolors="k",
                linewidths=0.6,
                zorder=6,
                label=r"measured $l_{boundary}$" if label else None,
            )
            ax.scatter(
                cen["sigma_w2"],
                np.full(len(cen), dmax),
                marker="^",
                s=26,
                color=FIT_COLOUR,
                edgecolors="k",
                linewidths=0.6,
                zorder=6,
                clip_on=False,
                label="censored (beyond the grid)" if label and len(cen) else None,
            )
            sing = bounds[bounds["status"] == "singular"]
            ax.scatter(
                sing["sigma_w2"],
                sing["l_boundary"],
                marker="^",
                s=26,
                color="0.7",
                edgecolors="k",
                linewidths=0.6,
                zorder=6,
                label=r"beyond a singular $\Theta$ (numerical)" if label and len(sing) else None,
            )
