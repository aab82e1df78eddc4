"""Benchmark of the notebook's F6 computation: its authors' code structure against ours.

Ratios from one run, on CIFAR-shaped data made here (random 32×32×3 uint8 images and
labels in a temporary npz file, prepared by ``ntk_phases.data.prepare('npz', ...)`` and
written by ``data.save`` as the data rule does), at the notebook's F6 settings (SPEC §6):
256 train / 10 000 test, 40 σ_w² = linspace(0.5, 3, 40), σ_b² = 0.18, depths 0…9 then
10, 15, …, 105, t = 8^k (k = 0…4).

- **anchor**: the F6 computation structured as the authors wrote it, on the pinned stack
  (written here from SPEC §6, not copied): jit + vmap over σ_w², ``lax.scan`` over the
  depth checkpoints, ``fori_loop`` applying ``stax.serial(Dense(σ_w, σ_b), Erf())``'s
  kernel_fn to the running Kernels of (x_test, x_train) and (x_train, None) from the
  read-in ``Dense(W_std=1)``, then ``nt.predict.gradient_descent_mse(Θ_dd, y_train)``
  (learning rate 1) at t with zero initial outputs, argmax accuracy. Two variants:
  ``closure`` (the headline), the data as globals of the jitted function as a notebook
  cell has them (XLA then constant-folds the input kernels at compile time: ~2 minutes
  of compile, and the ~3 GB peak SPEC §6 reports), and ``args``, the same with the data
  passed as jit arguments (seconds of compile, half the memory). Each runs a stated
  subset of σ_w² (``--anchor-sigmas``), scaled linearly to the grid as one vmapped call
  would run it: process start, imports, data and compile once, run time per σ_w²; the
  closure line also shows SPEC §6's way (69 s per σ_w² × 40: start and compile per
  value). On neural-tangents 0.6.5 the predictor computes its eigendecomposition under
  ``jax.core.eval_context()``, which leaks tracers inside ``lax.scan``; the notebook's
  patch ``nt.predict._arr_is_on_cpu`` no longer exists there (it is nested in
  ``_is_on_cpu``, used only by ``max_learning_rate``, whose η the F6 code never uses, so
  the anchor leaves η out), so the anchor replaces ``jax.core.eval_context`` by a null
  context.
- **ours**: the real job, ``python -m ntk_phases kernels sweep`` with a config JSON as
  the kernels rule builds it (``convention: notebook``), one job per chunk of σ_w²
  (``sigma_chunk`` and ``memory_mb`` from ``config/notebook.yaml``), run the way
  ``snakemake --cores 2`` runs them: two side by side (one thread each), each next one
  starting when one ends, with the rule's environment (one BLAS thread, the run's shared
  JAX compilation cache). Then the same with ``convention: ours`` (the default: data
  prepared our way, centred targets, η = 2/λ_max, the expected accuracy of the network
  with its random initial function).

Each side runs in its own subprocesses; peak memory is each process's max RSS
(``os.wait4``). Printed: wall times, ratios, peak RSS, the largest file each side writes,
and whether the accuracies agree (at every (σ_w², depth, t) the anchor ran; points where
the anchor's own prediction is undecided at float64 rounding, top two classes within
1e-9, are counted apart). Train labels are drawn with distinct class counts, so that
deep in the ordered phase, where every prediction follows the class counts, argmax has
no exact ties. Targets: ≥ 10× the anchor, peak ≤ 4 GB, no file over 100 MB; ours ≥ 6×.

Usage: ``python bench/bench_f6.py [--quick] [--anchor-sigmas N]``. The full run takes
about 15–25 minutes on 2 cores (the anchor's share dominates). ``--quick`` (under 2
minutes): 1 000 test points, 4 σ_w² (every 10th, chunks of 2), the anchor on 1 σ_w²;
its ratios are dominated by fixed costs (imports, compiles). Wall times on a
shared machine are noisy: the load average is printed at each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIGMA_B2 = 0.18
DEPTHS = {"dense_until": 10, "max": 105, "step": 5}  # 0…9, 10, 15, …, 105
TIMES = [1.0, 8.0, 64.0, 512.0, 4096.0]  # 8^k, k = 0…4
GRID = {"min": 0.5, "max": 3.0, "num": 40}


def load_avg() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


# ----------------------------------------------------------------------------
# the anchor (runs in its own process: --worker anchor)
# ----------------------------------------------------------------------------


def anchor_worker(args) -> None:
    t_start = time.perf_counter()
    import contextlib

    import jax

    import ntk_phases.analytic  # noqa: F401  (x64 and the TensorFlow deferral, as the jobs set them up)

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import neural_tangents as nt
    from jax import lax
    from neural_tangents import stax

    from ntk_phases.config import depth_list

    # see the module docstring: neural-tangents 0.6.5's predictor leaks tracers in scan
    jax.core.eval_context = contextlib.nullcontext

    with np.load(args.data) as f:
        x_train = f["x_train"].reshape(len(f["x_train"]), -1)
        x_test = f["x_test"].reshape(len(f["x_test"]), -1)
        y_train, y_test = f["y_train"].astype(np.float64), f["y_test"].astype(np.float64)
    layers = np.asarray(depth_list(DEPTHS))
    steps = np.diff(layers, prepend=0)  # layers added between checkpoints
    ts = jnp.asarray(TIMES)

    def accuracy(fx, y):
        """Argmax accuracy, and whether some point's top two outputs are within 1e-9."""
        top2 = jnp.sort(fx, axis=-1)[..., -2:]
        undecided = jnp.any(top2[..., 1] - top2[..., 0] <= 1e-9 * jnp.max(jnp.abs(fx)), axis=-1)
        hit = (jnp.argmax(fx, -1) == jnp.argmax(y, -1)).astype(jnp.float64)
        return jnp.mean(hit, axis=-1), undecided

    def f6(w_var, x_train, y_train, x_test, y_test):
        w_std, b_std = jnp.sqrt(w_var), jnp.sqrt(SIGMA_B2)
        _, _, readin_fn = stax.Dense(1, W_std=1.0)
        _, _, layer_fn = stax.serial(stax.Dense(1, W_std=w_std, b_std=b_std), stax.Erf())
        # the carry keeps one pytree structure: the read-in output is relabelled as a
        # post-activation Kernel (the next Dense marks it Gaussian again)
        k_dd = readin_fn(x_train, None).replace(is_gaussian=False)
        k_td = readin_fn(x_test, x_train).replace(is_gaussian=False)

        def checkpoint(carry, n_layers):
            k_dd, k_td = carry
            k_dd = lax.fori_loop(0, n_layers, lambda i, k: layer_fn(k), k_dd)
            k_td = lax.fori_loop(0, n_layers, lambda i, k: layer_fn(k), k_td)
            predict = nt.predict.gradient_descent_mse(k_dd.ntk, y_train)
            fx_train, fx_test = predict(ts, 0.0, 0.0, k_td.ntk)
            return (k_dd, k_td), (*accuracy(fx_train, y_train), *accuracy(fx_test, y_test))

        return lax.scan(checkpoint, (k_dd, k_td), jnp.asarray(steps))[1]

    w_var = jnp.asarray(args.sigma_w2)
    if args.anchor_data == "closure":
        # as a notebook cell writes it: the data are globals of the jitted function, so
        # XLA sees them as constants (and folds the input kernels at compile time)
        fn = jax.jit(jax.vmap(lambda w: f6(w, x_train, y_train, x_test, y_test)))
        operands = (w_var,)
    else:
        fn = jax.jit(jax.vmap(f6, in_axes=(0, None, None, None, None)))
        operands = (w_var, x_train, y_train, x_test, y_test)
    t0 = time.perf_counter()
    compiled = fn.lower(*operands).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(*operands))
    t2 = time.perf_counter()
    acc_train, und_train, acc_test, und_test = (np.asarray(a) for a in out)
    np.savez(
        args.out,
        sigma_w2=np.asarray(args.sigma_w2),
        depths=layers,
        t=np.asarray(TIMES),
        train_acc=acc_train,
        test_acc=acc_test,
        train_undecided=und_train,
        test_undecided=und_test,
    )
    Path(args.out).with_suffix(".json").write_text(
        json.dumps({"setup_s": t0 - t_start, "compile_s": t1 - t0, "run_s": t2 - t1})
    )


# ----------------------------------------------------------------------------
# processes: run, measure max RSS, schedule like snakemake --cores N
# ----------------------------------------------------------------------------


def run_processes(commands, parallel, env, log_dir):
    """Run ``commands`` (lists), at most ``parallel`` at once, in order; returns the
    total wall time and, per command, (wall seconds, max RSS bytes, exit code, CPU
    seconds: user + system)."""
    pending = list(enumerate(commands))
    running, results = {}, {}
    t0 = time.perf_counter()
    while pending or running:
        while pending and len(running) < parallel:
            i, cmd = pending.pop(0)
            log = open(Path(log_dir) / f"job{i}.log", "w")
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            running[p.pid] = (i, p, log, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        i, p, log, start = running.pop(pid)
        p.returncode = os.waitstatus_to_exitcode(status)
        log.close()
        results[i] = (
            time.perf_counter() - start,
            usage.ru_maxrss * 1024,
            p.returncode,
            usage.ru_utime + usage.ru_stime,
        )
    return time.perf_counter() - t0, [results[i] for i in range(len(commands))]


def check(results, log_dir, what):
    for i, (_, _, rc, _) in enumerate(results):
        if rc != 0:
            tail = (Path(log_dir) / f"job{i}.log").read_text()[-3000:]
            raise SystemExit(f"{what} job {i} failed (exit {rc}):\n{tail}")


def largest_file(*roots) -> tuple[int, str]:
    best = (0, "")
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                best = max(best, (path.stat().st_size, str(path.relative_to(Path(root).parent))))
    return best


def job_env(cache_dir=None) -> dict:
    """The kernels rule's environment (workflow/rules/common.smk): one BLAS thread, and
    the run's shared compilation cache, which the job opens (ntk_phases.cli)."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    for key in ("NTK_PHASES_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(key, None)
    if cache_dir is not None:
        env["NTK_PHASES_JAX_CACHE"] = str(cache_dir)
    return env


# ----------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------


def make_data(work: Path, n_train: int, n_test: int) -> Path:
    """Random CIFAR-shaped uint8 images; train labels with distinct class counts."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n_train + n_test, 32, 32, 3), dtype=np.uint8)
    counts = 16 + 2 * np.arange(10)
    counts[-1] += n_train - counts.sum()  # 16, 18, …, 32, rest (40 for 256)
    y_train = rng.permutation(np.repeat(np.arange(10), counts))
    y_test = rng.integers(0, 10, n_test)
    raw = work / "cifar_like.npz"
    np.savez(raw, x_train=x[:n_train], y_train=y_train, x_test=x[n_train:], y_test=y_test)
    return raw


def prepare(raw: Path, out_dir: Path, n_train: int, n_test: int, convention: str) -> Path:
    from ntk_phases import data as data_mod

    out_dir.mkdir(parents=True, exist_ok=True)
    arrays, meta = data_mod.prepare("npz", n_train, n_test, seed=0, path=str(raw), convention=convention)
    npz = out_dir / "npz.npz"
    data_mod.save(arrays, meta, str(npz), str(out_dir / "npz.json"))
    return npz


def notebook_settings() -> tuple[int, float, int]:
    """sigma_chunk, memory_mb and threads of the fcn kernels jobs in config/notebook.yaml."""
    import yaml

    chunk, memory_mb, threads = 8, 2000.0, 1
    for name in ("config.yaml", "notebook.yaml"):
        path = ROOT / "config" / name
        if not path.exists():
            continue
        k = (yaml.safe_load(path.read_text()) or {}).get("kernels", {})
        memory_mb = k.get("memory_mb", memory_mb)
        threads = k.get("resources", {}).get("threads", threads)
        chunk = k.get("architectures", {}).get("fcn", {}).get("sigma_chunk", chunk)
    return int(chunk), float(memory_mb), int(threads)


def run_ours(work: Path, data: Path, sw2, n_train, n_test, convention, chunk, memory_mb, parallel):
    from ntk_phases import config as ntk_config

    out = work / f"ours_{convention}"
    out.mkdir()
    commands = []
    for i, values in enumerate(ntk_config.chunks(list(sw2), chunk)):
        cfg = {
            "arch": {"n_train": n_train, "n_test": n_test, "depths": DEPTHS},
            "sigma_w2": values,
            "sigma_b2": SIGMA_B2,
            "tanh_deg": 64,
            "memory_mb": memory_mb,
            "convention": convention,
            "times": TIMES,
            "rcond": None,
        }
        commands.append(
            [
                sys.executable,
                "-m",
                "ntk_phases",
                "kernels",
                "sweep",
                "--arch",
                "fcn",
                "--activation",
                "erf",
                "--data",
                str(data),
                "--dataset",
                "npz",
                "--config-json",
                json.dumps(cfg),
                "--out",
                str(out / f"chunk{i}.csv"),
            ]
        )
    wall, results = run_processes(commands, parallel, job_env(out / ".jax_cache"), out)
    check(results, out, f"ours ({convention})")
    return out, wall, results


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 000 test points, 4 σ_w², under 2 minutes")
    p.add_argument(
        "--anchor-sigmas", type=int, default=None, help="σ_w² values the anchor runs (default: 2 full, 1 quick)"
    )
    p.add_argument("--cores", type=int, default=2, help="cores the jobs share (snakemake --cores)")
    p.add_argument("--skip-ours-default", action="store_true", help="leave out convention: ours")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    p.add_argument("--worker", choices=["anchor"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--sigma-w2", type=float, nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--anchor-data", choices=["closure", "args"], default="closure", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "anchor":
        return anchor_worker(args)

    import jax
    import pandas as pd

    from ntk_phases import config as ntk_config

    t_bench = time.perf_counter()
    n_train, n_test = 256, (1000 if args.quick else 10_000)
    sw2_all = ntk_config.grid(GRID)
    sw2 = sw2_all[::10] if args.quick else sw2_all
    n_anchor = args.anchor_sigmas or (1 if args.quick else 2)
    # anchor subset: spread over the grid, one ordered and one chaotic value first
    picks = [12, 30, 5, 20, 35, 0, 39][:n_anchor] if not args.quick else [30, 12][:n_anchor]
    sw2_anchor = [sw2_all[i] for i in picks]
    chunk, memory_mb, threads = notebook_settings()
    if args.quick:
        chunk = 2
    parallel = max(1, args.cores // threads)
    n_depths = len(ntk_config.depth_list(DEPTHS))
    print(
        f"bench_f6 ({'quick' if args.quick else 'full'}): jax {jax.__version__}, "
        f"{jax.devices()[0].platform}, python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"load average {load_avg()} (1/5/15 min)"
    )
    print(
        f"grid: {len(sw2)} σ_w² in [0.5, 3] (linspace(0.5, 3, 40){'[::10]' if args.quick else ''}), "
        f"σ_b² = {SIGMA_B2}, {n_depths} depths 0..9, 10..105 step 5, t = 8^k (k = 0..4); erf; "
        f"{n_train} train / {n_test} test random 32x32x3 uint8 images"
    )

    work = Path(tempfile.mkdtemp(prefix="bench_f6_"))
    try:
        raw = make_data(work, n_train, n_test)
        t0 = time.perf_counter()
        data_nb = prepare(raw, work / "data_notebook", n_train, n_test, "notebook")
        data_ours = prepare(raw, work / "data_ours", n_train, n_test, "ours")
        data_file = data_nb.stat().st_size
        print(
            f"data: data.prepare('npz', convention=...) + data.save, both conventions: "
            f"{time.perf_counter() - t0:.1f} s; each prepared file {data_file / 1e6:.0f} MB "
            f"(float64, written by the data rule, input to both sides)"
        )

        # -- anchor --------------------------------------------------------------
        anchors = {}
        for variant in ("closure", "args"):
            anchor_dir = work / f"anchor_{variant}"
            anchor_dir.mkdir()
            out_npz = anchor_dir / "anchor.npz"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "anchor",
                "--anchor-data",
                variant,
                "--data",
                str(data_nb),
                "--sigma-w2",
                *map(repr, sw2_anchor),
                "--out",
                str(out_npz),
            ]
            load0 = load_avg()
            wall_a, [(_, rss_a, rc, cpu_a)] = run_processes([cmd], 1, job_env(), anchor_dir)
            check([(0, 0, rc, 0)], anchor_dir, "anchor")
            tim = json.loads(out_npz.with_suffix(".json").read_text())
            fixed = wall_a - tim["compile_s"] - tim["run_s"]
            per_sigma = tim["run_s"] / len(sw2_anchor)
            total = fixed + tim["compile_s"] + per_sigma * len(sw2)
            size_a, name_a = largest_file(anchor_dir)
            # CPU seconds (all threads), scaled the same way: less sensitive to other load
            cpu_total = cpu_a * total / wall_a
            anchors[variant] = {
                "total": total,
                "rss": rss_a,
                "npz": out_npz,
                "size": size_a,
                "per_sigma_wall": wall_a / len(sw2_anchor),
                "cpu": cpu_total,
            }
            how = (
                "as a notebook cell writes it: data are globals of the jitted function (XLA "
                "constant-folds the input kernels)"
                if variant == "closure"
                else "the same with the data passed as jit arguments"
            )
            print(
                f"anchor [{variant}] ({how}): {len(sw2_anchor)} of {len(sw2)} σ_w² "
                f"({', '.join(f'{s:.3f}' for s in sw2_anchor)}), vmapped together: wall {wall_a:.1f} s "
                f"(process start, imports and data {fixed:.1f} s, compile {tim['compile_s']:.1f} s, "
                f"run {tim['run_s']:.1f} s = {per_sigma:.1f} s per σ_w²); peak RSS {rss_a / 1e9:.2f} GB; "
                f"largest file written {size_a / 1e6:.2f} MB; CPU {cpu_a:.1f} s; load {load0} -> {load_avg()}"
            )
            print(
                f"  scaled linearly to {len(sw2)} σ_w² (run x {len(sw2)}/{len(sw2_anchor)}, start and "
                f"compile once, as one vmapped call): {total:.0f} s, ~{cpu_total:.0f} CPU-s"
                + (
                    f"  [counting start and compile per σ_w², as SPEC §6's 69 s x 40: "
                    f"{wall_a / len(sw2_anchor) * len(sw2):.0f} s]"
                    if variant == "closure"
                    else ""
                )
            )
        anchor_total, rss_a, out_npz = (anchors["closure"][k] for k in ("total", "rss", "npz"))
        size_a = max(a["size"] for a in anchors.values())

        # -- ours, convention notebook ------------------------------------------
        load0 = load_avg()
        out_nb, wall_nb, res_nb = run_ours(work, data_nb, sw2, n_train, n_test, "notebook", chunk, memory_mb, parallel)
        size_nb, name_nb = largest_file(out_nb)
        peak_nb = max(r[1] for r in res_nb)
        walls = [r[0] for r in res_nb]
        print(
            f"ours (convention: notebook; `python -m ntk_phases kernels sweep`): {len(res_nb)} jobs "
            f"(sigma_chunk {chunk}, memory_mb {memory_mb:g}), {parallel} side by side as "
            f"snakemake --cores {args.cores} runs them: wall {wall_nb:.1f} s (jobs {min(walls):.1f}-"
            f"{max(walls):.1f} s each, {sum(walls):.0f} job-seconds, {sum(r[3] for r in res_nb):.0f} CPU-s); "
            f"peak RSS {peak_nb / 1e9:.2f} GB "
            f"per job; largest file written {size_nb / 1e6:.2f} MB ({name_nb}); load {load0} -> "
            f"{load_avg()}"
        )
        ratio = anchor_total / wall_nb
        print(
            f"ratio anchor / ours (notebook): {ratio:.1f}x (target >= 10x: "
            f"{'met' if ratio >= 10 else 'NOT met'}); against the anchor with data as jit "
            f"arguments {anchors['args']['total'] / wall_nb:.1f}x; against start and compile per "
            f"σ_w² {anchors['closure']['per_sigma_wall'] * len(sw2) / wall_nb:.1f}x; in CPU-s "
            f"{anchors['closure']['cpu'] / sum(r[3] for r in res_nb):.1f}x (closure), "
            f"{anchors['args']['cpu'] / sum(r[3] for r in res_nb):.1f}x (args)"
        )
        print(
            f"peak RSS: ours {peak_nb / 1e9:.2f} GB per job, "
            f"{sum(sorted(r[1] for r in res_nb)[-parallel:]) / 1e9:.2f} GB "
            f"for the {parallel} largest together (target <= 4 GB: {'met' if peak_nb <= 4e9 else 'NOT met'}); "
            f"anchor {rss_a / 1e9:.2f} GB with {len(sw2_anchor)} σ_w²; largest file written: ours "
            f"{size_nb / 1e6:.2f} MB, anchor {size_a / 1e6:.2f} MB (target <= 100 MB: "
            f"{'met' if max(size_nb, size_a) <= 100e6 else 'NOT met'}; the prepared dataset both read, "
            f"{data_file / 1e6:.0f} MB, is {'over' if data_file > 100e6 else 'within'} it)"
        )

        # -- accuracies ----------------------------------------------------------
        ours_tab = pd.concat([pd.read_csv(f) for f in sorted(out_nb.glob("chunk*.csv"))])
        a = np.load(out_npz)
        rows = []
        for si, s in enumerate(a["sigma_w2"]):
            for di, depth in enumerate(a["depths"]):
                for ti, t in enumerate(a["t"]):
                    for split in ("train", "test"):
                        rows.append(
                            {
                                "sigma_w2": s,
                                "depth": int(depth),
                                "t": t,
                                "split": split,
                                "anchor": a[f"{split}_acc"][si, di, ti],
                                "undecided": bool(a[f"{split}_undecided"][si, di, ti]),
                            }
                        )
        ref = pd.DataFrame(rows)
        long = ours_tab.melt(
            id_vars=["sigma_w2", "depth", "t"],
            value_vars=["train_acc", "test_acc"],
            var_name="split",
            value_name="ours",
        )
        long["split"] = long["split"].str.replace("_acc", "")
        both = ref.merge(long, on=["sigma_w2", "depth", "t", "split"], validate="one_to_one")
        assert len(both) == len(ref), (len(both), len(ref))
        same = np.isclose(both["anchor"], both["ours"], rtol=0, atol=1e-12)
        decided = ~both["undecided"]
        differ = both[decided & ~same]
        where = (
            f"; they differ at {len(differ)}: σ_w² {sorted(set(np.round(differ['sigma_w2'], 3)))}, "
            f"depths {sorted(set(differ['depth']))}, max |Δ| {np.max(np.abs(differ['anchor'] - differ['ours'])):.3g}"
            if len(differ)
            else ""
        )
        print(
            f"accuracies (train and test, {len(sw2_anchor)} σ_w² x {n_depths} depths x {len(TIMES)} t = "
            f"{len(both)} values): {'agree' if differ.empty else 'DIFFER'} at "
            f"{int(same[decided].sum())}/{int(decided.sum())} values where the anchor's prediction is "
            f"decided{where}; {int((~decided).sum())} undecided values (top two outputs within 1e-9), "
            f"{int(same[~decided].sum())} of them agree"
        )

        # -- ours, convention ours (default) -------------------------------------
        if not args.skip_ours_default:
            load0 = load_avg()
            out_o, wall_o, res_o = run_ours(work, data_ours, sw2, n_train, n_test, "ours", chunk, memory_mb, parallel)
            size_o, name_o = largest_file(out_o)
            peak_o = max(r[1] for r in res_o)
            walls = [r[0] for r in res_o]
            ratio_o = anchor_total / wall_o
            print(
                f"ours (convention: ours, the default: expected accuracy with the random initial "
                f"function): {len(res_o)} jobs, {parallel} side by side: wall {wall_o:.1f} s (jobs "
                f"{min(walls):.1f}-{max(walls):.1f} s, {sum(walls):.0f} job-seconds, "
                f"{sum(r[3] for r in res_o):.0f} CPU-s); peak RSS "
                f"{peak_o / 1e9:.2f} GB per job; largest file written {size_o / 1e6:.2f} MB ({name_o}); "
                f"load {load0} -> {load_avg()}"
            )
            print(
                f"ratio anchor / ours (ours): {ratio_o:.1f}x (target >= 6x: "
                f"{'met' if ratio_o >= 6 else 'NOT met'}); against the anchor with data as jit "
                f"arguments {anchors['args']['total'] / wall_o:.1f}x; against start and compile per "
                f"σ_w² {anchors['closure']['per_sigma_wall'] * len(sw2) / wall_o:.1f}x; in CPU-s "
                f"{anchors['closure']['cpu'] / sum(r[3] for r in res_o):.1f}x (closure), "
                f"{anchors['args']['cpu'] / sum(r[3] for r in res_o):.1f}x (args)"
            )
        print(f"bench_f6 total {time.perf_counter() - t_bench:.0f} s; load average {load_avg()}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
