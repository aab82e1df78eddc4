"""The run's effective config as a tidy two-column table (``key``, ``value``).

Written by rule ``run_config`` into ``results/<run>/config.csv`` (with its hash in the
provenance sidecar), so the HTML report shows the configuration a run used and a reader
can diff two runs' configs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from . import io
from .cli import setup_logging

log = logging.getLogger("ntk_phases.run_config")


def flatten(config: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) for every leaf: strings as they are, anything else (numbers,
    null, lists) as JSON, so a list stays one value."""
    if isinstance(config, dict) and config:
        rows: list[tuple[str, str]] = []
        for key in sorted(config):
            rows += flatten(config[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, config if isinstance(config, str) else json.dumps(config, sort_keys=True))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config-json", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    setup_logging()
    import pandas as pd

    cfg = json.loads(args.config_json)
    rows = flatten(cfg)
    io.write_csv(args.out, pd.DataFrame(rows, columns=["key", "value"]))
    io.write_provenance(args.out, config=cfg)
    log.info("wrote %d config keys to %s (sha256 %s)", len(rows), args.out, io.config_hash(cfg)[:12])
    return 0


if __name__ == "__main__":
    sys.exit(main())
