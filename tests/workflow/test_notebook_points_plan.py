"""The jobs config/notebook.yaml plans for F2-F5 at the notebook's points, and none in the default config."""

from __future__ import annotations

import json
import re
import shlex

import jax

from helpers import copy_workflow, snakemake

jax.config.update("jax_enable_x64", True)

SIGMA_W2 = [1.25, 1.5]  # (nb) ordered, chaotic
SIGMA_B2 = 0.05  # (nb)
DEPTHS = [0, 1, 2, 3, 5, 8, 13, 21, 34]
N_TRAIN, N_TEST = 24, 12
RTOL = 1e-10


def test_notebook_config_plans_f2_to_f5_at_the_notebook_points(tmp_path):
    """`config/notebook.yaml` builds F2-F5 at the notebook's points: one kernels job of
    fcn_preact on its own 64 / 32 images, σ_b² 0.05, σ_w² 1.25 and 1.5, depths 0-399."""
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "-p", "F2", "F3", "F4", "F5", "--configfile", "config/notebook.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("prepare_points_data", "points_sweep", "points_table", "depth_scale_table"):
        assert re.search(rf"^(local)?rule {rule}:$", out, re.M), rule
    assert "rule kernel_sweep:" not in out  # F3-F5 do not wait for the F6 grid
    sweeps = [line for line in out.splitlines() if "ntk_phases kernels sweep" in line]
    assert len(sweeps) == 1, sweeps
    args = shlex.split(sweeps[0][sweeps[0].index("python -m") : sweeps[0].index(" > ")])
    assert args[args.index("--arch") + 1] == "fcn_preact"
    assert args[args.index("--data") + 1].endswith("data/cifar10_points.npz")
    cfg = json.loads(args[args.index("--config-json") + 1])
    assert cfg["sigma_w2"] == [1.25, 1.5] and cfg["sigma_b2"] == 0.05
    assert cfg["convention"] == "notebook" and cfg["arch"]["normalize"] is True
    assert (cfg["arch"]["n_train"], cfg["arch"]["n_test"]) == (64, 32)
    assert cfg["arch"]["depths"] == {"dense_until": 399, "max": 399, "step": 1}
    assert "--n-train 64 --n-test 32" in out and "--convention notebook" in out
    for fig in ("F3", "F4", "F5"):
        job = re.search(rf"--figure {fig} --tables (\S+)", out)
        assert job and job.group(1).endswith("metrics/infinite_points_fcn_preact_erf.csv"), fig
    assert re.search(r'"correlation":\{"c0":\[[^]]*\],"depth":400,"sigma_b2":0.05,"sigma_w2":\[1.25,1.5\]\}', out)


def test_default_config_has_no_points_jobs(tmp_path):
    """kernels.points defaults to null: the default F3-F5 read the fcn grid as before."""
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "-p", "F3", "F4", "F5")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("prepare_points_data", "points_sweep", "points_table"):
        assert not re.search(rf"^(local)?rule {rule}:$", out, re.M), rule
    assert re.search(r"--figure F3 --tables \S+/metrics/infinite_fcn_erf.csv", out)
