"""Claim C9 (the depth scales bound the phases, measured): at each σ_w², the deepest depth
at which an accuracy keeps more than half of its shallow gap over chance
(:func:`phase_boundary`), fitted against the mean-field depth scale through the origin
(:func:`ntk_phases.numerics.fits.fit_through_origin`); :func:`depth_scale_law` does both
for one table and phase, :func:`law_fits` as C9 measures it (figures F6, F6_mean and F7
draw the same numbers), :func:`c9_claims` the rows of :data:`.schema.SCHEMA`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..numerics.fits import fit_through_origin
from .schema import NOT_MEASURED, claim_row

log = logging.getLogger(__name__)

#: The colab's overlay is 8ξ: the prediction the fitted slope a is compared with.
C9_PREDICTED = 8.0
#: a passes within a factor 8 of 8: [1, 64]. Why this band. An accuracy leaves its
#: plateau where the signal that carries it, ∝ e^(−l/ξ), has fallen from its shallow
#: amplitude A to what the predictor still resolves, ε: l_boundary = ξ ln(A/ε), so
#: a = ln(A/ε) is the log of a ratio set by the setting, not a universal number, and
#: "a not near 8" is a finding. Ordered phase: the slowest modes relax as e^(−ηλt) with
#: λ/λ_max ∝ χ₁^l, so a ≈ ln t up to O(1) (t = 4096: 8.3, the colab's 8). Chaotic phase:
#: for the true network ε is its random initial function's O(1) noise against an O(1)
#: learned signal (a of order 1); for the float64 mean predictor ε is rounding (A/ε up to
#: 1/eps ≈ 4.5e15: a ≤ 36). The band's floor a = 1 is A/ε = e: below it the accuracy
#: halves before the signal has decayed by one e-fold, so the depth scale does not set the
#: boundary; its ceiling 64 (the factor-8 mirror) lies above anything float64 resolves.
#: What decides the law is R² (and the spread of l_boundary/ξ, reported).
C9_FACTOR = 8.0
#: The law is linear when l_boundary/ξ is one number: R² of the fit through the origin.
C9_R2_MIN = 0.9
#: A shallow accuracy less than this above chance has no gap to lose: no boundary.
C9_MIN_GAP = 0.05
#: Fewer resolved σ_w² values than this: the law is not measured.
C9_MIN_POINTS = 3
C9_CONDITION = f"R2 >= {C9_R2_MIN:g} and predicted/tolerance <= measured <= predicted*tolerance"
#: phase -> (depth scale, the split whose accuracy fails there)
C9_PHASES = {"ordered": ("xi_1", "train"), "chaotic": ("xi_star", "test")}
#: predictor -> its accuracy column (split filled in) and its words
C9_PREDICTORS = {
    "mean": ("{split}_acc_mean", "mean predictor (f0 dropped)"),
    "network": ("{split}_acc", "true network (with its random initial function)"),
}
#: Predictors whose accuracy is numerical where Θ is singular: the mean predictor's
#: argmax reads the sign of signals ∝ e^(−l/ξ) down to the eigenvalue cutoff, below which
#: the pseudo-inverse drops them (so in exact arithmetic its ordered-phase train accuracy
#: never falls; in float64 it falls at l ≈ ξ₁ ln(1/rcond), ≈ 30 ξ₁: a cutoff, not a law).
#: The true network's dropped modes are ones that do not train at any t it reaches
#: (ηλt ≪ 1) and whose outputs stay at f₀: physical, kept.
C9_SINGULAR_EXCLUDED = {"mean"}


def phase_boundary(depth, acc, chance: float, min_gap: float = C9_MIN_GAP, resolved=None) -> dict:
    """Deepest depth at which ``acc`` stays above chance + half its shallow gap.

    The shallow value is the accuracy at the shallowest depth ≥ 1 (depth 0, the linear
    readout, is not a member of the deep family). The boundary is where ``acc`` first
    reaches the threshold, linearly interpolated between the grid depths either side
    (so it lies between the deepest depth above and the first depth at or below).
    ``resolved`` (bool per depth, default all): depths whose accuracy is mathematics,
    not numerics (the mean predictor where Θ is not singular).
    ``status``: ``resolved``; ``censored`` (never reaches it: the boundary lies beyond
    the deepest depth, reported as ``l_boundary``); ``singular`` (not reached before
    the first unresolved depth, reported as ``l_boundary``: the boundary lies beyond
    it, or is numerical); ``no_gap`` (shallow value within ``min_gap`` of chance);
    ``diverged`` (a missing accuracy before the crossing).
    """
    d = np.asarray(depth, float)
    a = np.asarray(acc, float)
    ok = np.ones(len(d), bool) if resolved is None else np.asarray(resolved, bool)
    o = np.argsort(d)
    d, a, ok = d[o], a[o], ok[o]
    if (d >= 1).any():
        d, a, ok = d[d >= 1], a[d >= 1], ok[d >= 1]
    out = {
        "l_boundary": float("nan"),
        "status": "no_gap",
        "shallow": float(a[0]) if len(a) else np.nan,
        "threshold": float("nan"),
    }
    if not len(a) or not np.isfinite(a[0]) or a[0] - chance < min_gap:
        return out
    thr = chance + 0.5 * (a[0] - chance)
    out["threshold"] = float(thr)
    if not ok[0]:
        out.update(l_boundary=float(d[0]), status="singular")
        return out
    for i in range(1, len(d)):
        if not ok[i]:
            out.update(l_boundary=float(d[i]), status="singular")
            return out
        if not np.isfinite(a[i]):
            out["status"] = "diverged"
            return out
        if a[i] <= thr:
            frac = (a[i - 1] - thr) / (a[i - 1] - a[i])
            out.update(l_boundary=float(d[i - 1] + frac * (d[i] - d[i - 1])), status="resolved")
            return out
    out.update(l_boundary=float(d[-1]), status="censored")
    return out


def depth_scale_law(
    frame: pd.DataFrame,
    phase: str,
    acc_col: str,
    chance: float,
    min_gap: float = C9_MIN_GAP,
    exclude_singular: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """C9 for one phase of one grid: ``frame`` holds one accuracy per (σ_w², depth) (one
    σ_b², one time) and the depth scales (``xi_1``, ``xi_star``, ``phase`` per σ_w²).
    Returns the boundary per σ_w² of that phase (with finite ξ > 0: σ_w², ξ,
    l_boundary, status, shallow, threshold) and the fit over the resolved ones
    (:func:`fit_through_origin`, plus counts per status). ``exclude_singular``: depths
    where Θ is ``singular`` do not count (:func:`phase_boundary`'s ``resolved``)."""
    xi_col = C9_PHASES[phase][0]
    rows = []
    for sw, g in frame[frame["phase"] == phase].groupby("sigma_w2"):
        xi = float(g[xi_col].iloc[0])
        if not (np.isfinite(xi) and xi > 0):
            continue
        res = ~g["singular"].astype(bool).to_numpy() if exclude_singular and "singular" in g else None
        b = phase_boundary(g["depth"].to_numpy(), g[acc_col].to_numpy(), chance, min_gap, res)
        rows.append({"sigma_w2": float(sw), "xi": xi, **b})
    cols = ["sigma_w2", "xi", "l_boundary", "status", "shallow", "threshold"]
    bounds = pd.DataFrame(rows, columns=cols)
    ok = bounds[bounds["status"] == "resolved"]
    fit = fit_through_origin(ok["xi"], ok["l_boundary"])
    for s in ("resolved", "censored", "singular", "no_gap", "diverged"):
        fit[s] = int((bounds["status"] == s).sum())
    fit["sigma_w2_min"] = float(ok["sigma_w2"].min()) if len(ok) else np.nan
    fit["sigma_w2_max"] = float(ok["sigma_w2"].max()) if len(ok) else np.nan
    return bounds, fit


def infinite_law_frame(table: pd.DataFrame, sigma_b2: float | None = None) -> pd.DataFrame:
    """An ``infinite_<arch>_<act>`` table at its last t and one σ_b² (default: the
    smallest), one row per (σ_w², depth)."""
    sb = table["sigma_b2"].min() if sigma_b2 is None else sigma_b2
    sub = table[np.isclose(table["sigma_b2"], sb)]
    return sub[sub["t"] == sub["t"].max()].sort_values(["sigma_w2", "depth"])


def finite_law_frame(table: pd.DataFrame, overlay: pd.DataFrame) -> pd.DataFrame:
    """A trained grid (``metrics/finite_<arch>_<act>``) at its last step: train/test
    accuracy, mean over ok seeds (NaN where every seed diverged), one row per (σ_w²,
    depth), with the depth scales of ``overlay`` (``training/depth_scales_*``) matched
    on σ_w²."""
    last = table[table["step"] == table["step"].max()]
    ok = last[last["status"] == "ok"]
    acc = ok.groupby(["sigma_w2", "depth"])[["train_acc", "test_acc"]].mean()
    cells = last[["sigma_w2", "depth"]].drop_duplicates().set_index(["sigma_w2", "depth"])
    frame = cells.join(acc).reset_index()
    scales = depth_scales_at(overlay, np.unique(frame["sigma_w2"]))
    frame = frame.merge(scales, on="sigma_w2", how="left")
    frame["sigma_b2"] = float(table["sigma_b2"].iloc[0])
    return frame.sort_values(["sigma_w2", "depth"])


def depth_scales_at(overlay: pd.DataFrame, sigma_w2) -> pd.DataFrame:
    """ξ₁, ξ* and the phase at each ``sigma_w2`` from a depth-scale table on its own
    (finer) σ_w² grid: its row where a value is on it, else 1/ξ (−log χ₁, or
    log χ₁ − log χ_c*: smooth in σ_w², unlike ξ) interpolated linearly between the two
    neighbouring rows; a value between an ordered and a chaotic row is ``critical``
    (both scales infinite). Values outside the table's range are an error."""
    ov = overlay.sort_values("sigma_w2").reset_index(drop=True)
    sw = ov["sigma_w2"].to_numpy(float)
    out = []
    for s in np.asarray(sigma_w2, float):
        if s < sw[0] - 1e-9 or s > sw[-1] + 1e-9:
            raise ValueError(f"depth-scale table covers sigma_w2 {sw[0]:g}-{sw[-1]:g}, not {s:g}")
        hit = np.flatnonzero(np.isclose(sw, s, rtol=1e-9, atol=1e-9))
        if hit.size:
            r = ov.iloc[hit[0]]
            out.append({"sigma_w2": s, "xi_1": r["xi_1"], "xi_star": r["xi_star"], "phase": r["phase"]})
            continue
        hi = int(np.searchsorted(sw, s))
        lo, hi = ov.iloc[hi - 1], ov.iloc[hi]
        row = {"sigma_w2": s, "xi_1": np.inf, "xi_star": np.inf, "phase": "critical"}
        if lo["phase"] == hi["phase"] and lo["phase"] in ("ordered", "chaotic"):
            col = "xi_1" if lo["phase"] == "ordered" else "xi_star"
            w = (s - lo["sigma_w2"]) / (hi["sigma_w2"] - lo["sigma_w2"])
            inv = (1 - w) / float(lo[col]) + w / float(hi[col])
            row.update({col: 1.0 / inv if inv > 0 else np.inf, "phase": lo["phase"]})
        out.append(row)
    return pd.DataFrame(out, columns=["sigma_w2", "xi_1", "xi_star", "phase"])


def depth_scale_fits(
    frame: pd.DataFrame, columns: dict[str, str], chance: float, exclude_singular: bool = False
) -> dict:
    """``phase -> (boundaries, fit)`` for the phases of ``frame`` that have σ_w² values
    with a finite depth scale; ``columns``: phase -> accuracy column. Figures draw these
    (the same numbers as the C9 rows: see :func:`law_fits`)."""
    out = {}
    for phase, col in columns.items():
        if col not in frame or not (frame["phase"] == phase).any():
            continue
        bounds, fit = depth_scale_law(frame, phase, col, chance, exclude_singular=exclude_singular)
        if len(bounds):
            out[phase] = (bounds, fit)
    return out


def law_fits(frame: pd.DataFrame, predictor: str, chance: float) -> dict:
    """:func:`depth_scale_fits` of one predictor (``mean``, ``network``) as C9 measures
    it (singular depths excluded for the mean predictor): what F6, F6_mean, F7 draw."""
    return depth_scale_fits(
        frame, predictor_columns(predictor), chance, exclude_singular=predictor in C9_SINGULAR_EXCLUDED
    )


def predictor_columns(predictor: str) -> dict[str, str]:
    """phase -> the accuracy column C9 reads for ``predictor`` (``mean``, ``network``)."""
    pattern = C9_PREDICTORS[predictor][0]
    return {ph: pattern.format(split=split) for ph, (_, split) in C9_PHASES.items()}


def _c9_note(fit: dict, xi_name: str, depth_max: float, extra: str) -> str:
    counts = (
        f"excluded: {fit['censored']} censored (boundary beyond the deepest depth "
        f"{depth_max:g}), {fit['singular']} beyond the first singular Theta (numerical there), "
        f"{fit['no_gap']} with no gap over chance, {fit['diverged']} diverged"
    )
    if fit["resolved"] < C9_MIN_POINTS:
        return (
            f"{NOT_MEASURED}: {fit['resolved']} resolved sigma_w2 value(s), fewer than "
            f"{C9_MIN_POINTS}; {counts}; {extra}"
        )
    return (
        f"R2 = {fit['r2']:.3f}; l_boundary/{xi_name} over sigma_w2: mean {fit['ratio_mean']:.3g}, "
        f"cv {fit['ratio_cv']:.3f} (min {fit['ratio_min']:.3g}, max {fit['ratio_max']:.3g}); "
        f"{fit['resolved']} points, sigma_w2 {fit['sigma_w2_min']:.3g}-{fit['sigma_w2_max']:.3g}; "
        f"{counts}; {extra}"
    )


def c9_rows(frame: pd.DataFrame, *, arch: str, act: str, predictor: str, chance: float, what: str) -> list[dict]:
    """C9 rows of one grid (``frame`` as for :func:`depth_scale_law`) and predictor, one
    per phase present: a of l_boundary = a ξ against 8, passed when R² ≥ 0.9 and a
    within a factor :data:`C9_FACTOR` of 8 (:func:`law_fits`); ``what``: the setting
    (width, time), for the quantity."""
    rows = []
    columns = predictor_columns(predictor)
    depth_min, depth_max = float(frame["depth"].min()), float(frame["depth"].max())
    for phase, (bounds, fit) in law_fits(frame, predictor, chance).items():
        xi_col = C9_PHASES[phase][0]
        xi_name = {"xi_1": "xi_1", "xi_star": "xi*"}[xi_col]
        col = columns[phase]
        measured = fit["a"] if fit["resolved"] >= C9_MIN_POINTS else np.nan
        passed = bool(
            np.isfinite(measured)
            and fit["r2"] >= C9_R2_MIN
            and C9_PREDICTED / C9_FACTOR <= measured <= C9_PREDICTED * C9_FACTOR
        )
        extra = (
            f"boundary: deepest depth with {col} > chance + (shallow - chance)/2, chance "
            f"{chance:g}; sigma_w2 grid {bounds['sigma_w2'].min():.3g}-{bounds['sigma_w2'].max():.3g} "
            f"({len(bounds)} {phase} values)"
        )
        if predictor in C9_SINGULAR_EXCLUDED:
            extra += "; depths where Theta is singular excluded"
        rows.append(
            claim_row(
                "C9",
                arch,
                act,
                f"{phase}: a in l_boundary = a*{xi_name}, {what}: {col}",
                C9_PREDICTED,
                measured,
                C9_FACTOR,
                passed,
                C9_CONDITION,
                sigma_w2=None,
                sigma_b2=float(frame["sigma_b2"].iloc[0]),
                depth_min=int(depth_min),
                depth_max=int(depth_max),
                note=_c9_note(fit, xi_name, depth_max, extra),
            )
        )
    return rows


def c9_claims(
    tables: dict[tuple[str, str], pd.DataFrame], finite: list[tuple[pd.DataFrame, pd.DataFrame]], chance: float
) -> list[dict]:
    """C9 for every infinite-width table (each σ_b², mean predictor and true network, at
    the last t) and every trained grid (``(table, overlay)``, at the last step)."""
    rows = []
    for (arch, act), table in sorted(tables.items()):
        for sb in sorted(table["sigma_b2"].unique()):
            frame = infinite_law_frame(table, sb)
            t = float(frame["t"].iloc[0])
            for pred, (_, words) in C9_PREDICTORS.items():
                cols = predictor_columns(pred)
                if not all(c in frame for c in cols.values()):
                    log.warning("%s/%s: no %s columns; C9 (%s) skipped", arch, act, cols, pred)
                    continue
                rows += c9_rows(
                    frame, arch=arch, act=act, predictor=pred, chance=chance, what=f"infinite width, {words}, t = {t:g}"
                )
    for table, overlay in finite:
        arch, act = str(table["arch"].iloc[0]), str(table["activation"].iloc[0])
        frame = finite_law_frame(table, overlay)
        width, step, seeds = int(table["width"].iloc[0]), int(table["step"].max()), table["seed"].nunique()
        rows += c9_rows(
            frame,
            arch=arch,
            act=act,
            predictor="network",
            chance=chance,
            what=f"finite width {width}, trained, step {step}, mean over {seeds} seed(s)",
        )
    return rows
