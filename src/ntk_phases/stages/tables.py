"""Concatenate the tables of a stage's chunk or block jobs into one (numpy and pandas only)."""

from __future__ import annotations

import argparse
import json
import logging

import pandas as pd

from ..tables import ROW_ORDER
from . import Stage, write_table

log = logging.getLogger("ntk_phases.tables")
STAGE = Stage()


def _merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--kind", required=True, choices=sorted(ROW_ORDER), help="the table's kind: its row order")
    p.add_argument(
        "--config-json",
        dest="config",
        type=json.loads,
        default=None,
        help="the config the chunks were made with (default: the inputs' own, from their sidecars)",
    )
    p.add_argument("--out", required=True)


@STAGE.job("merge", "concatenate tables of one kind in its row order", _merge_args)
def merge(args: argparse.Namespace) -> None:
    frame = pd.concat([pd.read_csv(p) for p in args.inputs], ignore_index=True)
    order = list(ROW_ORDER[args.kind])
    missing = [c for c in order if c not in frame.columns]
    if missing:
        raise SystemExit(f"{args.inputs[0]} is not a table of kind {args.kind!r}: no column {missing}")
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    write_table(args.out, frame, args.inputs, config=args.config)
    log.info("merged %d tables into %s (%d rows)", len(args.inputs), args.out, len(frame))
