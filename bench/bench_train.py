"""Benchmark block training (``ntk_phases.train``): vmapped block vs a Python loop over the
same models, achieved FLOP/s, and time per training step against width and depth.

    python bench/bench_train.py --quick          # CPU, well under 2 minutes
    python bench/bench_train.py                  # bigger sizes (GPU)
    python bench/bench_train.py --json out.json  # also write the numbers

FLOPs per step come from XLA's cost analysis of one compiled training step of the block
(``compiled.cost_analysis()['flops']``). XLA counts a ``while``/``scan`` body once, and
hidden layers 2..l run in a ``lax.scan``, so the cost of depth ``l`` is extrapolated exactly
from depths 1 and 2 (identical hidden layers): ``F(l) = F(1) + (l − 1)(F(2) − F(1))``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from ntk_phases.finite import train as T  # noqa: E402

# fp32 peaks *without* tensor cores (precision="highest" disables TF32), dense, per GPU.
PEAK_FP32 = {
    "H100": (67e12, "H100 SXM fp32 non-tensor 67 TFLOP/s (PCIe: 51)"),
    "H200": (67e12, "H200 fp32 non-tensor 67 TFLOP/s (same die as H100 SXM)"),
    "A100": (19.5e12, "A100 fp32 non-tensor 19.5 TFLOP/s"),
    "V100": (15.7e12, "V100 fp32 15.7 TFLOP/s"),
}


def peak_for(device) -> tuple[float | None, str]:
    kind = getattr(device, "device_kind", "")
    for key, (peak, note) in PEAK_FP32.items():
        if key in kind:
            return peak, note
    return None, f"no peak known for {kind!r}"


def make_data(n_train, n_test, shape, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, *shape)).astype(np.float32)
    x *= np.sqrt(np.prod(shape)) / np.linalg.norm(x.reshape(len(x), -1), axis=1)[:, None, None, None]
    y = rng.integers(0, n_classes, len(x))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


# the schema defaults of the options not varied here (training.dtype, training.eval_batch_size,
# training.grid: full-batch gradient descent without momentum)
BLOCK_OPTIONS = dict(batch_size=None, momentum=0.0, dtype="float32", eval_batch_size=None)


def make_block(arch, depth, *, width, n_models, data, precision, model_batch_size):
    sw2 = np.linspace(1.0, 3.0, n_models)
    # η small enough that no model diverges (a diverged model costs the same anyway)
    return T.Block(
        arch,
        "erf",
        depth,
        width,
        sw2,
        0.05,
        [0],
        1e-4,
        *data,
        precision=precision,
        model_batch_size=model_batch_size,
        **BLOCK_OPTIONS,
    )


def time_steps(block, n_steps, state=None, repeats=3):
    """Seconds per step of ``block.run`` (best of ``repeats``, after a compile run)."""
    state = block.init_state() if state is None else state
    state = jax.block_until_ready(block.run(state, 1))  # the state is donated: chain it
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = jax.block_until_ready(block.run(state, n_steps))
        best = min(best, (time.perf_counter() - t0) / n_steps)
    return best


def block_step_flops(block) -> float | None:
    """XLA's FLOP count of one compiled training step of ``block`` (scan bodies once)."""
    state = block.init_state()
    step = jax.jit(functools.partial(_one_step, block.spec))
    ca = step.lower(state, block.consts).compile().cost_analysis()
    if isinstance(ca, (list, tuple)):
        ca = ca[0] if ca else {}
    return float(ca["flops"]) if ca and "flops" in ca else None


def step_flops(build, depth: int) -> float | None:
    """FLOPs of one block step at ``depth``; ``build(depth, model_batch_size=None)`` makes
    the block, all models vmapped (a ``lax.map`` over models would be a loop body counted
    once). Depths ≥ 2 are extrapolated from depths 1 and 2 (see the module docstring)."""
    build = functools.partial(build, model_batch_size=None)
    if depth <= 1:
        return block_step_flops(build(depth))
    f1, f2 = block_step_flops(build(1)), block_step_flops(build(2))
    if f1 is None or f2 is None:
        return None
    return f1 + (depth - 1) * (f2 - f1)


def _one_step(spec, state, consts):
    with jax.default_matmul_precision(spec.precision):
        return T._block_step(spec, state, consts)


def vmap_vs_loop(arch, depth, width, m, data, n_steps, precision, repeats=3):
    """Block of ``m`` models (one vmapped step; and ``lax.map`` over models inside one
    compiled step) against a Python loop running the same models one by one."""
    build = functools.partial(
        make_block, arch, width=width, n_models=m, data=data, precision=precision, model_batch_size=None
    )
    block = build(depth)
    t_block = time_steps(block, n_steps, repeats=repeats)
    t_map = time_steps(
        make_block(arch, depth, width=width, n_models=m, data=data, precision=precision, model_batch_size=1),
        n_steps,
        repeats=repeats,
    )
    singles = [
        T.Block(
            arch,
            "erf",
            depth,
            width,
            [s],
            0.05,
            [0],
            1e-4,
            *data,
            precision=precision,
            model_batch_size="auto",
            **BLOCK_OPTIONS,
        )
        for s in np.linspace(1.0, 3.0, m)
    ]
    states = [b.init_state() for b in singles]
    states[0] = jax.block_until_ready(singles[0].run(states[0], 1))  # compile (shared spec)
    t_loop = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i, b in enumerate(singles):
            states[i] = jax.block_until_ready(b.run(states[i], n_steps))
        t_loop = min(t_loop, (time.perf_counter() - t0) / n_steps)
    n = block.spec.batch_size
    image = "x".join(map(str, data[0].shape[1:]))
    print(
        f"\n## vmapped block vs Python loop ({arch}, depth {depth}, width {width}, "
        f"{m} models, {n} examples {image} full batch, {n_steps} steps, best of {repeats})"
    )
    for name, t in (("block (vmap)", t_block), ("block (lax.map)", t_map), ("python loop", t_loop)):
        print(f"{name:16s}: {t * 1e3:9.3f} ms/step  {n * m / t:12.4g} example·models/s")
    print(
        f"throughput ratio vmapped block / python loop: {t_loop / t_block:.2f}x "
        f"(lax.map block / loop: {t_loop / t_map:.2f}x)"
    )
    return {
        "arch": arch,
        "depth": depth,
        "width": width,
        "models": m,
        "examples": n,
        "block_s_per_step": t_block,
        "map_s_per_step": t_map,
        "loop_s_per_step": t_loop,
        "ratio": t_loop / t_block,
        "build": build,
        "block_time": t_block,
    }


def flop_rate(res):
    dev = jax.devices()[0]
    flops = step_flops(res["build"], res["depth"])
    peak, note = peak_for(dev)
    print(f"\n## achieved FLOP/s ({dev.platform}: {getattr(dev, 'device_kind', '')})")
    if flops is None:
        print("cost analysis gave no FLOP count")
        return {}
    rate = flops / res["block_time"]
    print(f"XLA FLOPs per block step: {flops:.4g}  ->  {rate / 1e9:.2f} GFLOP/s")
    if dev.platform == "gpu":
        if peak:
            print(f"vs peak: {100 * rate / peak:.1f}% of {note}")
        else:
            print(note)
    return {"flops_per_step": flops, "flop_rate": rate, "peak": peak, "peak_note": note}


def table(args, data, data_cnn):
    rows = []
    print(f"\n## time per training step of a block ({args.table_models} models, full batch of {data[0].shape[0]})")
    print("(model_batch_size='auto': on CPU the block loops over its models with lax.map)")
    print(f"{'arch':6s} {'depth':>5s} {'width':>6s} {'ms/step':>10s} {'ms/step/model':>14s} {'GFLOP/s':>9s}")
    cases = [("fcn", d, w, data) for d in args.depths for w in args.widths]
    cases += [("cnn_f", args.cnn_depth, args.cnn_width, data_cnn)]
    for arch, d, w, dat in cases:
        build = functools.partial(
            make_block,
            arch,
            width=w,
            n_models=args.table_models,
            data=dat,
            precision=args.precision,
            model_batch_size="auto",  # the schema's default
        )
        t = time_steps(build(d), args.table_steps, repeats=2)
        fl = step_flops(build, d)
        gf = f"{fl / t / 1e9:9.2f}" if fl else f"{'-':>9s}"
        print(f"{arch:6s} {d:5d} {w:6d} {t * 1e3:10.3f} {t * 1e3 / args.table_models:14.4f} {gf}")
        rows.append(
            {
                "arch": arch,
                "depth": d,
                "width": w,
                "s_per_step": t,
                "flops_per_step": fl,
                "image": list(dat[0].shape[1:]),
            }
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, < 2 min on a CPU")
    p.add_argument("--precision", default="highest", help="matmul precision (highest = fp32)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    gpu = jax.default_backend() == "gpu"
    if args.quick:
        cfg = dict(
            n_train=128,
            vl_models=8,
            vl_width=128,
            vl_depth=3,
            steps=20,
            widths=[64, 256],
            depths=[1, 4],
            table_models=4,
            table_steps=10,
            cnn_width=16,
            cnn_depth=2,
            cnn_image=(8, 8, 1),
        )
    elif gpu:
        cfg = dict(
            n_train=2048,
            vl_models=16,
            vl_width=1024,
            vl_depth=4,
            steps=50,
            widths=[256, 1024, 2048],
            depths=[1, 8, 32],
            table_models=8,
            table_steps=20,
            cnn_width=128,
            cnn_depth=8,
            cnn_image=(16, 16, 3),
        )
    else:
        cfg = dict(
            n_train=256,
            vl_models=8,
            vl_width=256,
            vl_depth=4,
            steps=20,
            widths=[64, 256, 512],
            depths=[1, 4, 16],
            table_models=4,
            table_steps=10,
            cnn_width=32,
            cnn_depth=4,
            cnn_image=(8, 8, 1),
        )
    for k, v in cfg.items():
        setattr(args, k, v)
    dev = jax.devices()[0]
    print(
        f"# bench_train  jax {jax.__version__}  backend {jax.default_backend()}  "
        f"device {getattr(dev, 'device_kind', dev)}  precision {args.precision}  "
        f"quick={args.quick}"
    )
    t0 = time.perf_counter()
    data = make_data(args.n_train, 64, (8, 8, 1))
    data_cnn = make_data(args.n_train // 2, 32, args.cnn_image)
    res = vmap_vs_loop("fcn", args.vl_depth, args.vl_width, args.vl_models, data, args.steps, args.precision)
    res_cnn = vmap_vs_loop(
        "cnn_f", args.cnn_depth, args.cnn_width, args.vl_models, data_cnn, max(args.steps // 4, 2), args.precision
    )
    fl = flop_rate(res)
    rows = table(args, data, data_cnn)
    print(f"\n(total {time.perf_counter() - t0:.1f} s)")
    if args.json:
        out = [{k: v for k, v in r.items() if k not in ("build", "block_time")} for r in (res, res_cnn)]
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "device": str(getattr(dev, "device_kind", dev)),
                    "backend": jax.default_backend(),
                    "vmap_vs_loop": out,
                    "flops": fl,
                    "table": rows,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
