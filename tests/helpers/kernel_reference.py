"""Test and benchmark helpers of the depth sweep (not part of the package).

:func:`kernels_per_depth_reference` rebuilds one ``stax.serial`` network per depth, the
independent check of :func:`ntk_phases.analytic.sweep.depth_sweep`;
:func:`measure_peak_memory` samples this process's RSS while a function runs.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntk_phases.analytic.layers import (
    Architecture,
    as_architecture,
    stax_network,
)
from ntk_phases.analytic.sweep import (
    KERNEL_KEYS,
    check_depths,
    check_inputs,
    check_sigmas,
)


def kernels_per_depth_reference(
    x_train: Any,
    x_test: Any | None,
    arch: str | Architecture,
    activation: str,
    sigma_w2: Any,
    sigma_b2: float,
    depths: Sequence[int],
    *,
    full_test: bool = False,
    vmap_sigma: bool = True,
    jit: bool = True,
    tanh_deg: int | None = None,
) -> dict[str, np.ndarray]:
    """Same output as :func:`depth_sweep`, rebuilding ``stax.serial`` per depth.

    Slow (cost grows with the sum of the depths); for tests and the benchmark
    only. ``vmap_sigma=False`` loops over σ_w² in Python with concrete
    ``W_std`` (eagerly, no jit) instead of vmapping, as an independent check
    of the traced path; ``jit`` compiles each depth's vmapped network as a
    whole (compile time grows with depth).
    Test diagonals are taken from the full test×test kernel.
    """
    a = as_architecture(arch)
    x_train = check_inputs(x_train, "x_train", a)
    if x_test is not None:
        x_test = check_inputs(x_test, "x_test", a)
    sw2, sb2 = check_sigmas(sigma_w2, sigma_b2)
    dd = check_depths(depths)
    sb = float(np.sqrt(sb2))

    def kernels_one(depth, sw):
        _, _, kernel_fn = stax_network(a, activation, depth, sw, sb, tanh_deg=tanh_deg)
        res = {}
        k = kernel_fn(x_train, None, ("nngp", "ntk"))
        res["nngp_train"], res["ntk_train"] = k.nngp, k.ntk
        if x_test is not None:
            k = kernel_fn(x_test, x_train, ("nngp", "ntk"))
            res["nngp_test_train"], res["ntk_test_train"] = k.nngp, k.ntk
            k = kernel_fn(x_test, None, ("nngp", "ntk"))
            res["nngp_test"], res["ntk_test"] = k.nngp, k.ntk
        return res

    per_depth = []
    for depth in dd:
        if vmap_sigma:
            fn = jax.vmap(lambda sw, depth=int(depth): kernels_one(depth, sw))
            if jit:
                fn = jax.jit(fn)
            res = {k: np.asarray(v) for k, v in fn(jnp.asarray(np.sqrt(sw2))).items()}
        else:
            rows = [kernels_one(int(depth), float(np.sqrt(s))) for s in sw2]
            res = {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
        per_depth.append(res)

    out: dict[str, np.ndarray] = {
        "sigma_w2": sw2,
        "sigma_b2": np.asarray(sb2),
        "depths": dd,
    }
    for key in per_depth[0]:
        out[key] = np.stack([r[key] for r in per_depth], axis=1)
    if x_test is not None:
        for key in KERNEL_KEYS:
            out[f"{key}_test_diag"] = np.diagonal(out[f"{key}_test"], axis1=-2, axis2=-1).copy()
            if not full_test:
                del out[f"{key}_test"]
    return out


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; else max RSS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def measure_peak_memory(
    fn: Callable[..., Any], *args: Any, interval: float = 0.002, **kwargs: Any
) -> tuple[Any, dict[str, float]]:
    """Run ``fn(*args, **kwargs)`` and sample this process's RSS meanwhile.

    ``ru_maxrss`` only ever grows over a process's life, so a background
    thread samples the current RSS instead; XLA's CPU buffers live in process
    memory, so this captures them. Returns ``(result, stats)`` with
    ``stats = {"baseline_bytes", "peak_bytes", "peak_increase_bytes",
    "seconds"}``. Freed memory is not always returned to the OS at once, so
    measure small configurations before large ones.
    """
    baseline = current_rss_bytes()
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], current_rss_bytes())
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    finally:
        stop.set()
        thread.join()
    seconds = time.perf_counter() - t0
    peak[0] = max(peak[0], current_rss_bytes())
    return result, {
        "baseline_bytes": float(baseline),
        "peak_bytes": float(peak[0]),
        "peak_increase_bytes": float(peak[0] - baseline),
        "seconds": seconds,
    }
