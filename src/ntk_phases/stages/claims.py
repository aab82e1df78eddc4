"""Claim tables: ``table`` writes ``metrics/claims.csv`` (C1-C5 :mod:`~ntk_phases.claims.c1_c5`
and C9 :mod:`~ntk_phases.claims.c9` from the tables, the other stages' claim tables
appended and checked against the one schema); ``finite`` writes the C6/C7 rows of
``metrics/claims_finite.csv`` (:mod:`~ntk_phases.claims.c6_c7`). numpy and pandas only.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from ..claims import c6_c7
from ..claims.c1_c5 import c1_c5_claims
from ..claims.c9 import c9_claims
from ..claims.schema import COLUMNS, conform, schema_violations
from . import Stage, config_arg, read_keyed, read_meta, write_table

log = logging.getLogger("ntk_phases.claims")
STAGE = Stage()


def claims_table(
    tables: dict[tuple[str, str], pd.DataFrame],
    pooling: pd.DataFrame | None,
    cfg: dict,
    finite: list[tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    chance: float = 0.1,
) -> pd.DataFrame:
    """C1-C5 and C9 rows from the infinite-width tables keyed by (arch, activation), the
    C5 pooling table and the trained grids ``finite`` (``(table, overlay)`` pairs)."""
    rows = c1_c5_claims(tables, pooling, cfg) + c9_claims(tables, finite or [], chance)
    return pd.DataFrame(rows, columns=COLUMNS)


def _table_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", nargs="+", required=True)
    p.add_argument("--pooling", default=None)
    p.add_argument("--finite-grid", nargs="*", default=[], help="C9: trained grids (metrics/finite_<arch>_<act>.csv)")
    p.add_argument(
        "--finite-overlays", nargs="*", default=[], help="C9: one depth-scale table per --finite-grid table, same order"
    )
    p.add_argument("--data-json", default=None, help="the dataset's metadata (n_classes: chance)")
    p.add_argument("--extra", nargs="*", default=[], help="claim tables of other stages to append")
    config_arg(p)
    p.add_argument("--out", required=True)


@STAGE.job("table", "C1-C5 and C9 from the tables; other stages' claims appended", _table_args)
def table(args: argparse.Namespace) -> None:
    if len(args.finite_grid) != len(args.finite_overlays):
        raise SystemExit("give one --finite-overlays table per --finite-grid table")
    cfg = args.config
    tables = read_keyed(args.tables)
    pooling = pd.read_csv(args.pooling) if args.pooling else None
    finite = [(pd.read_csv(t), pd.read_csv(o)) for t, o in zip(args.finite_grid, args.finite_overlays)]
    chance = 0.1
    if args.data_json:
        chance = 1.0 / int(read_meta(args.data_json)["n_classes"])
    out = claims_table(tables, pooling, cfg, finite, chance)
    extra = [conform(pd.read_csv(e)) for e in args.extra]
    out = pd.concat([out, *extra], ignore_index=True) if extra else out
    for v in schema_violations(out):
        log.error("claims schema: %s", v)
    inputs = (
        args.tables
        + ([args.pooling] if args.pooling else [])
        + args.finite_grid
        + args.finite_overlays
        + ([args.data_json] if args.data_json else [])
        + args.extra
    )
    write_table(args.out, out, inputs, config=cfg)
    for _, r in out.iterrows():
        log.info(
            "%s %-6s %-5s %-70s predicted %-10.4g measured %-10.4g %s",
            r["claim"],
            r["arch"],
            r["activation"],
            r["quantity"][:70],
            r["predicted"],
            r["measured"],
            "PASS" if r["passed"] else "FAIL",
        )
    log.info("%d of %d claims passed", int(out["passed"].sum()), len(out))


def _finite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memorization", required=True)
    p.add_argument("--width-summary", required=True)
    p.add_argument("--data-json", required=True, help="metadata of the memorization data")
    config_arg(p, "the training section")
    p.add_argument("--out", required=True)


@STAGE.job("finite", "C6/C7 rows from the memorization and width tables", _finite_args)
def finite(args: argparse.Namespace) -> None:
    cfg = args.config
    meta = read_meta(args.data_json)
    mem = pd.read_csv(args.memorization)
    summary = pd.read_csv(args.width_summary)
    rows = c6_c7.claims_c6(mem, cfg["memorization"], int(meta["n_classes"]))
    rows += c6_c7.claims_c7(summary, cfg["width"])
    write_table(args.out, pd.DataFrame(rows, columns=COLUMNS), [args.memorization, args.width_summary], config=cfg)
    for r in rows:
        log.info(
            "%s %s: predicted %.4g measured %.4g tol %.4g -> %s",
            r["claim"],
            r["quantity"],
            r["predicted"],
            r["measured"],
            r["tolerance"],
            "pass" if r["passed"] else "FAIL",
        )
