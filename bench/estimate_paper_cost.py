"""Device-hours of a config's finite-width training jobs, from XLA FLOP counts and a step
time measured on this device.

    python bench/estimate_paper_cost.py                       # config/paper.yaml, this device
    python bench/estimate_paper_cost.py --config config/config.yaml

For every training job the workflow makes from the config's ``training`` section (one per
(arch, activation, depth) of ``grid``, per architecture/depth of ``architectures`` when
present, the ``memorization`` job, one per width of ``width``), the FLOPs of one training
step of its whole block of models come from XLA's cost analysis of the compiled step
(``bench_train.step_flops``: depths ≥ 2 extrapolated exactly from depths 1 and 2); a job's
FLOPs are steps × that, plus its evaluations (``n_record`` forward passes over train and
test, counted as a third of a training step per batch of examples). The costliest shallow
job of each architecture is timed here for a few steps, giving this device's achieved
FLOP/s for that architecture; device-hours = FLOPs / that rate. GPU-hours for devices we
have not measured are printed at an *assumed* fraction of their fp32 peak
(``--assumed-efficiency``), labelled as such.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import jax
import yaml
from snakemake.utils import update_config

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import bench_train as B  # noqa: E402

from ntk_phases import config as ntk_config  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
IMAGE = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "digits": (8, 8, 1)}


def load_config(path: str) -> dict:
    """``config/config.yaml`` with ``path`` merged over it, as Snakemake's --configfile does."""
    with open(os.path.join(ROOT, "config", "config.yaml")) as f:
        config = yaml.safe_load(f)
    with open(path) as f:
        update_config(config, yaml.safe_load(f))
    return config


def training_jobs(cfg: dict) -> list[dict]:
    """The training jobs of a config: shape of each block and how long it trains."""
    tr, ds = cfg["training"], cfg["dataset"]
    n_train_default, n_test_default = ds["n_train"], ds["n_test"]
    jobs = []
    g = tr["grid"]
    n_sw = len(ntk_config.grid(g["sigma_w2"]))
    for arch in g["archs"]:
        for act in g["activations"]:
            for depth in g["depths"]:
                jobs.append(
                    dict(
                        rule="train_finite[grid]",
                        arch=arch,
                        act=act,
                        depth=int(depth),
                        width=g["width"],
                        models=n_sw * len(g["seeds"]),
                        n_train=n_train_default,
                        n_test=n_test_default,
                        batch=g.get("batch_size"),
                        steps=g["n_steps"],
                        records=g["n_record"],
                    )
                )
    a = tr.get("architectures") or {}
    for arch in a.get("archs") or []:
        s = a[arch]
        for act in a.get("activations") or ["erf"]:
            for depth in s["depths"]:
                jobs.append(
                    dict(
                        rule="train_finite[architectures]",
                        arch=arch,
                        act=act,
                        depth=int(depth),
                        width=s["width"],
                        models=len(ntk_config.grid(s["sigma_w2"])) * len(s["seeds"]),
                        n_train=s.get("n_train") or n_train_default,
                        n_test=s.get("n_test") or n_test_default,
                        batch=s.get("batch_size"),
                        steps=s["n_steps"],
                        records=s["n_record"],
                    )
                )
    m = tr["memorization"]
    jobs.append(
        dict(
            rule="train_memorization",
            arch=m["arch"],
            act=m["activation"],
            depth=m["depth"],
            width=m["width"],
            models=2 * len(m["seeds"]),
            n_train=m["n_train"],
            n_test=m["n_test"] or ds["n_test"],
            batch=None,
            steps=m["n_steps"],
            records=m["n_record"],
        )
    )
    w = tr["width"]
    for width in w["widths"]:
        jobs.append(
            dict(
                rule="train_width",
                arch=w["arch"],
                act=w["activation"],
                depth=w["depth"],
                width=width,
                models=len(w["seeds"]),
                n_train=w["n_train"] or n_train_default,
                n_test=n_test_default,
                batch=None,
                steps=w["n_steps"],
                records=w["n_record"],
            )
        )
    return jobs


@functools.cache
def _data(n: int, shape: tuple) -> tuple:
    return B.make_data(n, 8, shape)


def step_flops_of(job: dict, shape: tuple) -> float:
    """XLA FLOPs of one training step of one model of ``job`` (batch as trained)."""
    batch = job["batch"] or job["n_train"]
    build = functools.partial(B.make_block, job["arch"], width=job["width"], n_models=1, data=_data(batch, shape))
    flops = B.step_flops(build, job["depth"])
    if flops is None:
        raise RuntimeError("XLA cost analysis gave no FLOP count on this backend")
    return flops


def job_flops(job: dict, per_step: float) -> float:
    batch = job["batch"] or job["n_train"]
    evals = job["records"] * (job["n_train"] + job["n_test"]) / batch * per_step / 3.0
    return job["models"] * (job["steps"] * per_step + evals)


def measured_rate(job: dict, shape: tuple, per_step: float, steps: int) -> tuple[float, float]:
    """(seconds per step, FLOP/s) of one model of ``job`` on this device."""
    batch = job["batch"] or job["n_train"]
    block = B.make_block(job["arch"], job["depth"], width=job["width"], n_models=1, data=_data(batch, shape))
    t = B.time_steps(block, steps, repeats=2)
    return t, per_step / t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default=os.path.join(ROOT, "config", "paper.yaml"))
    p.add_argument("--timing-steps", type=int, default=3, help="steps timed for the rate")
    p.add_argument(
        "--assumed-efficiency",
        type=float,
        default=0.5,
        help="fraction of fp32 peak assumed for devices not measured here",
    )
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    shape = IMAGE[cfg["dataset"]["name"]]
    jobs = training_jobs(cfg)
    dev = jax.devices()[0]
    print(
        f"# training cost of {os.path.relpath(args.config, ROOT)} ({cfg['dataset']['name']}, "
        f"images {shape}); device: {dev.platform} {getattr(dev, 'device_kind', '')}"
    )

    def key(j):
        return (j["arch"], j["depth"], j["width"], j["batch"] or j["n_train"])

    per_step_cache: dict[tuple, float] = {}
    total = 0.0
    by_rule: dict[str, list] = {}
    for job in jobs:
        if key(job) not in per_step_cache:
            per_step_cache[key(job)] = step_flops_of(job, shape)
        job["flops"] = job_flops(job, per_step_cache[key(job)])
        total += job["flops"]
        by_rule.setdefault(job["rule"], []).append(job)
    # the rate, per architecture (convolutions and matmuls run at different rates): the
    # job with the most FLOPs per step among those of depth <= 8 (cheap to time)
    rates = {}
    for arch in sorted({j["arch"] for j in jobs}):
        probe = max((j for j in jobs if j["arch"] == arch and j["depth"] <= 8), key=lambda j: per_step_cache[key(j)])
        t0 = time.perf_counter()
        sec, rates[arch] = measured_rate(probe, shape, per_step_cache[key(probe)], args.timing_steps)
        print(
            f"measured {arch}: {probe['rule']} depth {probe['depth']} width {probe['width']} batch "
            f"{probe['batch'] or probe['n_train']}: {sec * 1e3:.1f} ms/step/model = "
            f"{rates[arch] / 1e9:.1f} GFLOP/s on this device (timing took {time.perf_counter() - t0:.0f} s)"
        )
    for job in jobs:
        job["hours"] = job["flops"] / rates[job["arch"]] / 3600
    print(f"\n{'rule':28s} {'jobs':>5s} {'models':>7s} {'PFLOP':>9s} {'hours here':>11s}")
    for rule, js in by_rule.items():
        fl = sum(j["flops"] for j in js)
        print(
            f"{rule:28s} {len(js):5d} {sum(j['models'] for j in js):7d} {fl / 1e15:9.3f} "
            f"{sum(j['hours'] for j in js):11.2f}"
        )
    print(
        f"{'total':28s} {len(jobs):5d} {sum(j['models'] for j in jobs):7d} {total / 1e15:9.3f} "
        f"{sum(j['hours'] for j in jobs):11.2f}"
    )
    print(f"\nGPU-hours at an ASSUMED {args.assumed_efficiency:.0%} of fp32 (non-tensor-core) peak, not measured here:")
    for name, (peak, note) in B.PEAK_FP32.items():
        print(f"  {name:5s} {total / (args.assumed_efficiency * peak) / 3600:8.1f} GPU-hours  ({note})")
    biggest = max(jobs, key=lambda j: j["flops"])
    print(
        f"largest job: {biggest['rule']} {biggest['arch']} depth {biggest['depth']} width "
        f"{biggest['width']} ({biggest['models']} models): {biggest['flops'] / 1e15:.2f} PFLOP"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
