"""The paper run's first attempts are sized to its measured cost (issue 12 §2).

``bench/paper_cost_jobs.csv`` (written by ``bench/measure_paper_cost.py fit`` from
measurement runs at reduced sizes) predicts every paper job's runtime and peak memory.
The paper DAG's resources come from a dry run with the SLURM profile (no SLURM, no data,
no job runs): what each job's first attempt requests (`mem_mb`, `runtime`). A job whose
predicted peak memory or runtime exceeds its request would be OOM-killed or hit its
time limit on the first attempt: the test lists them. Jobs of localrules run on the submit
host and request nothing. Cost classes the estimate itself reports infeasible (above
what one SLURM job can be given) must be exactly the ones named here, which the README
states.
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from helpers import ROOT, copy_workflow, snakemake

sys.path.insert(0, str(ROOT / "bench"))
import measure_paper_cost as cost  # noqa: E402

#: the workflow's localrules (the dry run does not mark them)
LOCAL = cost.local_rules()
#: cost classes that no SLURM job can run as configured (README, "Paper cost by rule")
INFEASIBLE = {"kernel_sweep[cnn_f,tanh]", "kernel_sweep[cnn_p,tanh]"}


def first_attempt_violations(jobs: list[dict], estimates: pd.DataFrame) -> list[str]:
    """Jobs (of a dry run, with their resources) whose predicted runtime or peak memory
    exceeds what their first attempt requests, or that have no estimate."""
    est = {(r.rule, r.wildcards): r for r in estimates.itertuples()}
    out = []
    for job in jobs:
        key = (job["rule"], json.dumps(job["wildcards"], sort_keys=True))
        if key not in est:
            out.append(f"{key}: no estimate (rerun bench/measure_paper_cost.py fit)")
            continue
        e = est[key]
        if job["rule"] in LOCAL or e.cls in INFEASIBLE:
            continue
        mem, runtime = float(job["resources"]["mem_mb"]), float(job["resources"]["runtime"])
        if e.predicted_peak_mb > mem:
            out.append(f"{e.cls} {key[1]}: predicted peak {e.predicted_peak_mb:.0f} MB > mem_mb {mem:.0f}")
        if e.predicted_runtime_min > runtime:
            out.append(f"{e.cls} {key[1]}: predicted {e.predicted_runtime_min:.0f} min > runtime {runtime:.0f}")
    return out


@pytest.fixture(scope="module")
def paper_dag(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("paper_cost"))
    proc = snakemake(
        work, "-n", "--profile", "workflow/profiles/slurm", "--configfile", "config/paper.yaml", timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [j for j in cost.jobs_listed(proc.stdout + proc.stderr) if j["rule"] != "all"]
    assert len(jobs) > 100
    return jobs


@pytest.fixture(scope="module")
def estimates():
    return pd.read_csv(ROOT / "bench" / "paper_cost_jobs.csv")


def test_every_paper_job_fits_its_first_attempt(paper_dag, estimates):
    bad = first_attempt_violations(paper_dag, estimates)
    assert not bad, "\n".join(bad)


def test_estimates_cover_exactly_the_paper_dag(paper_dag, estimates):
    dag = sorted((j["rule"], json.dumps(j["wildcards"], sort_keys=True)) for j in paper_dag)
    est = sorted(zip(estimates["rule"], estimates["wildcards"]))
    assert dag == est


def test_infeasible_classes_are_the_documented_ones():
    table = pd.read_csv(ROOT / "bench" / "paper_cost.csv")
    assert set(table.loc[~table["feasible"], "class"]) == INFEASIBLE
    readme = (ROOT / "README.md").read_text()
    for cls in INFEASIBLE:
        assert cls in readme


def test_the_check_fails_on_an_undersized_job(paper_dag, estimates):
    # every SLURM job given half of its predicted memory, then half of its runtime
    est = {(r.rule, r.wildcards): r for r in estimates.itertuples()}
    for field, key in (("predicted_peak_mb", "mem_mb"), ("predicted_runtime_min", "runtime")):
        jobs = []
        for j in paper_dag:
            e = est[(j["rule"], json.dumps(j["wildcards"], sort_keys=True))]
            jobs.append({**j, "resources": {**j["resources"], key: getattr(e, field) / 2}})
        bad = first_attempt_violations(jobs, estimates)
        slurm = [
            j
            for j in jobs
            if j["rule"] not in LOCAL
            and est[(j["rule"], json.dumps(j["wildcards"], sort_keys=True))].cls not in INFEASIBLE
        ]
        assert len(bad) == len(slurm) > 50, key
