"""Shared set-up of the command-line entry points that Snakemake rules call."""

from __future__ import annotations

import logging
import os


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped progress lines in the rule's log; quiet TF/JAX start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    for noisy in ("jax", "absl", "tensorflow", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
