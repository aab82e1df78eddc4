"""F12 (normalized NTK against depth: freeze vs chaos) and F13 (checkerboard), from the
tables written by :mod:`ntk_phases.freeze_chaos` only."""

from __future__ import annotations

import argparse
import sys

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
    ax.fill_between(g["depth"], g["rho_mean"] - g["rho_std"], g["rho_mean"] + g["rho_std"], color=colour,
                    alpha=0.12, linewidth=0)


def _theory_erf(ax, g, colour):
    """Mean-field asymptote (dashed), anchored at the start of the deep window."""
    sw2, sb2 = float(g["sigma_w2"].iloc[0]), float(g["sigma_b2"].iloc[0])
    if "pred_rate" not in g or not np.isfinite(g["pred_rate"].iloc[0]):
        return
    r = float(g["pred_rate"].iloc[0])
    d = g["depth"].to_numpy()
    l0 = d[len(d) // 2]
    rho0 = float(g.loc[g["depth"] == l0, "rho_mean"].iloc[0])
    dd = d[d >= l0]
    y = 1 - (1 - rho0) * r ** (dd - l0) if g["pred_regime"].iloc[0] == "freeze" else rho0 * r ** (dd - l0)
    ax.plot(dd, y, color=colour, **{**style.THEORY_LINE, "linewidth": 1.2})
    del sw2, sb2


def figure_f12(analytic: pd.DataFrame, empirical: pd.DataFrame):
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    (a_b, a_e, a_n), (a_k, a_p, a_t) = axes
    colour_of = {}
    # (a) ReLU, bias variance β
    vals, norm, cmap = _family_colours(analytic, "bias", "sigma_b2", "viridis")
    for b in vals:
        g = analytic[(analytic["family"] == "bias") & (analytic["sigma_b2"] == b)]
        colour_of[g["variant"].iloc[0]] = cmap(norm(b))
        _band(a_b, g, cmap(norm(b)), None)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=a_b, label=r"bias variance $\beta=\sigma_b^2$")
    a_b.axhline(0.25, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
    a_b.text(1, 0.26, r"$\beta=0$ limit 1/4", color="grey", fontsize=8)
    a_b.set_title(r"ReLU, $\sigma_w^2=2$: bias pushes to freeze")
    # (b) erf across σ_w²
    vals, norm, cmap = _family_colours(analytic, "erf", "sigma_w2", "plasma")
    for s in vals:
        g = analytic[(analytic["family"] == "erf") & (analytic["sigma_w2"] == s)]
        c = cmap(norm(s) * 0.85)
        colour_of[g["variant"].iloc[0]] = c
        _band(a_e, g, c, None)
        _theory_erf(a_e, g, c)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colormaps["plasma"]), ax=a_e, label=r"$\sigma_w^2$ (erf)")
    sb = analytic.loc[analytic["family"] == "erf", "sigma_b2"]
    a_e.set_title(rf"erf, $\sigma_b^2={sb.iloc[0]:g}$ (dashed: mean field)" if len(sb) else "erf")
    # (c) normalization and architecture variants + empirical BatchNorm
    for v, g in analytic[analytic["family"] == "norm"].groupby("variant", sort=False):
        colour_of[v] = NORM_COLOURS.get(v, "grey")
        _band(a_n, g, colour_of[v], v.replace("relu_", ""))
    if empirical is not None and len(empirical):
        wmax = empirical["width"].max()
        for bn, g in empirical[empirical["width"] == wmax].groupby("batchnorm"):
            s = g.groupby("depth")["rho_mean"].agg(["mean", "std"]).reset_index()
            c = NORM_COLOURS["relu_batchnorm"] if bn else "dimgrey"
            a_n.errorbar(s["depth"], s["mean"], yerr=s["std"].fillna(0), color=c, marker="o", ms=4, capsize=2,
                         linestyle=":", label=f"{'batchnorm' if bn else 'plain'} (empirical, width {wmax})")
    a_n.set_title("ReLU variants: normalization pushes to chaos")
    a_n.legend(fontsize=7, loc="best")
    for ax in (a_b, a_e, a_n):
        ax.set_xlabel(style.SYMBOLS["depth"])
        ax.set_ylabel(r"normalized NTK $\Theta(x,x')/\sqrt{\Theta(x,x)\Theta(x',x')}$")
        ax.set_ylim(-0.1, 1.05)
    # bottom row: trainability / generalization against depth
    for v, g in analytic.groupby("variant", sort=False):
        c = colour_of.get(v, "grey")
        a_k.semilogy(g["depth"], g["kappa"], color=c)
        a_p.semilogy(g["depth"], np.maximum(g["mean_pred_rms"], 1e-300), color=c)
        a_t.plot(g["depth"], g["test_acc"], color=c)
    a_k.set_ylabel(r"condition number $\kappa$ of $\Theta$")
    a_p.set_ylabel(r"rms of $P(\Theta)Y$ on test points")
    t = analytic["t"].iloc[0] if len(analytic) else np.nan
    a_t.set_ylabel(f"expected test accuracy at t = {t:g}")
    a_t.axhline(0.1, color="grey", **{**style.THEORY_LINE, "linewidth": 1.0})
    a_t.text(1, 0.11, "chance", color="grey", fontsize=8)
    for ax in (a_k, a_p, a_t):
        ax.set_xlabel(style.SYMBOLS["depth"])
    a_k.set_title("trainability (colours as above)")
    a_p.set_title("mean predictor")
    a_t.set_title("generalization")
    return fig


def figure_f13(checker: pd.DataFrame, maps: dict):
    fig = plt.figure(figsize=(13, 7.5))
    gs = fig.add_gridspec(2, 3)
    regimes = [r for r in ("freeze", "chaos") if f"{r}_diag" in maps]
    for i, reg in enumerate(regimes):
        g = checker[checker["regime"] == reg].iloc[0]
        lab = (rf"{reg}: {'ReLU' if g['activation'] == 'relu' else 'LayerNorm + centred ReLU'},"
               rf" $\sigma_w^2={g['sigma_w2']:g}, \sigma_b^2={g['sigma_b2']:g}$")
        ax = fig.add_subplot(gs[i, 0])
        im = ax.imshow(maps[f"{reg}_diag"], cmap="magma")
        fig.colorbar(im, ax=ax, label=r"$\Theta_{pp}$ (output pixel $p$)")
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("pixel column")
        ax.set_ylabel("pixel row")
        ax = fig.add_subplot(gs[i, 1])
        row = maps[f"{reg}_row"]
        im = ax.imshow(row, cmap="RdBu_r", vmin=-1, vmax=1)
        fig.colorbar(im, ax=ax, label=r"$\Theta_{pq}/\sqrt{\Theta_{pp}\Theta_{qq}}$, $p$ = centre")
        ax.set_title(f"{reg}: kernel between the centre pixel and all others", fontsize=9)
        ax.set_xlabel("pixel column")
        ax.set_ylabel("pixel row")
    ax = fig.add_subplot(gs[:, 2])
    for reg, g in checker.groupby("regime"):
        c = "tab:blue" if reg == "freeze" else "tab:red"
        ax.plot(g["depth"], g["parity_ratio"], "o-", color=c, label=f"{reg} (all pixels)")
        if g["parity_ratio_interior"].notna().any():
            ax.plot(g["depth"], g["parity_ratio_interior"], "s:", color=c, label=f"{reg} (2-pixel border removed)")
    ax.axhline(1.0, color="grey", **style.THEORY_LINE)
    ax.set_xlabel("number of stride-2 transposed convolutions")
    ax.set_ylabel(r"$\langle\Theta_{pp}\rangle_{\rm even,even} / \langle\Theta_{pp}\rangle_{\rm odd,odd}$")
    ax.set_title("checkerboard: even/odd pixel ratio")
    ax.legend(fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figure", choices=["F12", "F13"])
    p.add_argument("--analytic")
    p.add_argument("--empirical")
    p.add_argument("--checkerboard")
    p.add_argument("--maps")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out", nargs="+", required=True)
    args = p.parse_args(argv)
    style.setup()
    if args.figure == "F12":
        fig = figure_f12(pd.read_csv(args.analytic), pd.read_csv(args.empirical))
        inputs = [args.analytic, args.empirical]
    else:
        with np.load(args.maps) as f:
            maps = {k: f[k] for k in f.files}
        fig = figure_f13(pd.read_csv(args.checkerboard), maps)
        inputs = [args.checkerboard, args.maps]
    style.save(fig, args.out, args.dpi, inputs, figure=args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
