"""Benchmark of the mean-field c* solve (``ntk_phases.meanfield.correlation_root``).

The c* Newton iteration dominates the phase table of the quadrature-based tanh. Measured
in one run, at the q* of every grid point (computed once), vmapped and jitted alike:

- reference: the previous implementation, kept here only for this comparison: the full
  2 × 2 kernel map (four 2-D quadratures) with the slope by autodiff, and a loop that
  stops only when the step is below 1e-13 (near the critical line rounding keeps steps
  at ~1e-13, so every lane of the vmapped loop runs to ``newton_iters``);
- current: the 1 × 1 cross-kernel (one 2-D quadrature for T and one for Ṫ), the Price
  slope σ_w² Ṫ − 1, and the stall rule of ``meanfield._newton``.

Prints compile and run times (wall and process CPU), their ratio, the largest change
in c* over the chaotic points, and the most Newton iterations of any lane.

Usage: ``python bench/bench_theory.py [--paper-slice]``. Default: config.yaml's grid
(48 σ_w² × 25 σ_b², degree 64; ~1 min on 2 CPU cores). ``--paper-slice``: config/paper.yaml's
300 σ_w² at every 10th of its 120 σ_b² (3,600 points), degree 128, newton_iters 80 (the
full paper table is 10× the slice; ~10 minutes on 2 cores, most of it in the reference).
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntk_phases.analytic import meanfield


def reference_root(activation: str, deg: int, newton_iters: int, q, sigma_w2, sigma_b2):
    """c* as the theory stage computed it before the cross-kernel change."""
    dual = meanfield.dual_maps(activation, deg, False)

    def h(c):
        T, _ = dual(q * jnp.array([[1.0, c], [c, 1.0]]))
        return (sigma_w2 * T[0, 1] + sigma_b2) / q - c

    def newton_c(c):
        step = h(c) / jax.grad(h)(c)
        step = jnp.where(jnp.isfinite(step), step, 0.0)
        return jnp.clip(c - step, 0.0, 1.0 - 1e-12)

    return meanfield._newton(newton_c, jnp.asarray(0.0), newton_iters, noise_rtol=0.0)


def timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paper-slice", action="store_true")
    p.add_argument("--activation", default="tanh", choices=meanfield.ACTIVATIONS)
    args = p.parse_args()
    if args.paper_slice:
        sw, sb, deg, iters = np.linspace(0.01, 3.0, 300), np.linspace(0.01, 0.25, 120)[::10], 128, 80
    else:
        sw, sb, deg, iters = np.linspace(0.05, 3.0, 48), np.linspace(0.01, 0.25, 25), 64, 60
    d = meanfield.phase_diagram(args.activation, sw, sb, deg, iters)
    chaotic = d["phase"] == "chaotic"
    q = jnp.asarray(np.where(d["bounded"], d["q_star"], 1.0))
    grid = (q, jnp.asarray(d["sigma_w2"]), jnp.asarray(d["sigma_b2"]))
    print(f"{platform.processor() or platform.machine()}, jax {jax.__version__}, {jax.devices()[0]}")
    print(
        f"{args.activation}: {len(sw)} x {len(sb)} grid = {q.size} points ({chaotic.sum()} chaotic), "
        f"quadrature degree {deg}, newton_iters {iters}"
    )

    results = {}
    for name, root in (("reference", reference_root), ("current", meanfield.correlation_root)):
        fn = jax.jit(jax.vmap(lambda q, sw, sb, root=root: root(args.activation, deg, iters, q, sw, sb)))
        t0 = time.perf_counter()
        compiled = fn.lower(*grid).compile()
        compile_s = time.perf_counter() - t0
        (c, n), wall, cpu = timed(compiled, *grid)
        results[name] = (np.asarray(c), wall, cpu)
        print(
            f"{name:9s}: compile {compile_s:6.1f} s, run {wall:7.2f} s wall, {cpu:7.2f} s CPU, "
            f"Newton iterations: max {int(np.max(n))}, median {np.median(n):.0f}"
        )
    (c_ref, w_ref, p_ref), (c_new, w_new, p_new) = results["reference"], results["current"]
    diff = np.max(np.abs(c_ref - c_new)[chaotic]) if chaotic.any() else 0.0
    print(
        f"speed-up of the c* solve: {w_ref / w_new:.1f}x wall, {p_ref / p_new:.1f}x CPU; "
        f"max |c*_reference - c*_current| over chaotic points: {diff:.1e}"
    )


if __name__ == "__main__":
    main()
