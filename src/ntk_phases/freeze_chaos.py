"""Freeze and chaos of the NTK (Jacot, Gabriel & Hongler; SPEC claim C8, figures F12, F13):
the job, ``python -m ntk_phases.freeze_chaos``.

It combines three tables and checks C8 on them:

- the analytic variants and their mean-field laws (:mod:`ntk_phases.analytic.freeze_chaos`);
- **BatchNorm**, which has no per-example analytic kernel: the empirical NTK
  (:func:`ntk_phases.finite.empirical.empirical_ntk`) of finite flax networks whose
  BatchNorm uses the statistics of the evaluated batch, with and without BatchNorm, a few
  widths and seeds (:func:`empirical_table`);
- the checkerboard of transposed convolutions (:mod:`ntk_phases.analytic.checkerboard`).

This module is the one place where the analytic (neural-tangents) and finite (flax)
stacks meet; neither layer imports the other.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import data as data_mod
from . import io
from .analytic.checkerboard import checkerboard_tables
from .analytic.freeze_chaos import (
    analytic_table,
    offdiag_stats,
    variant_specs,
)
from .cli import setup_logging
from .finite.empirical import empirical_ntk
from .finite.models import batch_apply_fn, make_batchnorm_mlp
from .numerics.fits import (
    extrapolated_limit,
    fitted_exponent,
    fitted_rate,
    rate_ok,
    rel_ok,
    slope,
)

log = logging.getLogger("ntk_phases.freeze_chaos")

CLAIM_COLUMNS = [
    "claim",
    "arch",
    "activation",
    "quantity",
    "predicted",
    "measured",
    "tolerance",
    "passed",
    "sigma_w2",
    "sigma_b2",
    "depth_min",
    "depth_max",
    "note",
]

# ---------------------------------------------------------------------------
# empirical NTK with / without BatchNorm (flax)
# ---------------------------------------------------------------------------


def empirical_ntk_mlp(
    x: np.ndarray, width: int, depth: int, batchnorm: bool, seed: int, sigma_w2: float = 2.0, sigma_b2: float = 0.1
) -> np.ndarray:
    """Empirical NTK (N × N) of a random flax MLP on the batch ``x`` (BatchNorm over ``x``):
    :func:`ntk_phases.finite.empirical.empirical_ntk` with float32 contraction."""
    x = jnp.asarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    model = make_batchnorm_mlp(width, depth, batchnorm, sigma_w2, sigma_b2)
    variables = model.init(jax.random.PRNGKey(seed), x)
    f = batch_apply_fn(model, variables)
    return empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x), accumulate="float32")


def empirical_table(data: dict, cfg: dict):
    """ρ mean/std of empirical NTKs with and without BatchNorm per (width, depth, seed)."""
    e = cfg["empirical"]
    x = data["x_train"][: int(e["n"])]
    rows = []
    for bn in (False, True):
        for width in e["widths"]:
            for depth in e["depths"]:
                for seed in e["seeds"]:
                    theta = empirical_ntk_mlp(x, int(width), int(depth), bn, int(seed), 2.0, e["sigma_b2"])
                    mu, sd = offdiag_stats(theta)
                    rows.append(
                        {
                            "variant": "relu_batchnorm" if bn else "relu_plain",
                            "batchnorm": bn,
                            "width": int(width),
                            "depth": int(depth),
                            "seed": int(seed),
                            "sigma_w2": 2.0,
                            "sigma_b2": float(e["sigma_b2"]),
                            "rho_mean": float(mu),
                            "rho_std": float(sd),
                        }
                    )
        log.info("empirical NTK batchnorm=%s done", bn)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# claims C8
# ---------------------------------------------------------------------------


def _row(arch, act, quantity, predicted, measured, tol, passed, sw2, sb2, dmin, dmax, note=""):
    measured = float(measured)
    return {
        "claim": "C8",
        "arch": arch,
        "activation": act,
        "quantity": quantity,
        "predicted": float(predicted),
        "measured": measured,
        "tolerance": float(tol),
        "passed": bool(passed) if np.isfinite(measured) else False,
        "sigma_w2": float(sw2),
        "sigma_b2": float(sb2),
        "depth_min": int(dmin),
        "depth_max": int(dmax),
        "note": note,
    }


# 1 − ρ below this is not resolved in float64: the ReLU derivative kernel depends on
# arccos(c) ≈ √(2(1 − c)), so once 1 − c reaches machine ε the NTK gap is quantized at
# ~√ε ≈ 1.5e-8; 1e-6 keeps two digits above that.
GAP_FLOOR = 1e-6


def relu_critical_law(g) -> tuple[np.ndarray, np.ndarray]:
    """(clock τ_l, y_l) in which the ReLU critical correlation law is linear, slope A·κ.

    Plain ReLU, σ_w² = 2: q_{l+1} = q_l + β and c_{l+1} = (q_l f(c_l) + β)/q_{l+1}. With
    u_l = q_l (1 − c_l) and f(c) = c + A (1 − c)^{3/2} + …, u_{l+1} = u_l − A u_l^{3/2}/√q_l,
    so y_l = u_l^{−1/2} grows by A/(2√q_l) per layer: linear in τ_l = Σ_{k<l} 1/(2√q_k)
    with slope A = 2√2/(3π) (the coefficient of the (1 − c)^{3/2} term) for every β.
    Residual blocks: y_l = (1 − c_l)^{−1/2}, τ_l = l, slope κ A/2 (:func:`prediction`).
    ``g``: one variant's rows of the analytic table, sorted by depth (consecutive depths).
    """
    q = g["nngp_diag"].to_numpy()
    isq = g["c_gap_isqrt"].to_numpy()
    if g["block"].iloc[0] == "residual":
        return g["depth"].to_numpy(dtype=float), isq
    tau = np.concatenate([[0.0], np.cumsum(0.5 / np.sqrt(q[:-1]))])
    return tau, isq / np.sqrt(q)


def duplicate_variants(specs: list[dict]) -> set[str]:
    """Names of variants identical (activation, block, σ_w², σ_b²) to an earlier one."""
    seen, dup = set(), set()
    for s in specs:
        key = (s["activation"], s["block"], s["sigma_w2"], s["sigma_b2"])
        if key in seen:
            dup.add(s["name"])
        seen.add(key)
    return dup


def variant_claims(g, tol: dict) -> list[dict]:
    """C8 rows of one analytic variant from its mean-field predictions (:func:`prediction`).

    Limits are read at the deepest depth, rates, exponents and laws are fitted on the deep
    window (depth ≥ max_depth/2). Regimes: freeze (ρ → 1, rate of 1 − ρ), chaos (ρ → 0,
    rate of the mean and of the spread of ρ, or a power law), critical (a limit strictly
    between 0 and 1 reached polynomially, the correlation law, and the length growth).
    """
    g = g.sort_values("depth")
    name, act = g["variant"].iloc[0], g["activation"].iloc[0]
    sw2, sb2 = g["sigma_w2"].iloc[0], g["sigma_b2"].iloc[0]
    depth = g["depth"].to_numpy()
    dmax = int(depth.max())
    w = depth >= max(2, dmax // 2)
    d0, d1 = int(depth[w].min()), int(depth[w].max())
    rho, rho_std = g["rho_mean"].to_numpy(), g["rho_std"].to_numpy()
    p = g.iloc[0]
    regime = p["pred_regime"]
    mf = ", ".join(f"{k}={p[k]:.4g}" for k in ("chi_1", "chi_c", "c_star") if np.isfinite(p[k]))
    note = "; ".join(x for x in (mf, p["pred_note"] if isinstance(p["pred_note"], str) else "") if x)
    rows = []

    def add(q, pred, meas, t, ok, lo=d0, hi=d1, extra=""):
        rows.append(_row(name, act, q, pred, meas, t, ok, sw2, sb2, lo, hi, "; ".join(x for x in (note, extra) if x)))

    if regime == "freeze" and np.isfinite(p["pred_rate"]):
        # ρ → 1 is asymptotic (at depth 30, 1 − ρ ∝ l χ₁^l can still exceed the tolerance):
        # the claims are the limit under the predicted approach law and the rate.
        poly = float(p["pred_poly"])
        lim = extrapolated_limit(depth[w], rho[w], p["pred_rate"], poly)
        add(
            f"extrapolated lim rho: fit rho_l = rho_inf - C l^{poly:g} r^l, r predicted (freeze: -> 1)",
            1.0,
            lim,
            tol["freeze_limit"],
            abs(lim - 1.0) <= tol["freeze_limit"],
            extra=f"rho at max depth {dmax} = {rho[-1]:.4g}; tolerance absolute",
        )
        rate = fitted_rate(depth[w], 1.0 - rho[w], poly, GAP_FLOOR)
        add(
            f"per-layer factor r of (1 - rho)/l^{poly:g} (freeze)",
            p["pred_rate"],
            rate,
            tol["rate_rel"],
            rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]),
            extra=f"relative tolerance on log r; points with 1 - rho > {GAP_FLOOR:g}",
        )
    elif regime == "freeze":
        add(
            "normalized offdiag NTK at max depth (freeze: -> 1)",
            1.0,
            rho[-1],
            tol["freeze_limit"],
            abs(rho[-1] - 1.0) <= tol["freeze_limit"],
            dmax,
            dmax,
        )
        rate = fitted_rate(depth[w], 1.0 - rho[w])
        add(
            "per-layer factor of 1 - rho (freeze; fitted, < 1 expected)",
            1.0,
            rate,
            0.0,
            rate < 1.0,
            extra="no closed-form rate; passes if the gap shrinks",
        )
    elif regime == "chaos":
        add(
            "normalized offdiag NTK at max depth (chaos: < 1)",
            0.0,
            rho[-1],
            tol["chaos_gap"],
            rho[-1] <= 1.0 - tol["chaos_gap"],
            dmax,
            dmax,
            "passes if rho <= 1 - tolerance",
        )
        if np.isfinite(p["pred_rate"]):
            poly = float(p["pred_poly"])
            rate = fitted_rate(depth[w], rho[w], poly)
            add(
                f"per-layer factor of mean rho/l^{poly:g} (chaos)",
                p["pred_rate"],
                rate,
                tol["rate_rel"],
                rate_ok(measured=rate, predicted=p["pred_rate"], tol=tol["rate_rel"]),
                extra="relative tolerance on log r",
            )
        if np.isfinite(p["pred_std_rate"]):
            # a drift δ of the kernel diagonal (diag_err, see depth_kernels) perturbs Θ(x, x) by
            # up to ~√δ (the √(1 − c) kink of ReLU-type derivative kernels), so every ρ by
            # ~√δ·ρ: the spread over pairs is signal only well above that
            err = g["diag_err"].to_numpy() if "diag_err" in g else np.zeros_like(rho)
            clean = w & (rho_std > 10 * np.sqrt(err) * np.abs(rho))
            rate = fitted_rate(depth[clean], rho_std[clean], 1.0)
            add(
                "per-layer factor of the spread of rho over pairs / l (chaos)",
                p["pred_std_rate"],
                rate,
                tol["rate_rel"],
                rate_ok(measured=rate, predicted=p["pred_std_rate"], tol=tol["rate_rel"]),
                int(depth[clean].min(initial=d0)),
                int(depth[clean].max(initial=d0)),
                "relative tolerance on log r; depths where the spread exceeds 10 sqrt(diagonal drift) rho",
            )
        if np.isfinite(p["pred_exponent"]):
            expo = fitted_exponent(depth[w], rho[w])
            add(
                "exponent of rho against l (chaos, power law)",
                p["pred_exponent"],
                expo,
                tol["rate_rel"],
                rel_ok(measured=expo, predicted=p["pred_exponent"], tol=tol["rate_rel"]),
                extra="relative tolerance",
            )
            add(
                "l * rho at max depth (chaos, power law)",
                p["pred_l_rho"],
                dmax * rho[-1],
                tol["rate_rel"],
                rel_ok(measured=dmax * rho[-1], predicted=p["pred_l_rho"], tol=tol["rate_rel"]),
                dmax,
                dmax,
                "relative tolerance",
            )
        if not np.isfinite(p["pred_rate"]) and not np.isfinite(p["pred_exponent"]):
            rate = fitted_rate(depth[w], rho[w])
            add(
                "per-layer factor of rho (chaos; fitted, < 1 expected)",
                1.0,
                rate,
                0.0,
                rate < 1.0,
                extra="no closed-form rate; passes if the gap shrinks",
            )
    elif regime == "critical":
        lim = float(p["pred_limit"])
        add(
            f"normalized offdiag NTK at max depth (critical: -> {lim:.4g}, not 1)",
            lim,
            rho[-1],
            tol["edge_limit"],
            abs(rho[-1] - lim) <= tol["edge_limit"],
            dmax,
            dmax,
            "polynomial approach (beta > 0: ~ l^(-1/2); beta = 0, residual: ~ 1/l); tolerance absolute",
        )
        tau, y = relu_critical_law(g)
        law_slope = slope(tau[w], y[w])
        expo = fitted_exponent(depth[w], 1.0 - g["c_mean"].to_numpy()[w])
        add(
            "slope of the correlation law (NNGP: (1-c)^(-1/2) linear; (1-c)^(3/2) term of the ReLU map)",
            p["pred_law_slope"],
            law_slope,
            tol["rate_rel"],
            rel_ok(measured=law_slope, predicted=p["pred_law_slope"], tol=tol["rate_rel"]),
            extra=f"A = 2 sqrt2/(3 pi); relative tolerance; fitted exponent of 1 - c: {expo:.3g} (-> -2)",
        )
        if g["block"].iloc[0] == "residual":
            growth = fitted_rate(depth[w], g["nngp_diag"].to_numpy()[w])
            add(
                "per-block growth factor of the output variance (unscaled residual)",
                p["pred_growth"],
                growth,
                tol["rate_rel"],
                rel_ok(measured=growth, predicted=p["pred_growth"], tol=tol["rate_rel"]),
                extra="1 + sigma_w^2/2; relative tolerance",
            )
    return rows


def claims_c8(analytic, empirical, checker, cfg: dict):
    """C8 rows (see SPEC): per-variant limits, rates and laws (:func:`variant_claims`),
    β monotonicity, normalization ordering, BatchNorm (empirical), checkerboard.
    Nothing is tuned: failures stay."""
    tol = cfg["tolerances"]
    rows = []
    dmax = int(analytic["depth"].max())
    dup = duplicate_variants(variant_specs(cfg))
    for name, g in analytic.groupby("variant", sort=False):
        if name not in dup:  # e.g. relu_plain is relu_b{norm_sigma_b2}: no repeated rows
            rows += variant_claims(g, tol)
    # β monotone toward freeze at fixed depth (both parameterizations)
    for fam, label in (("bias", "sigma_w^2 = 2"), ("bias_vp", "sigma_w^2 = 2(1 - beta)")):
        bias = analytic[(analytic["family"] == fam) & (analytic["depth"] == dmax)].sort_values("sigma_b2")
        if len(bias) > 1:
            diffs = np.diff(bias["rho_mean"].to_numpy())
            rows.append(
                _row(
                    f"relu_{fam}",
                    "relu",
                    f"min over consecutive beta of d rho ({label}; larger beta -> freeze)",
                    0.0,
                    diffs.min(),
                    0.0,
                    diffs.min() > 0,
                    bias["sigma_w2"].iloc[-1],
                    bias["sigma_b2"].max(),
                    dmax,
                    dmax,
                    "betas " + ",".join(f"{b:g}" for b in bias["sigma_b2"]),
                )
            )
    # normalization toward chaos at fixed depth
    norm = analytic[(analytic["family"] == "norm") & (analytic["depth"] == dmax)].set_index("variant")
    if "relu_plain" in norm.index:
        ref = float(norm.loc["relu_plain", "rho_mean"])
        for v in ("relu_centred", "relu_layernorm", "relu_dropout"):
            if v in norm.index:
                meas = float(norm.loc[v, "rho_mean"])
                rows.append(
                    _row(
                        v,
                        norm.loc[v, "activation"],
                        "rho(variant) - rho(plain ReLU) at max depth (< 0)",
                        0.0,
                        meas - ref,
                        0.0,
                        meas < ref,
                        norm.loc[v, "sigma_w2"],
                        norm.loc[v, "sigma_b2"],
                        dmax,
                        dmax,
                        f"plain ReLU rho = {ref:.4g}",
                    )
                )
    # BatchNorm (empirical): widest width, deepest depth, mean over seeds
    if empirical is not None and len(empirical):
        wmax, dm = empirical["width"].max(), empirical["depth"].max()
        sub = empirical[(empirical["width"] == wmax) & (empirical["depth"] == dm)]
        bn = sub[sub["batchnorm"]]["rho_mean"]
        pl = sub[~sub["batchnorm"]]["rho_mean"]
        se = float(np.sqrt(bn.var(ddof=1) / len(bn) + pl.var(ddof=1) / len(pl))) if len(bn) > 1 else np.nan
        rows.append(
            _row(
                "relu_batchnorm",
                "relu",
                "rho(BatchNorm) - rho(plain), empirical NTK (< 0)",
                0.0,
                bn.mean() - pl.mean(),
                se,
                bn.mean() < pl.mean(),
                2.0,
                sub["sigma_b2"].iloc[0],
                dm,
                dm,
                f"width {wmax}, {len(bn)} seeds; tolerance = standard error of the difference",
            )
        )
    if checker is not None and len(checker):
        rows += checkerboard_claims(checker, tol)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def checkerboard_claims(checker, tol: dict) -> list[dict]:
    """Two rows per regime at the deepest stack, predictions fixed before measuring.

    Parity contrast of the normalized output-space NTK (:func:`parity_contrast`): freeze
    shows a checkerboard, contrast > ``checker``; chaos removes it, contrast ≤ ``checker``.
    Long-range correlation (:func:`far_correlation`): freeze ≥ ``checker_far_freeze``
    (frozen: every pixel pair correlated), chaos |·| ≤ ``checker_far_chaos`` (localized).
    The even/odd ratio of the NTK diagonal is reported in the note, not claimed.
    """
    rows = []
    for regime, g in checker.groupby("regime"):
        g = g.sort_values("depth")
        last = g.iloc[-1]
        frz = regime == "freeze"
        d = int(last["depth"])
        diag_note = (
            f"diagonal even/odd ratio (reported, not claimed) {last['parity_ratio']:.4g}; "
            f"interior contrast {last['parity_contrast_interior']:.4g}"
        )
        c, t = float(last["parity_contrast"]), tol["checker"]
        rows.append(
            _row(
                f"deconv_{regime}",
                last["activation"],
                "parity contrast of normalized output-space NTK, max - min of parity-class pair means"
                + (" (freeze: checkerboard, > tol)" if frz else " (chaos: flat, <= tol)"),
                t if frz else 0.0,
                c,
                t,
                c > t if frz else c <= t,
                last["sigma_w2"],
                last["sigma_b2"],
                d,
                d,
                ("passes if contrast > tolerance; " if frz else "passes if contrast <= tolerance; ") + diag_note,
            )
        )
        f = float(last["far_corr"])
        t = tol["checker_far_freeze"] if frz else tol["checker_far_chaos"]
        rows.append(
            _row(
                f"deconv_{regime}",
                last["activation"],
                "mean normalized output-space NTK over pixel pairs >= side/2 apart"
                + (" (freeze: long-range, >= tol)" if frz else " (chaos: localized, |.| <= tol)"),
                1.0 if frz else 0.0,
                f,
                t,
                f >= t if frz else abs(f) <= t,
                last["sigma_w2"],
                last["sigma_b2"],
                d,
                d,
                "passes if far correlation >= tolerance" if frz else "passes if |far correlation| <= tolerance",
            )
        )
    return rows


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``run``: every freeze/chaos table in one job (neural-tangents is imported once)."""
    p = argparse.ArgumentParser(description="Freeze and chaos (C8, F12, F13)")
    p.add_argument("--data", required=True)
    p.add_argument("--config-json", required=True)
    p.add_argument("--analytic", required=True)
    p.add_argument("--empirical", required=True)
    p.add_argument("--checkerboard", required=True)
    p.add_argument("--maps", required=True)
    p.add_argument("--claims", required=True)
    args = p.parse_args(argv)
    setup_logging()
    cfg = json.loads(args.config_json)
    d = data_mod.load(args.data)
    timings = {}
    t0 = time.perf_counter()
    analytic = analytic_table(d, cfg)
    timings["analytic_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    empirical = empirical_table(d, cfg)
    timings["empirical_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    checker, maps = checkerboard_tables(cfg)
    timings["checkerboard_s"] = time.perf_counter() - t0
    claims = claims_c8(analytic, empirical, checker, cfg)
    for path, frame in (
        (args.analytic, analytic),
        (args.empirical, empirical),
        (args.checkerboard, checker),
        (args.claims, claims),
    ):
        io.write_csv(path, frame)
        io.write_provenance(path, config=cfg, inputs=[args.data], timings=timings)
    with io.atomic_path(args.maps, suffix=".npz") as tmp:
        np.savez(tmp, **maps)
    for _, r in claims.iterrows():
        log.info(
            "C8 %-16s %-62s predicted %-9.4g measured %-9.4g %s",
            r["arch"],
            r["quantity"][:62],
            r["predicted"],
            r["measured"],
            "PASS" if r["passed"] else "FAIL",
        )
    log.info(
        "timings %s; %d of %d C8 claims passed",
        {k: round(v, 1) for k, v in timings.items()},
        int(claims["passed"].sum()),
        len(claims),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
