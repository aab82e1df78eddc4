"""The width experiment against the infinite-width network (numpy only): the trained
networks' final outputs and empirical NTKs (the ``train`` jobs' npz files) compared with
the analytic prediction from the kernel blocks the ``learning_rates`` job saved
(:func:`ntk_phases.finite.experiments.width_analysis`)."""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from .. import data as data_mod
from ..finite.recipes import width_analysis
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.width")
STAGE = Stage()


def stack_outputs(outs: list[dict]) -> dict[str, np.ndarray]:
    """One ``--out-npz`` per job: every array of :func:`width_outputs` stacked along a
    leading axis over the job's widths (:func:`unstack_outputs` reverses it)."""
    return {k: np.stack([o[k] for o in outs]) for k in outs[0]}


def unstack_outputs(arrays: dict[str, np.ndarray]) -> list[dict]:
    if np.ndim(arrays["width"]) == 0:  # one width, unstacked (older files)
        return [arrays]
    return [{k: v[i] for k, v in arrays.items()} for i in range(len(arrays["width"]))]


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    config_arg(p)
    p.add_argument("--finite", nargs="+", required=True)
    p.add_argument("--npz", nargs="+", required=True)
    p.add_argument("--kernels", required=True, help="from learning_rates table --out-kernels")
    p.add_argument("--out-table", required=True)
    p.add_argument("--out-infinite", required=True)
    p.add_argument("--out-summary", required=True)
    p.add_argument("--out-outputs", required=True)


@STAGE.job("compare", "final outputs and empirical NTKs against the infinite-width network", _compare_args)
def compare(args: argparse.Namespace) -> None:
    cfg = args.config
    arrays = data_mod.subset(data_mod.load(args.data), cfg["n_train"], cfg["n_test"], "training.width")
    finite = pd.concat([pd.read_csv(p) for p in args.finite], ignore_index=True)
    finite = finite.sort_values(["width", "seed", "step"], kind="stable").reset_index(drop=True)
    outs = []
    for p in args.npz:
        with np.load(p) as f:
            outs.extend(unstack_outputs({k: f[k] for k in f.files}))
    outs.sort(key=lambda o: int(o["width"]))
    t0 = time.perf_counter()
    with np.load(args.kernels) as f:
        blocks = {k: f[k] for k in f.files}
    res = width_analysis(cfg, arrays, finite, outs, blocks, args.dataset)
    inputs = [args.data, args.kernels, *args.finite, *args.npz]
    for key, path in (
        ("table", args.out_table),
        ("infinite", args.out_infinite),
        ("summary", args.out_summary),
        ("outputs", args.out_outputs),
    ):
        frame = finite if key == "table" else res[key]
        write_table(path, frame, inputs, config=cfg, table=key)
    s = res["summary"].groupby("width")[["relative_distance", "ntk_rel_error"]].mean()
    for w, r in s.iterrows():
        log.info(
            "width %d: relative output distance %.4g, empirical NTK error %.4g", w, r.relative_distance, r.ntk_rel_error
        )
    log.info("done in %.1fs", time.perf_counter() - t0)
