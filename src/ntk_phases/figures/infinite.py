"""F3-F6, F6_mean and F8: infinite-width kernels and metrics against depth, with the
mean-field predictions dashed. Reads only the tidy ``metrics/infinite_<arch>_<activation>.csv``
tables (which carry q*, c*, χ₁, χ_c*, ξ₁, ξ* per row). F8's infinite row reads one table
per architecture at one common setting (``kernels.comparison``:
``metrics/infinite_comparison_<arch>_<activation>.csv``) and refuses tables that differ
in examples, σ_w² or depths; F8 also draws a finite-width row from the training stage's
``metrics/finite_architectures_<arch>_<activation>.csv`` tables and their depth-scale
overlays (``--finite``, ``--overlays``).

Depths where Θ is ``singular`` are drawn as such (F4: markers; F5: grey bands, no line):
there the pseudo-inverse has dropped modes and P(Θ)Y is numerical. F6 (true network) and
F6_mean (mean predictor, the paper's picture) draw the depth-scale law C9 measured on the
same table (:func:`ntk_phases.claims.c9.law_fits`, the claims table's numbers) next to the
notebook's 8ξ.
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..architectures import ARCHITECTURES, NOTEBOOK_ARCHITECTURES
from ..claims import c9
from ..claims.c1_c5 import nearest_sigma, per_point, spectrum_forms
from . import style
from .panels import accuracy_cmap, draw_fits, draw_heat

log = logging.getLogger("ntk_phases.figures.infinite")
DASH = style.THEORY_LINE


def _anchored(d: np.ndarray, y_anchor: float, d_anchor: float, rate: float, poly: float = 0) -> np.ndarray:
    """Prediction ∝ l^poly rate^l through the measured value at d_anchor (poly = True: 1)."""
    base = rate ** (d - d_anchor)
    if poly:
        base = base * (np.maximum(d, 1) / max(d_anchor, 1)) ** float(poly)
    return y_anchor * base


def singular_runs(pts: pd.DataFrame) -> list[tuple[float, float]]:
    """Depth intervals where Θ is flagged ``singular`` (modes below the eigenvalue cutoff,
    dropped by the pseudo-inverse), each run of consecutive grid depths widened to the
    midpoints to its neighbours: there, quantities that need Θ⁻¹ are numerical. (Depth 0,
    the linear kernel of more points than input dimensions, is singular in exact
    arithmetic too.)"""
    if "singular" not in pts:
        return []
    p = pts.sort_values("depth")
    d = p["depth"].to_numpy(float)
    sing = p["singular"].astype(bool).to_numpy()
    edges = np.concatenate([[d[0]], 0.5 * (d[1:] + d[:-1]), [d[-1]]])
    runs, i = [], 0
    while i < len(d):
        if sing[i]:
            j = i
            while j + 1 < len(d) and sing[j + 1]:
                j += 1
            runs.append((float(edges[i]), float(edges[j + 1])))
            i = j + 1
        else:
            i += 1
    return runs


def _shade_singular(ax, pts: pd.DataFrame, text: bool = True) -> np.ndarray:
    """Grey bands over the depths where Θ is singular (labelled once); returns the mask
    of the rows of ``pts`` (in depth order) whose Θ is not singular."""
    p = pts.sort_values("depth")
    for k, (a, b) in enumerate(singular_runs(p)):
        ax.axvspan(
            a,
            b,
            color="0.85",
            zorder=0,
            lw=0,
            label=r"$\Theta^l$ singular: modes below the eigenvalue cutoff dropped (numerical)" if k == 0 else None,
        )
        if text and b - a > 0.15 * (p["depth"].max() - p["depth"].min()):
            ax.text(
                0.5 * (a + b),
                0.5,
                "singular " + r"$\Theta^l$" + ":\nnot resolved",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="center",
                fontsize=8,
                color="0.35",
            )
    if "singular" not in p:
        return np.ones(len(p), bool)
    return ~p["singular"].astype(bool).to_numpy()


#: the fully connected networks of both conventions, whose tables F3-F5 draw
FCN_NETWORKS = {a.name: a for a in (*ARCHITECTURES.values(), *NOTEBOOK_ARCHITECTURES.values()) if a.hidden == "dense"}


def fcn_tables(tables: dict) -> dict[str, pd.DataFrame]:
    """F3-F5's tables keyed by activation: the FCN's (the fcn grid, or ``kernels.points``'
    ``fcn``/``fcn_preact``), one per activation."""
    out: dict[str, pd.DataFrame] = {}
    for (arch, act), frame in tables.items():
        if arch in FCN_NETWORKS:
            if act in out:
                raise ValueError(f"F3-F5: two FCN tables for activation {act}")
            out[act] = frame
    return out


def network_note(by_act: dict[str, pd.DataFrame]) -> str:
    """A suptitle line naming a network other than our ``fcn`` (notebook's F3-F5 network),
    with the examples its tables saw; '' for ``fcn``."""
    f = next(iter(by_act.values()), None)
    if f is None or f["arch"].iloc[0] == "fcn":
        return ""
    arch = FCN_NETWORKS[str(f["arch"].iloc[0])]
    size = f" ({int(f['n_train'].iloc[0])} train / {int(f['n_test'].iloc[0])} test)" if "n_train" in f else ""
    return f"\n{arch.name}: {arch.description}{size}"


def _points(frame: pd.DataFrame, cfg: dict):
    pp = per_point(frame)
    return nearest_sigma(pp, cfg["chaotic_sigma_w2"]), nearest_sigma(pp, cfg["ordered_sigma_w2"])


def _label(pts: pd.DataFrame, phase: str) -> str:
    r = pts.iloc[0]
    return (
        rf"{phase}: $\sigma_w^2={r['sigma_w2']:.3g}$, $\sigma_b^2={r['sigma_b2']:.3g}$, "
        rf"$\chi_1={r['chi_1']:.3f}$"
    )


def _mark_singular(ax, pts, col):
    sing = pts["singular"].astype(bool)
    if sing.any():
        ax.scatter(
            pts.loc[sing, "depth"],
            pts.loc[sing, col],
            facecolors="none",
            edgecolors="k",
            s=25,
            label="singular (at the noise floor)",
            zorder=5,
        )


def f3(tables: dict, cfg: dict):
    by_act = fcn_tables(tables)
    acts = sorted(by_act)
    fig, axes = plt.subplots(len(acts), 3, figsize=(15, 4.0 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        ch, od = _points(by_act[act], cfg)
        d = ch["depth"].to_numpy(float)
        ax = axes[i, 0]
        if ch["phase"].iloc[0] == "chaotic":
            r = ch.iloc[0]
            ax.plot(d, ch["ntk_diag"], "C3-", lw=2, label=r"$\Theta^l_{aa}$")
            ax.plot(d, ch["ntk_offdiag"], "C0-", lw=2, label=r"$\Theta^l_{ab}$")
            ax.plot(
                d, _anchored(d, ch["ntk_diag"].iloc[-1], d[-1], r["chi_1"]), "C3", **DASH, label=r"$\propto\chi_1^l$"
            )
            ax.axhline(
                r["q_star"] * r["c_star"] / (1 - r["chi_c"]), color="C0", **DASH, label=r"$q^*c^*/(1-\chi_{c^*})$"
            )
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
        for col, c, lab in (
            ("ntk_diag", "C3", r"$|\Theta^l_{aa}-p^*|$"),
            ("ntk_offdiag", "C0", r"$|\Theta^l_{ab}-p^*|$"),
        ):
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
    fig.suptitle("F3: NTK entries against depth (dashed: mean-field predictions, C1/C2)" + network_note(by_act))
    return fig


def f4(tables: dict, cfg: dict):
    by_act = fcn_tables(tables)
    acts = sorted(by_act)
    fig, axes = plt.subplots(len(acts), 2, figsize=(12, 4.2 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        ch, od = _points(by_act[act], cfg)
        d = ch["depth"].to_numpy(float)
        for j, (pts, phase) in enumerate(((ch, "chaotic"), (od, "ordered"))):
            ax = axes[i, j]
            if pts["phase"].iloc[0] != phase:
                ax.set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    f"{act}: no {phase} point (phase at "
                    + rf"$\sigma_w^2={pts['sigma_w2'].iloc[0]:g}$: {pts['phase'].iloc[0]})",
                    ha="center",
                    transform=ax.transAxes,
                )
                continue
            r = pts.iloc[0]
            ax.plot(d, pts["lambda_max"], "C3-", lw=2, label=r"$\lambda_{max}$")
            ax.plot(d, pts["lambda_min"], "C0-", lw=2, label=r"$\lambda_{min}$")
            kap = pts["kappa"].to_numpy() - (1 if phase == "chaotic" else 0)
            ax.plot(d, kap, "C2-", lw=2, label=r"$\kappa-1$" if phase == "chaotic" else r"$\kappa$")
            _mark_singular(ax, pts, "lambda_min")
            k = len(d) // 2
            if phase == "chaotic":
                ax.plot(
                    d,
                    _anchored(d, pts["lambda_min"].iloc[k], d[k], r["chi_1"]),
                    "C0",
                    **DASH,
                    label=r"$\propto\chi_1^l$ (C1)",
                )
                ax.plot(d, _anchored(d, kap[k], d[k], 1 / r["chi_1"]), "C2", **DASH, label=r"$\propto\chi_1^{-l}$ (C1)")
            else:
                # the forms C2 tests (claims.c1_c5.spectrum_forms): l χ₁^l and 1/(l χ₁^l) for a
                # smooth φ (the notebook's), χ₁^(l/2) and χ₁^(−l/2) for ReLU
                form = spectrum_forms(act)
                rate = np.sqrt(r["chi_1"]) if form["rate"] == "sqrt_chi_1" else r["chi_1"]
                m = int(cfg["n_train"])
                ax.axhline(m * r["q_star"] / (1 - r["chi_1"]), color="C3", **DASH, label=r"$m\,p^*$ (C2)")
                fine = np.flatnonzero(~pts["singular"].astype(bool).to_numpy() & (d >= 1))
                kk = fine[len(fine) // 2] if len(fine) else k
                ax.plot(
                    d,
                    _anchored(d, pts["lambda_min"].iloc[kk], d[kk], rate, form["poly"]),
                    "C0",
                    **DASH,
                    label=form["lambda_min"] + " (C2)",
                )
                ax.plot(
                    d,
                    _anchored(d, kap[kk], d[kk], 1 / rate, -form["poly"]),
                    "C2",
                    **DASH,
                    label=form["kappa"] + " (C2)",
                )
            ax.set_yscale("log")
            ax.set_xlabel(style.SYMBOLS["depth"])
            ax.set_title(f"{act} — " + _label(pts, phase), fontsize=9)
            ax.legend(fontsize=7)
        axes[i, 0].set_ylabel(r"spectrum of $\Theta^l(X,X)$")
    fig.suptitle(
        r"F4: NTK spectrum and condition number $\kappa$ against depth (dashed: predictions)" + network_note(by_act)
    )
    return fig


ENTRY_COLUMNS = [f"mean_pred_entry_{i}" for i in range(4)]


def mean_pred_entries(pts: pd.DataFrame) -> list[str]:
    """The single-entry columns of P(Θ)Y (``mean_pred_entry_<k>``: test point k, its true
    class) present with values in ``pts``; [] for tables made before they existed."""
    return [c for c in ENTRY_COLUMNS if c in pts and pts[c].notna().any()]


def f5(tables: dict, cfg: dict):
    """Per activation: chaotic |P(Θ)Y| (log, with l(χ_c*/χ₁)^l) and, as the notebook
    draws it, the ordered phase's single entries of P(Θ)Y (linear) settling to constants;
    depths where Θ is singular are shaded and no line is drawn there."""
    by_act = fcn_tables(tables)
    acts = sorted(by_act)
    fig, axes = plt.subplots(len(acts), 2, figsize=(12.5, 4.3 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        ch, od = _points(by_act[act], cfg)
        ax = axes[i, 0]
        if ch["phase"].iloc[0] == "chaotic":
            r = ch.iloc[0]
            ok = _shade_singular(ax, ch)
            d = ch["depth"].to_numpy(float)
            y = np.where(ok, ch["mean_pred_rms"].to_numpy(), np.nan)  # no line where singular
            ax.plot(d, y, "C3-", lw=2, label=r"rms of $P(\Theta^l)Y$")
            good = np.flatnonzero(ok & (d >= 1))
            k = good[len(good) // 2]
            ax.plot(
                d[d >= 1],
                _anchored(d[d >= 1], y[k], d[k], r["chi_c"] / r["chi_1"], poly=1),
                "C3",
                **DASH,
                label=r"$\propto l\,(\chi_{c^*}/\chi_1)^l$ (C1)",
            )
            ax.set_yscale("log")
            ax.set_ylabel(r"rms of $P(\Theta^l)Y$ over test points and classes")
            ax.set_title(f"{act} — " + _label(ch, "chaotic") + "\nthe prediction loses the input", fontsize=9)
            ax.legend(fontsize=7)
        else:
            ax.set_axis_off()
            ax.text(
                0.5,
                0.5,
                f"{act}: no chaotic point (phase at "
                + rf"$\sigma_w^2={ch['sigma_w2'].iloc[0]:g}$"
                + f": {ch['phase'].iloc[0]})",
                ha="center",
                transform=ax.transAxes,
            )
        ax = axes[i, 1]
        if od["phase"].iloc[0] != "ordered":
            ax.set_axis_off()
            ax.text(
                0.5,
                0.5,
                f"{act}: no ordered point (phase at "
                + rf"$\sigma_w^2={od['sigma_w2'].iloc[0]:g}$"
                + f": {od['phase'].iloc[0]})",
                ha="center",
                transform=ax.transAxes,
            )
            continue
        ok = _shade_singular(ax, od)
        d = od["depth"].to_numpy(float)
        cols = mean_pred_entries(od)
        if cols:
            for c, col in enumerate(cols):
                ax.plot(
                    d,
                    np.where(ok, od[col].to_numpy(), np.nan),
                    color=f"C{c}",
                    lw=2,
                    marker=".",
                    ms=3,
                    label=f"test point {col.rsplit('_', 1)[1]}, true class",
                )
            ax.set_ylabel(r"single entries of $P(\Theta^l)Y$")
            what = "single entries settle to data-dependent constants (C2)"
        else:  # tables without the single entries: the rms, also on a linear scale
            ax.plot(
                d,
                np.where(ok, od["mean_pred_rms"].to_numpy(), np.nan),
                "C0-",
                lw=2,
                marker=".",
                ms=3,
                label=r"rms of $P(\Theta^l)Y$ (table has no single entries)",
            )
            ax.set_ylabel(r"rms of $P(\Theta^l)Y$ over test points and classes")
            what = "tends to a data-dependent limit (C2)"
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(f"{act} — " + _label(od, "ordered") + "\n" + what, fontsize=9)
        ax.set_xlim(od["depth"].min(), od["depth"].max())
        ax.legend(fontsize=7, loc="best")
        for ax in axes[i]:
            ax.set_xlabel(style.SYMBOLS["depth"])
    fig.suptitle(
        r"F5: mean predictor $P(\Theta^l)Y=\Theta^l(X_{test},X)\,\Theta^l(X,X)^{-1}Y$ "
        r"against depth (grey: $\Theta^l$ singular, not drawn)" + network_note(by_act)
    )
    return fig


def _xi_overlay(ax, sub: pd.DataFrame, dmax: float, labels: bool = True):
    """The colab's 8ξ₁ (ordered) and 8ξ* (chaotic), white dashed, clipped at the grid."""
    th = sub.drop_duplicates("sigma_w2").sort_values("sigma_w2")
    for c, lab in (("xi_1", r"$8\xi_1$"), ("xi_star", r"$8\xi^*$")):
        y = 8 * th[c].to_numpy(float)
        ok = np.isfinite(y)
        ax.plot(th["sigma_w2"].to_numpy()[ok], np.minimum(y[ok], dmax * 1.02), color="w", marker=".", **DASH)
        # label the overlay only where it is drawn inside the depth range
        inside = np.flatnonzero(ok & (y <= dmax))
        if labels and inside.size:
            j = inside[inside.size // 2]
            ax.text(th["sigma_w2"].to_numpy()[j], y[j], lab, color="w", fontsize=9, ha="center", va="bottom")


def _heatmap(
    ax, frame: pd.DataFrame, t: float, col: str, show_xi: bool = True, vmax: float = 1.0, contour: bool = False
):
    """One (σ_w², depth) accuracy panel at time t (first σ_b²): cells (``pcolormesh``) or,
    as the notebook draws F6, filled contours at 10 levels from 0 to ``vmax``."""
    sub = frame[frame["t"] == t]
    sb = sub["sigma_b2"].min()
    sub = sub[sub["sigma_b2"] == sb]
    piv = sub.pivot_table(index="depth", columns="sigma_w2", values=col)
    if contour:
        levels = np.linspace(0, vmax, 11)
        mesh = ax.contourf(
            piv.columns, piv.index, np.clip(piv.to_numpy(), 0, vmax), levels=levels, cmap="viridis", vmin=0, vmax=vmax
        )
    else:
        mesh = ax.pcolormesh(
            piv.columns,
            piv.index,
            piv.to_numpy(),
            cmap="viridis",
            vmin=0,
            vmax=vmax,
            shading="nearest",
            rasterized=True,
        )
    if show_xi:
        dmax = piv.index.max()
        _xi_overlay(ax, sub, dmax)
        ax.set_ylim(piv.index.min() - 0.5, dmax + 0.5)
    return mesh


def _singular_edge(frame: pd.DataFrame) -> pd.DataFrame:
    """Per σ_w² (first σ_b²) the shallowest depth ≥ 1 with a singular Θ (none: left out)."""
    if "singular" not in frame:
        return pd.DataFrame(columns=["sigma_w2", "depth"])
    sub = frame[(frame["sigma_b2"] == frame["sigma_b2"].min()) & frame["singular"].astype(bool) & (frame["depth"] >= 1)]
    return sub.groupby("sigma_w2", as_index=False)["depth"].min()


PREDICTOR_WORDS = {
    "network": "true network, with its random initial function (expected accuracy)",
    "mean": "mean predictor (as in the paper and its notebook)",
    # convention notebook: train_acc/test_acc are the noise-free mean's (no f0)
    "notebook": "noise-free mean prediction (convention: notebook, as its F6 cells compute it)",
}


def f6(
    tables: dict,
    cfg: dict,
    predictor: str = "network",
    chance: float = 0.1,
    test_vmax: float = 1.0,
    convention: str = "ours",
):
    """Train/test accuracy over (σ_w², depth) at each t, with the colab's 8ξ and the C9
    law a·ξ measured on the same table (at the last t). ``predictor``: ``network`` (F6:
    columns train_acc/test_acc, cells) or ``mean`` (F6_mean: the mean predictor's
    *_acc_mean columns, the notebook's filled contours, test colour scale 0–test_vmax).
    Under ``convention`` notebook the network columns hold the noise-free mean's
    accuracies, and the title says so."""
    mean = predictor == "mean"
    acts = sorted({a for (arch, a) in tables if arch == "fcn"})
    times = sorted(tables[("fcn", acts[0])]["t"].unique())
    rows = [(a, split) for a in acts for split in ("train", "test")]
    fig, axes = plt.subplots(
        len(rows),
        len(times),
        figsize=(3.3 * len(times) + 1.6, 2.9 * len(rows)),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    meshes = {}
    for i, (act, split) in enumerate(rows):
        frame = tables[("fcn", act)]
        col = f"{split}_acc_mean" if mean else f"{split}_acc"
        vmax = test_vmax if split == "test" else 1.0
        fits = c9.law_fits(c9.infinite_law_frame(frame), predictor, chance)
        dmax = float(frame["depth"].max())
        sing = _singular_edge(frame) if mean else None
        for j, t in enumerate(times):
            ax = axes[i, j]
            meshes[split] = _heatmap(ax, frame, t, col, vmax=vmax, contour=mean)
            if sing is not None and len(sing):
                ax.plot(
                    sing["sigma_w2"],
                    sing["depth"],
                    color="0.85",
                    ls=":",
                    lw=1.6,
                    label=r"first singular $\Theta^l$ (numerical above)" if (j == 0 and split == "train") else None,
                )
            last = j == len(times) - 1
            mark = ("ordered" if split == "train" else "chaotic") if last else None
            draw_fits(ax, fits, dmax, markers=mark, label=(j == 0 and split == "train"))
            if j == 0 and split == "train":
                ax.plot([], [], color="w", **DASH, label=r"$8\xi_1$, $8\xi^*$ (notebook)")
                ax.legend(fontsize=6.5, loc="upper right", facecolor="0.55", framealpha=0.85)
            ax.set_title(f"{act} {split}, t = {t:g}", fontsize=9)
            if i == len(rows) - 1:
                ax.set_xlabel(style.SYMBOLS["sigma_w2"])
            if j == 0:
                ax.set_ylabel(style.SYMBOLS["depth"])
    if mean and test_vmax != 1.0:
        train_axes = [axes[i, j] for i, (_, s) in enumerate(rows) if s == "train" for j in range(len(times))]
        test_axes = [axes[i, j] for i, (_, s) in enumerate(rows) if s == "test" for j in range(len(times))]
        fig.colorbar(meshes["train"], ax=train_axes, label="train accuracy", shrink=0.8)
        fig.colorbar(meshes["test"], ax=test_axes, label=f"test accuracy (0-{test_vmax:g}, notebook)", shrink=0.8)
    else:
        fig.colorbar(meshes["train"], ax=axes, label="accuracy", shrink=0.6)
    name = "F6_mean" if mean else "F6"
    fig.suptitle(
        f"{name}: infinite-width FCN accuracy over ($\\sigma_w^2$, depth) at training time t, "
        f"{PREDICTOR_WORDS['notebook' if convention == 'notebook' and not mean else predictor]}\n"
        r"white dashed: $8\xi_1$, $8\xi^*$; magenta: $a\,\xi$ fitted to the boundaries measured at "
        f"t = {times[-1]:g} (C9: " + r"$a\,\xi_1$ solid, train; $a\,\xi^*$ dash-dot, test; "
        r"markers on the last-t panels)"
    )
    return fig


def f6_mean(tables: dict, cfg: dict, chance: float = 0.1, test_vmax: float = 1.0):
    """F6 for the mean predictor (the paper's picture): see :func:`f6`."""
    return f6(tables, cfg, "mean", chance, test_vmax)


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


def shared_setting(tables: dict, fallback: dict | None = None) -> dict:
    """The one setting of F8's infinite-row tables, read from their columns: examples
    (``n_train``, ``n_test``; from ``fallback``, the config's ``kernels.comparison``, for
    tables made before those columns existed), dataset, σ_w² values, depths and the σ_b²
    drawn (the smallest). Raises ``ValueError`` naming the differing field and tables:
    the columns of F8 compare only at one setting."""
    fallback = fallback or {}
    per_table = {}
    for key, frame in tables.items():
        sb = float(frame["sigma_b2"].min())
        sub = frame[frame["sigma_b2"] == sb]
        per_table[key] = {
            "dataset": str(frame["dataset"].iloc[0]) if "dataset" in frame else fallback.get("dataset", ""),
            **{n: int(frame[n].iloc[0]) if n in frame else fallback.get(n) for n in ("n_train", "n_test")},
            "sigma_w2": tuple(np.round(np.sort(sub["sigma_w2"].unique()), 10).tolist()),
            "depths": tuple(int(d) for d in np.sort(sub["depth"].unique())),
            "sigma_b2": sb,
        }
    if not per_table:
        return {}
    first = next(iter(per_table.values()))
    for field in first:
        values = {k: v[field] for k, v in per_table.items()}
        if len(set(values.values())) > 1:
            raise ValueError(
                f"F8's infinite-width tables differ in {field}: "
                + "; ".join(f"{a}/{f}: {v}" for (a, f), v in values.items())
            )
    return first


def setting_text(setting: dict) -> str:
    """The shared setting in words, for F8's title."""
    sw, depths = setting["sigma_w2"], setting["depths"]
    grid = f"σ_w² = {sw[0]:g}–{sw[-1]:g} ({len(sw)} values)" if len(sw) > 1 else f"σ_w² = {sw[0]:g}"
    data = f"{setting['dataset']} " if setting["dataset"] else ""
    return (
        f"every architecture on the same {data}examples: n_train = {setting['n_train']}, "
        f"n_test = {setting['n_test']}; {grid}, σ_b² = {setting['sigma_b2']:g}, "
        f"depths {depths[0]}–{depths[-1]}"
    )


def _finite_title(frame: pd.DataFrame, arch: str, act: str, step: int, settings: dict) -> str:
    """Panel title of a trained grid: step and the recipe (width, examples, batch, seeds)."""
    unit = "width" if arch == "fcn" else "channels"
    n = settings.get("n_train") or "all"
    bs = int(frame["batch_size"].iloc[0]) if "batch_size" in frame else "?"
    return (
        f"{arch} / {act}, trained: test accuracy, step {step}\n"
        f"{unit} {int(frame['width'].iloc[0])}, n_train = {n}, batch {bs}, "
        f"{frame['seed'].nunique()} seed(s)"
    )


def f8(tables: dict, cfg: dict, finite: dict | None = None, overlays: dict | None = None):
    """Test accuracy over (σ_w², depth) per architecture: infinite width at the largest t
    (top rows), and, where ``finite`` holds trained grids, finite networks at their last
    recorded step, mean over ok seeds (bottom rows; ``overlays``: their ξ₁, ξ* tables)."""
    finite, overlays = finite or {}, overlays or {}
    setting = shared_setting(tables, cfg.get("comparison"))
    archs, rows = f8_rows(tables, finite)
    fig, axes = plt.subplots(len(rows), len(archs), figsize=(4.4 * len(archs) + 1, 3.6 * len(rows)), squeeze=False)
    cmap = accuracy_cmap()
    mesh, legend = None, True
    for i, (kind, act) in enumerate(rows):
        for j, arch in enumerate(archs):
            ax = axes[i, j]
            if (arch, act) not in (tables if kind == "infinite" else finite):
                ax.set_axis_off()
                if kind == "finite":  # say why the row has a gap
                    why = "training.architectures.archs" + (";\nF7 trains the FCN grid" if arch == "fcn" else "")
                    ax.text(
                        0.5,
                        0.5,
                        f"{arch} / {act}: not trained here\n({why})",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                        fontsize=9,
                    )
                continue
            if kind == "infinite":
                frame = tables[(arch, act)]
                t = frame["t"].max()
                mesh = _heatmap(ax, frame, t, "test_acc")
                ax.set_title(
                    f"{arch} / {act}, infinite width: test accuracy, t = {t:g}\n"
                    f"(n_train = {setting['n_train']}, n_test = {setting['n_test']})",
                    fontsize=9,
                )
                ax.set_xlabel(style.SYMBOLS["sigma_w2"])
                ax.set_ylabel(style.SYMBOLS["depth"])
                continue
            frame = finite[(arch, act)]
            step = int(frame["step"].max())
            mesh = draw_heat(ax, frame, overlays[(arch, act)], step, "test_acc", cmap)
            ax.set_yticks(np.sort(frame["depth"].unique()))  # the few trained depths
            ax.set_title(_finite_title(frame, arch, act, step, cfg.get("finite", {}).get(arch, {})), fontsize=9)
            if legend:  # one legend for the overlays of the finite row
                ax.legend(fontsize=7, loc="upper left", facecolor="0.6", framealpha=0.8)
                legend = False
    label = "test accuracy"
    title = "F8: FCN vs CNN-F vs CNN-P, infinite width (dashed: 8ξ₁, 8ξ*)"
    if finite:
        label += " (finite: mean over seeds; grey: all seeds diverged, × some)"
        title = "F8: FCN vs CNN-F vs CNN-P — infinite width (top; dashed: 8ξ₁, 8ξ*) and finite width, trained (bottom)"
    if setting:
        title += "\ninfinite width: " + setting_text(setting)
    fig.colorbar(mesh, ax=axes, label=label, shrink=0.7)
    fig.suptitle(title)
    return fig


FIGURES = {"F3": f3, "F4": f4, "F5": f5, "F6": f6, "F6_mean": f6_mean, "F8": f8}
