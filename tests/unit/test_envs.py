"""The install is pinned: lock, conda environments and pyproject agree."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import write_envs  # noqa: E402


def test_conda_envs_match_the_locks():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "write_envs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_spec_pins():
    pins = write_envs.read_pins(ROOT / "requirements.lock")
    assert pins["jax"] == "0.5.3" and pins["jaxlib"] == "0.5.3"
    assert pins["neural-tangents"] == "0.6.5"
    assert pins["flax"].startswith("0.10.")
    assert pins["tensorflow-datasets"].startswith("4.9.")
    assert pins["snakemake"].startswith("9.")
    assert pins["snakemake-executor-plugin-slurm"].startswith("2.")
    for name in ("optax", "pandas", "seaborn", "scikit-learn", "pytest", "snakefmt"):
        assert name in pins


def test_cuda_lock_is_the_cpu_lock_plus_the_cuda_plugin():
    cpu = write_envs.read_pins(ROOT / "requirements.lock")
    gpu = write_envs.read_pins(ROOT / "requirements-cuda12.lock")
    assert gpu["jax-cuda12-plugin"] == cpu["jax"] == gpu["jax"]
    shared = set(cpu) & set(gpu)
    assert {k for k in shared if cpu[k] != gpu[k]} == set()
    assert set(cpu) - set(gpu) == set()


def test_pyproject_dependencies_are_satisfied_by_the_lock():
    pins = write_envs.read_pins(ROOT / "requirements.lock")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.split(r"[<>=!\[ ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, dep
        exact = re.search(r"==([\w.]+)", dep)
        if exact:
            assert pins[name] == exact.group(1), dep


def test_installed_versions_are_the_locked_ones():
    from importlib import metadata

    pins = write_envs.read_pins(ROOT / "requirements.lock")
    for name in ("jax", "jaxlib", "neural-tangents", "flax", "optax", "tensorflow", "snakemake"):
        assert metadata.version(name) == pins[name], name
