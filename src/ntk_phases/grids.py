"""Parameter grids from config entries, in plain Python.

Imported by the Snakefile (to split σ_w² grids into jobs and give each job only its own
values, so that changing one value reruns only the jobs that hold it) and by the
entry points; it must stay free of jax/numpy so that parsing the workflow stays fast.
"""

from __future__ import annotations

from typing import Any


def grid(spec: dict | list | float) -> list[float]:
    """Values of ``{min, max, num}`` (evenly spaced, both ends included; the same
    floats as ``numpy.linspace``), of an explicit ``{values: [...]}`` list, or of a plain
    list or number (the one definition of a value grid: tests/test_grids.py holds it
    to numpy.linspace bit for bit)."""
    if not isinstance(spec, dict):
        return [float(v) for v in (spec if isinstance(spec, list | tuple) else [spec])]
    if "values" in spec:
        return [float(v) for v in spec["values"]]
    lo, hi, n = float(spec["min"]), float(spec["max"]), int(spec["num"])
    if n == 1:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [i * step + lo for i in range(n - 1)] + [hi]


def chunks(values: list[float], size: int) -> list[list[float]]:
    """Consecutive pieces of at most ``size`` values (one kernels job each)."""
    return [values[i : i + size] for i in range(0, len(values), int(size))]


def depth_list(spec: Any) -> list[int]:
    """Depths from a config entry: an explicit list, or ``{dense_until, max, step}``
    (every depth up to ``dense_until``, then every ``step`` up to ``max``)."""
    if isinstance(spec, list):
        return sorted({int(d) for d in spec})
    dense = list(range(0, int(spec["dense_until"]) + 1))
    sparse = list(range(int(spec["dense_until"]) + int(spec["step"]), int(spec["max"]) + 1, int(spec["step"])))
    return sorted(set(dense + sparse))
