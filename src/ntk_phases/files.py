"""Atomic writes of the pipeline's files (tables, JSON, figures, arrays) and their checksums.

Every output is written to a temporary file in the destination directory and moved into
place with :func:`os.replace`, so a failure (or a kill) never leaves a half-written file
under ``results/``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: the temporary files of :func:`atomic_path` are ``.<name>.<random>.tmp``
TEMP_MARK = ".tmp"


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """The temporary files that writes of ``path`` left behind when their process was
    killed (SIGKILL, out of memory): cleanup code never ran for them."""
    path = Path(path)
    # mkstemp's random part is 8 characters: the pattern matches no other target's
    # temporaries (those of ``<name>.prov.json`` have a longer middle part)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.{'?' * 8}{TEMP_MARK}"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    The temporary name does not end in the target's extension, so a glob for finished
    outputs (``*.csv``) never sees a file being written (writers that pick a format from
    the name get it explicitly: :func:`save_figure`, :func:`write_npz`). Temporaries
    of ``path`` left by a killed writer are removed first: the job that rewrites an
    output cleans up after the one that was killed writing it (Snakemake never runs two
    jobs for one output at once).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_MARK, dir=path.parent)
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
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def write_csv(path: str | os.PathLike, frame: Any) -> None:
    """Write a pandas DataFrame as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_npz(path: str | os.PathLike, arrays: dict[str, Any], compressed: bool = False) -> None:
    """Write arrays as ``.npz`` (zip-compressed with ``compressed``), atomically."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a handle: np.savez adds no suffix
        save(fh, **arrays)


def save_figure(fig: Any, paths: list[str | os.PathLike], dpi: int) -> list[Path]:
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


def json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
