"""``python -m ntk_phases.claims``: the claims table of the ``claims`` rule
(``metrics/claims.csv``): C1-C5 (:mod:`.c1_c5`) and C9 (:mod:`.c9`) from the tables, the
other stages' claim tables (C6/C7, C8) appended, brought to the one schema
(:func:`.schema.conform`) and checked against it (violations are logged as errors).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import pandas as pd

from .. import io
from ..cli import setup_logging
from .c1_c5 import c1_c5_claims
from .c9 import c9_claims
from .schema import COLUMNS, conform, schema_violations

log = logging.getLogger("ntk_phases.claims")


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Claims C1-C5, C9 from the tables; other stages' claims appended")
    p.add_argument("--tables", nargs="+", required=True)
    p.add_argument("--pooling", default=None)
    p.add_argument("--finite-grid", nargs="*", default=[], help="C9: trained grids (metrics/finite_<arch>_<act>.csv)")
    p.add_argument(
        "--finite-overlays", nargs="*", default=[], help="C9: one depth-scale table per --finite-grid table, same order"
    )
    p.add_argument("--data-json", default=None, help="the dataset's metadata (n_classes: chance)")
    p.add_argument("--extra", nargs="*", default=[], help="claim tables of other stages to append")
    p.add_argument("--config-json", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    setup_logging()
    if len(args.finite_grid) != len(args.finite_overlays):
        p.error("give one --finite-overlays table per --finite-grid table")
    cfg = json.loads(args.config_json)
    tables = {}
    for path in args.tables:
        f = pd.read_csv(path)
        tables[(str(f["arch"].iloc[0]), str(f["activation"].iloc[0]))] = f
    pooling = pd.read_csv(args.pooling) if args.pooling else None
    finite = [(pd.read_csv(t), pd.read_csv(o)) for t, o in zip(args.finite_grid, args.finite_overlays)]
    chance = 0.1
    if args.data_json:
        with open(args.data_json) as fh:
            chance = 1.0 / int(json.load(fh)["n_classes"])
    out = claims_table(tables, pooling, cfg, finite, chance)
    extra = [conform(pd.read_csv(e)) for e in args.extra]
    out = pd.concat([out, *extra], ignore_index=True) if extra else out
    for v in schema_violations(out):
        log.error("claims schema: %s", v)
    io.write_csv(args.out, out)
    inputs = (
        args.tables
        + ([args.pooling] if args.pooling else [])
        + args.finite_grid
        + args.finite_overlays
        + ([args.data_json] if args.data_json else [])
        + args.extra
    )
    io.write_provenance(args.out, config=cfg, inputs=inputs)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
