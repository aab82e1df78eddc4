"""Malformed configs are rejected before any job runs, naming the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import snakemake

MALFORMED = [
    ("dataset.n_train", {"dataset": {"n_train": -5}}),
    ("dataset.n_test", {"dataset": {"n_test": 0}}),
    ("dataset.name", {"dataset": {"name": "imagenet"}}),
    ("dataset.seed", {"dataset": {"seed": "zero"}}),
    ("theory.activations", {"theory": {"activations": ["erf", "swish"]}}),
    ("theory.sigma_w2", {"theory": {"sigma_w2": {"min": -1.0, "max": 3.0, "num": 10}}}),
    ("theory.sigma_b2", {"theory": {"sigma_b2": {"min": 0.0, "max": 0.2, "num": 0}}}),
    ("theory.sigma_w2", {"theory": {"sigma_w2": {"min": 3.0, "max": 1.0, "num": 10}}}),
    ("theory.quadrature_degree", {"theory": {"quadrature_degree": 2.5}}),
    ("run", {"run": "../escape"}),
    ("theory", {"theory": {"newton_iterations": 10}}),  # misspelt key
    ("figures.dpi", {"figures": {"dpi": 10}}),
    ("kernels.comparison.archs", {"kernels": {"comparison": {"archs": ["resnet"]}}}),
    ("kernels.comparison.sigma_w2", {"kernels": {"comparison": {"sigma_w2": {"min": 3.0, "max": 0.5, "num": 6}}}}),
]


def key_named(key: str, output: str) -> bool:
    """The message names the key, as a dotted path or as jsonschema's path."""
    parts = key.split(".")
    schema_path = "".join(f"['{p}']" for p in parts)
    return (
        key in output
        or schema_path in output
        or (len(parts) == 2 and f"'{parts[1]}'" in output and f"'{parts[0]}'" in output)
        or (len(parts) == 1 and f"'{parts[0]}'" in output)
    )


@pytest.mark.parametrize("key,override", MALFORMED, ids=[f"{k}-{i}" for i, (k, _) in enumerate(MALFORMED)])
def test_malformed_config_is_rejected(workflow_copy: Path, key, override):
    cfg = workflow_copy / "bad.yaml"
    override = dict(override)
    override.setdefault("run", "bad")
    cfg.write_text(yaml.safe_dump(override))
    proc = snakemake(workflow_copy, "--cores", "1", "--configfile", str(cfg), timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert key_named(key, out), out[-3000:]
    assert not (workflow_copy / "results").exists() or not any((workflow_copy / "results").rglob("*"))
