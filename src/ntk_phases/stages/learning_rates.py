"""Learning rates of a training experiment (the ``lr`` rules): the analytic λ_max of
Θ(train, train) of every configuration (neural-tangents, float64) and
``η = lr_factor · 2/λ_max`` (:func:`ntk_phases.numerics.predictions.eta_from_lambda_max`);
for ``grid`` and ``architectures`` also the mean-field depth scales ξ₁, ξ* along the
grid's σ_b² (the F7 and F8 overlays); for ``width`` the analytic kernel blocks the width
stage compares the trained networks with.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import pandas as pd

from .. import data as data_mod
from .. import files, provenance
from ..analytic import meanfield
from ..analytic.compile_cache import use_compile_cache
from ..analytic.sweep import depth_sweep
from ..config import grid
from ..finite.recipes import EXPERIMENTS, KERNEL_KEYS, experiment_configs, experiment_data
from ..numerics import predictions, spectral
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.learning_rates")
STAGE = Stage(setup=use_compile_cache)


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    p.add_argument("--arch")
    p.add_argument("--activation")
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    config_arg(p, "the experiment's config section")
    p.add_argument("--theory-json", type=json.loads, default=None, help="theory section (overlay quadrature)")
    p.add_argument("--tanh-deg", type=int, required=True)
    p.add_argument("--kernel-batch-size", type=int, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--out-overlay", default=None, help="grid: depth-scale overlay table")
    p.add_argument(
        "--out-kernels", default=None, help="width: analytic NTK/NNGP blocks (train, test x train, test diagonal)"
    )


def lr_table(
    experiment: str,
    cfg: dict,
    x_train: np.ndarray,
    dataset: str,
    arch: str | None,
    activation: str | None,
    *,
    tanh_deg: int,
    kernel_batch_size: int | None,
    x_test: np.ndarray | None,
) -> tuple[pd.DataFrame, dict]:
    """λ_max, λ_min, κ of the analytic Θ(train, train) and η = lr_factor · 2/λ_max for every
    (σ_w², depth) of an experiment. Minibatch SGD (``batch_size``) uses the kernel of the
    first ``batch_size`` examples (one batch: its λ_max is what bounds a stable step).
    The section's own ``kernel_batch_size`` / ``sigma_chunk``, where set, bound the sweep's
    memory (CNN-P kernels hold the full spatial covariance of every pair).

    Returns the table and the kernel sweep (with test blocks when ``x_test`` is given)."""
    c = experiment_configs(experiment, cfg, arch, activation)
    bs = cfg.get("batch_size")
    x = x_train if not bs or bs >= len(x_train) else x_train[: int(bs)]
    t0 = time.perf_counter()
    sweep = depth_sweep(
        x,
        x_test,
        c["arch"],
        c["activation"],
        c["sigma_w2"],
        c["sigma_b2"],
        c["depths"],
        tanh_deg=tanh_deg,
        batch_size=cfg.get("kernel_batch_size") or kernel_batch_size,
        sigma_chunk=cfg.get("sigma_chunk"),
    )
    spec = spectral.spectrum(sweep["ntk_train"])  # (S, D)
    log.info(
        "%s %s/%s: Θ on %d points, %d sigma_w2 x %d depths in %.1fs",
        experiment,
        c["arch"],
        c["activation"],
        len(x),
        len(c["sigma_w2"]),
        len(sweep["depths"]),
        time.perf_counter() - t0,
    )
    rows = []
    factor = float(cfg["lr_factor"])
    for i, sw in enumerate(sweep["sigma_w2"]):
        for j, d in enumerate(sweep["depths"]):
            lmax = float(spec["lambda_max"][i, j])
            rows.append(
                {
                    "experiment": experiment,
                    "arch": c["arch"],
                    "activation": c["activation"],
                    "dataset": dataset,
                    "sigma_w2": float(sw),
                    "sigma_b2": c["sigma_b2"],
                    "depth": int(d),
                    "n_points": len(x),
                    "lambda_max": lmax,
                    "lambda_min": float(spec["lambda_min"][i, j]),
                    "kappa": float(spec["kappa"][i, j]),
                    "lr_factor": factor,
                    "learning_rate": float(predictions.eta_from_lambda_max(lmax, factor)),
                }
            )
    return pd.DataFrame(rows), sweep


def overlay_table(activation: str, cfg: dict, theory_cfg: dict) -> pd.DataFrame:
    """Mean-field ξ₁, ξ* (and χ₁) on a fine σ_w² axis spanning the grid, at its σ_b²."""
    sw = np.asarray(grid(cfg["sigma_w2"]), dtype=np.float64)
    lo, hi = float(sw.min()), float(sw.max())
    pad = 0.02 * (hi - lo if hi > lo else 1.0)
    fine = np.linspace(max(lo - pad, 1e-3), hi + pad, 241)
    return meanfield.phase_table(
        activation,
        fine,
        [float(cfg["sigma_b2"])],
        theory_cfg["quadrature_degree"],
        theory_cfg["newton_iters"],
    )


@STAGE.job("table", "λ_max, κ and η of every configuration of an experiment", _table_args)
def table(args: argparse.Namespace) -> None:
    cfg = args.config
    arrays = experiment_data(args.experiment, cfg, data_mod.load(args.data))
    frame, sweep = lr_table(
        args.experiment,
        cfg,
        arrays["x_train"],
        args.dataset,
        args.arch,
        args.activation,
        tanh_deg=args.tanh_deg,
        kernel_batch_size=args.kernel_batch_size,
        x_test=arrays["x_test"] if args.out_kernels else None,
    )
    for _, r in frame.iterrows():
        log.info(
            "sigma_w2=%.4g depth=%d lambda_max=%.4g kappa=%.3g eta=%.4g",
            r.sigma_w2,
            r.depth,
            r.lambda_max,
            r.kappa,
            r.learning_rate,
        )
    write_table(args.out, frame, [args.data], config=cfg, experiment=args.experiment)
    if args.out_kernels:  # analytic blocks of the (single) configuration, for `infinite`
        files.write_npz(
            args.out_kernels,
            {
                **{k: sweep[k][0, 0] for k in KERNEL_KEYS},
                "sigma_w2": sweep["sigma_w2"][0],
                "sigma_b2": sweep["sigma_b2"],
                "depth": sweep["depths"][0],
            },
        )
        provenance.write_provenance(args.out_kernels, config=cfg, inputs=[args.data])
    if args.out_overlay:
        theory_cfg = args.theory_json
        if theory_cfg is None:
            raise SystemExit("--out-overlay needs --theory-json (its quadrature degree and Newton iterations)")
        ov = overlay_table(args.activation, cfg, theory_cfg)
        write_table(args.out_overlay, ov, config={"grid": cfg, "theory": theory_cfg})
