"""The SLURM profile against a real single-node SLURM started on this machine.

- the test config submitted through ``workflow/profiles/slurm`` completes, and every CSV
  table and every data array equals those of a local run of the same snapshot of the
  workflow; meanwhile one running job is killed with ``scancel`` and the profile's
  retries resubmit it;
- a first attempt given too little memory is killed by SLURM and the retry, with the
  attempt-scaled memory, completes;
- ``snakemake -n --configfile config/paper.yaml --profile workflow/profiles/slurm``
  builds the paper DAG with no SLURM on the PATH.

The cluster (tests/slurm_cluster.py) needs root and slurm-wlm (installed here with apt
when missing); the tests skip, saying why, only without root or without apt. Deselect
them with ``-m "not slurm"``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import (  # noqa: E402
    ROOT,
    assert_tables_equal,
    clone_workflow,
    copy_workflow,
    run_env,
    slurm_cluster,
    tool,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = "workflow/profiles/slurm"
TEST_CONFIG = "config/test.yaml"
RESULTS = Path("results") / "test"
LIMIT_S = 1800  # a hang guard for each Snakemake run (SIGTERM, SIGKILL 30 s later)
# The SLURM run builds the infinite-width part of the test config (data, theory, kernel
# chunks grouped with their metrics, tables, figures; data, theory and figures run on
# the submit host), plus F8's small CNN-P training row: every cluster mechanism is
# exercised there, while the rest of the finite-width and the freeze/chaos jobs would
# only add minutes to the suite. Its tables are compared with the local run's.
SLURM_TARGETS = ["F1", "F2", "F3", "F4", "F5", "F6", "F8"]


def slurm_flags(cluster: slurm_cluster.SlurmCluster) -> list[str]:
    """The profile, plus what this cluster needs: no accounting database, so job status
    comes from squeue (sacct never sees a job here), first checked after 2 s; and the
    node's CPU count as --cores, which bounds the CPUs one group job asks for (SLURM holds
    a job asking for more CPUs than any node has forever)."""
    return [
        "--profile",
        PROFILE,
        "--cores",
        str(cluster.cpus),
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
    ]


def profile_partitions(workflow: Path = ROOT) -> list[str]:
    """Every slurm_partition the profile names, default first (the test cluster gets them all)."""
    prof = yaml.safe_load((workflow / PROFILE / "config.yaml").read_text())
    names = [prof.get("default-resources", {}).get("slurm_partition")]
    names += [res.get("slurm_partition") for res in (prof.get("set-resources") or {}).values()]
    return [str(n).strip("'\"") for n in names if n]


def start_snakemake(workdir: Path, *args: str, limit: int = LIMIT_S, env: dict | None = None) -> subprocess.Popen:
    """Snakemake in ``workdir`` under ``timeout -k`` (SIGTERM at ``limit`` s, SIGKILL 30 s later)."""
    log = open(workdir / "snakemake.out", "w")
    proc = subprocess.Popen(
        ["timeout", "-k", "30", str(limit), tool("snakemake"), *args],
        cwd=workdir,
        env=env or run_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: kill() below ends Snakemake's whole tree
    )
    log.close()
    proc.started = time.monotonic()
    return proc


def kill(proc: subprocess.Popen) -> None:
    """End a run started by start_snakemake that is still going (its process group, by id)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def finish(proc: subprocess.Popen, workdir: Path) -> tuple[int, str, float]:
    try:
        rc = proc.wait(timeout=LIMIT_S + 60)
    finally:
        kill(proc)
    return rc, (workdir / "snakemake.out").read_text(), time.monotonic() - proc.started


def seconds(elapsed: str) -> int:
    """squeue's %M (M:SS, H:MM:SS or D-HH:MM:SS) in seconds."""
    days, _, clock = elapsed.rpartition("-")
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total + 86400 * int(days or 0)


def job_count(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table of a run's output, as {rule: count}."""
    counts, inside = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            inside, counts = True, {}
        elif inside and (m := re.match(r"^(\w+)\s+(\d+)$", line.strip())):
            counts[m.group(1)] = int(m.group(2))
        elif inside and counts and not line.strip():
            inside = False
    return counts


class Monitor(threading.Thread):
    """Polls squeue through a run and keeps the last state of each new job (the controller
    forgets finished jobs after MinJobAge); with ``cancel``, scancels the first job seen
    RUNNING for at least ``min_elapsed`` s."""

    def __init__(self, cluster, cancel: bool = False, min_elapsed: int = 5, spare: str = "rule_slow_job"):
        super().__init__(daemon=True)
        self.cluster, self.cancel, self.min_elapsed, self.spare = cluster, cancel, min_elapsed, spare
        self.known = {j["jobid"] for j in cluster.jobs()}
        self.seen: dict[str, dict] = {}
        self.cancelled: dict | None = None
        self.halt = threading.Event()

    def poll(self) -> None:
        for job in self.cluster.jobs():
            if job["jobid"] in self.known:
                continue
            self.seen[job["jobid"]] = job
            if (
                self.cancel
                and self.cancelled is None
                and job["state"] == "RUNNING"
                and not job["comment"].startswith(self.spare)
                and seconds(job["elapsed"]) >= self.min_elapsed
            ):
                if self.cluster.cmd("scancel", job["jobid"], check=False).returncode == 0:
                    self.cancelled = job

    def run(self) -> None:
        while not self.halt.is_set():
            self.poll()
            self.halt.wait(1)

    def finish(self) -> list[dict]:
        """Stop polling; every job of the run, by job id, in its last known state."""
        self.halt.set()
        self.join(30)
        self.poll()
        return [self.seen[k] for k in sorted(self.seen, key=lambda k: int(re.match(r"\d+", k).group()))]


# -- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory, snapshot):
    reason = slurm_cluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    slurm_cluster.ensure_installed()
    # one spare CPU for the time-limit test's sleeping job, which runs beside the main run
    c = slurm_cluster.SlurmCluster(
        tmp_path_factory.mktemp("slurm"), partitions=profile_partitions(snapshot), spare_cpus=1
    )
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """One copy of the workflow that every run of this module clones (same code, same config)."""
    return copy_workflow(tmp_path_factory.mktemp("snapshot"))


def logged_span(out: str) -> float:
    """Seconds from the first to the last timestamp in a Snakemake log (NaN without two)."""
    stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", out, re.M)
    if len(stamps) < 2:
        return float("nan")
    first, last = (datetime.strptime(s, "%a %b %d %H:%M:%S %Y") for s in (stamps[0], stamps[-1]))
    return (last - first).total_seconds()


def shared_local_run(request):
    """A session-wide local run of the test config, if tests/conftest.py offers one as the
    fixture ``test_config_run`` (returning (workdir, CompletedProcess)); else None. Sharing
    it saves the second local run of the whole test config."""
    try:
        return request.getfixturevalue("test_config_run")
    except pytest.FixtureLookupError:
        return None


@pytest.fixture(scope="module")
def runs(request, cluster, snapshot, tmp_path_factory):
    """The test config through SLURM, one of its jobs scancelled, and the same config run
    locally (at the same time, or shared with the end-to-end tests)."""
    base = tmp_path_factory.mktemp("runs")
    shared = shared_local_run(request)
    if shared is not None:  # run exactly the workflow the local run ran
        local_dir = Path(shared[0])
        slurm_dir = clone_workflow(local_dir, base / "slurm")
    else:
        local_dir = clone_workflow(snapshot, base / "local")
        slurm_dir = clone_workflow(snapshot, base / "slurm")
    monitor = Monitor(cluster, cancel=True)
    procs = []
    try:
        if shared is None:
            procs.append(local := start_snakemake(local_dir, "--cores", "2", "--configfile", TEST_CONFIG))
        monitor.start()
        slow_dir = slow_workflow(base / "slow", snapshot)
        procs.append(slow := start_snakemake(slow_dir, *slurm_flags(cluster), "--snakefile", "Snakefile"))
        procs.append(
            slurm := start_snakemake(
                slurm_dir, *slurm_flags(cluster), "--configfile", TEST_CONFIG, "--", *SLURM_TARGETS
            )
        )
        s_rc, s_out, s_time = finish(slurm, slurm_dir)
        t_rc, t_out, _ = finish(slow, slow_dir)
        jobs = monitor.finish()
        if shared is None:
            l_rc, l_out, l_time = finish(local, local_dir)
        else:
            l_out = shared[1].stdout + shared[1].stderr
            l_rc, l_time = shared[1].returncode, logged_span(l_out)
    finally:
        monitor.halt.set()
        for proc in procs:
            kill(proc)
    slow_jobs = [j for j in jobs if j["comment"].startswith(monitor.spare)]
    jobs = [j for j in jobs if not j["comment"].startswith(monitor.spare)]
    print(
        f"\nlocal run {l_time:.0f} s, {job_count(l_out)}; SLURM run {s_time:.0f} s, "
        f"{len(jobs)} SLURM jobs: {[(j['comment'], j['state']) for j in jobs]}; "
        f"time-limit jobs: {slow_jobs}"
    )
    return dict(
        local_dir=local_dir,
        slurm_dir=slurm_dir,
        local_rc=l_rc,
        local_out=l_out,
        slurm_rc=s_rc,
        slurm_out=s_out,
        jobs=jobs,
        cancelled=monitor.cancelled,
        slow=dict(dir=slow_dir, rc=t_rc, out=t_out, jobs=slow_jobs),
        cluster_logs=cluster.logs(),
    )


# -- tests -------------------------------------------------------------------------------
def test_test_config_completes_through_slurm(runs):
    assert runs["local_rc"] == 0, runs["local_out"][-4000:]
    assert runs["slurm_rc"] == 0, runs["slurm_out"][-6000:] + runs["cluster_logs"]
    out = runs["slurm_out"]
    assert "(100%) done" in out
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert submitted, "no job went through SLURM"
    comments = [j["comment"] for j in runs["jobs"]]
    # kernel chunks travel together (profile group `kernels`)
    assert any(c.startswith("rule_kernels_") for c in comments), comments
    assert not any(c.startswith("rule_kernel_sweep") for c in comments), comments
    # rules declared localrules (data, theory, figures) run on the submit host, never through sbatch
    local = ("prepare_data", "phase_table", "depth_scale_table", "F1", "F2", "infinite_figure")
    assert not any(c.startswith(tuple(f"rule_{r}" for r in local)) for c in comments), comments
    assert not any(c.startswith("rule_theory_") for c in comments), comments
    for rule in local:
        assert re.search(rf"localrule {rule}:", out), f"{rule} did not run locally"


def test_slurm_results_equal_local_results(runs):
    assert runs["local_rc"] == 0 and runs["slurm_rc"] == 0
    local, slurm = runs["local_dir"] / RESULTS, runs["slurm_dir"] / RESULTS
    tables = sorted(p.relative_to(slurm) for p in slurm.rglob("*.csv"))
    assert len(tables) >= 8, "the SLURM run wrote too few tables"
    assert set(tables) <= {p.relative_to(local) for p in local.rglob("*.csv")}
    assert_tables_equal(local, slurm, tables)
    arrays = sorted(p.relative_to(slurm) for p in slurm.rglob("*.npz"))
    assert arrays and set(arrays) <= {p.relative_to(local) for p in local.rglob("*.npz")}
    for rel in arrays:
        with np.load(local / rel) as a, np.load(slurm / rel) as b:
            assert sorted(a.files) == sorted(b.files), rel
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{rel}:{key}")


def test_scancelled_job_is_retried(runs):
    job = runs["cancelled"]
    assert job is not None, "no job of the run was seen running long enough to be cancelled"
    assert runs["slurm_rc"] == 0, runs["slurm_out"][-6000:]
    states = {j["jobid"]: j for j in runs["jobs"]}
    assert states[job["jobid"]]["state"] == "CANCELLED", states[job["jobid"]]
    # Snakemake saw the failure (it keeps the SLURM log of a failed job and names it)
    log = next((runs["slurm_dir"] / ".snakemake" / "slurm_logs").rglob(f"{job['jobid']}.log"))
    assert f"JOB {job['jobid']} ON localhost CANCELLED" in log.read_text()
    assert f"/{job['jobid']}.log (check log file(s) for error details)" in runs["slurm_out"]
    later = [j for j in runs["jobs"] if j["comment"] == job["comment"] and int(j["jobid"]) > int(job["jobid"])]
    assert [j["state"] for j in later] == ["COMPLETED"], later
    # the retry is the next attempt: the profile's attempt-scaled time and memory grew
    assert seconds(later[0]["time_limit"]) > seconds(job["time_limit"]), (job, later)
    assert int(later[0]["min_memory"].rstrip("M")) > int(job["min_memory"].rstrip("M")), (job, later)


def test_too_little_memory_is_retried_with_more(cluster, runs, tmp_path):
    """A kernel chunk and its metrics (one `kernels` group submission) get 200 MB on the
    first attempt (a Python + JAX process needs more): SLURM kills it (jobacct_gather
    OverMemoryKill); the retry asks for the rules' 2000 * attempt MB."""
    work = clone_workflow(runs["slurm_dir"], tmp_path / "wf")  # the workflow of the local reference run
    target = str(RESULTS / "metrics" / "chunks" / "infinite_fcn_erf_sb0_chunk0.csv")
    small_first = "mem_mb=200 if attempt == 1 else 2000 * attempt"
    monitor = Monitor(cluster)
    monitor.start()
    proc = start_snakemake(
        work,
        *slurm_flags(cluster),
        "--configfile",
        TEST_CONFIG,
        "--set-resources",
        f"kernel_sweep:{small_first}",
        "--",
        target,
    )
    try:
        rc, out, _ = finish(proc, work)
    finally:
        jobs = monitor.finish()
    assert rc == 0, out[-6000:] + cluster.logs()
    # slurm 22.05 marks a job killed by OverMemoryKill FAILED; newer ones say OUT_OF_MEMORY
    assert [j["state"] for j in jobs] in (["FAILED", "COMPLETED"], ["OUT_OF_MEMORY", "COMPLETED"]), jobs
    assert [j["min_memory"] for j in jobs] == ["200M", "4000M"], jobs
    failed_log = next((work / ".snakemake" / "slurm_logs").rglob(f"{jobs[0]['jobid']}.log"))
    assert "exceeded memory limit" in failed_log.read_text()
    assert_tables_equal(work, runs["local_dir"], [target])


SLOW_SECONDS = 100  # the job's work: more than its first time limit, less than its second


def slow_workflow(dest: Path, snapshot: Path) -> Path:
    """A one-rule workflow whose job needs SLOW_SECONDS of wall time, with the workflow's
    attempt-scaled runtime (per_attempt: 1 minute, then 2) and the real SLURM profile."""
    dest.mkdir(parents=True)
    shutil.copytree(snapshot / "workflow" / "profiles", dest / "workflow" / "profiles")
    (dest / "Snakefile").write_text(
        "include: 'common_helpers.smk'\n\n"
        "rule slow_job:\n"
        "    output: 'slow.txt'\n"
        "    log: 'slow.log'\n"
        "    resources:\n"
        "        runtime=per_attempt(1),\n"
        "        mem_mb=200,\n"
        f"    shell: 'sleep {SLOW_SECONDS}; echo runtime {{resources.runtime}} > {{output}}'\n"
    )
    # per_attempt exactly as the workflow defines it
    common = (snapshot / "workflow" / "rules" / "common.smk").read_text()
    start = common.index("def per_attempt(")
    (dest / "common_helpers.smk").write_text(common[start : common.index("\n\n\n", start)] + "\n")
    return dest


def test_time_limit_is_retried_with_more_time(runs):
    """SLURM ends the first attempt at its 1-minute limit (TIMEOUT); the profile's retry
    resubmits it with the attempt-scaled 2 minutes, and it completes."""
    slow = runs["slow"]
    assert slow["rc"] == 0, slow["out"][-4000:] + runs["cluster_logs"]
    jobs = slow["jobs"]
    assert [j["state"] for j in jobs] == ["TIMEOUT", "COMPLETED"], jobs
    assert [seconds(j["time_limit"]) for j in jobs] == [60, 120], jobs
    assert seconds(jobs[0]["elapsed"]) < SLOW_SECONDS <= seconds(jobs[1]["elapsed"]), jobs
    failed_log = next((slow["dir"] / ".snakemake" / "slurm_logs").rglob(f"{jobs[0]['jobid']}.log"))
    assert "DUE TO TIME LIMIT" in failed_log.read_text()
    assert (slow["dir"] / "slow.txt").read_text().strip() == "runtime 2"


def _path_without_slurm(tmp: Path) -> str:
    """A PATH with every command of this machine's PATH except SLURM's."""
    slurm_cmds = {
        "sbatch",
        "srun",
        "salloc",
        "squeue",
        "sacct",
        "sacctmgr",
        "scancel",
        "scontrol",
        "sinfo",
        "sshare",
        "sstat",
        "sprio",
        "sreport",
        "sattach",
        "sbcast",
        "scrontab",
        "sdiag",
        "strigger",
        "sview",
        "smap",
        "sjstat",
        "seff",
        "slurmd",
        "slurmctld",
    }
    shadow = tmp / "bin"
    shadow.mkdir()
    for d in run_env()["PATH"].split(os.pathsep):
        if not d or not Path(d).is_dir() or Path(d) == Path(sys.executable).parent:
            continue
        for entry in Path(d).iterdir():
            target = shadow / entry.name
            if entry.name not in slurm_cmds and not target.exists():
                target.symlink_to(entry)
    return os.pathsep.join([str(Path(sys.executable).parent), str(shadow)])


def test_paper_dry_run_without_slurm(tmp_path):
    (tmp_path / "wf").mkdir()
    work = copy_workflow(tmp_path / "wf")
    env = dict(run_env(), PATH=_path_without_slurm(tmp_path))
    assert shutil.which("sbatch", path=env["PATH"]) is None
    assert shutil.which("sinfo", path=env["PATH"]) is None
    proc = subprocess.run(
        [
            "timeout",
            "-k",
            "10",
            "300",
            tool("snakemake"),
            "-n",
            "--configfile",
            "config/paper.yaml",
            "--profile",
            PROFILE,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Using profile workflow/profiles/slurm" in out
    counts = job_count(out)
    assert counts.get("phase_table", 0) >= 1 and counts.get("kernel_sweep", 0) > 1, counts
    # the resources reach the jobs: kernel_sweep's own (sized: paper.yaml's `resources`
    # entry of the job's class, else kernels.resources) with the profile's partition,
    # the profile's defaults for rules that declare none
    partition = profile_partitions(work)[0]
    paper = yaml.safe_load((work / "config" / "paper.yaml").read_text())

    def kernel_res(block):
        wc = dict(kv.split("=") for kv in re.search(r"wildcards: (.*)", block).group(1).split(", "))
        res = {
            **paper["kernels"]["resources"],
            **paper["resources"].get(f"kernel_sweep[{wc['arch']},{wc['activation']}]", {}),
        }
        return (f"mem_mb={res['mem_mb']},", f"runtime={res['runtime']},")

    expected = {
        "kernel_sweep": kernel_res,
        "run_config": lambda block: ("mem_mb=2000,", "runtime=30,"),
    }
    for rule, wanted in expected.items():
        blocks = re.findall(rf"rule {rule}:\n(?:\s+\w+: .*\n)+", out)
        assert len(blocks) == counts[rule], out[-3000:]
        for block in blocks:
            res = re.search(r"resources: (.*)", block).group(1)
            assert all(w in res for w in wanted(block)) and f"slurm_partition={partition}," in res, (rule, res)
    assert "Group job kernels" in out  # kernel chunks and their metrics go out as groups
    assert "Group job theory" not in out  # theory tables are localrules
