"""What the tests share: repository paths, the test interpreter's tools, a Snakemake runner
on a scratch copy of the workflow, and the comparison of two runs' tables."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ntk_phases.__main__ import main as ntk_main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tool(name: str) -> str:
    """A console script of the test interpreter's environment (snakemake, snakefmt)."""
    path = BIN / name
    return str(path) if path.exists() else name


def run_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def copy_workflow(dest: Path) -> Path:
    """Copy what a run needs (no results, no .snakemake) into ``dest``."""
    for name in ("Snakefile", "config", "workflow", "src", "envs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def clone_workflow(src: Path, dest: Path, results: bool = False) -> Path:
    """A copy of a workflow directory; with ``results``, its outputs and Snakemake's
    metadata too (so that Snakemake sees the same finished run)."""
    skip = [] if results else ["results", ".snakemake"]
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(*skip, "*.out"))
    return dest


def assert_tables_equal(a_dir: Path, b_dir: Path, names: list) -> None:
    """The CSV tables ``names`` (relative paths) of two runs agree to 1e-12."""
    import pandas as pd

    for rel in names:
        a, b = pd.read_csv(a_dir / rel), pd.read_csv(b_dir / rel)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12, obj=str(rel))


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` and capture its output."""
    return subprocess.run(
        [tool("snakemake"), *args],
        cwd=workdir,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def git_snapshot(work: Path) -> str:
    """Make ``work`` a one-commit git repository, as a user's checkout is (provenance
    records its revision); returns the revision."""
    git = ["git", "-c", "user.name=ntk-phases tests", "-c", "user.email=tests@localhost"]
    (work / ".gitignore").write_text("results/\n.snakemake/\n*.out\n__pycache__/\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + args, cwd=work, check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True
    ).stdout.strip()


def prepare_data(argv: list[str]) -> int:
    """The job ``python -m ntk_phases data prepare`` in-process, with the options the rules
    always pass (seed, convention) set to the schema's defaults where a test leaves them out."""
    if "--seed" not in argv:
        argv = [*argv, "--seed", "0"]
    if "--convention" not in argv:
        argv = [*argv, "--convention", "ours"]
    return ntk_main(["data", "prepare", *argv])
