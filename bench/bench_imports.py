"""Benchmark of ``ntk_phases.analytic.nt_tensorflow_workaround``: process start-up of a job.

Times, in fresh Python processes (best of ``--repeat``), what every kernels/metrics/
theory job does first: importing neural-tangents and building a kernel function, with
neural-tangents' ``experimental`` subpackage deferred (the package as shipped) and
imported eagerly (neural-tangents as is: it pulls in jax2tf and TensorFlow). Prints both
and their ratio.

Usage: ``python bench/bench_imports.py [--repeat 3]`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BODY = """
import neural_tangents
from neural_tangents import stax
_, _, kernel_fn = stax.serial(stax.Dense(1), stax.Erf(), stax.Dense(1))
"""
CASES = {
    "deferred (ntk_phases.analytic imported first)": "import ntk_phases.analytic\n" + BODY,
    "eager (neural-tangents as is)": BODY,
}
CHECK = "\nimport sys\nprint('tensorflow' in sys.modules)\n"


def best_of(code: str, repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code + CHECK], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        out = proc.stdout.strip()
    return min(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    results = {}
    for name, code in CASES.items():
        seconds, tf_loaded = best_of(code, args.repeat)
        results[name] = seconds
        print(f"{name:38s}: {seconds:5.2f} s (best of {args.repeat}); TensorFlow imported: {tf_loaded}")
    deferred, eager = results.values()
    print(f"start-up ratio eager / deferred: {eager / deferred:.1f}x ({eager - deferred:.1f} s saved per job)")


if __name__ == "__main__":
    main()
