"""Freeze and chaos of the NTK (Jacot, Gabriel & Hongler; SPEC claim C8, figures F12, F13):
the job, ``python -m ntk_phases.freeze_chaos``.

It combines three tables and checks C8 on them (the rows: :mod:`ntk_phases.claims.c8`):

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
from .analytic.freeze_chaos import analytic_table, offdiag_stats
from .claims.c8 import claims_c8
from .cli import setup_logging
from .finite.empirical import empirical_ntk
from .finite.models import batch_apply_fn, make_batchnorm_mlp

log = logging.getLogger("ntk_phases.freeze_chaos")

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
