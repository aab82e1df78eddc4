"""The paper run's cost, measured per rule at reduced sizes and extrapolated (issue 12 §2).

    python bench/measure_paper_cost.py run a b c d e f   # measurement runs (~31 min, 2 loaded cores)
    python bench/measure_paper_cost.py fit               # -> bench/paper_cost.csv, paper_cost_jobs.csv
    python bench/measure_paper_cost.py table             # the README table

Sizes a (config/paper_check.yaml) and b (every count larger) run the whole DAG; c-f run
only the jobs that a and b leave unresolved (SIZE_TARGETS).

``run SIZE``: the paper DAG at paper shapes (``config/paper.yaml`` +
``config/paper_check.yaml``, CIFAR-10 from a generated archive in the original binary
layout through the real tfds builder: no network, no real data) with the size override
``bench/paper_cost/size_<SIZE>.yaml`` merged last, in a scratch copy of the workflow. Every
shell rule has a ``benchmark:`` (wall s, cpu_time, max_rss per job); the run's Snakemake
samples the job's process tree every second (Snakemake's own schedule samples every 30 s
after the first 15 s, which misses short memory peaks). Each job's benchmark, rule and
wildcards go to ``bench/paper_cost/measured_<SIZE>.csv``.

``fit``: per cost class (a rule, or a rule × architecture × activation where those set
the cost), a scaling law ``t = a + b·S`` (wall, CPU) and ``m = m0 + c·S_mem`` (peak RSS)
in the class's size variable S (:func:`sizes`), fitted on the measured jobs of every size
(least squares, a, b ≥ 0), is evaluated at each job of the paper dry run
(``snakemake -n --configfile config/paper.yaml``) and summed per class into
``bench/paper_cost.csv``. The law's form comes from the algorithm (what grows per job);
the runs measure its constant and coefficient. Predicted runtime is one core's CPU time
(wall times on the shared machine are inflated by other jobs); a slope whose rise stays
within start-up noise is replaced by a noise bound (labelled ``slope_resolved: False``);
kernels jobs' memory is the largest measured RSS plus their block budget; training
(GPU) is its FLOP count at an ASSUMED GPU rate (``GPU_FLOPS``: no GPU was measured).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "paper_cost"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

#: CIFAR-10 records per training batch file (5 files) and in the test file: the paper's
#: 10k/2k split, as tests/test_paper_check.py
PER_BATCH, N_TEST = 2000, 2000


def local_rules() -> set[str]:
    """The workflow's localrules (run on the submit host: no SLURM resources), as the
    `localrules:` blocks of workflow/rules/*.smk declare them."""
    names = set()
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", smk.read_text(), re.M):
            names.update(re.findall(r"\w+", block))
    return names


#: Snakemake's benchmark sampling interval in the measurement runs (seconds)
SAMPLE_S = 1
#: targets of a size (default: the whole DAG)
SIZE_TARGETS = {
    "c": [
        f"results/paper_cost_c/metrics/chunks/infinite{g}_cnn_p_{f}_sb0_chunk{c}.csv"
        for g in ("", "_comparison")
        for f in ("erf", "relu")
        for c in (0, 1)
    ],
    "d": ["results/paper_cost_d/metrics/claims_c8.csv"],
    "e": [
        f"results/paper_cost_e/metrics/chunks/infinite_{a}_{f}_sb0_chunk{c}.csv"
        for a, chunks in (("fcn", (0, 1)), ("cnn_f", (0,)))
        for f in ("erf", "relu")
        for c in chunks
    ],
    "f": [
        "results/paper_cost_f/training/lr_grid_fcn_erf.csv",
        "results/paper_cost_f/training/lr_architectures_fcn_erf.csv",
        "results/paper_cost_f/training/lr_architectures_cnn_f_erf.csv",
        "results/paper_cost_f/metrics/width_fcn_erf.csv",
    ],
}
LAUNCH = (
    "import sys, snakemake.benchmark as b; b.benchmarked.__defaults__ = (None, None, {s});"
    " from snakemake.cli import main; sys.argv = ['snakemake'] + sys.argv[1:]; main()"
)


def jobs_listed(text: str) -> list[dict]:
    """Rule, wildcards and benchmark path of each job a Snakemake run or dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=[ \t]*(?:local)?rule \w+:\n)", text):
        m = re.match(r"[ \t]*(?:local)?rule (\w+):\n", block)
        if not m:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        bench = re.search(r"^\s+benchmark: (.*)$", block, re.M)
        wildcards = dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        resources = dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {}
        jobs.append(
            {
                "rule": m.group(1),
                "wildcards": wildcards,
                "resources": resources,
                "benchmark": bench.group(1).strip() if bench else None,
            }
        )
    return jobs


def config_files(size: str) -> list[str]:
    return ["config/paper.yaml", "config/paper_check.yaml", f"bench/paper_cost/size_{size}.yaml"]


def run_size(size: str, work: Path) -> Path:
    """One measurement run in a scratch copy; returns bench/paper_cost/measured_<size>.csv."""
    from helpers import cifar10_archive, git_snapshot

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    # the committed workflow (HEAD), not the working tree: what is measured is a commit
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive_cmd = ["git", "archive", "--format=tar", rev, "Snakefile", "config", "workflow", "src", "envs"]
    tar = subprocess.run(archive_cmd, cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=tar, check=True)
    (work / "bench" / "paper_cost").mkdir(parents=True)
    shutil.copy2(HERE / f"size_{size}.yaml", work / "bench" / "paper_cost")
    git_snapshot(work)
    archive = cifar10_archive.write_archive(work / "cifar-10-binary.tar.gz", PER_BATCH, N_TEST)
    data_dir = work / "tfds"
    cifar10_archive.seed_download_cache(archive, data_dir)
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    cmd = [
        sys.executable,
        "-c",
        LAUNCH.format(s=SAMPLE_S),
        *SIZE_TARGETS.get(size, []),
        "--cores",
        "2",
        "--configfile",
        *config_files(size),
        "--config",
        "dataset=" + json.dumps({"data_dir": str(data_dir)}),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (work / "snakemake_run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        sys.exit(
            f"size {size}: snakemake failed, see {work / 'snakemake_run.log'}\n" + (proc.stdout + proc.stderr)[-3000:]
        )
    rows = []
    for job in jobs_listed(proc.stdout + proc.stderr):
        if not job["benchmark"]:
            continue
        with open(work / job["benchmark"]) as f:
            rec = next(csv.DictReader(f, delimiter="\t"))
        rows.append(
            {
                "size": size,
                "commit": rev[:12],
                "rule": job["rule"],
                "wildcards": json.dumps(job["wildcards"], sort_keys=True),
                "wall_s": float(rec["s"]),
                "cpu_s": float(rec["cpu_time"]),
                "max_rss_mb": float(rec["max_rss"]) if rec["max_rss"] not in ("", "NA", "-") else "",
            }
        )
    out = HERE / f"measured_{size}.csv"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(
        f"size {size}: {len(rows)} jobs in {wall:.0f} s wall, "
        f"{sum(r['cpu_s'] for r in rows):.0f} job-CPU-s -> {out.relative_to(ROOT)}"
    )
    return out


# ---------------------------------------------------------------------------------------
# what each job's cost grows with
# ---------------------------------------------------------------------------------------
def load_config(files: list[str]) -> dict:
    """config/config.yaml with ``files`` merged over it, as Snakemake's --configfile does
    (explicit ``values`` grids replace ranges, as workflow/rules/common.smk does)."""
    import yaml
    from snakemake.utils import update_config

    with open(ROOT / "config" / "config.yaml") as f:
        cfg = yaml.safe_load(f)
    for path in files:
        with open(ROOT / path) as f:
            update_config(cfg, yaml.safe_load(f) or {})
    from ntk_phases import config as ntk_config

    ntk_config.values_win(cfg)
    return cfg


#: spatial positions of a 32x32 image; 3x3 filters
POS, FILT, CH_IN, PIX = 1024, 9, 3, 3072


def forward_macs(arch: str, width: int, depth: int) -> float:
    """Multiply-adds of one example's forward pass through a trained network."""
    if arch == "fcn":
        return PIX * width + depth * width * width + 10 * width
    readout = POS * width * 10 if arch == "cnn_f" else width * 10
    return POS * FILT * (CH_IN * width + depth * width * width) + readout


def param_count(arch: str, width: int, depth: int) -> float:
    if arch == "fcn":
        return PIX * width + depth * width * width + 10 * width
    readout = POS * width * 10 if arch == "cnn_f" else width * 10
    return FILT * (CH_IN * width + depth * width * width) + readout


def kernel_spec_of(cfg: dict, rule: str, arch: str) -> dict:
    kern = cfg["kernels"]
    if rule == "kernel_sweep":
        return kern["architectures"][arch]
    comp = kern["comparison"]
    return {
        **{k: comp[k] for k in ("n_train", "n_test", "sigma_w2", "depths")},
        "sigma_chunk": comp["sigma_chunk"][arch],
    }


def rows_of(spec: dict, cfg: dict) -> int:
    """Rows of an infinite-width table: σ_w² × σ_b² × depths × times."""
    from ntk_phases import config as ntk_config

    return (
        len(ntk_config.grid(spec["sigma_w2"]))
        * len(cfg["kernels"]["sigma_b2"])
        * len(ntk_config.depth_list(spec["depths"]))
        * len(cfg["metrics"]["times"])
    )


def sizes(cfg: dict, rule: str, wc: dict) -> dict:
    """A job's cost class, its size variables (S: time, S_mem: memory) and the law.

    The law's form is what the job's algorithm grows with; its constant (start-up: Python,
    jax, neural-tangents imports, compilation) and coefficient are fitted on the runs."""
    from ntk_phases import config as ntk_config

    tr, th, kern = cfg["training"], cfg["theory"], cfg["kernels"]
    ds = cfg["dataset"]
    if rule in ("prepare_data", "training_data"):
        n = ds["n_train"] + ds["n_test"]
        return dict(cls=rule, S=n, S_mem=n, law="a + b*(n_train + n_test) [tfds prepare + subset]")
    if rule == "phase_table":
        n = len(ntk_config.grid(th["sigma_w2"])) * len(ntk_config.grid(th["sigma_b2"]))
        return dict(
            cls=f"{rule}[{wc['activation']}]", S=n, S_mem=n, law="a + b*n_sigma_w2*n_sigma_b2 (Newton per grid point)"
        )
    if rule == "depth_scale_table":
        n = len(ntk_config.grid(th["depth_scales"]["sigma_w2"]))
        return dict(cls=f"{rule}[{wc['activation']}]", S=n, S_mem=n, law="a + b*n_sigma_w2 (depth-scale grid)")
    if rule in ("kernel_sweep", "comparison_sweep"):
        arch, act = wc["arch"], wc["activation"]
        spec = kernel_spec_of(cfg, rule, arch)
        chunk = ntk_config.chunks(ntk_config.grid(spec["sigma_w2"]), spec["sigma_chunk"])[int(wc["chunk"])]
        layers = max(ntk_config.depth_list(spec["depths"])) + 1
        pairs = spec["n_train"] ** 2 + spec["n_test"] * spec["n_train"]
        return dict(
            cls=f"kernel_sweep[{arch},{act}]",
            S=len(chunk) * layers * pairs,
            deep=layers > 1,
            layers=layers,
            pairs=pairs,
            sigmas=len(chunk),
            S_mem=kern["memory_mb"],
            law="a + b*sigma_per_chunk*(max_depth+1)*(n_train^2 + n_test*n_train); "
            "mem: largest measured RSS + kernels.memory_mb (blocks are sized to fill that "
            "budget; rss_mb_law: the fit over the measured budgets)",
        )
    if rule in ("infinite_table", "comparison_table"):
        spec = kernel_spec_of(cfg, "kernel_sweep" if rule == "infinite_table" else rule, wc["arch"])
        return dict(
            cls="infinite_table",
            S=rows_of(spec, cfg),
            S_mem=rows_of(spec, cfg),
            law="a + b*rows (sigma_w2 x sigma_b2 x depths x times)",
        )
    if rule == "pooling_correction":
        p = cfg["claims"]["pooling"]
        pairs = p["n_train"] ** 2 + p["n_test"] * p["n_train"]
        s4 = sum(d**4 for d in p["image_sizes"])
        return dict(
            cls=rule,
            S=pairs * (max(p["depths"]) + 1) * s4,
            S_mem=kern["memory_mb"],
            law="a + b*(n_train^2+n_test*n_train)*(max_depth+1)*sum(image_size^4); "
            "mem: largest measured RSS + kernels.memory_mb (block budget)",
        )
    if rule == "claims":
        rows = sum(rows_of(kern["architectures"][a], cfg) for a in kern["architectures"]) * len(kern["activations"])
        return dict(cls=rule, S=rows, S_mem=rows, law="a + b*rows of the infinite tables")
    if rule == "freeze_chaos":
        fc = cfg["freeze_chaos"]
        e = fc["empirical"]
        emp = 2 * len(e["seeds"]) * e["n"] * sum(d * w * w for w in e["widths"] for d in e["depths"])
        jac = e["n"] * max(e["depths"]) * max(e["widths"]) ** 2
        return dict(
            cls=rule,
            S=emp,
            S_mem=jac,
            law="a + b*2*seeds*n*sum_(width,depth) depth*width^2 (empirical NTK); "
            "mem: m0 + c*n*max_depth*max_width^2 (its Jacobian)",
        )
    if rule.startswith("training_lr_") or rule == "width_infinite":
        if rule == "training_lr_finite":
            sec = tr["grid"] if wc["texp"] == "grid" else tr["architectures"][wc["tarch"]]
            arch, act = wc["tarch"], wc["tact"]
            n_tr = sec.get("n_train") or ds["n_train"]
            b = min(sec.get("batch_size") or n_tr, n_tr)
            pairs, n_sw = b * b, len(ntk_config.grid(sec["sigma_w2"]))
            layers = max(sec["depths"]) + 1
            kb = sec.get("kernel_batch_size") or tr.get("kernel_batch_size") or b
            sc = sec.get("sigma_chunk") or n_sw
            cls = f"{rule}[{wc['texp']},{arch},{act}]"
            mem = sc * min(kb, b) ** 2
        elif rule == "training_lr_memorization":
            m = tr["memorization"]
            pairs, n_sw, layers = m["n_train"] ** 2, 2, m["depth"] + 1
            cls, mem = rule, pairs
        else:
            w = tr["width"]
            n = w["n_train"] + w["n_test"]
            pairs, n_sw, layers = n * n, 1, w["depth"] + 1
            cls, mem = rule, pairs
            if rule == "width_infinite":
                return dict(
                    cls=rule,
                    S=w["n_train"] ** 3 * len(w["widths"]) * len(w["seeds"]),
                    S_mem=pairs,
                    law="a + b*n_train^3*widths*seeds; mem: m0 + c*(n_train+n_test)^2",
                )
        return dict(
            cls=cls,
            S=n_sw * layers * pairs,
            S_mem=mem,
            law="a + b*n_sigma_w2*(max_depth+1)*examples^2; mem: m0 + c*kernel block",
        )
    if rule in ("train_finite", "train_memorization", "train_width"):
        if rule == "train_finite":
            texp, arch = wc["texp"], wc["tarch"]
            sec = tr["grid"] if texp == "grid" else tr["architectures"][arch]
            depths = [int(d) for d in wc["depths"].split("_")]
            widths = [sec["width"]]
            models = len(ntk_config.grid(sec["sigma_w2"])) * len(sec["seeds"])
            n_tr = sec.get("n_train") or ds["n_train"]
            n_te = sec.get("n_test") or ds["n_test"]
            batch = sec.get("batch_size") or n_tr
            cls = f"train_finite[{texp},{arch}]"
        elif rule == "train_memorization":
            sec, arch = tr["memorization"], tr["memorization"]["arch"]
            depths, widths, models = [sec["depth"]], [sec["width"]], 2 * len(sec["seeds"])
            n_tr, n_te = sec["n_train"], sec["n_test"]
            batch, cls = n_tr, rule
        else:
            sec, arch = tr["width"], tr["width"]["arch"]
            depths, widths = [sec["depth"]], [int(x) for x in wc["widths"].split("_")]
            models = len(sec["seeds"])
            n_tr, n_te = sec["n_train"], sec["n_test"]
            batch, cls = n_tr, rule
        flops = sum(
            2 * forward_macs(arch, w, d) * models * (3 * sec["n_steps"] * batch + sec["n_record"] * (n_tr + n_te))
            for w in widths
            for d in depths
        )
        params = max(param_count(arch, w, d) for w in widths for d in depths) * models
        return dict(
            cls=cls,
            S=flops,
            S_mem=params,
            flops=flops,
            law="a + FLOPs/rate, FLOPs = 2*forward MACs*models*(3*steps*batch + records*(n_train+n_test)); "
            "mem: m0 + c*models*params",
        )
    # merges, claims_finite, figures, run_config: a fixed job (tables of a few thousand rows)
    return dict(cls=rule, S=1, S_mem=1, law="constant (start-up + small tables)")


# ---------------------------------------------------------------------------------------
# fit and extrapolate
# ---------------------------------------------------------------------------------------
#: the GPU rate for training jobs: an ASSUMPTION (no GPU measured; issue 12 §4): 50 % of an
#: A100's fp32 (non-tensor-core) peak, 19.5 TFLOP/s
GPU_FLOPS = 0.5 * 19.5e12
GPU_NAME = "A100 at an assumed 50% of fp32 peak"
#: cost classes whose hidden layers no measurement run can compute: (CPU seconds per layer
#: per example pair per σ, peak MB of one example pair), from the 8x8 measurement recorded
#: in config/paper_check.yaml (CNN-P tanh at degree 128, 2 images = 8 pairs, 2 layers:
#: 39 s and 7.4 GB; 32x32 has 256x the entries: ~1.4 h and ~1.7 TB per layer for 8 pairs)
NOT_MEASURABLE = {"kernel_sweep[cnn_p,tanh]": (1.4 * 3600 / 8, 1.7e6 / 8)}
#: host memory of a GPU job: its largest measured RSS here (on the CPU, parameters and
#: activations included) plus this allowance for the CUDA runtime (an assumption; the
#: device's own memory is not measured)
CUDA_HOST_MB = 2000
#: first-attempt requests cover the prediction with this margin (tests/test_paper_cost.py
#: checks prediction <= request; the profile's retries double and triple it)
MARGIN_TIME, MARGIN_MEM = 1.5, 1.5
#: peak RSS below which a benchmark saw only the job's shell, not its Python (MB)
UNSAMPLED_MB = 50
#: CPU seconds within which two measurements of a job do not differ (start-up noise)
NOISE_CPU_S = 2.0
#: what one SLURM job can be given at most (minutes, MB); a job predicted above these is
#: reported infeasible rather than sized
MAX_RUNTIME_MIN, MAX_MEM_MB = 7 * 24 * 60, 1_000_000


def nnls_line(x: list[float], y: list[float]) -> tuple[float, float]:
    """y = a + b x, least squares with a, b >= 0 (b = 0 where x does not vary)."""
    import numpy as np
    from scipy.optimize import nnls

    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0:
        return float(y.mean()), 0.0
    scale = x.max()
    (a, b), _ = nnls(np.stack([np.ones_like(x), x / scale], 1), y)
    return float(a), float(b / scale)


def paper_jobs() -> list[dict]:
    """Rule and wildcards of every job of the paper DAG (a dry run)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "snakemake"),
                "-n",
                "-s",
                str(ROOT / "Snakefile"),
                "-d",
                tmp,
                "--configfile",
                str(ROOT / "config" / "paper.yaml"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return [j for j in jobs_listed(proc.stdout + proc.stderr) if j["rule"] != "all"]


def jobs_at_measured(grp, m) -> bool:
    """Whether every paper job of a class has a size that was measured (no extrapolation)."""
    return bool(grp["S"].isin(set(m["S"])).all())


def fit(out: Path = ROOT / "bench" / "paper_cost.csv") -> None:
    import pandas as pd

    measured = pd.concat([pd.read_csv(p) for p in sorted(HERE.glob("measured_*.csv"))])
    cfgs = {s: load_config(config_files(s)) for s in measured["size"].unique()}
    pts = []
    for _, r in measured.iterrows():
        z = sizes(cfgs[r["size"]], r["rule"], json.loads(r["wildcards"]))
        pts.append({**r, **{k: z[k] for k in ("cls", "S", "S_mem")}, "deep": z.get("deep")})
    pts = pd.DataFrame(pts)
    paper = load_config(["config/paper.yaml"])
    jobs = []
    for j in paper_jobs():
        z = sizes(paper, j["rule"], j["wildcards"])
        jobs.append({"rule": j["rule"], "wildcards": json.dumps(j["wildcards"], sort_keys=True), **z})
    jobs = pd.DataFrame(jobs)
    gpu_rules = {"train_finite", "train_memorization", "train_width"} if paper["training"]["gpu"] else set()
    rows, per_job = [], []
    for cls, grp in jobs.groupby("cls", sort=True):
        m = pts[pts["cls"] == cls]
        if m.empty:
            raise SystemExit(f"no measurement for cost class {cls}: run the sizes again")
        # a job shorter than the first benchmark sample shows only its shell (a few MB,
        # no CPU): not a measurement
        if (m["max_rss_mb"] >= UNSAMPLED_MB).any():
            m = m[m["max_rss_mb"] >= UNSAMPLED_MB]
        if "deep" in m and m["deep"].eq(True).any():
            # kernels: paper jobs compute hidden layers; depth-0 jobs (input covariance
            # only) do not measure a layer's cost
            m = m[m["deep"].eq(True)]
        a_c, b_c = nnls_line(m["S"], m["cpu_s"])
        # a slope whose rise over the measured range is within the noise of a job's
        # start-up is not resolved: bound it by that noise (an upper bound, labelled)
        span = m["S"].max() - m["S"].min()
        resolved = bool(span > 0 and b_c * span >= NOISE_CPU_S) or jobs_at_measured(grp, m)
        if not resolved and span > 0:
            b_c = NOISE_CPU_S / span
        a_w, b_w = nnls_line(m["S"], m["wall_s"])
        mem = m.dropna(subset=["max_rss_mb"])
        m0, c = nnls_line(mem["S_mem"], mem["max_rss_mb"])
        budget = grp["law"].iloc[0].find("memory_mb") >= 0  # blocks sized to kernels.memory_mb
        rule = grp["rule"].iloc[0]
        gpu = rule in gpu_rules
        for _, j in grp.iterrows():
            cpu_s = a_c + b_c * j["S"]
            if cls in NOT_MEASURABLE:  # no hidden layer measured: the recorded extrapolation
                per_layer_pair_s, pair_mb = NOT_MEASURABLE[cls]
                cpu_s = per_layer_pair_s * j["pairs"] * (j["layers"] - 1) * j["sigmas"]
            if gpu:  # start-up as measured here, the FLOPs at the assumed GPU rate
                run_s = a_c + j["flops"] / GPU_FLOPS
            else:  # one core's CPU time: a job with >= 1 dedicated core takes at most this
                run_s = cpu_s
            per_job.append(
                {
                    "cls": cls,
                    "rule": j["rule"],
                    "wildcards": j["wildcards"],
                    "device": "gpu" if gpu else "cpu",
                    "predicted_runtime_min": run_s / 60,
                    "predicted_cpu_hours": cpu_s / 3600,
                    "predicted_peak_mb": (
                        pair_mb
                        if cls in NOT_MEASURABLE
                        else mem["max_rss_mb"].max() + CUDA_HOST_MB
                        if gpu
                        else mem["max_rss_mb"].max() + j["S_mem"]
                        if budget
                        else m0 + c * j["S_mem"]
                    ),
                    "S": j["S"],
                    "S_mem": j["S_mem"],
                }
            )
        pj = pd.DataFrame([p for p in per_job if p["cls"] == cls])
        sizes_s = "; ".join(
            f"{s}: S={g['S'].max():.3g} cpu={g['cpu_s'].max():.1f}s wall={g['wall_s'].max():.1f}s "
            f"rss={g['max_rss_mb'].max():.0f}MB"
            for s, g in m.groupby("size")
        )
        rows.append(
            {
                "class": cls,
                "rule": rule,
                "jobs": len(grp),
                "device": pj["device"].iloc[0],
                "local": rule in local_rules(),
                "runtime_min_per_job": round(pj["predicted_runtime_min"].max(), 2),
                "runtime_min_per_job_min": round(pj["predicted_runtime_min"].min(), 2),
                "cpu_hours_total": round(pj["predicted_cpu_hours"].sum(), 3),
                "gpu_hours_total": round(pj["predicted_runtime_min"].sum() / 60, 3)
                if pj["device"].iloc[0] == "gpu"
                else 0.0,
                "peak_mb_per_job": round(pj["predicted_peak_mb"].max()),
                "feasible": bool(
                    pj["predicted_runtime_min"].max() <= MAX_RUNTIME_MIN and pj["predicted_peak_mb"].max() <= MAX_MEM_MB
                ),
                "cpu_s_law": f"{a_c:.3g} + {b_c:.3g}*S",
                "wall_s_law": f"{a_w:.3g} + {b_w:.3g}*S",
                "rss_mb_law": (
                    f"max measured + {CUDA_HOST_MB} (GPU job: host memory)"
                    if pj["device"].iloc[0] == "gpu"
                    else f"{m0:.4g} + {c:.3g}*S_mem"
                ),
                "law": grp["law"].iloc[0]
                + (
                    "; prediction NOT from these runs (depth 0 only): the 8x8 extrapolation in "
                    "config/paper_check.yaml, per layer and example pair"
                    if cls in NOT_MEASURABLE
                    else ""
                ),
                "S_paper": f"{grp['S'].max():.4g}",
                "S_mem_paper": f"{grp['S_mem'].max():.4g}",
                "measured": sizes_s,
                "extrapolation": round(float(grp["S"].max() / m["S"].max()), 1),
                "slope_resolved": resolved,
            }
        )
    table = pd.DataFrame(rows)
    table["request_mem_mb"] = [int(max(2000, -(-MARGIN_MEM * m // 500) * 500)) for m in table["peak_mb_per_job"]]
    table["request_runtime_min"] = [
        int(max(30, -(-(MARGIN_TIME * t + 5) // 10) * 10)) for t in table["runtime_min_per_job"]
    ]
    # GPU jobs: host memory and runtime not below the config's training.mem_mb/runtime
    # (the GPU side is not measured; training.max_minutes assumes that runtime)
    gpu_rows = table["device"] == "gpu"
    table.loc[gpu_rows, "request_mem_mb"] = table.loc[gpu_rows, "request_mem_mb"].clip(
        lower=paper["training"]["mem_mb"]
    )
    table.loc[gpu_rows, "request_runtime_min"] = table.loc[gpu_rows, "request_runtime_min"].clip(
        lower=paper["training"]["runtime"]
    )
    table.to_csv(out, index=False)
    sized_rules = {
        "kernel_sweep",
        "comparison_sweep",
        "pooling_correction",
        "freeze_chaos",
        "training_lr_finite",
        "training_lr_memorization",
        "training_lr_width",
        "width_infinite",
        "train_finite",
        "train_memorization",
        "train_width",
    }
    print("# config/paper.yaml `resources:` (first attempt; bench/paper_cost.csv)")
    for _, r in table.iterrows():
        if r["rule"] in sized_rules and r["feasible"] and not r["local"]:
            print(f'  "{r["class"]}": {{mem_mb: {r["request_mem_mb"]}, runtime: {r["request_runtime_min"]}}}')
    pd.DataFrame(per_job).to_csv(out.with_name("paper_cost_jobs.csv"), index=False)
    print(
        table[
            ["class", "jobs", "device", "runtime_min_per_job", "peak_mb_per_job", "feasible", "extrapolation"]
        ].to_string(index=False)
    )
    cpu = table.loc[table["device"] == "cpu", "cpu_hours_total"].sum()
    print(f"total: {cpu:.1f} CPU-hours, {table['gpu_hours_total'].sum():.1f} GPU-hours ({GPU_NAME})")


def fmt_minutes(m: float) -> str:
    if m < 1:
        return f"{m * 60:.0f} s"
    if m < 120:
        return f"{m:.0f} min"
    if m < 48 * 60:
        return f"{m / 60:.1f} h"
    return f"{m / 60 / 24:,.0f} d"


def markdown(path: Path = ROOT / "bench" / "paper_cost.csv") -> str:
    """The README table: one row per cost class."""
    import pandas as pd

    t = pd.read_csv(path)
    lines = [
        "| rule [class] | jobs | time per job | peak memory | device | first attempt | basis |",
        "|---|--:|--:|--:|---|---|---|",
    ]
    for _, r in t.iterrows():
        dev = "GPU (assumed rate)" if r["device"] == "gpu" else "submit host" if r["local"] else "CPU"
        req = "local" if r["local"] else f"{r['request_mem_mb'] / 1000:g} GB, {fmt_minutes(r['request_runtime_min'])}"
        if not r["feasible"]:
            req = "**infeasible**"
        if r["device"] == "gpu":
            basis = "FLOPs counted (job at paper size), GPU rate assumed"
        elif r["class"] in NOT_MEASURABLE:
            basis = "not measurable here (8×8 extrapolation)"
        elif r["law"].startswith("constant"):
            basis = "assumed constant (small tables)"
        elif r["extrapolation"] <= 1:
            basis = "measured at paper size"
        else:
            basis = f"×{r['extrapolation']:,.0f} extrapolated" + ("" if r["slope_resolved"] else ", upper bound")
        t_job = fmt_minutes(r["runtime_min_per_job"])
        if r["runtime_min_per_job_min"] < 0.5 * r["runtime_min_per_job"]:
            t_job = f"{fmt_minutes(r['runtime_min_per_job_min'])}–{t_job}"
        lines.append(
            f"| `{r['class']}` | {r['jobs']} | {t_job} | {r['peak_mb_per_job'] / 1000:.1f} GB | {dev} "
            f"| {req} | {basis} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="measurement runs")
    r.add_argument("sizes", nargs="+")
    r.add_argument("--work", type=Path, default=Path("/tmp/ntk_paper_cost"))
    sub.add_parser("fit", help="fit the laws, extrapolate to config/paper.yaml")
    sub.add_parser("table", help="the README table from bench/paper_cost.csv")
    args = p.parse_args(argv)
    if args.cmd == "run":
        for size in args.sizes:
            run_size(size, args.work / size)
    elif args.cmd == "table":
        print(markdown())
    else:
        fit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
