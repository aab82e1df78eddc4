"""Atomic writes and provenance sidecars (ntk_phases.files, ntk_phases.provenance)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ntk_phases import data, files, provenance


def test_failed_write_leaves_neither_output_nor_temporary_file(tmp_path):
    out = tmp_path / "table.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with files.atomic_path(out) as tmp:
            tmp.write_text("half a tab")
            raise RuntimeError("killed mid-write")
    assert out.read_text() == "old\n"  # the previous version is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    """SIGKILL runs no cleanup: the temporary stays until the output is written again.
    Its name never matches a glob for finished outputs, and only the target's own
    temporaries are removed (not those of ``<name>.prov.json``)."""
    out = tmp_path / "chunk0.csv"
    with pytest.raises(KeyboardInterrupt), files.atomic_path(out) as tmp:
        name = tmp.name
        raise KeyboardInterrupt
    stale = tmp_path / name  # the name a write of `out` uses, left as a SIGKILL leaves it
    stale.write_text("half a tab")
    assert files.stale_temporaries(out) == [stale] and not list(tmp_path.glob("*.csv"))
    with files.atomic_path(tmp_path / "chunk0.csv.prov.json") as other:
        other.write_text("{}")
        assert files.stale_temporaries(out) == [stale]  # not another target's temporary
        files.write_csv(out, pd.DataFrame({"a": [1.0]}))
        assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk0.csv", "chunk0.csv.prov.json"]


def test_provenance_carries_dataset_checksum_and_seeds_downstream(tmp_path):
    arrays = {k: np.arange(6.0).reshape(3, 2) + i for i, k in enumerate(("x_train", "y_train", "x_test", "y_test"))}
    meta = {
        "dataset": "digits",
        "source": "sklearn:digits",
        "seed": 7,
        "sha256": {k: files.sha256_array(v) for k, v in arrays.items()},
    }
    npz, js = tmp_path / "digits.npz", tmp_path / "digits.json"
    data.save(arrays, meta, str(npz), str(js))

    table = tmp_path / "table.csv"
    files.write_csv(table, pd.DataFrame({"a": [1.0]}))
    cfg = {"training": {"seeds": [0, 1]}, "width": 8}
    side = provenance.write_provenance(table, config=cfg, inputs=[npz])
    rec = json.loads(side.read_text())
    assert rec["config_sha256"] == provenance.config_hash(cfg)
    assert rec["datasets"][str(npz)]["file_sha256"] == files.sha256_file(npz)
    assert rec["datasets"][str(npz)]["array_sha256"] == meta["sha256"]
    assert rec["seeds"] == [0, 1, 7]
    assert rec["packages"]["numpy"] == np.__version__

    figure = tmp_path / "F.png"
    figure.write_bytes(b"png")
    fig_rec = json.loads(provenance.write_provenance(figure, config={"dpi": 80}, inputs=[table]).read_text())
    assert fig_rec["datasets"] == rec["datasets"]  # inherited through the table's sidecar
    assert fig_rec["input_configs"] == {str(table): rec["config_sha256"]}
    assert fig_rec["seeds"] == [0, 1, 7]


def test_a_merge_without_config_records_the_configs_of_its_inputs(tmp_path):
    parts = []
    for i, cfg in enumerate(({"depth": 1}, {"depth": 4}, {"depth": 4})):
        part = tmp_path / f"part{i}.csv"
        files.write_csv(part, pd.DataFrame({"a": [i]}))
        provenance.write_provenance(part, config=cfg)
        parts.append(part)
    merged = tmp_path / "merged.csv"
    files.write_csv(merged, pd.DataFrame({"a": [0, 1, 2]}))
    rec = json.loads(provenance.write_provenance(merged, inputs=parts).read_text())
    assert rec["config"] == {"inputs_made_with": [{"depth": 1}, {"depth": 4}]}
    assert rec["config_sha256"] == provenance.config_hash(rec["config"])


def test_orphan_sidecars_are_removed_and_others_kept(tmp_path):
    kept = tmp_path / "a" / "table.csv"
    kept.parent.mkdir()
    kept.write_text("x\n1\n")
    provenance.write_provenance(kept, config={"k": 1})
    gone = tmp_path / "a" / "b" / "F1.png"
    gone.parent.mkdir()
    gone.write_bytes(b"png")
    provenance.write_provenance(gone, config={"k": 1})
    gone.unlink()  # what Snakemake does to a failed job's output
    removed = provenance.remove_orphan_sidecars(tmp_path)
    assert removed == [tmp_path / "a" / "b" / "F1.png.prov.json"]
    assert (tmp_path / "a" / "table.csv.prov.json").exists()
    assert not (tmp_path / "a" / "b" / "F1.png.prov.json").exists()
