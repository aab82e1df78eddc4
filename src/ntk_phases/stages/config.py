"""The run's effective config as a tidy two-column table (``key``, ``value``).

Written by rule ``run_config`` into ``results/<run>/config.csv`` (with its hash in the
provenance sidecar), so the HTML report shows the configuration a run used and a reader
can diff two runs' configs.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from .. import provenance
from ..config import flatten
from . import Stage, config_arg, write_table

log = logging.getLogger("ntk_phases.config")
STAGE = Stage()


def _table_args(p: argparse.ArgumentParser) -> None:
    config_arg(p, "the run's whole config as JSON")
    p.add_argument("--out", required=True)


@STAGE.job("table", "write config.csv", _table_args)
def table(args: argparse.Namespace) -> None:
    rows = flatten(args.config)
    write_table(args.out, pd.DataFrame(rows, columns=["key", "value"]), config=args.config)
    log.info("wrote %d config keys to %s (sha256 %s)", len(rows), args.out, provenance.config_hash(args.config)[:12])
