"""``python -m ntk_phases.theory``: the mean-field tables of one activation (the rules call
it); the science is :mod:`ntk_phases.analytic.meanfield`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from . import io
from .analytic.meanfield import ACTIVATIONS, TABLES, grid, phase_table
from .cli import setup_logging, use_compile_cache

log = logging.getLogger("ntk_phases.theory")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Mean-field tables for one activation.")
    p.add_argument("--table", nargs="+", choices=sorted(TABLES), default=["phase"])
    p.add_argument("--activation", required=True, choices=ACTIVATIONS)
    p.add_argument("--config-json", required=True, help="the run's theory config as JSON")
    p.add_argument("--out", nargs="+", required=True, help="one output per --table")
    args = p.parse_args(argv)
    if len(args.out) != len(args.table):
        p.error("give one --out per --table")
    setup_logging()
    use_compile_cache()
    cfg = json.loads(args.config_json)
    if args.table != ["phase"]:
        for table, out in zip(args.table, args.out):
            t0 = time.perf_counter()
            frame = TABLES[table](args.activation, cfg)
            log.info("%s %s: %d rows in %.1fs", table, args.activation, len(frame), time.perf_counter() - t0)
            io.write_csv(out, frame)
            io.write_provenance(out, config=cfg, activation=args.activation, table=table)
        return 0
    args.out = args.out[0]
    t0 = time.perf_counter()
    sw, sb = grid(cfg["sigma_w2"]), grid(cfg["sigma_b2"])
    log.info("%s: %d x %d grid (sigma_w2 x sigma_b2)", args.activation, len(sw), len(sb))
    frame = phase_table(args.activation, sw, sb, cfg["quadrature_degree"], cfg["newton_iters"])
    bounded = frame["bounded"]
    worst_q = frame.loc[bounded, "q_residual"].max() if bounded.any() else 0.0
    log.info(
        "done in %.1fs; %d ordered, %d chaotic, %d unbounded; max q* residual %.2e, max c* residual %.2e;"
        " Newton iterations at most %d (q*) and %d (c*) of newton_iters = %d",
        time.perf_counter() - t0,
        (frame["phase"] == "ordered").sum(),
        (frame["phase"] == "chaotic").sum(),
        (~bounded).sum(),
        worst_q,
        frame["c_residual"].max(),
        frame["q_iterations"].max(),
        frame["c_iterations"].max(),
        cfg["newton_iters"],
    )
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config=cfg, activation=args.activation, table="phase")
    return 0


if __name__ == "__main__":
    sys.exit(main())
