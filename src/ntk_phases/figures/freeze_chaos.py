"""F12 (normalized NTK against depth: freeze vs chaos) and F13 (checkerboard), from the
tables written by :mod:`ntk_phases.stages.freeze_chaos` only (F13 also reads the C8 claims for
the thresholds of its statistics)."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style

NORM_COLOURS = {
    "relu_plain": "black",
    "relu_centred": "tab:red",
    "relu_layernorm": "tab:purple",
    "relu_dropout": "tab:orange",
    "relu_residual": "tab:green",
    "relu_batchnorm": "tab:blue",
}


def _family_colours(frame: pd.DataFrame, family: str, key: str, cmap: str):
    values = np.unique(frame.loc[frame["family"] == family, key])
    norm = mpl.colors.Normalize(values.min(), values.max() if values.max() > values.min() else values.min() + 1)
    return values, norm, mpl.colormaps[cmap]


def _band(ax, g, colour, label, **kw):
    ax.plot(g["depth"], g["rho_mean"], color=colour, label=label, **kw)
    ax.fill_between(
        g["depth"], g["rho_mean"] - g["rho_std"], g["rho_mean"] + g["rho_std"], color=colour, alpha=0.12, linewidth=0
    )


def _theory(ax, g, colour):
    """Mean-field approach law (dashed) anchored at the start of the deep window:
    freeze 1 − ρ ∝ l^poly r^l, chaos ρ ∝ l^poly r^l (r, poly: the table's predictions)."""
    if "pred_rate" not in g or not np.isfinite(g["pred_rate"].iloc[0]):
        return
    r, poly = float(g["pred_rate"].iloc[0]), float(g["pred_poly"].iloc[0])
    d = g["depth"].to_numpy()
    l0 = d[len(d) // 2]
    rho0 = float(g.loc[g["depth"] == l0, "rho_mean"].iloc[0])
    dd = d[d >= l0].astype(float)
    shape = (dd / l0) ** poly * r ** (dd - l0)
    y = 1 - (1 - rho0) * shape if g["pred_regime"].iloc[0] == "freeze" else rho0 * shape
    ax.plot(dd, y, color=colour, **{**style.THEORY_LINE, "linewidth": 1.2})


#: F12's columns: one family of networks each, the same colours from top to bottom.
F12_COLUMNS = (
    ("bias", "ReLU, bias variance " + r"$\beta$"),
    ("erf", "erf across " + r"$\sigma_w^2$"),
    ("norm", "ReLU variants"),
)
#: F12's rows below the normalized NTK: (column, y label, title, log scale).
F12_ROWS = (
    ("kappa", r"condition number $\kappa$ of $\Theta$", "trainability", True),
    ("mean_pred_rms", r"rms of $P(\Theta)Y$ on test points", "mean predictor", True),
    ("test_acc", "expected test accuracy", "generalization", False),
)


def _column_style(analytic: pd.DataFrame, empirical: pd.DataFrame | None):
    """Per F12 column: the variants' line styles (colour, line style) and the key that
    names them (a colour bar, or legend handles), shared by every panel of the column."""
    style_of: dict[str, dict] = {}
    keys: dict[str, dict] = {}
    fam = analytic["family"].isin(["bias", "bias_vp"])
    betas = analytic.loc[fam, "sigma_b2"]
    if len(betas):
        norm = mpl.colors.Normalize(betas.min(), betas.max() if betas.max() > betas.min() else betas.min() + 1)
        cmap = mpl.colormaps["viridis"]
        for (family, b), g in analytic[fam].groupby(["family", "sigma_b2"]):
            style_of[g["variant"].iloc[0]] = {"color": cmap(norm(b)), "linestyle": "-" if family == "bias" else "-."}
        keys["bias"] = {
            "mappable": mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
            "label": r"bias variance $\beta=\sigma_b^2$",
            "handles": [
                mpl.lines.Line2D([], [], color="k", ls="-", label=r"$\sigma_w^2=2$ (critical, $\chi_1=1$)"),
                mpl.lines.Line2D([], [], color="k", ls="-.", label=r"$\sigma_w^2=2(1-\beta)$ (freeze)"),
            ],
        }
    erf = analytic[analytic["family"] == "erf"]
    if len(erf):
        vals, norm, cmap = _family_colours(analytic, "erf", "sigma_w2", "plasma")
        for sw in vals:
            v = erf.loc[erf["sigma_w2"] == sw, "variant"].iloc[0]
            style_of[v] = {"color": cmap(norm(sw) * 0.85), "linestyle": "-"}
        keys["erf"] = {
            "mappable": mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
            "label": r"$\sigma_w^2$ (erf)",
            "handles": [],
        }
    handles = []
    for v in analytic.loc[analytic["family"] == "norm", "variant"].drop_duplicates():
        style_of[v] = {"color": NORM_COLOURS.get(v, "grey"), "linestyle": "-"}
        handles.append(mpl.lines.Line2D([], [], **style_of[v], label=v.replace("relu_", "")))
    keys["norm"] = {"mappable": None, "label": None, "handles": handles}
    return style_of, keys


def figure_f12(analytic: pd.DataFrame, empirical: pd.DataFrame):
    """Four rows × three columns: the normalized NTK (top) and κ, the mean predictor and
    the expected test accuracy (below) against depth; each column one family (ReLU with
    bias β, erf across σ_w², ReLU variants) with one colour key for the whole column."""
    style_of, keys = _column_style(analytic, empirical)
    fig, axes = plt.subplots(1 + len(F12_ROWS), len(F12_COLUMNS), figsize=(15, 16), sharex="col")
    families = {"bias": ["bias", "bias_vp"], "erf": ["erf"], "norm": ["norm"]}
    t = analytic["t"].iloc[0] if len(analytic) else np.nan
    for j, (col, name) in enumerate(F12_COLUMNS):
        sub = analytic[analytic["family"].isin(families[col])]
        a_top = axes[0, j]
        for v, g in sub.groupby("variant", sort=False):
            st = style_of[v]
            _band(a_top, g, st["color"], v.replace("relu_", "") if col == "norm" else None, linestyle=st["linestyle"])
            if col == "erf":
                _theory(a_top, g, st["color"])
            for i, (ycol, _, _, logy) in enumerate(F12_ROWS, start=1):
                y = np.maximum(g[ycol], 1e-300) if logy else g[ycol]
                axes[i, j].plot(g["depth"], y, **st)
        if col == "bias":
            for lim in (0.25, 4 / 7):  # critical limits of ρ at σ_w² = 2 (β = 0, β > 0)
                a_top.axhline(lim, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
            a_top.plot(
                [],
                [],
                color="grey",
                **{**style.THEORY_LINE, "linewidth": 1.0},
                label=r"$\sigma_w^2=2$ limits: 1/4 ($\beta=0$), 4/7 ($\beta>0$)",
            )
            a_top.set_title("ReLU: bias pushes toward freeze")
        elif col == "erf":
            sb = sub["sigma_b2"]
            a_top.set_title(rf"erf, $\sigma_b^2={sb.iloc[0]:g}$ (dashed: mean field)" if len(sb) else "erf")
        else:
            if empirical is not None and len(empirical):
                wmax = empirical["width"].max()
                for bn, g in empirical[empirical["width"] == wmax].groupby("batchnorm"):
                    s = g.groupby("depth")["rho_mean"].agg(["mean", "std"]).reset_index()
                    c = NORM_COLOURS["relu_batchnorm"] if bn else "dimgrey"
                    a_top.errorbar(
                        s["depth"],
                        s["mean"],
                        yerr=s["std"].fillna(0),
                        color=c,
                        marker="o",
                        ms=4,
                        capsize=2,
                        linestyle=":",
                        label=f"{'batchnorm' if bn else 'plain'} (empirical, width {wmax})",
                    )
            a_top.set_title("ReLU variants: normalization pushes to chaos")
        a_top.set_ylim(-0.1, 1.05)
        key = keys.get(col, {"mappable": None, "handles": []})
        # the column's key on every panel of the column: its colour bar, its legend
        if key["mappable"] is not None:
            for ax in axes[:, j]:
                fig.colorbar(key["mappable"], ax=ax, label=key["label"], pad=0.01, fraction=0.06)
        handles = key["handles"]
        top = a_top.get_legend_handles_labels()[0] + (handles if col == "bias" else [])
        if top:
            a_top.legend(handles=top, fontsize=7, loc="lower left" if col == "bias" else "best")
        for i, (ycol, ylabel, title, logy) in enumerate(F12_ROWS, start=1):
            ax = axes[i, j]
            if logy:
                ax.set_yscale("log")
            if ycol == "test_acc":
                ax.axhline(0.1, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
                ax.text(1, 0.11, "chance", color="grey", fontsize=8)
                ax.set_ylim(0, 1.02)
            if handles:
                ax.legend(handles=handles, fontsize=6, loc="best", ncol=2 if col == "norm" else 1)
            ax.set_title(f"{name}: {title}", fontsize=9)
            if j == 0:
                ax.set_ylabel(ylabel if ycol != "test_acc" else f"{ylabel} at t = {t:g}")
        axes[-1, j].set_xlabel(style.SYMBOLS["depth"])
    axes[0, 0].set_ylabel(r"normalized NTK $\Theta(x,x')/\sqrt{\Theta(x,x)\Theta(x',x')}$")
    fig.suptitle(
        "F12: freeze and chaos: normalized NTK (top) and trainability, mean predictor, "
        "generalization (below) against depth; one colour key per column"
    )
    return fig


def _tolerance(claims: pd.DataFrame | None, regime: str, key: str) -> float:
    """Threshold of a checkerboard claim row (``key`` in its quantity), nan if absent."""
    if claims is None:
        return np.nan
    rows = claims[(claims["arch"] == f"deconv_{regime}") & claims["quantity"].str.contains(key, regex=False)]
    return float(rows["tolerance"].iloc[0]) if len(rows) else np.nan


CHECKER_COLOURS = {"freeze": "tab:blue", "chaos": "tab:red"}


def figure_f13(checker: pd.DataFrame, maps: dict, claims: pd.DataFrame | None = None):
    fig = plt.figure(figsize=(14, 8))
    outer = fig.add_gridspec(1, 2, width_ratios=[2, 1.05])
    regimes = [r for r in ("freeze", "chaos") if f"{r}_diag" in maps]
    gs_maps = outer[0].subgridspec(max(len(regimes), 1), 2)
    for i, reg in enumerate(regimes):
        g = checker[checker["regime"] == reg].iloc[0]
        lab = (
            rf"{reg}: {'ReLU' if g['activation'] == 'relu' else 'LayerNorm + centred ReLU'},"
            rf" $\sigma_w^2={g['sigma_w2']:g}, \sigma_b^2={g['sigma_b2']:g}$"
        )
        ax = fig.add_subplot(gs_maps[i, 0])
        im = ax.imshow(maps[f"{reg}_diag"], cmap="magma")
        fig.colorbar(im, ax=ax, label=r"$\Theta_{pp}$ (output pixel $p$)", shrink=0.8)
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("pixel column")
        ax.set_ylabel("pixel row")
        ax = fig.add_subplot(gs_maps[i, 1])
        im = ax.imshow(maps[f"{reg}_row"], cmap="RdBu_r", vmin=-1, vmax=1)
        fig.colorbar(im, ax=ax, label=r"$R_{pq}$, $p$ = centre pixel", shrink=0.8)
        ax.set_title(f"{reg}: " + r"$R_{pq}=\Theta_{pq}/\sqrt{\Theta_{pp}\Theta_{qq}}$, centre row", fontsize=9)
        ax.set_xlabel("pixel column")
        ax.set_ylabel("pixel row")
    gs_stats = outer[1].subgridspec(3, 1)
    a_c, a_f, a_d = (fig.add_subplot(gs_stats[k]) for k in range(3))
    for reg, g in checker.groupby("regime"):
        c = CHECKER_COLOURS.get(reg, "grey")
        a_c.plot(g["depth"], g["parity_contrast"], "o-", color=c, label=reg)
        if g["parity_contrast_interior"].notna().any():
            a_c.plot(g["depth"], g["parity_contrast_interior"], "s:", color=c, label=f"{reg}, 2-pixel border removed")
        a_f.plot(g["depth"], g["far_corr"], "o-", color=c, label=reg)
        a_d.plot(g["depth"], g["parity_ratio"], "o-", color=c, alpha=0.6, label=reg)
        t = _tolerance(claims, reg, "side/2")
        if np.isfinite(t):
            for y in (t,) if reg == "freeze" else (t, -t):
                a_f.axhline(y, color=c, linewidth=0.9, linestyle="--")
    t = _tolerance(claims, "freeze", "parity contrast")
    if np.isfinite(t):
        a_c.axhline(t, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
        a_c.text(checker["depth"].min(), t, " threshold: freeze >, chaos <=", color="grey", fontsize=7, va="bottom")
    a_c.set_ylabel("parity contrast of $R$")
    a_c.set_title("checkerboard: max - min of parity-class pair means of $R$", fontsize=9)
    a_c.set_ylim(0, 1.45 * np.nanmax(checker[["parity_contrast", "parity_contrast_interior"]].to_numpy()))
    a_c.legend(fontsize=7, ncol=2, loc="upper center")
    a_f.set_ylabel(r"mean $R_{pq}$, $|p-q|\geq$ side/2")
    a_f.set_title("long-range correlation (dashed: thresholds)", fontsize=9)
    a_f.set_ylim(-0.15, 1.0)
    a_d.axhline(1.0, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
    a_d.set_ylabel(r"$\langle\Theta_{pp}\rangle_{\rm even}/\langle\Theta_{pp}\rangle_{\rm odd}$")
    a_d.set_title("diagonal even/odd ratio (reported, not claimed)", fontsize=9)
    for ax in (a_c, a_f, a_d):
        ax.set_xticks(sorted(checker["depth"].unique()))
    a_d.set_xlabel("number of stride-2 transposed convolutions")
    return fig
