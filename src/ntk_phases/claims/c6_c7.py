"""Claims C6 and C7 (SPEC §1) from the finite-width training stage's tables: C6 from the
memorization table (``metrics/finite_memorization``), C7 from the width experiment's
summary (``metrics/finite_width_summary``); rows of :data:`.schema.SCHEMA`. The job
``python -m ntk_phases claims finite`` writes them to
``metrics/claims_finite.csv``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..numerics import fits
from .schema import claim_row


def _setting(frame: pd.DataFrame, cfg: dict, key: str, default: Any = None) -> Any:
    """A configuration value of a claims row: the table's column, else the config's."""
    if key in frame and len(frame):
        return frame[key].iloc[0]
    return cfg.get(key, default)


def claims_c6(mem: pd.DataFrame, cfg: dict, n_classes: int) -> list[dict]:
    """C6 from the memorization table: final-step accuracies, mean over seeds (rows of
    :data:`.schema.SCHEMA`)."""
    chance = 1.0 / n_classes
    last = mem[mem["step"] == mem["step"].max()]
    arch = str(mem["arch"].iloc[0])
    act = str(_setting(mem, cfg, "activation"))
    sb2, depth = float(_setting(mem, cfg, "sigma_b2")), int(_setting(mem, cfg, "depth"))
    width = _setting(mem, cfg, "width")

    def at(sw2, col):
        sel = last[np.isclose(last["sigma_w2"], sw2)]
        ok = sel[sel["status"] == "ok"]
        return float(ok[col].mean()) if len(ok) else float("nan"), len(ok), len(sel)

    chaotic, ordered = float(cfg["sigma_w2_chaotic"]), float(cfg["sigma_w2_ordered"])
    tr, n_tr, all_tr = at(chaotic, "train_acc")
    te, _, _ = at(chaotic, "test_acc")
    te_o, n_o, all_o = at(ordered, "test_acc")
    tr_min, margin, gap = (float(cfg["train_acc_min"]), float(cfg["chance_margin"]), float(cfg["ordered_min_gap"]))
    step = int(last["step"].iloc[0])

    def row(sw2, quantity, pred, meas, tol, passed, condition, n_ok, n_all):
        return claim_row(
            "C6",
            arch,
            act,
            quantity,
            pred,
            meas,
            tol,
            passed,
            condition,
            sigma_w2=sw2,
            sigma_b2=sb2,
            depth_min=depth,
            depth_max=depth,
            note=f"width {width}; step {step}; mean over {n_ok} of {n_all} seeds (ok)",
        )

    return [
        row(
            chaotic,
            f"chaotic sigma_w2={chaotic:g}: train_acc at step {step}",
            1.0,
            tr,
            1.0 - tr_min,
            tr >= tr_min,
            "measured >= predicted - tolerance",
            n_tr,
            all_tr,
        ),
        row(
            chaotic,
            f"chaotic sigma_w2={chaotic:g}: test_acc at step {step}",
            chance,
            te,
            margin,
            abs(te - chance) <= margin,
            "|measured - predicted| <= tolerance",
            n_tr,
            all_tr,
        ),
        row(
            ordered,
            f"ordered sigma_w2={ordered:g}: test_acc at step {step}",
            chance,
            te_o,
            gap,
            te_o - chance >= gap,
            "measured - predicted >= tolerance",
            n_o,
            all_o,
        ),
    ]


def claims_c7(summary: pd.DataFrame, cfg: dict) -> list[dict]:
    """C7: power-law slopes against width of the distance to the infinite-width prediction
    and of the empirical-NTK error (mean over seeds per width; rows of
    :data:`.schema.SCHEMA`)."""
    ok = summary[~summary["diverged"].astype(bool)]
    per = ok.groupby("width")[["relative_distance", "ntk_rel_error"]].mean().reset_index()
    arch = str(summary["arch"].iloc[0])
    act = str(_setting(summary, cfg, "activation"))
    sw2, sb2 = float(_setting(summary, cfg, "sigma_w2")), float(_setting(summary, cfg, "sigma_b2"))
    depth = int(_setting(summary, cfg, "depth"))
    pred, tol = float(cfg["slope"]), float(cfg["slope_tolerance"])
    rows = []
    for col, what in (
        ("relative_distance", "final test outputs vs infinite-width prediction (same f0), relative distance"),
        ("ntk_rel_error", "empirical vs analytic NTK at init, relative error"),
    ):
        if len(per) >= 2 and np.all(per[col] > 0):
            slope, _ = fits.fit_power_law(per["width"], per[col])
        else:
            slope = float("nan")
        falls = bool(np.all(np.diff(per[col].to_numpy()) < 0)) if len(per) >= 2 else False
        rows.append(
            claim_row(
                "C7",
                arch,
                act,
                f"{what}: slope of log against log width (widths {per['width'].min()}-{per['width'].max()})",
                pred,
                slope,
                tol,
                bool(slope < 0 and abs(slope - pred) <= tol),
                "measured < 0 and |measured - predicted| <= tolerance",
                sigma_w2=sw2,
                sigma_b2=sb2,
                depth_min=depth,
                depth_max=depth,
                note=(
                    f"widths {', '.join(str(int(w)) for w in per['width'])}; mean over seeds per width"
                    + ("" if falls else "; not monotone in width")
                ),
            )
        )
    return rows
