"""The paper DAG run end to end at paper shapes (issue 12 §1).

``config/paper_check.yaml``, merged over ``config/paper.yaml``, keeps every rule and code
path of the paper run (CIFAR-10 through the real tensorflow-datasets builder, 32×32×3
images, tanh at the paper's quadrature degree, fcn/cnn_f/cnn_p with CNN-P's full spatial
covariance, the 10k/2k memorization split, evaluation batching, checkpoints, the
freeze/chaos and checkerboard jobs; CNN-P's kernels at depth 0 only, see the config) and
shrinks only counts. The dataset is a generated archive in the original CIFAR-10 binary
layout, found by the builder in its download cache (``cifar10_archive``), so the data
rule prepares it with the unpatched builder, offline.

Asserted: the run succeeds; it ran exactly the rules of the plain paper dry run (no rule
skipped or added); every figure (PDF and PNG), every table the paper DAG declares under
``metrics/`` and ``metrics/claims.csv`` exist with their provenance sidecars. Claims are
not asserted to pass (synthetic pixels).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from helpers import cifar10_archive, copy_workflow, git_snapshot, snakemake

pytestmark = pytest.mark.slow

CONFIGS = ["--configfile", "config/paper.yaml", "config/paper_check.yaml"]
FIGURES = ["F1", "F2", "F3", "F4", "F5", "F6", "F6_mean", "F7", "F8", "F9", "F10", "F12", "F13"]
#: records per training batch file (5 files) and in the test file: exactly the paper's
#: dataset.n_train = 10 000 and n_test = 2 000 (memorization split included)
PER_BATCH, N_TEST = 2000, 2000


def rules_run(output: str) -> set[str]:
    """Rules of the jobs a Snakemake run (or dry run) lists."""
    return set(re.findall(r"^(?:local)?rule (\w+):$", output, re.M))


def outputs_listed(output: str) -> set[str]:
    """Output files of the jobs a dry run lists."""
    files: set[str] = set()
    for line in re.findall(r"^\s+output: (.*)$", output, re.M):
        files.update(p.strip() for p in line.split(","))
    return files


@pytest.fixture(scope="module")
def paper_check(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("paper_check"))
    git_snapshot(work)
    downloads = tmp_path_factory.mktemp("cifar_download")
    archive = cifar10_archive.write_archive(downloads / "cifar-10-binary.tar.gz", PER_BATCH, N_TEST)
    data_dir = tmp_path_factory.mktemp("tfds")
    cifar10_archive.seed_download_cache(archive, data_dir)
    dry = snakemake(work, "-n", "--configfile", "config/paper.yaml", timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    t0 = time.perf_counter()
    # --config merges a mapping into the config's (dotted keys are not accepted)
    data = "dataset=" + json.dumps({"data_dir": str(data_dir)})
    proc = snakemake(work, "--cores", "2", *CONFIGS, "--config", data, timeout=1800)
    seconds = time.perf_counter() - t0
    print(f"paper_check run: {seconds:.0f} s")
    return work, data_dir, dry.stdout + dry.stderr, proc, seconds


def test_paper_check_runs_every_rule_of_the_paper_dag(paper_check):
    work, _, dry, proc, _ = paper_check
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    paper_rules = rules_run(dry)
    assert len(paper_rules) > 20, dry[-3000:]
    assert rules_run(out) == paper_rules, (
        f"rules only in the paper DAG: {sorted(paper_rules - rules_run(out))}; "
        f"only in the check: {sorted(rules_run(out) - paper_rules)}"
    )


def test_paper_check_data_come_from_the_real_builder(paper_check):
    work, data_dir, _, proc, _ = paper_check
    assert proc.returncode == 0
    res = work / "results" / "paper_check"
    meta = json.loads((res / "data" / "cifar10.json").read_text())
    assert meta["source"] == "tfds:cifar10"
    assert (meta["n_train"], meta["n_test"], meta["image_shape"]) == (10000, 2000, [32, 32, 3])
    memo = json.loads((res / "data" / "cifar10_memorization.json").read_text())
    assert (memo["n_train"], memo["n_test"]) == (10000, 2000)
    # prepared by the builder from the seeded download cache: array_record shards, and
    # the archive extracted by tfds' own extractor
    assert list(data_dir.glob("cifar10/*/cifar10-train.array_record*"))
    assert list(data_dir.glob("downloads/extracted/*/cifar-10-batches-bin/test_batch.bin"))


def test_paper_check_builds_every_figure_and_table_with_provenance(paper_check):
    work, _, dry, proc, _ = paper_check
    assert proc.returncode == 0
    res = work / "results" / "paper_check"
    expected = [res / "figures" / f"{fig}.{ext}" for fig in FIGURES for ext in ("pdf", "png")]
    # every table the paper DAG declares under metrics/ (chunk files: as many as its grid has)
    tables = sorted(
        Path(p).name
        for p in outputs_listed(dry)
        if p.startswith("results/paper/metrics/") and p.count("/") == 3 and p.endswith(".csv")
    )
    assert "claims.csv" in tables and len(tables) > 10, tables
    expected += [res / "metrics" / name for name in tables]
    missing = [str(p.relative_to(res)) for p in expected if not p.exists()]
    assert not missing, missing
    no_prov = [str(p.relative_to(res)) for p in expected if not Path(f"{p}.prov.json").exists()]
    assert not no_prov, no_prov
    for p in expected:
        prov = json.loads(Path(f"{p}.prov.json").read_text())
        assert prov["packages"] and "config_sha256" in prov, p
        assert p.stat().st_size > 0, p
