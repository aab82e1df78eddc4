"""JAX's persistent compilation cache, shared by the analytic jobs of a run.

Kernels jobs with the same shapes run one after the other with the cache directory the
Snakemake rules give them: the second must load every executable from the cache (the
job's log counts JAX's own cache-hit and cache-miss records), and a job served from the
cache must write the same table as a fresh compile. The latter failed with XLA:CPU's
default (thunk) runtime, whose restored executables gave q* = inf: see
``ntk_phases.analytic.compile_cache.CACHE_SAFE_XLA_FLAG``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import ROOT, run_env


def run_job(argv: list[str], cache: Path | None, log: Path) -> str:
    env = run_env() | {"PYTHONPATH": str(ROOT / "src")}
    env.pop("NTK_PHASES_JAX_CACHE", None)
    if cache is not None:
        env["NTK_PHASES_JAX_CACHE"] = str(cache)
    proc = subprocess.run([sys.executable, "-m", *argv], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log.write_text(proc.stderr)
    return proc.stderr


def cache_counts(log: str) -> tuple[int, int]:
    m = re.search(r"jax compilation cache \S+: (\d+) hits, (\d+) compiled", log)
    assert m, log[-2000:]
    return int(m.group(1)), int(m.group(2))


def test_second_job_with_same_shapes_compiles_nothing(tmp_path):
    data = tmp_path / "digits.npz"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ntk_phases",
            "data",
            "prepare",
            "--convention",
            "ours",
            "--dataset",
            "digits",
            "--n-train",
            "16",
            "--n-test",
            "8",
            "--seed",
            "0",
            "--out-npz",
            str(data),
            "--out-json",
            str(tmp_path / "digits.json"),
        ],
        env=run_env() | {"PYTHONPATH": str(ROOT / "src")},
        check=True,
        capture_output=True,
        timeout=300,
    )
    cache = tmp_path / "jax_cache"
    job = {
        "arch": {"n_train": 16, "n_test": 8, "depths": [0, 1, 4]},
        "sigma_b2": 0.18,
        "tanh_deg": 32,
        "newton_iters": 60,  # the schema default of theory.newton_iters
        "memory_mb": 200,
        "times": [1, 64],
        "rcond": None,
        "convention": "ours",
    }
    logs = []

    def sweep(name: str, sw2: list[float], cache_dir: Path | None) -> str:
        argv = [
            "ntk_phases",
            "kernels",
            "sweep",
            "--arch",
            "fcn",
            "--activation",
            "erf",
            "--data",
            str(data),
            "--dataset",
            "digits",
            "--config-json",
            json.dumps(job | {"sigma_w2": sw2}),
            "--out",
            str(tmp_path / f"{name}.csv"),
        ]
        return run_job(argv, cache_dir, tmp_path / f"{name}.log")

    # two chunks of one grid: other σ_w² values, the same shapes
    logs = [sweep("chunk0", [1.0, 1.5], cache), sweep("chunk1", [2.0, 2.5], cache)]
    first_hits, first_compiled = cache_counts(logs[0])
    second_hits, second_compiled = cache_counts(logs[1])
    assert first_compiled > 0
    assert second_compiled == 0, logs[1][-2000:]
    assert second_hits == first_hits + first_compiled
    assert any(os.scandir(cache))
    # served from the cache, a job writes what a fresh compile writes (here without cache)
    fresh = sweep("fresh", [2.0, 2.5], None)
    assert "jax compilation cache" not in fresh
    cached, uncached = pd.read_csv(tmp_path / "chunk1.csv"), pd.read_csv(tmp_path / "fresh.csv")
    assert np.isfinite(cached["q_star"]).all()
    pd.testing.assert_frame_equal(cached, uncached, check_exact=False, rtol=1e-12, atol=1e-14)
