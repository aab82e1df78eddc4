"""Jobs run with the interpreter of the Snakemake that started them, whatever `python` is
first on PATH: calling `.venv/bin/snakemake` without activating the venv used to run jobs
with another python, which failed on a missing package (issue: the paper run, proven)."""

from __future__ import annotations

import os
import stat
import subprocess

from helpers import copy_workflow, tool


def test_jobs_use_snakemakes_python_not_the_first_on_path(tmp_path):
    work = copy_workflow(tmp_path)
    fake = tmp_path / "otherbin"
    fake.mkdir()
    for name in ("python", "python3"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'another interpreter, without the project' >&2\nexit 97\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin"
    target = "results/test/data/digits.npz"
    proc = subprocess.run(
        [tool("snakemake"), target, "--cores", "1", "--configfile", "config/test.yaml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = work / "results/test/logs/data/digits.log"
    assert proc.returncode == 0, proc.stderr[-3000:] + (log.read_text() if log.exists() else "")
    assert (work / target).exists()
    assert "another interpreter" not in log.read_text()
