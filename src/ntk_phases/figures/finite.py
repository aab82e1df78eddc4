"""Finite-width figures, from the training stage's tidy tables only.

- F7: trained finite networks, train/test accuracy heatmaps over (σ_w², depth) at a few
  steps, with the mean-field 8·ξ₁ (ordered) and 8·ξ* (chaotic) depths overlaid, and the
  depth-scale law a·ξ measured on the grid (C9, :func:`ntk_phases.claims.c9.law_fits`).
- F9: memorization (C6), accuracy and loss against steps, chaotic vs ordered.
- F10: finite networks of growing width against the infinite-width (analytic NTK)
  prediction: loss trajectories, distance of the outputs to the prediction from the same
  initial function, empirical-vs-analytic NTK error, outputs at tracked test points.

``python -m ntk_phases figures finite {F7,F9,F10} ...`` (see ``workflow/rules/train.smk``).
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors

from ..claims import c9
from . import style
from .panels import accuracy_cmap, draw_heat

log = logging.getLogger("ntk_phases.figures.finite")

PHASE_COLORS = {"chaotic": "C3", "ordered": "C0"}


def nearest_steps(recorded, wanted) -> list[int]:
    """For each wanted step, the recorded step closest to it in log scale (deduplicated)."""
    rec = np.asarray(sorted(set(int(s) for s in recorded)))
    out = []
    for w in wanted:
        i = int(np.argmin(np.abs(np.log1p(rec) - np.log1p(float(w)))))
        if rec[i] not in out:
            out.append(int(rec[i]))
    return out


def plot_f7(tables: list[pd.DataFrame], overlays: list[pd.DataFrame], steps: list[int], chance: float = 0.1):
    """Train/test accuracy of each trained grid at ``steps``, with the mean-field 8ξ and
    the C9 law a·ξ measured on the grid at its last step (the claims table's numbers:
    :func:`ntk_phases.claims.c9.depth_scale_fits` on the same tables)."""
    style.setup()
    blocks = []
    for frame, ov in zip(tables, overlays):
        blocks.append((frame, ov, nearest_steps(frame["step"].unique(), steps)))
    n_cols = max(len(s) for _, _, s in blocks)
    n_rows = 2 * len(blocks)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols + 1.2, 3.0 * n_rows), squeeze=False)
    cmap = accuracy_cmap()
    mesh = None
    for b, (frame, ov, st) in enumerate(blocks):
        arch, act = frame["arch"].iloc[0], frame["activation"].iloc[0]
        width, sb2 = int(frame["width"].iloc[0]), float(frame["sigma_b2"].iloc[0])
        n_seeds = frame["seed"].nunique()
        fits = c9.law_fits(c9.finite_law_frame(frame, ov), "network", chance)
        last = int(frame["step"].max())
        for r, (col, name) in enumerate((("train_acc", "train"), ("test_acc", "test"))):
            for j in range(n_cols):
                ax = axes[2 * b + r, j]
                if j >= len(st):
                    ax.axis("off")
                    continue
                mark = ("ordered" if name == "train" else "chaotic") if st[j] == last else None
                mesh = draw_heat(
                    ax, frame, ov, st[j], col, cmap, fits=fits, markers=mark, fit_legend=(r == 0 and j == 0)
                )
                ax.set_title(f"{arch}/{act} {name} accuracy, step {st[j]}", fontsize=10)
                if r == 0 and j == 0:
                    ax.legend(fontsize=6.5, loc="upper left", facecolor="0.6", framealpha=0.85)
        axes[2 * b, 0].annotate(
            f"width {width}, " + rf"$\sigma_b^2={sb2:g}$" + f", mean of {n_seeds} seeds",
            xy=(0, 1.18),
            xycoords="axes fraction",
            fontsize=9,
        )
    cb = fig.colorbar(mesh, ax=axes, shrink=0.8, pad=0.01)
    cb.set_label("accuracy (grey: all seeds diverged; × diverged seeds)")
    return fig


def plot_f9(frame: pd.DataFrame, chance: float, sizes: str = ""):
    style.setup()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sw_vals = sorted(frame["sigma_w2"].unique(), reverse=True)
    for n, sw in enumerate(sw_vals):
        sel = frame[np.isclose(frame["sigma_w2"], sw) & frame["status"].eq("ok")]
        phase = "chaotic" if n == 0 else "ordered"
        color = PHASE_COLORS[phase]
        g = sel.groupby("step")
        for ax, col in zip(axes, ("train_acc", "test_acc", "train_loss")):
            mean, lo, hi = g[col].mean(), g[col].min(), g[col].max()
            x = mean.index.to_numpy()
            ax.plot(x, mean.to_numpy(), color=color, lw=2, marker="o", ms=3, label=rf"{phase}: $\sigma_w^2={sw:g}$")
            ax.fill_between(x, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.2, lw=0)
    depth, arch, act = int(frame["depth"].iloc[0]), frame["arch"].iloc[0], frame["activation"].iloc[0]
    sb2, width = float(frame["sigma_b2"].iloc[0]), int(frame["width"].iloc[0])
    for ax, col, title in zip(
        axes, ("train_acc", "test_acc", "train_loss"), ("train accuracy", "test accuracy", "train loss")
    ):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("gradient-descent step $t$ (full batch)")
        ax.set_title(title)
        if col != "train_loss":
            ax.axhline(chance, color="k", label=f"chance = {chance:g}", **style.THEORY_LINE)
            ax.set_ylim(0, 1.02)
            ax.set_ylabel("accuracy")
        else:
            ax.set_yscale("log")
            ax.set_ylabel(r"$\frac{1}{2n}\sum_i \|f(x_i)-y_i\|^2$")
        ax.legend(fontsize=8, loc="best")
    n_seeds = frame["seed"].nunique()
    fig.suptitle(
        f"Memorization: {arch}/{act}, depth {depth}, width {width}, "
        rf"$\sigma_b^2={sb2:g}$, {sizes}{n_seeds} seeds (band: min-max)",
        fontsize=11,
    )
    return fig


def plot_f10(
    table: pd.DataFrame,
    infinite: pd.DataFrame,
    summary: pd.DataFrame,
    outputs: pd.DataFrame,
    claims: pd.DataFrame | None,
):
    style.setup()
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.6))
    widths = sorted(table["width"].unique())
    norm = colors.LogNorm(vmin=min(widths), vmax=max(widths) * 1.6)
    cmap = plt.get_cmap("viridis")
    ok = table[table["status"].eq("ok")]
    inf = infinite.sort_values("step")
    for ax, col, title in (
        (axes[0, 0], "train_loss", "train loss"),
        (axes[0, 1], "test_loss", "test loss"),
        (axes[1, 2], "test_acc", "test accuracy"),
    ):
        for w in widths:
            g = ok[ok["width"] == w].groupby("step")[col]
            m, lo, hi = g.mean(), g.min(), g.max()
            x = m.index.to_numpy()
            ax.plot(x, m.to_numpy(), color=cmap(norm(w)), lw=1.8, label=f"width {w}")
            ax.fill_between(x, lo.to_numpy(), hi.to_numpy(), color=cmap(norm(w)), alpha=0.15, lw=0)
        ax.plot(inf["step"], inf[col], color="k", label="infinite width (NTK)", **style.THEORY_LINE)
        ax.set_xscale("symlog", linthresh=1)
        if col != "test_acc":
            ax.set_yscale("log")
            ax.set_ylabel(r"$\frac{1}{2n}\sum_i \|f(x_i)-y_i\|^2$")
        else:
            ax.set_ylabel("accuracy (infinite: expected)")
        ax.set_xlabel("gradient-descent step $t$")
        ax.set_title(f"{title}: finite (mean, min-max over seeds) vs NTK")
        ax.legend(fontsize=7)

    fitted = {}
    if claims is not None and len(claims):
        for _, r in claims[claims["claim"] == "C7"].iterrows():
            key = "relative_distance" if "distance" in r["quantity"] else "ntk_rel_error"
            fitted[key] = (float(r["measured"]), float(r["predicted"]), bool(r["passed"]))
    for ax, col, ylabel, title in (
        (
            axes[1, 0],
            "relative_distance",
            r"$\|f_t - f_t^{\mathrm{lin}}\| \,/\, \|f_t^{\mathrm{lin}} - f_0\|$ (test)",
            "distance to the infinite-width prediction",
        ),
        (
            axes[1, 1],
            "ntk_rel_error",
            r"$\|\hat\Theta - \Theta\|_F / \|\Theta\|_F$ at init",
            "empirical vs analytic NTK",
        ),
    ):
        s = summary[~summary["diverged"].astype(bool)]
        ax.scatter(s["width"], s[col], s=14, color="0.5", alpha=0.7, label="each seed")
        per = s.groupby("width")[col].mean()
        ax.plot(per.index, per.to_numpy(), "o", color="C1", ms=7, label="mean over seeds")
        w = np.asarray(per.index, float)
        if len(w) >= 2 and np.all(per.to_numpy() > 0):
            slope, icpt = np.polyfit(np.log(w), np.log(per.to_numpy()), 1)
            ax.plot(w, np.exp(icpt) * w**slope, color="C1", lw=1.5, label=f"fit: slope {slope:.2f}")
            pred = fitted.get(col, (None, -0.5, None))[1]
            anchor = per.to_numpy()[0] * (w / w[0]) ** pred
            ax.plot(w, anchor, color="k", label=rf"$\propto$ width$^{{{pred:g}}}$", **style.THEORY_LINE)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width $n$")
        ax.set_ylabel(ylabel)
        ax.set_title(title + (f" (C7 {'pass' if fitted[col][2] else 'FAIL'})" if col in fitted else ""))
        ax.legend(fontsize=7)

    ax = axes[0, 2]
    fin = outputs[outputs["source"] == "finite"]
    infn = outputs[outputs["source"] == "infinite"].sort_values("point")
    pts = infn["point"].to_numpy()
    offs = np.linspace(-0.3, 0.3, len(widths)) if len(widths) > 1 else [0.0]
    for off, w in zip(offs, widths):
        g = fin[fin["width"] == w].sort_values("point")
        ax.errorbar(
            g["point"] + off,
            g["mean"],
            yerr=g["std"],
            fmt="o",
            ms=3,
            capsize=2,
            color=cmap(norm(w)),
            label=f"width {w}",
        )
    for p, m, sd in zip(pts, infn["mean"], infn["std"]):
        ax.hlines([m - sd, m, m + sd], p - 0.4, p + 0.4, color="k", lw=[0.8, 1.6, 0.8], linestyles="dashed")
    ax.plot([], [], color="k", label=r"NTK mean $\pm$ std", **style.THEORY_LINE)
    ax.set_xticks(pts)
    ax.set_xlabel("test point")
    ax.set_ylabel("true-class output $f_t(x)_y$")
    step = int(infn["step"].iloc[0]) if len(infn) else -1
    ax.set_title(f"outputs at step {step}: mean $\\pm$ std over seeds")
    ax.legend(fontsize=7, ncol=2)
    r = table.iloc[0]
    fig.suptitle(
        f"Finite vs infinite width: {r['arch']}/{r['activation']}, depth {int(r['depth'])}, "
        rf"$\sigma_w^2={r['sigma_w2']:g}$, $\sigma_b^2={r['sigma_b2']:g}$, "
        f"{table['seed'].nunique()} seeds, full-batch GD at "
        rf"$\eta={r['learning_rate']:.3g}$",
        fontsize=11,
    )
    return fig
