"""The finite-width training stage of config/test.yaml end to end: F7, F9, F10, the tables'
contract, F8's trained row, checkpoints removed, progress logged, a second run is a no-op."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import copy_workflow, snakemake
from ntk_phases.claims.schema import COLUMNS as CLAIM_COLUMNS
from ntk_phases.tables import FINITE_COLUMNS

# Runs an entry point with neural-tangents and tensorflow made unimportable: the training
# job must never need them (SPEC §4).
BLOCKED = (
    "import sys\n"
    "for m in ('neural_tangents', 'tensorflow', 'ntk_phases.kernels'):\n"
    "    sys.modules[m] = None\n"
    "from ntk_phases.__main__ import main\n"
    "sys.exit(main(['training', *sys.argv[1:]]))\n"
)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def finite_run(request, tmp_path_factory):
    """The training stage of config/test.yaml, from an empty results folder: the suite's
    shared run of the whole test config where conftest provides one, else only the
    training targets (F7, F9, F10, claims_finite) in a scratch copy."""
    try:
        work, proc = request.getfixturevalue("test_config_run")
        return work, proc, None
    except pytest.FixtureLookupError:
        pass
    work = copy_workflow(tmp_path_factory.mktemp("finite_e2e"))
    targets = [f"results/test/figures/{f}.{e}" for f in ("F7", "F9", "F10") for e in ("pdf", "png")]
    targets.append("results/test/metrics/claims_finite.csv")
    t0 = time.perf_counter()
    # targets first: --configfile takes every following argument
    proc = snakemake(work, *targets, "--cores", "2", "--configfile", "config/test.yaml")
    return work, proc, time.perf_counter() - t0


def test_end_to_end_builds_f7_f9_f10(finite_run):
    work, proc, seconds = finite_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = work / "results" / "test"
    for name in ("F7", "F9", "F10"):
        for ext in ("pdf", "png"):
            fig = res / "figures" / f"{name}.{ext}"
            assert fig.stat().st_size > 10_000, fig
            prov = json.loads(Path(str(fig) + ".prov.json").read_text())
            assert prov["inputs"] and prov["figure"] == name
    if seconds is not None:
        print(f"training stage of the test config: {seconds:.0f}s")


def test_finite_tables_follow_the_contract(finite_run):
    work, proc, _ = finite_run
    assert proc.returncode == 0
    met = work / "results" / "test" / "metrics"
    grid = pd.read_csv(met / "finite_fcn_erf.csv")
    assert list(grid.columns[: len(FINITE_COLUMNS)]) == list(FINITE_COLUMNS)
    # test.yaml: σ_w² {1.0, 2.5} × depths {1, 4} × 1 seed, width 16, steps 0..16 incl. 4 and 16
    assert sorted(grid["depth"].unique()) == [1, 4]
    assert np.allclose(sorted(grid["sigma_w2"].unique()), [1.0, 2.5])
    assert set(grid["width"]) == {16} and set(grid["dataset"]) == {"digits"}
    assert {0, 4, 16} <= set(grid["step"]) and grid["step"].max() == 16
    assert set(grid["status"]) <= {"ok", "diverged"}
    ok = grid[grid["status"] == "ok"]
    assert ok[["train_acc", "test_acc"]].stack().between(0, 1).all()
    # every model recorded at every step: one row per (σ_w², depth, seed, step)
    assert not grid.duplicated(["sigma_w2", "depth", "seed", "step"]).any()
    assert len(grid) == 2 * 2 * 1 * grid["step"].nunique()
    # loss falls for a network that trains
    d1 = ok[(ok["depth"] == 1) & np.isclose(ok["sigma_w2"], 1.0)].sort_values("step")
    assert d1["train_loss"].iloc[-1] < d1["train_loss"].iloc[0]

    mem = pd.read_csv(met / "memorization_fcn_erf.csv")
    assert list(mem.columns[: len(FINITE_COLUMNS)]) == list(FINITE_COLUMNS)
    assert np.allclose(sorted(mem["sigma_w2"].unique()), [0.5, 25.0])
    assert set(mem["depth"]) == {8} and set(mem["sigma_b2"]) == {0.0}

    width = pd.read_csv(met / "width_fcn_erf.csv")
    assert list(width.columns[: len(FINITE_COLUMNS)]) == list(FINITE_COLUMNS)
    assert sorted(width["width"].unique()) == [16, 64]
    summary = pd.read_csv(met / "width_summary_fcn_erf.csv")
    assert len(summary) == 2 * 2 and (summary["ntk_rel_error"] > 0).all()
    inf = pd.read_csv(met / "width_infinite_fcn_erf.csv")
    assert sorted(inf["step"]) == sorted(width["step"].unique())
    # expected loss of the infinite network falls with training
    assert inf.sort_values("step")["train_loss"].iloc[-1] < inf["train_loss"].iloc[0]

    claims = pd.read_csv(met / "claims_finite.csv")
    assert list(claims.columns[: len(CLAIM_COLUMNS)]) == list(CLAIM_COLUMNS)
    assert list(claims["claim"]) == ["C6", "C6", "C6", "C7", "C7"]
    assert claims["measured"].notna().all() and claims["tolerance"].gt(0).all()


def test_f8_draws_the_trained_architectures(finite_run):
    """F8's finite row comes from the `architectures` experiment (test.yaml: a 2 σ_w² ×
    2 depth CNN-P grid on 16 digits); its provenance lists the table and its overlay."""
    work, proc, _ = finite_run
    res = work / "results" / "test"
    if not (res / "figures" / "F8.png").exists():  # finite_run without the shared full run
        proc = snakemake(work, "results/test/figures/F8.png", "--cores", "2", "--configfile", "config/test.yaml")
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = res / "metrics" / "finite_architectures_cnn_p_erf.csv"
    frame = pd.read_csv(table)
    assert list(frame.columns[: len(FINITE_COLUMNS)]) == list(FINITE_COLUMNS)
    assert set(frame["arch"]) == {"cnn_p"} and set(frame["width"]) == {4}
    assert sorted(frame["depth"].unique()) == [1, 2] and frame["step"].max() == 8
    assert set(frame["batch_size"]) == {8}
    inputs = json.loads((res / "figures" / "F8.png.prov.json").read_text())["inputs"]
    assert "results/test/metrics/finite_architectures_cnn_p_erf.csv" in inputs
    assert "results/test/training/depth_scales_architectures_cnn_p_erf.csv" in inputs
    assert any(k.startswith("results/test/metrics/infinite_") for k in inputs)


def test_checkpoints_removed_and_progress_logged(finite_run):
    work, proc, _ = finite_run
    assert proc.returncode == 0
    res = work / "results" / "test"
    ckpt = res / "checkpoints"
    assert not ckpt.exists() or not any(ckpt.iterdir()), list(ckpt.iterdir())
    # test.yaml leaves depths_per_job at null: both grid depths train in one job
    log = (res / "logs" / "training" / "grid_fcn_erf_d1_4.log").read_text()
    assert "steps/s" in log and "removed checkpoint" in log
    assert "grid depth 1 width 16" in log and "grid depth 4 width 16" in log
    assert log.count("removed checkpoint") == 2  # one checkpoint per block


def test_second_run_is_a_no_op(finite_run):
    work, proc, _ = finite_run
    assert proc.returncode == 0
    again = snakemake(
        work,
        "results/test/figures/F7.png",
        "results/test/figures/F10.png",
        "results/test/metrics/claims_finite.csv",
        "-n",
        "--cores",
        "2",
        "--configfile",
        "config/test.yaml",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
