"""Shared look of the figures and the save step (PDF + PNG + provenance)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .. import files, provenance  # noqa: E402

THEORY_LINE = {"linestyle": "--", "linewidth": 1.6}
SYMBOLS = {
    "sigma_w2": r"$\sigma_w^2$",
    "sigma_b2": r"$\sigma_b^2$",
    "q_star": r"$q^*$",
    "c_star": r"$c^*$",
    "chi_1": r"$\chi_1$",
    "chi_c": r"$\chi_{c^*}$",
    "depth": r"depth $l$",
}


def setup() -> None:
    """Seaborn theme used by every figure."""
    sns.set_theme(context="paper", style="white", font_scale=1.15)
    plt.rcParams.update({"figure.constrained_layout.use": True, "axes.titleweight": "bold"})


def save(fig, outputs: list[str | os.PathLike], dpi: int, inputs: list[str], **meta) -> None:
    """Write the figure to each output (PDF, PNG) atomically, each with a provenance
    sidecar (its own settings as the config; the tables' configs, datasets and seeds are
    inherited through their sidecars)."""
    config = {"dpi": dpi, **{k: v for k, v in meta.items() if isinstance(v, (str, int, float))}}
    for path in files.save_figure(fig, outputs, dpi=dpi):
        provenance.write_provenance(path, config=config, inputs=inputs, **meta)
    plt.close(fig)
