"""Mean-field tables of one activation (the science is :mod:`ntk_phases.analytic.meanfield`)."""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from ..analytic.compile_cache import use_compile_cache
from ..analytic.meanfield import ACTIVATIONS, TABLES, phase_table
from ..config import grid
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.theory")
STAGE = Stage(setup=use_compile_cache)


def _tables_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", nargs="+", choices=sorted(TABLES), required=True)
    p.add_argument("--activation", required=True, choices=ACTIVATIONS)
    config_arg(p, "the run's theory config as JSON")
    p.add_argument("--out", nargs="+", required=True, help="one output per --table")


@STAGE.job("tables", "phase diagram, depth scales or correlation maps of one activation", _tables_args)
def tables(args: argparse.Namespace) -> None:
    if len(args.out) != len(args.table):
        raise SystemExit("give one --out per --table")
    cfg = args.config
    for table, out in zip(args.table, args.out):
        t0 = time.perf_counter()
        if table == "phase":
            frame = _phase(args.activation, cfg)
        else:
            frame = TABLES[table](args.activation, cfg)
        log.info("%s %s: %d rows in %.1fs", table, args.activation, len(frame), time.perf_counter() - t0)
        write_table(out, frame, config=cfg, activation=args.activation, table=table)


def _phase(activation: str, cfg: dict):
    sw, sb = np.asarray(grid(cfg["sigma_w2"]), float), np.asarray(grid(cfg["sigma_b2"]), float)
    log.info("%s: %d x %d grid (sigma_w2 x sigma_b2)", activation, len(sw), len(sb))
    frame = phase_table(activation, sw, sb, cfg["quadrature_degree"], cfg["newton_iters"])
    bounded = frame["bounded"]
    worst_q = frame.loc[bounded, "q_residual"].max() if bounded.any() else 0.0
    log.info(
        "%d ordered, %d chaotic, %d unbounded; max q* residual %.2e, max c* residual %.2e;"
        " Newton iterations at most %d (q*) and %d (c*) of newton_iters = %d",
        (frame["phase"] == "ordered").sum(),
        (frame["phase"] == "chaotic").sum(),
        (~bounded).sum(),
        worst_q,
        frame["c_residual"].max(),
        frame["q_iterations"].max(),
        frame["c_iterations"].max(),
        cfg["newton_iters"],
    )
    return frame
