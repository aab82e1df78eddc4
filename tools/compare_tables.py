"""Compare every CSV table of two runs (behaviour preserved across a refactor).

    python tools/compare_tables.py GOLDEN_DIR results/test [--rtol 1e-12] [--atol 1e-12]

Both directories are searched recursively for ``*.csv`` (provenance sidecars and logs are
not tables). A table passes when it has the same columns and rows and every numeric cell
agrees to ``|a - b| <= atol + rtol |b|`` (NaN equal to NaN) and every other cell is equal.
Prints one line per table and the largest relative difference per differing column;
exits 1 if any table differs or is missing on either side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def tables(root: Path) -> set[str]:
    """Relative paths of the CSV tables under ``root``."""
    return {str(p.relative_to(root)) for p in root.rglob("*.csv")}


def differences(a: pd.DataFrame, b: pd.DataFrame, rtol: float, atol: float) -> list[str]:
    """What differs between two tables; empty when they agree."""
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} vs {list(b.columns)}"]
    if a.shape != b.shape:
        return [f"shape {a.shape} vs {b.shape}"]
    out = []
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            both_nan = np.isnan(xv) & np.isnan(yv)
            close = np.isclose(xv, yv, rtol=rtol, atol=atol) | both_nan
            if not close.all():
                rel = np.abs(xv - yv) / np.maximum(np.abs(yv), atol)
                out.append(f"{col}: {int((~close).sum())} cells, max rel {np.nanmax(rel[~close]):.3g}")
        elif not x.astype(str).equals(y.astype(str)):
            out.append(f"{col}: {int((x.astype(str) != y.astype(str)).sum())} cells differ")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("golden", type=Path)
    p.add_argument("other", type=Path)
    p.add_argument("--rtol", type=float, default=1e-12)
    p.add_argument("--atol", type=float, default=1e-12)
    args = p.parse_args(argv)
    ga, gb = tables(args.golden), tables(args.other)
    bad = 0
    for rel in sorted(ga | gb):
        if rel not in ga or rel not in gb:
            print(f"MISSING {rel} (only in {args.golden if rel in ga else args.other})")
            bad += 1
            continue
        diff = differences(pd.read_csv(args.golden / rel), pd.read_csv(args.other / rel), args.rtol, args.atol)
        print(f"{'ok     ' if not diff else 'DIFFERS'} {rel}" + "".join(f"\n    {d}" for d in diff))
        bad += bool(diff)
    print(f"{len(ga | gb) - bad} of {len(ga | gb)} tables equal (rtol {args.rtol:g}, atol {args.atol:g})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
