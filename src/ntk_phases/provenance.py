"""Provenance sidecars: ``<output>.prov.json`` beside every output, with the config and its
hash, the package versions, the git revision, the inputs' checksums and (inherited
through the inputs' own sidecars) the datasets and seeds an output derives from."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .files import json_default, sha256_file, write_json

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


def config_hash(config: dict) -> str:
    """Stable sha256 of a (JSON-serializable) config."""
    blob = json.dumps(config, sort_keys=True, default=json_default).encode()
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
