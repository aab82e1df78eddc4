"""Reproducibility and failure handling of the whole workflow (issue: cluster and
reproducibility), on the suite's shared local run of config/test.yaml:

- every table and figure has a provenance sidecar (config and its hash, package
  versions, git revision, seeds, dataset checksum);
- a failing rule leaves no output behind and Snakemake's message names its log;
- changing one σ_w² value reruns only the jobs whose outputs depend on it;
- a run whose Snakemake process tree is SIGKILLed mid-way, rerun, ends with the tables of
  an uninterrupted run;
- ``snakemake --report`` makes one HTML file with every figure (embedded, captioned), the
  claims table and the run's config.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import assert_tables_equal, clone_workflow, run_env, snakemake, tool
from ntk_phases import files, provenance

pytestmark = pytest.mark.slow

RESULTS = Path("results") / "test"
CONFIG = "config/test.yaml"
PROFILE = ["--profile", "workflow/profiles/default"]  # as `make run`


def jobs_of_dry_run(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run (-n) lists."""
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+\w+: .*\n?)+)", output, re.M):
        wc = re.search(r"wildcards: (.*)", body)
        pairs = dict(p.split("=", 1) for p in wc.group(1).split(", ")) if wc else {}
        jobs.append((rule, pairs))
    return jobs


@pytest.fixture(scope="module")
def shared(test_config_run):
    work, proc = test_config_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


# -- provenance --------------------------------------------------------------------------
def test_every_table_and_figure_has_provenance(shared):
    res = shared / RESULTS
    outputs = sorted(p for p in res.rglob("*") if p.suffix in (".csv", ".png", ".pdf") and "logs" not in p.parts)
    assert len(outputs) > 40
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=shared, capture_output=True, text=True, check=True
    ).stdout.strip()
    data_sha = {p.name: files.sha256_file(p) for p in (res / "data").glob("*.npz")}
    with_data = 0
    for out in outputs:
        side = Path(str(out) + ".prov.json")
        assert side.exists(), f"no provenance for {out.relative_to(shared)}"
        prov = json.loads(side.read_text())
        assert prov["config_sha256"] == provenance.config_hash(prov["config"]), out
        assert prov["git_revision"] == revision, (out, prov["git_revision"])
        for name in ("jax", "neural-tangents", "flax", "optax", "pandas", "snakemake"):
            assert prov["packages"][name] == metadata.version(name), (out, name)
        assert isinstance(prov["seeds"], list), out
        for path, sha in prov.get("inputs", {}).items():  # inputs as they are now
            assert files.sha256_file(shared / path) == sha, (out, path)
        for path, rec in prov.get("datasets", {}).items():
            assert rec["dataset"] == "digits" and rec["file_sha256"] == data_sha[Path(path).name], (out, path)
            with_data += 1
        theory_only = (
            out.parent.name == "theory" or out.stem in ("F1", "F2", "config") or out.name.startswith("depth_scales_")
        )
        if not theory_only:  # everything else derives from the prepared dataset
            assert prov.get("datasets"), f"{out.relative_to(shared)} names no dataset"
    assert with_data > 20
    # seeds reach the tables and figures of the trained networks
    finite = json.loads((res / "figures" / "F7.png.prov.json").read_text())
    assert set(finite["seeds"]) >= {0}, finite["seeds"]
    memo = yaml.safe_load((shared / CONFIG).read_text())["training"]["memorization"]["seeds"]
    f9 = json.loads((res / "figures" / "F9.png.prov.json").read_text())
    assert set(f9["seeds"]) >= set(memo), f9["seeds"]


# -- a failing job -----------------------------------------------------------------------
def test_failing_rule_leaves_no_output_and_points_to_its_log(shared, tmp_path):
    work = clone_workflow(shared, tmp_path / "wf", results=True)
    res = work / RESULTS
    (res / "theory" / "phase_erf.csv").write_text("not,a\nphase,table\n")
    before = set((res / "figures").iterdir())
    assert (res / "figures" / "F1.png.prov.json").exists()
    proc = snakemake(work, "F1", "--cores", "1", "--configfile", CONFIG)  # targets first: --configfile takes several
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    log = RESULTS / "logs" / "figures" / "F1.log"
    assert "Error in rule F1" in out and str(log) in out, out[-3000:]
    assert "KeyError" in (work / log).read_text() or "Error" in (work / log).read_text()
    after = set((res / "figures").iterdir())
    assert not (res / "figures" / "F1.png").exists() and not (res / "figures" / "F1.pdf").exists()
    # the old figure's provenance went with it (Snakemake's onerror handler)
    assert not (res / "figures" / "F1.png.prov.json").exists()
    assert not (res / "figures" / "F1.pdf.prov.json").exists()
    assert after <= before  # nothing new (no temporary file) next to the outputs


# -- editing the config ------------------------------------------------------------------
def test_changing_one_sigma_w2_reruns_only_its_dependents(shared, tmp_path):
    work = clone_workflow(shared, tmp_path / "wf", results=True)
    cfg_path = work / CONFIG
    cfg = yaml.safe_load(cfg_path.read_text())
    fcn = cfg["kernels"]["architectures"]["fcn"]
    assert fcn["sigma_w2"] == {"min": 1.0, "max": 2.5, "num": 3} and fcn["sigma_chunk"] == 2
    unchanged = snakemake(work, "-n", "--configfile", CONFIG)
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr, unchanged.stdout[-3000:]

    # the same grid written out, with its last value (second kernels chunk) changed
    fcn["sigma_w2"] = {"values": [1.0, 1.75, 2.4]}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    dry = snakemake(work, "-n", "--configfile", CONFIG)
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = jobs_of_dry_run(dry.stdout + dry.stderr)
    acts = cfg["kernels"]["activations"]
    expected = (
        {("kernel_sweep", ("fcn", a, "1")) for a in acts}
        | {("infinite_table", ("fcn", a, None)) for a in acts}
        # not F8: its infinite row reads the kernels.comparison tables, not the FCN grid
        | {("infinite_figure", f) for f in ("F3", "F4", "F5", "F6")}
        | {("F6_mean", None)}
        | {("claims", None), ("run_config", None), ("all", None)}
    )

    def key(rule, wc):
        if "fig" in wc:
            return rule, wc["fig"]
        if "arch" in wc:
            return rule, (wc["arch"], wc["activation"], wc.get("chunk"))
        return rule, None

    got = [key(r, w) for r, w in jobs]
    assert len(got) == len(set(got)) and set(got) == expected, sorted(map(str, got))

    # and the rerun keeps every row of the unchanged σ_w² values as it was
    table = RESULTS / "metrics" / "infinite_fcn_erf.csv"
    old = pd.read_csv(work / table)
    proc = snakemake(work, str(table), "--cores", "2", "--configfile", CONFIG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    new = pd.read_csv(work / table)
    assert sorted(new["sigma_w2"].unique()) == [1.0, 1.75, 2.4]
    keep_old, keep_new = old[old["sigma_w2"] < 2.45], new[new["sigma_w2"] < 2.3]
    pd.testing.assert_frame_equal(keep_old.reset_index(drop=True), keep_new.reset_index(drop=True))


# -- an interrupted run ------------------------------------------------------------------
def test_sigkilled_run_reruns_to_the_uninterrupted_tables(shared, tmp_path):
    """SIGKILL to Snakemake's whole process group once some kernel chunks are done and
    others are running; then the recovery a user runs (README): unlock, run the same
    command again (the profile `make run` uses sets rerun-incomplete)."""
    work = clone_workflow(shared, tmp_path / "wf")
    targets = [str(RESULTS / "metrics" / f"infinite_{a}_erf.csv") for a in ("fcn", "cnn_f")]
    log = open(work / "killed.out", "w")
    proc = subprocess.Popen(
        [tool("snakemake"), *targets, *PROFILE, "--configfile", CONFIG],
        cwd=work,
        env=run_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    chunks = work / RESULTS / "metrics" / "chunks"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if chunks.is_dir() and any(chunks.glob("*.csv")):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        log.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    done = [p for p in targets if (work / p).exists()]
    assert len(done) < len(targets), "nothing was left to do after the kill"
    # jobs were cut off mid-run: Snakemake marked their outputs incomplete
    assert [p for p in (work / ".snakemake" / "incomplete").rglob("*") if p.is_file()]

    unlock = snakemake(work, "--unlock", "--configfile", CONFIG)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    again = snakemake(work, *targets, *PROFILE, "--configfile", CONFIG)
    assert again.returncode == 0, again.stderr[-4000:]
    tables = sorted(p.relative_to(work) for p in (work / RESULTS).rglob("*.csv"))
    assert len(tables) >= 2 + len(list(chunks.glob("*.csv"))), tables
    assert_tables_equal(shared, work, tables)
    # the killed writers' temporaries were removed by the jobs that rewrote their outputs
    assert not [p for p in (work / RESULTS).rglob(f"*{files.TEMP_MARK}")], "temporary files left"


# -- the HTML report ---------------------------------------------------------------------
FIGURES = ["F1", "F2", "F3", "F4", "F5", "F6", "F6_mean", "F7", "F8", "F9", "F10", "F12", "F13"]


def report_items(html: str, name: str) -> dict:
    """A JSON object the Snakemake 9 report embeds as ``var <name> = {...};``."""
    m = re.search(rf"var {name} = (\{{.*?\}});\n", html, re.S)
    assert m, f"report has no {name}"
    return json.loads(m.group(1))


def test_report_has_every_figure_the_claims_and_the_config(shared, tmp_path):
    out = tmp_path / "report.html"
    proc = snakemake(shared, "--report", str(out), "--configfile", CONFIG)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "ERROR" not in proc.stdout + proc.stderr  # no reStructuredText errors in captions
    html = out.read_text()
    results = report_items(html, "results")
    for fig in FIGURES:
        item = results[str(RESULTS / "figures" / f"{fig}.png")]
        assert item["mime_type"] == "image/png"
        assert f"{fig} \u2014" in item["caption"], (fig, item["caption"][:200])
        png = base64.b64decode(item["data_uri"].split("base64,", 1)[1])
        assert png == (shared / RESULTS / "figures" / f"{fig}.png").read_bytes(), fig
    claims = results[str(RESULTS / "metrics" / "claims.csv")]
    table = base64.b64decode(claims["data_uri"].split("base64,", 1)[1]).decode()
    assert table == (shared / RESULTS / "metrics" / "claims.csv").read_text()
    assert set(report_items(html, "categories")) >= {
        "Phase diagram",
        "Infinite width",
        "Finite width",
        "Freeze and chaos",
        "Claims",
        "Configuration",
    }
    # the run's config, one row per key
    config = results[str(RESULTS / "config.csv")]
    rows = base64.b64decode(config["data_uri"].split("base64,", 1)[1]).decode().splitlines()
    cfg = yaml.safe_load((shared / CONFIG).read_text())
    assert (
        "run,test" in rows
        and f"kernels.architectures.fcn.sigma_chunk,{cfg['kernels']['architectures']['fcn']['sigma_chunk']}" in rows
    )
    assert "Configuration" in config["caption"]
