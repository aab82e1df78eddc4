"""Atomic file writes and provenance sidecars.

Every output is written to a temporary file in the destination directory and
moved into place with :func:`os.replace`, so a failure (or a kill) never leaves a
half-written file under ``results/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PROVENANCE_PACKAGES = (
    "jax",
    "jaxlib",
    "neural-tangents",
    "flax",
    "optax",
    "tensorflow",
    "tensorflow-datasets",
    "numpy",
    "pandas",
    "seaborn",
    "matplotlib",
    "scikit-learn",
    "snakemake",
)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    ``suffix`` keeps the extension that writers such as ``np.savez`` or
    matplotlib use to pick a format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv(path: str | os.PathLike, frame: Any) -> None:
    """Write a pandas DataFrame as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_figure(fig: Any, paths: list[str | os.PathLike], dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure to each path (format from the suffix), atomically."""
    written = []
    for target in map(Path, paths):
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=target.suffix[1:], dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written


def sha256_array(a: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_hash(config: dict) -> str:
    """Stable sha256 of a (JSON-serializable) config."""
    blob = json.dumps(config, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()


def git_revision(cwd: str | os.PathLike | None = None) -> str:
    """The checkout's git revision (with ``-dirty``), or ``unknown`` outside git."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the results depend on."""
    out = {}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def config_seeds(config: Any) -> set[int]:
    """Every value under a ``seed`` or ``seeds`` key of a (nested) config."""
    found: set[int] = set()
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("seed", "seeds") and value is not None:
                found.update(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
            else:
                found |= config_seeds(value)
    elif isinstance(config, (list, tuple)):
        for value in config:
            found |= config_seeds(value)
    return found


def _dataset_record(path: Path) -> dict | None:
    """Checksums of a prepared dataset (``<name>.npz`` beside its ``<name>.json`` metadata)."""
    meta_path = path.with_suffix(".json")
    if path.suffix != ".npz" or not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if "dataset" not in meta or "sha256" not in meta:
        return None
    return {
        "dataset": meta["dataset"],
        "source": meta.get("source"),
        **({"source_sha256": meta["source_sha256"]} if "source_sha256" in meta else {}),
        "convention": meta.get("convention", "ours"),
        "seed": meta.get("seed"),
        "file_sha256": sha256_file(path),
        "array_sha256": meta["sha256"],
    }


def upstream(inputs: list[str | os.PathLike]) -> dict[str, Any]:
    """What an output inherits from its inputs: the datasets it derives from (with
    checksums), the config hash of each input that has a provenance sidecar (and each
    distinct config once), and seeds."""
    datasets: dict[str, dict] = {}
    configs: dict[str, str] = {}
    distinct: dict[str, dict] = {}
    seeds: set[int] = set()
    for p in map(Path, inputs):
        if (rec := _dataset_record(p)) is not None:
            datasets[str(p)] = rec
            if rec["seed"] is not None:
                seeds.add(int(rec["seed"]))
        side = Path(str(p) + ".prov.json")
        if side.exists():
            prov = json.loads(side.read_text())
            datasets.update(prov.get("datasets", {}))
            seeds.update(prov.get("seeds", []))
            if "config_sha256" in prov:
                configs[str(p)] = prov["config_sha256"]
                distinct.setdefault(prov["config_sha256"], prov["config"])
    return {"datasets": datasets, "input_configs": configs, "seeds": seeds, "distinct_configs": distinct}


def provenance(
    config: dict | None = None,
    inputs: list[str | os.PathLike] | None = None,
    **extra: Any,
) -> dict:
    """Provenance record: config and its hash, package versions, git revision, input
    checksums, and (inherited through the inputs' sidecars) dataset checksums and seeds."""
    rec: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(Path(__file__).parent),
        "packages": package_versions(),
    }
    seeds: set[int] = set()
    if config is not None:
        rec["config"] = config
        rec["config_sha256"] = config_hash(config)
        seeds |= config_seeds(config)
    if inputs:
        rec["inputs"] = {str(p): sha256_file(p) for p in inputs}
        up = upstream(inputs)
        seeds |= up.pop("seeds")
        distinct = up.pop("distinct_configs")
        rec.update(up)
        if config is None and distinct:
            # a pure merge of other outputs: the configs they were made from, once each
            rec["config"] = {"inputs_made_with": list(distinct.values())}
            rec["config_sha256"] = config_hash(rec["config"])
    rec["seeds"] = sorted(seeds)
    rec.update(extra)
    return rec


def write_provenance(output: str | os.PathLike, **kwargs: Any) -> Path:
    """Write ``<output>.prov.json`` beside an output file."""
    side = Path(str(output) + ".prov.json")
    write_json(side, provenance(**kwargs))
    return side


def remove_orphan_sidecars(root: str | os.PathLike) -> list[Path]:
    """Delete every ``<output>.prov.json`` under ``root`` whose output no longer exists.

    Sidecars are not declared outputs of most rules, so when a rerun fails and Snakemake
    removes the rule's old output, the old sidecar would stay behind describing a file
    that is gone. Returns the removed paths.
    """
    removed = []
    for side in Path(root).rglob("*.prov.json"):
        if not Path(str(side)[: -len(".prov.json")]).exists():
            side.unlink(missing_ok=True)
            removed.append(side)
    return removed


def read_config_json(path: str | os.PathLike) -> dict:
    """Read a JSON config file written by a rule's params."""
    with open(path) as f:
        return json.load(f)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
