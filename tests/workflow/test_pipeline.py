"""End to end: the test config from an empty results dir, then a no-op rerun; F8's
infinite row at one setting (built, and in the default DAG); dry runs of every shipped
config; lint and formatting of the workflow."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT, copy_workflow, run_env, snakemake, tool
from ntk_phases.tables import INFINITE_COLUMNS, PHASE_COLUMNS


@pytest.fixture(scope="module")
def test_run(test_config_run) -> tuple[Path, subprocess.CompletedProcess]:
    return test_config_run


def test_end_to_end_builds_f1_and_tables(test_run):
    work, proc = test_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = work / "results" / "test"
    for name in ("F1", "F2", "F3", "F4", "F5", "F6", "F6_mean", "F8"):
        for ext in ("pdf", "png"):
            fig = res / "figures" / f"{name}.{ext}"
            assert fig.stat().st_size > 10_000
            prov = json.loads(Path(str(fig) + ".prov.json").read_text())
            assert prov["packages"]["neural-tangents"] == "0.6.5" and prov["inputs"]
    for act in ("erf", "tanh", "relu"):
        frame = pd.read_csv(res / "theory" / f"phase_{act}.csv")
        assert list(frame.columns[: len(PHASE_COLUMNS)]) == list(PHASE_COLUMNS)
        assert len(frame) == 12 * 6
        assert set(frame["phase"]) <= {"ordered", "chaotic", "unbounded"}
        assert frame.loc[frame["bounded"], "q_residual"].max() < 1e-10
    corr = pd.read_csv(res / "theory" / "correlation_erf.csv")
    chaotic = corr[corr["phase"] == "chaotic"]
    # the iterated map approaches c* at the linearized rate χ_c* (per-layer rate, 1%)
    gap = (chaotic["c"] - chaotic["c_star"]).abs().to_numpy()
    rate = (gap[100] / gap[60]) ** (1 / 40)
    assert abs(rate - chaotic["chi_c"].iloc[0]) < 0.01 * chaotic["chi_c"].iloc[0]
    table = pd.read_csv(res / "metrics" / "infinite_fcn_erf.csv")
    for col in INFINITE_COLUMNS:
        assert col in table.columns, col
    assert len(table) == 3 * 27 * 3  # σ_w² × depths × t
    assert not table[list(INFINITE_COLUMNS[4:])].isna().any().any()
    assert not list((res / "kernels").rglob("*.npz"))  # temporary kernels removed
    claims = pd.read_csv(res / "metrics" / "claims.csv")
    for claim in ("C1", "C2"):
        rows = claims[(claims["claim"] == claim) & (claims["arch"] == "fcn")]
        assert len(rows) >= 4 and rows["passed"].all(), rows.to_string()
    assert set(claims["claim"]) >= {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"}  # one table (F11)
    # one row schema for every producer: no cell empty where the schema says it applies
    from ntk_phases.claims.schema import CONDITIONS, schema_violations

    assert schema_violations(claims) == []
    for r in claims.to_dict("records"):  # the stated rule reproduces `passed`
        if r["condition"] in CONDITIONS and pd.notna(r["measured"]):
            assert CONDITIONS[r["condition"]](r["predicted"], r["measured"], r["tolerance"]) == r["passed"], r
    meta = json.loads((res / "data" / "digits.json").read_text())
    assert meta["n_train"] == 64 and meta["n_test"] == 32
    for log in ("data/digits.log", "theory/phase_erf.log", "figures/F1.log"):
        assert (res / "logs" / log).read_text().strip()


def test_second_run_executes_nothing(test_run):
    work, proc = test_run
    assert proc.returncode == 0
    again = snakemake(work, "--cores", "2", "--configfile", "config/test.yaml")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def _f8_infinite_inputs(work: Path, figure: Path) -> dict:
    """The infinite-width tables F8 read (its provenance), keyed by (arch, activation)."""
    prov = json.loads(Path(str(figure) + ".prov.json").read_text())
    tables = [pd.read_csv(work / p) for p in prov["inputs"] if "/metrics/infinite_" in p]
    return {(t["arch"].iloc[0], t["activation"].iloc[0]): t for t in tables}


def _setting(table: pd.DataFrame) -> tuple:
    """What an infinite-width table was computed at, read from its columns: examples,
    σ_w² and σ_b² values, depths."""
    return (
        tuple(table["n_train"].unique()),
        tuple(table["n_test"].unique()),
        tuple(np.round(np.sort(table["sigma_w2"].unique()), 10)),
        tuple(np.sort(table["sigma_b2"].unique())),
        tuple(np.sort(table["depth"].unique())),
    )


def test_f8_infinite_row_is_one_setting(test_run):
    work, proc = test_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = work / "results" / "test"
    tables = _f8_infinite_inputs(work, res / "figures" / "F8.png")
    assert sorted(tables) == [("cnn_f", "erf"), ("cnn_p", "erf"), ("fcn", "erf")]
    settings = {k: _setting(t) for k, t in tables.items()}
    assert len(set(settings.values())) == 1, settings
    n_train, n_test, sigma_w2, sigma_b2, depths = settings[("fcn", "erf")]
    assert (n_train, n_test, sigma_w2, depths) == ((8,), (8,), (1.0, 2.5), (0, 1, 2, 4))
    # the FCN and CNN-F at that setting, not at their own grids; CNN-P's own grid is that
    # setting, so its table is read and not computed twice
    assert _setting(pd.read_csv(res / "metrics" / "infinite_fcn_erf.csv")) != settings[("fcn", "erf")]
    assert (res / "metrics" / "infinite_comparison_fcn_erf.csv").exists()
    assert not list((res / "metrics").rglob("infinite_comparison_cnn_p_*"))


def test_default_dry_run_builds_f8_from_one_setting(tmp_path):
    """config/config.yaml: F8's infinite-row tables come from kernels jobs that all see the
    same examples and depths, and together the same σ_w² and σ_b² values."""
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "results/default/figures/F8.png", "-n", "-p", "--configfile", "config/config.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    figure = re.search(r"--figure F8 --tables (.*?) --finite", out)
    assert figure, out[-3000:]
    tables = sorted(Path(p).name for p in figure.group(1).split())
    assert tables == sorted(
        [f"infinite_comparison_{a}_{f}.csv" for a in ("fcn", "cnn_f") for f in ("erf", "relu")]
        + [f"infinite_cnn_p_{f}.csv" for f in ("erf", "relu")]  # its own grid is the setting
    )
    jobs: dict = {}
    for line in out.splitlines():
        if "ntk_phases kernels sweep" not in line:
            continue
        args = shlex.split(line[line.index("python -m") : line.index(" > ")])
        table = re.sub(r"_sb\d+_chunk\d+", "", Path(args[args.index("--out") + 1]).name)
        if table in tables:
            cfg = json.loads(args[args.index("--config-json") + 1])
            job = jobs.setdefault(table, {"arch": [], "sigma_w2": set(), "sigma_b2": set()})
            job["arch"].append(cfg["arch"])
            job["sigma_w2"] |= {round(v, 10) for v in cfg["sigma_w2"]}
            job["sigma_b2"].add(cfg["sigma_b2"])
    assert sorted(jobs) == tables, sorted(jobs)
    archs = [a for job in jobs.values() for a in job["arch"]]
    assert all(a == archs[0] for a in archs), archs
    assert archs[0]["n_train"] == archs[0]["n_test"] == 32
    assert len({frozenset(j["sigma_w2"]) for j in jobs.values()}) == 1 and len(jobs[tables[0]]["sigma_w2"]) == 6
    assert len({frozenset(j["sigma_b2"]) for j in jobs.values()}) == 1


@pytest.mark.parametrize("config", ["config.yaml", "test.yaml", "paper.yaml"])
def test_dry_run_builds_the_dag(config, tmp_path):
    work = copy_workflow(tmp_path)
    proc = snakemake(work, "-n", "--configfile", f"config/{config}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "F1" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = subprocess.run(
        [tool("snakemake"), "--lint", "--configfile", "config/config.yaml"],
        cwd=ROOT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Lints for" not in out, out


def test_snakefmt_check():
    proc = subprocess.run(
        [tool("snakefmt"), "--check", "Snakefile", "workflow/rules"],
        cwd=ROOT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_with_outputs_has_a_log_under_results():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        blocks = smk.read_text().split("\nrule ")[1:]
        for block in blocks:
            name = block.split(":", 1)[0]
            if "    output:" in block:
                assert "    log:" in block and "/logs/" in block, f"{smk.name}: rule {name}"
