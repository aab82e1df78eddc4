"""The data rule on the user's own npz file: prepared, rerun when the file changes, a bad
file refused before any job."""

from __future__ import annotations

import json

import numpy as np
import yaml

from helpers import copy_workflow, snakemake
from helpers.user_npz import arrays, write
from ntk_phases import files

N_TRAIN, N_TEST, K = 40, 24, 3


def test_rule_prepares_the_user_file_and_reruns_when_it_changes(tmp_path):
    (tmp_path / "wf").mkdir()
    work = copy_workflow(tmp_path / "wf")
    user = write(tmp_path, arrays("flat", "onehot"), "mine.npz")
    cfg = work / "npz.yaml"
    cfg.write_text(
        yaml.safe_dump({"run": "u", "dataset": {"name": "npz", "path": str(user), "n_train": 20, "n_test": 10}})
    )
    target = "results/u/data/npz.npz"
    proc = snakemake(work, target, "--cores", "1", "--configfile", str(cfg), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = json.loads((work / "results/u/data/npz.json").read_text())
    assert meta["source_sha256"] == files.sha256_file(user) and meta["image_shape"] == [24]
    # editing the user's file reruns the data rule (it is an input)
    dry = snakemake(work, target, "-n", "--cores", "1", "--configfile", str(cfg), timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout + dry.stderr
    np.savez(user, **arrays("flat", "onehot", seed=1))
    dry = snakemake(work, target, "-n", "--cores", "1", "--configfile", str(cfg), timeout=300)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0 and "prepare_data" in out and f"Updated input files: {user}" in out, out
    # a config without dataset.path is refused before any job runs, naming the key
    bad = work / "bad.yaml"
    bad.write_text(yaml.safe_dump({"run": "b", "dataset": {"name": "npz"}}))
    proc = snakemake(work, "--cores", "1", "--configfile", str(bad), timeout=300)
    assert proc.returncode != 0 and "'path' is a required property" in proc.stdout + proc.stderr
    assert not (work / "results" / "b").exists()
