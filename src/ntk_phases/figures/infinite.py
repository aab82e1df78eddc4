"""F3-F6 and F8: infinite-width kernels and metrics against depth, with the mean-field
predictions dashed. Reads only the tidy ``metrics/infinite_<arch>_<activation>.csv``
tables (which carry q*, c*, χ₁, χ_c*, ξ₁, ξ* per row); F8 also draws a finite-width row
from the training stage's ``metrics/finite_architectures_<arch>_<activation>.csv`` tables
and their depth-scale overlays (``--finite``, ``--overlays``)."""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import pandas as pd

from ..claims import nearest_sigma, per_point
from ..cli import setup_logging
from . import style

log = logging.getLogger("ntk_phases.figures.infinite")
DASH = style.THEORY_LINE


def _anchored(d: np.ndarray, y_anchor: float, d_anchor: float, rate: float, poly: bool = False) -> np.ndarray:
    """Prediction ∝ rate^l (× l if poly) through the measured value at d_anchor."""
    base = rate ** (d - d_anchor)
    if poly:
        base = base * np.maximum(d, 1) / max(d_anchor, 1)
    return y_anchor * base


def _points(frame: pd.DataFrame, cfg: dict):
    pp = per_point(frame)
    return nearest_sigma(pp, cfg["chaotic_sigma_w2"]), nearest_sigma(pp, cfg["ordered_sigma_w2"])


def _label(pts: pd.DataFrame, phase: str) -> str:
    r = pts.iloc[0]
    return (rf"{phase}: $\sigma_w^2={r['sigma_w2']:.3g}$, $\sigma_b^2={r['sigma_b2']:.3g}$, "
            rf"$\chi_1={r['chi_1']:.3f}$")


def _mark_singular(ax, pts, col):
    sing = pts["singular"].astype(bool)
    if sing.any():
        ax.scatter(pts.loc[sing, "depth"], pts.loc[sing, col], facecolors="none", edgecolors="k", s=25,
                   label="singular (at the noise floor)", zorder=5)


def f3(tables: dict, cfg: dict):
    import matplotlib.pyplot as plt

    acts = sorted({a for (arch, a) in tables if arch == "fcn"})
    fig, axes = plt.subplots(len(acts), 3, figsize=(15, 4.0 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        ch, od = _points(tables[("fcn", act)], cfg)
        d = ch["depth"].to_numpy(float)
        ax = axes[i, 0]
        if ch["phase"].iloc[0] == "chaotic":
            r = ch.iloc[0]
            ax.plot(d, ch["ntk_diag"], "C3-", lw=2, label=r"$\Theta^l_{aa}$")
            ax.plot(d, ch["ntk_offdiag"], "C0-", lw=2, label=r"$\Theta^l_{ab}$")
            ax.plot(d, _anchored(d, ch["ntk_diag"].iloc[-1], d[-1], r["chi_1"]), "C3", **DASH,
                    label=r"$\propto\chi_1^l$")
            ax.axhline(r["q_star"] * r["c_star"] / (1 - r["chi_c"]), color="C0", **DASH,
                       label=r"$q^*c^*/(1-\chi_{c^*})$")
            ax.set_yscale("log")
            ax.set_title(_label(ch, "chaotic"), fontsize=9)
        else:
            ax.text(0.5, 0.5, f"no chaotic phase for {act}", ha="center", transform=ax.transAxes)
        ax = axes[i, 1]
        r = od.iloc[0]
        p_star = r["q_star"] / (1 - r["chi_1"])
        ax.plot(d, od["ntk_diag"], "C3-", lw=2, label=r"$\Theta^l_{aa}$")
        ax.plot(d, od["ntk_offdiag"], "C0-", lw=2, label=r"$\Theta^l_{ab}$")
        ax.axhline(p_star, color="k", **DASH, label=r"$p^* = q^*/(1-\chi_1)$")
        ax.set_title(_label(od, "ordered"), fontsize=9)
        ax = axes[i, 2]
        for col, c, lab in (("ntk_diag", "C3", r"$|\Theta^l_{aa}-p^*|$"), ("ntk_offdiag", "C0", r"$|\Theta^l_{ab}-p^*|$")):
            gap = np.abs(od[col].to_numpy() - p_star)
            ok = gap > 1e-12 * p_star
            ax.plot(d[ok], gap[ok], color=c, lw=2, label=lab)
        gap = np.abs(od["ntk_diag"].to_numpy() - p_star)
        k = max(1, len(d) // 3)
        ax.plot(d, _anchored(d, gap[k], d[k], r["chi_1"]), "C3", **DASH, label=r"$\propto\chi_1^l$")
        gap_b = np.abs(od["ntk_offdiag"].to_numpy() - p_star)
        ax.plot(d, _anchored(d, gap_b[k], d[k], r["chi_1"], poly=True), "C0", **DASH, label=r"$\propto l\,\chi_1^l$")
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1e-14 * p_star, ax.get_ylim()[0]))
        ax.set_title(f"{act}: ordered, approach to $p^*$", fontsize=9)
        for ax in axes[i]:
            ax.set_xlabel(style.SYMBOLS["depth"])
            ax.legend(fontsize=7)
        axes[i, 0].set_ylabel(f"{act}: NTK entries (train set means)")
    fig.suptitle("F3: NTK entries against depth (dashed: mean-field predictions, C1/C2)")
    return fig


def f4(tables: dict, cfg: dict):
    import matplotlib.pyplot as plt

    acts = sorted({a for (arch, a) in tables if arch == "fcn"})
    fig, axes = plt.subplots(len(acts), 2, figsize=(12, 4.2 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        ch, od = _points(tables[("fcn", act)], cfg)
        d = ch["depth"].to_numpy(float)
        for j, (pts, phase) in enumerate(((ch, "chaotic"), (od, "ordered"))):
            ax = axes[i, j]
            if pts["phase"].iloc[0] != phase:
                ax.text(0.5, 0.5, f"no {phase} point for {act}", ha="center", transform=ax.transAxes)
                continue
            r = pts.iloc[0]
            ax.plot(d, pts["lambda_max"], "C3-", lw=2, label=r"$\lambda_{max}$")
            ax.plot(d, pts["lambda_min"], "C0-", lw=2, label=r"$\lambda_{min}$")
            kap = pts["kappa"].to_numpy() - (1 if phase == "chaotic" else 0)
            ax.plot(d, kap, "C2-", lw=2, label=r"$\kappa-1$" if phase == "chaotic" else r"$\kappa$")
            _mark_singular(ax, pts, "lambda_min")
            k = len(d) // 2
            if phase == "chaotic":
                ax.plot(d, _anchored(d, pts["lambda_min"].iloc[k], d[k], r["chi_1"]), "C0", **DASH, label=r"$\propto\chi_1^l$")
                ax.plot(d, _anchored(d, kap[k], d[k], 1 / r["chi_1"]), "C2", **DASH, label=r"$\propto\chi_1^{-l}$")
            else:
                m = int(cfg["n_train"])
                ax.axhline(m * r["q_star"] / (1 - r["chi_1"]), color="C3", **DASH, label=r"$m\,p^*$")
                fine = ~pts["singular"].astype(bool).to_numpy()
                kk = np.flatnonzero(fine)[len(np.flatnonzero(fine)) // 2]
                ax.plot(d, _anchored(d, pts["lambda_min"].iloc[kk], d[kk], r["chi_1"]), "C0", **DASH, label=r"$\propto\chi_1^l$")
                ax.plot(d, _anchored(d, kap[kk], d[kk], 1 / r["chi_1"]), "C2", **DASH, label=r"$\propto\chi_1^{-l}$")
            ax.set_yscale("log")
            ax.set_xlabel(style.SYMBOLS["depth"])
            ax.set_title(f"{act} — " + _label(pts, phase), fontsize=9)
            ax.legend(fontsize=7)
        axes[i, 0].set_ylabel(r"spectrum of $\Theta^l(X,X)$")
    fig.suptitle(r"F4: NTK spectrum and condition number $\kappa$ against depth (dashed: predictions)")
    return fig


def f5(tables: dict, cfg: dict):
    import matplotlib.pyplot as plt

    acts = sorted({a for (arch, a) in tables if arch == "fcn"})
    fig, axes = plt.subplots(1, len(acts), figsize=(6.2 * len(acts), 4.4), squeeze=False)
    for i, act in enumerate(acts):
        ax = axes[0, i]
        ch, od = _points(tables[("fcn", act)], cfg)
        d = ch["depth"].to_numpy(float)
        if ch["phase"].iloc[0] == "chaotic":
            r = ch.iloc[0]
            ax.plot(d, ch["mean_pred_rms"], "C3-", lw=2, label=_label(ch, "chaotic"))
            k = len(d) // 2
            ax.plot(d, _anchored(d, ch["mean_pred_rms"].iloc[k], d[k], r["chi_c"] / r["chi_1"], poly=True), "C3",
                    **DASH, label=r"$\propto l\,(\chi_{c^*}/\chi_1)^l$")
        ax.plot(d, od["mean_pred_rms"], "C0-", lw=2, label=_label(od, "ordered"))
        ax.set_yscale("log")
        ax.set_xlabel(style.SYMBOLS["depth"])
        ax.set_ylabel(r"rms of $P(\Theta^l)Y$ over test points and classes")
        ax.set_title(act)
        ax.legend(fontsize=7)
    fig.suptitle(r"F5: mean predictor $P(\Theta^l)Y$ against depth")
    return fig


def _heatmap(ax, frame: pd.DataFrame, t: float, col: str, show_xi: bool = True):
    sub = frame[frame["t"] == t]
    sb = sub["sigma_b2"].min()
    sub = sub[sub["sigma_b2"] == sb]
    piv = sub.pivot_table(index="depth", columns="sigma_w2", values=col)
    mesh = ax.pcolormesh(piv.columns, piv.index, piv.to_numpy(), cmap="viridis", vmin=0, vmax=1,
                         shading="nearest", rasterized=True)
    if show_xi:
        th = sub.drop_duplicates("sigma_w2").sort_values("sigma_w2")
        dmax = piv.index.max()
        for c, lab in (("xi_1", r"$8\xi_1$"), ("xi_star", r"$8\xi^*$")):
            y = 8 * th[c].to_numpy(float)
            ok = np.isfinite(y)
            ax.plot(th["sigma_w2"].to_numpy()[ok], np.minimum(y[ok], dmax * 1.02), color="w",
                    marker=".", **DASH)
            # label the overlay only where it is drawn inside the depth range
            inside = np.flatnonzero(ok & (y <= dmax))
            if inside.size:
                j = inside[inside.size // 2]
                ax.text(th["sigma_w2"].to_numpy()[j], y[j], lab, color="w", fontsize=9,
                        ha="center", va="bottom")
        ax.set_ylim(piv.index.min() - 0.5, dmax + 0.5)
    return mesh


def f6(tables: dict, cfg: dict):
    import matplotlib.pyplot as plt

    acts = sorted({a for (arch, a) in tables if arch == "fcn"})
    times = sorted(tables[("fcn", acts[0])]["t"].unique())
    rows = [(a, c) for a in acts for c in ("train_acc", "test_acc")]
    fig, axes = plt.subplots(len(rows), len(times), figsize=(3.3 * len(times) + 1, 2.9 * len(rows)),
                             squeeze=False, sharex=True, sharey=True)
    mesh = None
    for i, (act, col) in enumerate(rows):
        for j, t in enumerate(times):
            ax = axes[i, j]
            mesh = _heatmap(ax, tables[("fcn", act)], t, col)
            ax.set_title(f"{act} {col.replace('_acc', '')}, t = {t:g}", fontsize=9)
            if i == len(rows) - 1:
                ax.set_xlabel(style.SYMBOLS["sigma_w2"])
            if j == 0:
                ax.set_ylabel(style.SYMBOLS["depth"])
    fig.colorbar(mesh, ax=axes, label="accuracy (infinite width, incl. random initial function)", shrink=0.6)
    fig.suptitle(r"F6: infinite-width FCN accuracy over ($\sigma_w^2$, depth) at training time t "
                 r"(dashed: $8\xi_1$, $8\xi^*$)")
    return fig


ARCHS = ("fcn", "cnn_f", "cnn_p")


def f8_rows(tables: dict, finite: dict) -> tuple[list[str], list[tuple[str, str]]]:
    """F8's columns (architectures present in either row, in the fixed FCN, CNN-F, CNN-P
    order) and rows: one ``("infinite", activation)`` per activation of the kernel tables,
    then one ``("finite", activation)`` per activation of the trained tables (none when
    nothing was trained)."""
    keys = set(tables) | set(finite)
    archs = [a for a in ARCHS if any(k[0] == a for k in keys)]
    rows = [("infinite", a) for a in sorted({a for _, a in tables})]
    rows += [("finite", a) for a in sorted({a for _, a in finite})]
    return archs, rows


def _finite_title(frame: pd.DataFrame, arch: str, act: str, step: int, settings: dict) -> str:
    """Panel title of a trained grid: step and the recipe (width, examples, batch, seeds)."""
    unit = "width" if arch == "fcn" else "channels"
    n = settings.get("n_train") or "all"
    bs = int(frame["batch_size"].iloc[0]) if "batch_size" in frame else "?"
    return (f"{arch} / {act}, trained: test accuracy, step {step}\n"
            f"{unit} {int(frame['width'].iloc[0])}, n_train = {n}, batch {bs}, "
            f"{frame['seed'].nunique()} seed(s)")


def f8(tables: dict, cfg: dict, finite: dict | None = None, overlays: dict | None = None):
    """Test accuracy over (σ_w², depth) per architecture: infinite width at the largest t
    (top rows), and, where ``finite`` holds trained grids, finite networks at their last
    recorded step, mean over ok seeds (bottom rows; ``overlays``: their ξ₁, ξ* tables)."""
    import matplotlib.pyplot as plt

    from .finite import accuracy_cmap, draw_heat

    finite, overlays = finite or {}, overlays or {}
    archs, rows = f8_rows(tables, finite)
    fig, axes = plt.subplots(len(rows), len(archs), figsize=(4.4 * len(archs) + 1, 3.6 * len(rows)),
                             squeeze=False)
    cmap = accuracy_cmap()
    mesh, legend = None, True
    for i, (kind, act) in enumerate(rows):
        for j, arch in enumerate(archs):
            ax = axes[i, j]
            if (arch, act) not in (tables if kind == "infinite" else finite):
                ax.set_axis_off()
                if kind == "finite":  # say why the row has a gap
                    why = "training.architectures.archs" + (";\nF7 trains the FCN grid" if arch == "fcn" else "")
                    ax.text(0.5, 0.5, f"{arch} / {act}: not trained here\n({why})",
                            ha="center", va="center", transform=ax.transAxes, fontsize=9)
                continue
            if kind == "infinite":
                frame = tables[(arch, act)]
                t = frame["t"].max()
                mesh = _heatmap(ax, frame, t, "test_acc")
                n = cfg["architectures"][arch]["n_train"] if arch in cfg.get("architectures", {}) else "?"
                ax.set_title(f"{arch} / {act}, infinite width: test accuracy, t = {t:g}\n"
                             f"(n_train = {n})", fontsize=9)
                ax.set_xlabel(style.SYMBOLS["sigma_w2"])
                ax.set_ylabel(style.SYMBOLS["depth"])
                continue
            frame = finite[(arch, act)]
            step = int(frame["step"].max())
            mesh = draw_heat(ax, frame, overlays[(arch, act)], step, "test_acc", cmap)
            ax.set_yticks(np.sort(frame["depth"].unique()))  # the few trained depths
            ax.set_title(_finite_title(frame, arch, act, step, cfg.get("finite", {}).get(arch, {})),
                         fontsize=9)
            if legend:  # one legend for the overlays of the finite row
                ax.legend(fontsize=7, loc="upper left", facecolor="0.6", framealpha=0.8)
                legend = False
    label = "test accuracy"
    title = "F8: FCN vs CNN-F vs CNN-P, infinite width (dashed: 8ξ₁, 8ξ*)"
    if finite:
        label += " (finite: mean over seeds; grey: all seeds diverged, × some)"
        title = ("F8: FCN vs CNN-F vs CNN-P — infinite width (top; dashed: 8ξ₁, 8ξ*) and "
                 "finite width, trained (bottom)")
    fig.colorbar(mesh, ax=axes, label=label, shrink=0.7)
    fig.suptitle(title)
    return fig


FIGURES = {"F3": f3, "F4": f4, "F5": f5, "F6": f6, "F8": f8}


def _keyed(paths: list[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """Tables keyed by their (arch, activation), in the order given."""
    out = {}
    for path in paths:
        f = pd.read_csv(path)
        out[(str(f["arch"].iloc[0]), str(f["activation"].iloc[0]))] = f
    return out


def main(argv: list[str] | None = None) -> int:
    import json

    p = argparse.ArgumentParser(description="F3-F6, F8 from the infinite-width tables")
    p.add_argument("--figure", required=True, choices=sorted(FIGURES))
    p.add_argument("--tables", nargs="+", required=True)
    p.add_argument("--config-json", required=True)
    p.add_argument("--finite", nargs="*", default=[],
                   help="F8: trained tables (metrics/finite_architectures_*.csv)")
    p.add_argument("--overlays", nargs="*", default=[],
                   help="F8: one depth-scale overlay per --finite table, in the same order")
    p.add_argument("--out", nargs="+", required=True)
    p.add_argument("--dpi", type=int, default=150)
    args = p.parse_args(argv)
    setup_logging()
    style.setup()
    cfg = json.loads(args.config_json)
    tables = _keyed(args.tables)
    if len(args.overlays) != len(args.finite):
        p.error("give one --overlays table per --finite table")
    finite = _keyed(args.finite)
    overlays = {k: pd.read_csv(o) for k, o in zip(finite, args.overlays)}
    if args.figure == "F8":
        fig = f8(tables, cfg, finite, overlays)
    else:
        fig = FIGURES[args.figure](tables, cfg)
    style.save(fig, args.out, args.dpi, inputs=args.tables + args.finite + args.overlays,
               figure=args.figure)
    log.info("wrote %s", " ".join(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
