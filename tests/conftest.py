"""Shared fixtures (the helpers they use are the module ``helpers``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import copy_workflow, git_snapshot, snakemake


@pytest.fixture
def workflow_copy(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path)


@pytest.fixture(scope="session")
def test_config_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The whole pipeline on config/test.yaml, run once per session in a scratch copy.

    Shared by the end-to-end tests of every stage (and compared against the SLURM run),
    so the suite pays for one local run of the test config.
    """
    work = copy_workflow(tmp_path_factory.mktemp("test_config_run"))
    git_snapshot(work)
    proc = snakemake(work, "--cores", "2", "--configfile", "config/test.yaml", timeout=1500)
    return work, proc
