"""The run's config in plain Python (stdlib only: the Snakefile imports it before any job
runs, and parsing the workflow stays fast): value and depth grids, the values-win merge of
``--configfile`` layers, the cross-field checks the JSON schema cannot state, and the
config as a flat key/value table.

Defaults live only in ``workflow/schemas/config.schema.yaml``; code reads the validated
config and never re-defaults.
"""

from __future__ import annotations

import json
from typing import Any


def values_win(node: Any) -> None:
    """An explicit grid ``{values: [...]}`` replaces a ``{min, max, num}`` range, in place.

    ``--configfile`` merges dictionaries key by key, so giving values over config.yaml's
    range would otherwise leave both forms in one grid."""
    if isinstance(node, dict):
        if "values" in node:
            for key in ("min", "max", "num"):
                node.pop(key, None)
        for child in node.values():
            values_win(child)


def check(config: dict) -> None:
    """Cross-field checks of a validated config (schema defaults filled in); raises
    ``ValueError`` naming the config key."""
    grids = {
        "theory.sigma_w2": config["theory"]["sigma_w2"],
        "theory.sigma_b2": config["theory"]["sigma_b2"],
        **{f"kernels.architectures.{a}.sigma_w2": s["sigma_w2"] for a, s in config["kernels"]["architectures"].items()},
        "kernels.comparison.sigma_w2": config["kernels"]["comparison"]["sigma_w2"],
    }
    for key, spec in grids.items():
        if isinstance(spec, dict) and "min" in spec and spec["min"] > spec["max"]:
            raise ValueError(f"config key {key}: min ({spec['min']}) is larger than max ({spec['max']})")
    points = config["kernels"]["points"]
    if points and points["arch"] == "fcn_preact" and config["convention"] != "notebook":
        raise ValueError(
            "config key kernels.points.arch = fcn_preact is the notebook's F3-F5 network "
            "(read-in Dense, then l x [φ, Dense]): it needs convention: notebook"
        )
    memory, limit = config["kernels"]["memory_mb"], config["kernels"]["resources"]["mem_mb"]
    if memory >= limit:
        raise ValueError(
            f"config key kernels.memory_mb ({memory}) must be below kernels.resources.mem_mb ({limit}): "
            "the budget is for the kernel and metric arrays, the job also holds Python, jax and neural-tangents"
        )


def grid(spec: dict | list | float) -> list[float]:
    """Values of ``{min, max, num}`` (evenly spaced, both ends included; the same
    floats as ``numpy.linspace``), of an explicit ``{values: [...]}`` list, or of a plain
    list or number (the one definition of a value grid: tests/unit/test_grids.py holds it
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


def flatten(config: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) for every leaf: strings as they are, anything else (numbers,
    null, lists) as JSON, so a list stays one value."""
    if isinstance(config, dict) and config:
        rows: list[tuple[str, str]] = []
        for key in sorted(config):
            rows += flatten(config[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, config if isinstance(config, str) else json.dumps(config, sort_keys=True))]
