"""Infinite-width jobs on the one-pass kernel sweep.

- ``sweep``: the tidy metrics rows of one (architecture, activation, σ_b², chunk of
  σ_w²): kernels at every configured depth in one pass, reduced to metrics as they are
  computed (:func:`ntk_phases.analytic.sweep.stream_metrics`), with the mean-field
  quantities of each (σ_w², σ_b²) appended;
- ``pooling``: CNN-P against CNN-F at several image sizes d (claim C5).

Configuration arrives as JSON (the rule's params), so the rule's rerun triggers see it.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import jax
import numpy as np
import pandas as pd

from .. import conventions
from .. import data as data_mod
from ..analytic import meanfield, sweep
from ..analytic.compile_cache import use_compile_cache
from ..architectures import get_architecture
from ..config import depth_list
from ..numerics import predictions, spectral, streaming
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.kernels")
STAGE = Stage(setup=use_compile_cache)


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True)
    p.add_argument("--activation", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    config_arg(p)
    p.add_argument("--out", required=True)


def _pooling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", required=True)
    p.add_argument("--data", required=True)
    config_arg(p)
    p.add_argument("--out", required=True)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Resize NHWC images to size×size (linear interpolation) and rescale each to norm √n₀."""
    n, _, _, c = x.shape
    y = np.asarray(jax.image.resize(x, (n, size, size, c), method="linear"), dtype=np.float64)
    norms = np.linalg.norm(y.reshape(n, -1), axis=1).reshape(n, 1, 1, 1)
    return y * np.sqrt(size * size * c) / norms


@STAGE.job("sweep", "metrics rows of one (arch, activation, sigma_b2, chunk of sigma_w2)", _sweep_args)
def run_sweep(args: argparse.Namespace) -> None:
    """Metrics rows of one (architecture, activation, σ_b², chunk of σ_w²), kernels
    streamed layer by layer and reduced at each recorded depth (never written)."""
    cfg = args.config  # this job's share of the config (kernels.smk)
    arch_cfg = cfg["arch"]
    convention = cfg["convention"]
    sw2 = np.asarray(cfg["sigma_w2"], dtype=np.float64)
    sb2 = float(cfg["sigma_b2"])
    depths = depth_list(arch_cfg["depths"])
    d = data_mod.subset(data_mod.load(args.data), arch_cfg["n_train"], arch_cfg["n_test"], "kernels.*")
    # only kernels.points (F3-F5's own setting) carries `normalize`: the other settings'
    # job configs are left as they were, so that their params rerun triggers stay quiet
    if arch_cfg.get("normalize"):
        d["x_train"], y_train, d["x_test"] = conventions.normalize(d["x_train"], d["y_train"], d["x_test"])
    else:
        y_train = conventions.targets(d["y_train"], convention)
    rcond = cfg["rcond"] if cfg["rcond"] is not None else spectral.default_rcond(len(y_train), args.activation)
    log.info(
        "%s/%s sigma_b2=%g sigma_w2=%s depths 0..%d (%d), n_train=%d n_test=%d, memory budget %g MB",
        args.arch,
        args.activation,
        sb2,
        np.round(sw2, 4).tolist(),
        max(depths),
        len(depths),
        len(d["x_train"]),
        len(d["x_test"]),
        cfg["memory_mb"],
    )
    t0 = time.perf_counter()
    res = sweep.stream_metrics(
        d["x_train"],
        y_train,
        d["x_test"],
        d["y_test"],
        get_architecture(args.arch, convention),
        args.activation,
        sw2,
        sb2,
        depths,
        cfg["times"],
        memory_mb=cfg["memory_mb"],
        tanh_deg=cfg["tanh_deg"],
        rcond=rcond,
        learning_rate=conventions.learning_rate(y_train, convention),
        initial_function=conventions.initial_function(convention),
    )
    frame = pd.concat(
        [
            pd.DataFrame(
                streaming.tidy_rows(
                    {k: v[i] for k, v in res.items() if k not in ("sigma_w2", "depths", "plan")},
                    s,
                    sb2,
                    res["depths"],
                    cfg["times"],
                )
            )
            for i, s in enumerate(res["sigma_w2"])
        ],
        ignore_index=True,
    )
    leading = {"arch": args.arch, "activation": args.activation, "dataset": args.dataset, "convention": convention}
    for pos, (k, v) in enumerate(leading.items()):
        frame.insert(pos, k, v)
    frame = frame.merge(
        theory_columns(args.activation, sw2, sb2, cfg["tanh_deg"], cfg["newton_iters"]),
        on="sigma_w2",
        how="left",
        validate="many_to_one",
    )
    # the examples the kernels saw: tables of different settings can be told apart (F8)
    frame["n_train"], frame["n_test"] = len(d["x_train"]), len(d["x_test"])
    for col in frame.columns:
        may_be_nan = ("xi_1", "xi_star", "test_std_rms") if convention == "notebook" else ("xi_1", "xi_star")
        if (
            frame[col].dtype.kind == "f"
            and col not in may_be_nan
            and not col.startswith("mean_pred_entry")
            and frame[col].isna().any()
        ):
            raise ValueError(f"NaN in metrics column {col}")
    per_point = frame.drop_duplicates(["sigma_w2", "depth"])
    log.info(
        "%d rows in %.1fs; %d singular kernels of %d; peak RSS %.0f MB",
        len(frame),
        time.perf_counter() - t0,
        int(per_point["singular"].sum()),
        len(per_point),
        sweep.peak_rss_mb(),
    )
    write_table(args.out, frame, [args.data], config=cfg)


def theory_columns(activation: str, sw2: np.ndarray, sb2: float, tanh_deg: int, newton_iters: int) -> Any:
    """Mean-field quantities at each σ_w² (one σ_b²) as a DataFrame keyed by sigma_w2
    (``tanh_deg``, ``newton_iters``: config ``theory.quadrature_degree``, ``theory.newton_iters``)."""
    fp = meanfield.phase_diagram(activation, sw2, [sb2], tanh_deg, newton_iters)
    cols = ["q_star", "c_star", "chi_1", "chi_c", "xi_1", "xi_c", "xi_star", "phase"]
    return pd.DataFrame({"sigma_w2": fp["sigma_w2"], **{c: fp[c] for c in cols}})


@STAGE.job("pooling", "CNN-P against CNN-F at several image sizes (C5)", _pooling_args)
def run_pooling(args: argparse.Namespace) -> None:
    """C5: CNN-P and CNN-F kernels at one chaotic σ_w² for several image sizes."""
    cfg = args.config
    pc = cfg["pooling"]
    d = data_mod.subset(data_mod.load(args.data), pc["n_train"], pc["n_test"], "claims.pooling")
    y_train = data_mod.mse_targets(d["y_train"])
    depths = depth_list(pc["depths"])
    # Blocks of examples sized by the memory budget (kernels.memory_mb, as a kernels job;
    # half for the propagating block): at 32x32 a CNN-P pair carries a 1024^2 spatial
    # covariance (~100 MB per live array), so the paper's 64 + 64 images in one block
    # would need ~0.4 TB; the budget's blocks keep the job's peak set by memory_mb.
    budget = float(cfg["memory_mb"]) * 2**20 / 2
    rows = []
    for size in pc["image_sizes"]:
        xtr, xte = resize_images(d["x_train"], size), resize_images(d["x_test"], size)
        for arch in ("cnn_f", "cnn_p"):
            t0 = time.perf_counter()
            block = sweep.batch_size_for_budget(
                arch, xtr.shape[1:], max(len(xtr), len(xte)), budget, 1, args.activation, cfg["tanh_deg"]
            )
            kernels = sweep.depth_sweep(
                xtr,
                xte,
                arch,
                args.activation,
                [pc["sigma_w2"]],
                pc["sigma_b2"],
                depths,
                test_diag=False,
                tanh_deg=cfg["tanh_deg"],
                batch_size=block,
            )
            spec = spectral.spectrum(kernels["ntk_train"][0])
            diag, off = spectral.ntk_diag_offdiag(kernels["ntk_train"][0])
            pinf = predictions.mean_predictor(kernels["ntk_train"][0], kernels["ntk_test_train"][0], y_train)
            rows.append(
                pd.DataFrame(
                    {
                        "arch": arch,
                        "activation": args.activation,
                        "image_size": size,
                        "d": size * size,
                        "sigma_w2": pc["sigma_w2"],
                        "sigma_b2": pc["sigma_b2"],
                        "depth": kernels["depths"],
                        "kappa": spec["kappa"],
                        "ntk_diag": diag,
                        "ntk_offdiag": off,
                        "mean_pred_rms": np.sqrt(np.mean(pinf**2, axis=(-2, -1))),
                    }
                )
            )
            log.info("%s at %dx%d: %.1fs (blocks of %d examples)", arch, size, size, time.perf_counter() - t0, block)
    write_table(args.out, pd.concat(rows, ignore_index=True), [args.data], config=cfg)
