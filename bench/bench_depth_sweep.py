"""Benchmark of the one-pass depth sweep (``ntk_phases.analytic.sweep``).

Measures, in one run:

1. one-pass depth sweep vs rebuilding a ``stax.serial`` network per depth
   (FCN, erf, σ_w² grid in [0.5, 3], σ_b² = 0.18, depths 0..100, 128 train +
   64 test 8x8 digits): max relative difference and speed ratio;
2. σ_w² vmapped vs a Python loop over σ_w² (same sweep, compiled once);
3. CNN-P peak memory against the number of training points, unbatched and
   batched over examples, with the estimate used to pick a batch size.

Usage: ``python bench/bench_depth_sweep.py [--quick]``. ``--quick`` (about a
minute on 2 CPU cores): 10 σ_w² values, the reference at every 20th depth
only (its cost per depth is extrapolated to all 101), CNN-P up to 32 training
points. The full run builds all 101 reference networks for 20 σ_w² values:
about 10 minutes on 2 cores, nearly all of it in the reference. Wall times on
a shared machine are noisy, so process CPU times (all threads) are printed too.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ntk_phases.analytic.sweep import depth_sweep, estimate_block_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers
from helpers.kernel_reference import kernels_per_depth_reference, measure_peak_memory  # noqa: E402


def digits(n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8x8 digits (scikit-learn, offline), standardized, each rescaled to norm √64."""
    from sklearn.datasets import load_digits

    x = load_digits().images.astype(np.float64)
    idx = np.random.default_rng(seed).permutation(len(x))[: n_train + n_test]
    x = x[idx]
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    flat = x.reshape(len(x), -1)
    flat *= np.sqrt(flat.shape[1]) / np.linalg.norm(flat, axis=1, keepdims=True)
    x = flat.reshape(-1, 8, 8, 1)
    return x[:n_train], x[n_train:]


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


KEYS = ("nngp_train", "ntk_train", "nngp_test_train", "ntk_test_train", "ntk_test_diag")


def max_rel_diff(a: dict, b: dict, depth_index=None, off_diagonal=False) -> float:
    """max |a − b| / max |b| over each (σ_w², depth) slice of every block.

    ``off_diagonal``: only entries between different points (drops the
    train × train diagonal and the test diagonal).
    """
    worst = 0.0
    for key in KEYS:
        if off_diagonal and key.endswith("test_diag"):
            continue
        x = a[key] if depth_index is None else a[key][:, depth_index]
        y = b[key]
        err = np.abs(x - y)
        if off_diagonal and key.endswith("_train") and not key.endswith("test_train"):
            err = err * (1 - np.eye(err.shape[-1]))
        scale = np.abs(y).reshape(y.shape[:2] + (-1,)).max(-1)
        rel = err.reshape(err.shape[:2] + (-1,)).max(-1) / scale
        worst = max(worst, float(rel.max()))
    return worst


def diagonal_recursion(sw2, sb2, depth, q0=1.0):
    """Exact Θ_aa of an erf FCN for inputs with K0(x, x) = q0 (scalar recursion)."""
    out = np.empty((len(sw2), depth + 1))
    for i, s in enumerate(sw2):
        k, theta = q0, 0.0
        for layer in range(depth + 1):
            if layer > 0:
                theta *= 4 / np.pi / np.sqrt(1 + 4 * k)
                k = 2 / np.pi * np.arcsin(2 * k / (1 + 2 * k))
            k = s * k + sb2
            theta = k + s * theta
            out[i, layer] = theta
    return out


def part1(args, x_train, x_test):
    sw2 = np.linspace(0.5, 3.0, args.n_sigma)
    sb2 = 0.18
    depths = np.arange(0, 101)
    ref_depths = depths[:: args.ref_stride]
    print(
        f"\n[1] one-pass sweep vs stax.serial per depth: fcn erf, {sw2.size} σ_w² in "
        f"[0.5, 3], σ_b²={sb2}, {len(x_train)} train + {len(x_test)} test, depths 0..100"
    )
    _, wall_cold, cpu_cold = timed(depth_sweep, x_train, x_test, "fcn", "erf", sw2, sb2, depths)
    sweep, wall, cpu = timed(depth_sweep, x_train, x_test, "fcn", "erf", sw2, sb2, depths)
    print(
        f"    one pass, all {depths.size} depths: {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"(first call incl. compile: {wall_cold:.2f} s wall, {cpu_cold:.2f} s CPU)"
    )
    sweep_sub, wall_sub, cpu_sub = timed(depth_sweep, x_train, x_test, "fcn", "erf", sw2, sb2, ref_depths)
    ref, wall_ref, cpu_ref = timed(
        kernels_per_depth_reference,
        x_train,
        x_test,
        "fcn",
        "erf",
        sw2,
        sb2,
        ref_depths,
        jit=False,
    )
    diff_all = max_rel_diff(sweep, ref, depth_index=ref_depths)
    diff_off = max_rel_diff(sweep, ref, depth_index=ref_depths, off_diagonal=True)
    exact = diagonal_recursion(sw2, sb2, int(depths[-1]))[:, ref_depths]
    diag_sweep = np.diagonal(sweep["ntk_train"][:, ref_depths], axis1=-2, axis2=-1)
    diag_ref = np.diagonal(ref["ntk_train"], axis1=-2, axis2=-1)
    err_sweep = float(np.max(np.abs(diag_sweep / exact[..., None] - 1)))
    err_ref = float(np.max(np.abs(diag_ref / exact[..., None] - 1)))
    print(
        f"    reference (one stax.serial per depth, vmapped over σ_w, eager), "
        f"{ref_depths.size} depths {ref_depths[0]}..{ref_depths[-1]}: "
        f"{wall_ref:.2f} s wall, {cpu_ref:.2f} s CPU"
    )
    print(f"    one pass for the same {ref_depths.size} depths: {wall_sub:.2f} s wall")
    print(
        "    max relative difference (max|Δ| / max|ref| per σ_w², depth, block): "
        f"off-diagonal entries {diff_off:.1e}, all entries {diff_all:.1e}"
    )
    print(
        "    Θ_aa against the exact scalar diagonal recursion: one pass "
        f"{err_sweep:.1e}, stax.serial {err_ref:.1e} (c = 1 is unstable in the "
        "chaotic phase; the sweep pins the diagonal)"
    )
    print(
        f"    speed ratio reference / one pass (same depths): {wall_ref / wall_sub:.1f}x wall, "
        f"{cpu_ref / cpu_sub:.1f}x CPU"
    )
    if args.ref_stride > 1:
        # per-depth cost ~ a + b·l: extrapolate to all depths from the subset
        per_depth = wall_ref / ref_depths.size
        est = per_depth * depths.size
        print(
            f"    (all {depths.size} depths by reference ≈ {est:.0f} s wall, extrapolated "
            f"linearly from the subset, i.e. ≈ {est / wall:.0f}x the one-pass sweep)"
        )
    assert diff_off <= 1e-10 and err_sweep <= 1e-10, (diff_off, err_sweep)
    return sw2, sb2


def part2(args, x_train, x_test, sw2, sb2):
    depths = np.arange(0, 101)
    print(f"\n[2] σ_w² vmapped vs Python loop over σ_w² ({sw2.size} values, depths 0..100)")
    depth_sweep(x_train, x_test, "fcn", "erf", sw2[:1], sb2, depths)  # compile S=1
    grid, wall_v, cpu_v = timed(depth_sweep, x_train, x_test, "fcn", "erf", sw2, sb2, depths)
    t0, c0 = time.perf_counter(), time.process_time()
    rows = [depth_sweep(x_train, x_test, "fcn", "erf", s, sb2, depths) for s in sw2]
    wall_l, cpu_l = time.perf_counter() - t0, time.process_time() - c0
    diff = max(float(np.max(np.abs(grid[k][i] - r[k][0]) / np.abs(r[k][0]))) for i, r in enumerate(rows) for k in KEYS)
    print(f"    vmapped: {wall_v:.2f} s wall, {cpu_v:.2f} s CPU (compiled)")
    print(f"    loop:    {wall_l:.2f} s wall, {cpu_l:.2f} s CPU (compiled)")
    print(
        f"    ratio loop / vmapped: {wall_l / wall_v:.1f}x wall, {cpu_l / cpu_v:.1f}x CPU; "
        f"max relative difference {diff:.1e}"
    )


def part3(args):
    print(
        "\n[3] CNN-P (3x3 circular conv, global average pooling, erf) peak memory, "
        "8x8x1 digits, n_test = n_train/2, 1 σ_w², depths 0..2"
    )
    print(
        "    peak = increase of this process's RSS during the call (sampled); "
        "estimate = estimate_block_bytes of the largest block"
    )
    print(
        f"    {'n_train':>7} {'batch':>6} {'peak MB':>8} {'est. MB':>8} {'cold s':>7} "
        f"{'warm s':>7} {'CPU s':>6} {'s/layer':>8}   (cold: incl. compile; warm: wall, CPU)"
    )
    sizes = args.cnn_sizes

    def block_estimate(n, b):
        side = n if b is None else min(b, n)  # largest block: train x train
        return estimate_block_bytes("cnn_p", (8, 8, 1), side, side, 1)

    # ascending expected peak: freed memory stays in the process and would
    # hide a smaller run's peak measured after a larger one
    runs = [(n, None) for n in sizes] + [(sizes[-1], b) for b in args.cnn_batches]
    runs.sort(key=lambda r: block_estimate(*r))
    for n, b in runs:
        x_train, x_test = digits(n, n // 2, seed=1)
        depths = [0, 1, 2]
        _, stats = measure_peak_memory(
            depth_sweep,
            x_train,
            x_test,
            "cnn_p",
            "erf",
            [2.0],
            0.18,
            depths,
            batch_size=b,
        )
        _, wall2, cpu2 = timed(
            depth_sweep,
            x_train,
            x_test,
            "cnn_p",
            "erf",
            [2.0],
            0.18,
            depths,
            batch_size=b,
        )
        _, wall0, _ = timed(
            depth_sweep,
            x_train,
            x_test,
            "cnn_p",
            "erf",
            [2.0],
            0.18,
            [0],
            batch_size=b,
        )
        per_layer = max(wall2 - wall0, 0.0) / 2
        est = block_estimate(n, b)
        print(
            f"    {n:>7} {str(b):>6} {stats['peak_increase_bytes'] / 1e6:>8.0f} "
            f"{est / 1e6:>8.0f} {stats['seconds']:>7.2f} {wall2:>7.2f} {cpu2:>6.2f} "
            f"{per_layer:>8.3f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (~1-2 min)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_sigma, args.ref_stride = 10, 20
        args.cnn_sizes, args.cnn_batches = [8, 16, 32], [8]
    else:
        args.n_sigma, args.ref_stride = 20, 1
        args.cnn_sizes, args.cnn_batches = [8, 16, 32, 48], [8, 16]

    import jax

    print(
        f"bench_depth_sweep ({'quick' if args.quick else 'full'}): jax {jax.__version__}, "
        f"{jax.devices()[0].platform}, x64={jax.config.jax_enable_x64}, "
        f"python {platform.python_version()}"
    )
    x_train, x_test = digits(128, 64)
    sw2, sb2 = part1(args, x_train, x_test)
    part2(args, x_train, x_test, sw2, sb2)
    part3(args)


if __name__ == "__main__":
    main()
