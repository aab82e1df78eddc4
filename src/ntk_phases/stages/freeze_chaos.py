"""Freeze and chaos of the NTK (Jacot, Gabriel & Hongler; claim C8, figures F12, F13): every
table in one job (neural-tangents and XLA start up once).

- the analytic variants and their mean-field laws (:mod:`ntk_phases.analytic.freeze_chaos`);
- BatchNorm, measured on finite flax networks (:mod:`ntk_phases.finite.batchnorm`);
- the checkerboard of transposed convolutions (:mod:`ntk_phases.analytic.checkerboard`);
- the C8 rows checked on them (:mod:`ntk_phases.claims.c8`).

The one stage where the analytic (neural-tangents) and finite (flax) stacks meet; neither
layer imports the other.
"""

from __future__ import annotations

import argparse
import logging
import time

from .. import data as data_mod
from .. import files
from ..analytic.checkerboard import checkerboard_tables
from ..analytic.freeze_chaos import analytic_table
from ..claims.c8 import claims_c8
from ..finite.batchnorm import empirical_table
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.freeze_chaos")
STAGE = Stage()


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True)
    config_arg(p, "the freeze_chaos section")
    p.add_argument("--analytic", required=True)
    p.add_argument("--empirical", required=True)
    p.add_argument("--checkerboard", required=True)
    p.add_argument("--maps", required=True)
    p.add_argument("--claims", required=True)


@STAGE.job("run", "every freeze/chaos table and the C8 rows", _run_args)
def run(args: argparse.Namespace) -> None:
    cfg = args.config
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
        write_table(path, frame, [args.data], config=cfg, timings=timings)
    files.write_npz(args.maps, maps)
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
