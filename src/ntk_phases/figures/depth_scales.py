"""F2: depth scales ξ_c, ξ₁, ξ* against σ_w² (diverging at the critical line) and the
convergence c^l → c* against the linearized prediction χ_c*^l."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style

log = logging.getLogger("ntk_phases.figures.depth_scales")


def _critical_sigma_w2(frame: pd.DataFrame) -> float | None:
    chi = frame["chi_1"].to_numpy()
    sw = frame["sigma_w2"].to_numpy()
    idx = np.flatnonzero((chi[:-1] - 1) * (chi[1:] - 1) <= 0)
    if len(idx) == 0:
        return None
    i = idx[0]
    return float(np.interp(1.0, chi[i : i + 2], sw[i : i + 2]))


def plot(scales: dict[str, pd.DataFrame], corr: dict[str, pd.DataFrame]):
    style.setup()
    acts = [a for a in ("erf", "tanh", "relu") if a in scales]
    fig, axes = plt.subplots(len(acts), 2, figsize=(11, 3.8 * len(acts)), squeeze=False)
    for i, act in enumerate(acts):
        s = scales[act].sort_values("sigma_w2")
        ax = axes[i, 0]
        for col, label, color in (
            ("xi_c", r"$\xi_c = -1/\log\chi_{c^*}$", "C0"),
            ("xi_1", r"$\xi_1 = -1/\log\chi_1$ (ordered)", "C2"),
            ("xi_star", r"$\xi^* = -1/(\log\chi_{c^*}-\log\chi_1)$ (chaotic)", "C3"),
        ):
            y = s[col].replace([np.inf], np.nan)
            ax.plot(s["sigma_w2"], y, color=color, label=label, lw=2)
        crit = _critical_sigma_w2(s)
        if crit is not None:
            ax.axvline(crit, color="k", label=rf"critical $\sigma_w^2 \approx {crit:.3f}$", **style.THEORY_LINE)
        ax.set_yscale("log")
        ax.set_xlabel(style.SYMBOLS["sigma_w2"])
        ax.set_ylabel("depth scale (layers)")
        ax.set_title(rf"{act}: depth scales at $\sigma_b^2 = {s['sigma_b2'].iloc[0]:g}$")
        ax.legend(fontsize=8, loc="upper right")

        ax = axes[i, 1]
        c = corr[act]
        for j, ((sw, c0), g) in enumerate(c.groupby(["sigma_w2", "c0"])):
            color = f"C{j % 10}"
            gap = np.abs(g["c"] - g["c_star"])
            pred = np.abs(g["c_pred_linear"] - g["c_star"])
            ax.plot(
                g["depth"], gap, color=color, lw=1.8, label=rf"$\sigma_w^2={sw:g}$ ({g['phase'].iloc[0]}), $c^0={c0:g}$"
            )
            ax.plot(g["depth"], pred, color=color, **style.THEORY_LINE)
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-14)
        ax.set_xlabel(style.SYMBOLS["depth"])
        ax.set_ylabel(r"$|c^l - c^*|$")
        ax.set_title(rf"{act}: $c^l \to c^*$ (dashed: $\propto\chi_{{c^*}}^l$)")
        ax.legend(fontsize=7, loc="upper right")
    return fig
