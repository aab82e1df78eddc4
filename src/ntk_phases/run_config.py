"""The run's effective config as a tidy two-column table (``key``, ``value``).

Written by rule ``run_config`` into ``results/<run>/config.csv`` (with its hash in the
provenance sidecar), so the HTML report shows the configuration a run used and a reader
can diff two runs' configs.
"""

from __future__ import annotations

import json
from typing import Any


def flatten(config: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) for every leaf: strings as they are, anything else (numbers,
    null, lists) as JSON, so a list stays one value."""
    if isinstance(config, dict) and config:
        rows: list[tuple[str, str]] = []
        for key in sorted(config):
            rows += flatten(config[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, config if isinstance(config, str) else json.dumps(config, sort_keys=True))]
