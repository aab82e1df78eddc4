"""Bring your own data (``dataset.name: npz``): a user's .npz file goes through the same
preparation as the other datasets; a bad file is refused with a message that names
``dataset.path``, the file and what is wrong, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, prepare_data
from helpers.user_npz import N_TEST, N_TRAIN, K, arrays, write
from ntk_phases import data, files


def run_main(tmp_path: Path, path: Path | str, *extra: str) -> tuple[int, Path, Path]:
    out = tmp_path / "results" / "r" / "data"
    npz, js = out / "npz.npz", out / "npz.json"
    rc = prepare_data(
        [
            "--dataset",
            "npz",
            "--path",
            str(path),
            "--n-train",
            "20",
            "--n-test",
            "10",
            "--seed",
            "1",
            *extra,
            "--out-npz",
            str(npz),
            "--out-json",
            str(js),
        ]
    )
    return rc, npz, js


# --- positive ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["nhwc", "flat"])
@pytest.mark.parametrize("labels", ["int", "onehot"])
def test_user_file_prepares_like_the_other_datasets(tmp_path, layout, labels):
    raw = arrays(layout, labels)
    path = write(tmp_path, raw)
    rc, npz, js = run_main(tmp_path, path)
    assert rc == 0
    got, meta = data.load(npz), json.loads(js.read_text())
    feat = (4, 3, 2) if layout == "nhwc" else (24,)
    assert got["x_train"].shape == (20, *feat) and got["x_test"].shape == (10, *feat)
    assert got["x_train"].dtype == np.float64
    # the seeded subset (drawn as for tfds: train then test from one generator)
    rng = np.random.default_rng(1)
    itr = np.sort(rng.choice(N_TRAIN, 20, replace=False))
    ite = np.sort(rng.choice(N_TEST, 10, replace=False))
    xtr, xte = data.preprocess(raw["x_train"][itr].astype(np.float64), raw["x_test"][ite].astype(np.float64))
    np.testing.assert_allclose(got["x_train"], xtr, rtol=1e-12)
    np.testing.assert_allclose(got["x_test"], xte, rtol=1e-12)
    # preprocessing: every input rescaled to norm sqrt(n0); training inputs standardized
    # per channel (NHWC) or per feature (flat) before the rescale
    n0 = int(np.prod(feat))
    for x in (got["x_train"], got["x_test"]):
        np.testing.assert_allclose(np.linalg.norm(x.reshape(len(x), -1), axis=1), np.sqrt(n0), rtol=1e-12)
    axes = tuple(range(got["x_train"].ndim - 1))
    z = raw["x_train"][itr].astype(np.float64)
    z = (z - z.mean(axis=axes)) / z.std(axis=axes)
    np.testing.assert_allclose(
        got["x_train"],
        z * (np.sqrt(n0) / np.linalg.norm(z.reshape(20, -1), axis=1)).reshape((-1,) + (1,) * len(feat)),
        rtol=1e-10,
    )
    # one-hot labels of the drawn examples
    y_int = raw["y_train"].argmax(1) if labels == "onehot" else raw["y_train"]
    assert got["y_train"].shape == (20, K) and set(np.unique(got["y_train"])) == {0.0, 1.0}
    np.testing.assert_array_equal(got["y_train"].argmax(1), y_int[itr])
    # metadata and provenance of the user's file
    assert meta["dataset"] == "npz" and meta["n_classes"] == K
    assert meta["image_shape"] == list(feat) and meta["layout"] == ("NHWC" if layout == "nhwc" else "flat")
    assert meta["source"] == f"npz:{path.resolve()}" and meta["source_path"] == str(path)
    assert meta["source_sha256"] == files.sha256_file(path)
    assert meta["sha256"] == {k: files.sha256_array(v) for k, v in got.items()}
    assert sum(meta["class_counts_train"]) == 20
    assert "per-feature" in meta["preprocessing"] if layout == "flat" else "per-channel" in meta["preprocessing"]


def test_integer_and_one_hot_labels_give_the_same_arrays(tmp_path):
    a, _ = data.prepare(
        "npz", 20, 10, seed=3, path=str(write(tmp_path, arrays(labels="int"), "a.npz")), convention="ours"
    )
    b, _ = data.prepare(
        "npz", 20, 10, seed=3, path=str(write(tmp_path, arrays(labels="onehot"), "b.npz")), convention="ours"
    )
    col = arrays(labels="int")
    col = {k: (v[:, None] if k.startswith("y") else v) for k, v in col.items()}  # (N, 1) labels
    c, _ = data.prepare("npz", 20, 10, seed=3, path=str(write(tmp_path, col, "c.npz")), convention="ours")
    fl = arrays(labels="int")
    fl = {k: (v.astype(np.float64) if k.startswith("y") else v) for k, v in fl.items()}  # 0., 1., 2.
    d, _ = data.prepare("npz", 20, 10, seed=3, path=str(write(tmp_path, fl, "d.npz")), convention="ours")
    for other in (b, c, d):
        for k in a:
            np.testing.assert_array_equal(a[k], other[k])


def test_image_shape_reshapes_flat_vectors_to_nhwc(tmp_path):
    nhwc = arrays("nhwc")
    flat = {k: (v.reshape(len(v), -1) if k.startswith("x") else v) for k, v in nhwc.items()}
    a, _ = data.prepare("npz", 20, None, seed=0, path=str(write(tmp_path, nhwc, "a.npz")), convention="ours")
    b, meta = data.prepare(
        "npz", 20, None, seed=0, path=str(write(tmp_path, flat, "b.npz")), image_shape=[4, 3, 2], convention="ours"
    )
    assert meta["layout"] == "NHWC" and b["x_train"].shape == (20, 4, 3, 2)
    assert b["x_test"].shape == (N_TEST, 4, 3, 2)  # n_test None: the file's whole test set
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_same_seed_same_arrays_and_n_classes_key(tmp_path):
    path = str(write(tmp_path, arrays()))
    _, m1 = data.prepare("npz", 20, 10, seed=5, path=path, convention="ours")
    _, m2 = data.prepare("npz", 20, 10, seed=5, path=path, convention="ours")
    _, m3 = data.prepare("npz", 20, 10, seed=6, path=path, convention="ours")
    assert m1["sha256"] == m2["sha256"] and m1["sha256"]["x_train"] != m3["sha256"]["x_train"]
    arrs, m4 = data.prepare("npz", 20, 10, seed=5, path=path, n_classes=5, convention="ours")
    assert m4["n_classes"] == 5 and arrs["y_train"].shape == (20, 5)


# --- refused files -------------------------------------------------------------------


def _set(**changes):
    def make(a):
        a = dict(a)
        for k, v in changes.items():
            if v is None:
                a.pop(k)
            else:
                a[k] = v(a[k]) if callable(v) else v
        return a

    return make


def _nan(x):
    x = x.astype(np.float64).copy()
    x[3, 0] = np.nan
    return x


def _inf(x):
    x = x.astype(np.float64).copy()
    x[5, 1] = -np.inf
    return x


def _item(value, i=2):
    def f(y):
        y = y.astype(np.float64).copy()
        y[i] = value
        return y

    return f


def _two_ones(y):
    y = y.copy()
    y[4] = [1, 1, 0]
    return y


BAD = {
    # id: (layout, labels, change of the arrays, extra CLI args, words the message must hold)
    "missing-key": ("nhwc", "int", _set(y_test=None), [], ["missing array(s) y_test", "x_train"]),
    "missing-two-keys": ("flat", "int", _set(x_test=None, y_test=None), [], ["missing array(s) x_test, y_test"]),
    "length-train": (
        "nhwc",
        "int",
        _set(y_train=lambda y: y[:-1]),
        [],
        ["y_train has 39 labels", "x_train has 40", "must match"],
    ),
    "length-test": (
        "flat",
        "onehot",
        _set(x_test=lambda x: x[:-2]),
        [],
        ["y_test has 24 labels", "x_test has 22", "must match"],
    ),
    "nan-x": ("nhwc", "int", _set(x_train=_nan), [], ["x_train", "NaN or infinite", "x_train[3]"]),
    "inf-x": ("flat", "int", _set(x_test=_inf), [], ["x_test", "NaN or infinite", "x_test[5]"]),
    "negative-label": ("nhwc", "int", _set(y_train=_item(-1)), [], ["y_train", "negative label", "y_train[2] = -1"]),
    "non-integer-label": ("flat", "int", _set(y_test=_item(1.5)), [], ["y_test", "non-integer label", "1.5"]),
    "nan-label": ("flat", "int", _set(y_train=_item(np.nan)), [], ["y_train", "non-integer label"]),
    "label-out-of-one-hot-range": (
        "nhwc",
        "onehot",
        _set(y_train=np.arange(N_TRAIN) % 4),
        [],
        ["y_train", "out of range 0..2", "one-hot labels: 3 classes"],
    ),
    "label-out-of-n-classes": (
        "flat",
        "int",
        _set(y_test=_item(7)),
        ["--n-classes", "3"],
        ["y_test", "out of range 0..2", "dataset.n_classes"],
    ),
    "one-hot-two-ones": ("nhwc", "onehot", _set(y_train=_two_ones), [], ["y_train", "not one-hot", "y_train[4]"]),
    "one-hot-soft": ("flat", "onehot", _set(y_test=lambda y: y * 0.5), [], ["y_test", "not one-hot"]),
    "one-hot-zero-row": (
        "flat",
        "onehot",
        _set(y_test=lambda y: np.vstack([np.zeros((1, 3)), y[1:]])),
        [],
        ["y_test", "not one-hot", "y_test[0]"],
    ),
    "one-hot-widths-differ": (
        "nhwc",
        "onehot",
        _set(y_test=lambda y: np.hstack([y, np.zeros((len(y), 1))])),
        [],
        ["y_train is one-hot over 3", "y_test over 4"],
    ),
    "one-hot-vs-n-classes": ("nhwc", "onehot", _set(), ["--n-classes", "4"], ["3 columns", "dataset.n_classes = 4"]),
    "one-class": (
        "flat",
        "int",
        _set(y_train=np.zeros(N_TRAIN, int), y_test=np.zeros(N_TEST, int)),
        [],
        ["1 class", "at least 2"],
    ),
    "label-too-large": (
        "flat",
        "int",
        _set(y_test=_item(10**9)),
        [],
        ["largest label is 1000000000", "64 examples", "dataset.n_classes"],
    ),
    # an input equal to the training mean is zero after standardization: it has no norm
    "constant-input": (
        "flat",
        "int",
        _set(x_train=lambda x: np.vstack([np.zeros((2, 24)), x[:19].round(), -x[:19].round()])),
        ["--n-train", str(N_TRAIN)],
        ["constant after standardization"],
    ),
    "string-labels": ("flat", "int", _set(y_train=np.array(["a"] * N_TRAIN)), [], ["y_train", "dtype", "integers"]),
    "x-1d": ("flat", "int", _set(x_train=lambda x: x[:, 0]), [], ["x_train", "(40,)", "1-D", "(N, H, W, C)", "(N, d)"]),
    "x-3d": ("nhwc", "int", _set(x_test=lambda x: x[..., 0]), [], ["x_test", "3-D", "x[..., None]"]),
    "x-5d": ("nhwc", "int", _set(x_train=lambda x: x[..., None]), [], ["x_train", "5-D"]),
    "y-3d": (
        "nhwc",
        "onehot",
        _set(y_train=lambda y: y[..., None, None]),
        [],
        ["y_train", "(40, 3, 1, 1)", "one-hot (N, K)"],
    ),
    "features-differ-flat": (
        "flat",
        "int",
        _set(x_test=lambda x: x[:, :20]),
        [],
        ["x_train inputs have shape (24,)", "x_test", "(20,)"],
    ),
    "features-differ-nhwc": (
        "nhwc",
        "int",
        _set(x_test=lambda x: x.reshape(len(x), 3, 4, 2)),
        [],
        ["(4, 3, 2)", "(3, 4, 2)", "must agree"],
    ),
    "features-rank-differ": ("nhwc", "int", _set(x_test=lambda x: x.reshape(len(x), -1)), [], ["(4, 3, 2)", "(24,)"]),
    "complex-x": (
        "flat",
        "int",
        _set(x_train=lambda x: x.astype(np.complex64)),
        [],
        ["x_train", "dtype complex64", "real numbers"],
    ),
    "object-array": (
        "flat",
        "int",
        _set(y_test=np.array([1, "a"] * (N_TEST // 2), dtype=object)),
        [],
        ["y_test", "pickle"],
    ),
    "empty-x": (
        "flat",
        "int",
        _set(x_test=lambda x: x[:0], y_test=lambda y: y[:0]),
        ["--n-test", "1"],
        ["x_test is empty"],
    ),
    "image-shape-mismatch": (
        "flat",
        "int",
        _set(),
        ["--image-shape", "5", "5", "1"],
        ["24 features", "dataset.image_shape = [5, 5, 1]"],
    ),
    "image-shape-vs-nhwc": (
        "nhwc",
        "int",
        _set(),
        ["--image-shape", "3", "4", "2"],
        ["(4, 3, 2)", "dataset.image_shape = [3, 4, 2]"],
    ),
    "n-train-too-large": (
        "nhwc",
        "int",
        _set(),
        ["--n-train", "41"],
        ["dataset.n_train = 41", "40 examples of x_train"],
    ),
    "n-test-too-large": (
        "flat",
        "onehot",
        _set(),
        ["--n-test", "25"],
        ["dataset.n_test = 25", "24 examples of x_test"],
    ),
}


def assert_refused(capsys, rc: int, npz: Path, js: Path, path: Path, words: list[str]) -> str:
    cap = capsys.readouterr()
    msg = cap.err + cap.out
    assert rc == 2, msg
    assert "dataset.path" in msg and str(path) in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    assert "Traceback" not in msg
    assert not npz.exists() and not js.exists()
    assert not any(npz.parent.glob("*")) if npz.parent.exists() else True  # not even a temporary
    return msg


@pytest.mark.parametrize("case", list(BAD))
def test_bad_user_file_is_refused_naming_key_file_and_problem(tmp_path, capsys, case):
    layout, labels, change, extra, words = BAD[case]
    path = tmp_path / "user.npz"
    np.savez(path, **change(arrays(layout, labels)))
    rc, npz, js = run_main(tmp_path, path, *extra)  # later --n-train/--n-test win in argparse
    assert_refused(capsys, rc, npz, js, path, words)


def test_missing_file(tmp_path, capsys):
    path = tmp_path / "nowhere" / "user.npz"
    rc, npz, js = run_main(tmp_path, path)
    assert_refused(capsys, rc, npz, js, path, ["no such file"])


def test_directory_instead_of_file(tmp_path, capsys):
    rc, npz, js = run_main(tmp_path, tmp_path)
    assert_refused(capsys, rc, npz, js, tmp_path, ["not a file"])


def test_not_an_npz_file(tmp_path, capsys):
    path = tmp_path / "user.npz"
    path.write_text("x_train,y_train\n1,2\n")
    rc, npz, js = run_main(tmp_path, path)
    assert_refused(capsys, rc, npz, js, path, ["not a readable .npz file"])


def test_single_npy_array(tmp_path, capsys):
    path = tmp_path / "user.npy"
    np.save(path, np.zeros((4, 3)))
    rc, npz, js = run_main(tmp_path, path)
    assert_refused(capsys, rc, npz, js, path, ["single array", "np.savez"])


def test_npz_without_path_names_the_key():
    with pytest.raises(data.DatasetError, match="dataset.path is required"):
        data.prepare("npz", 10, 5, seed=0, convention="ours")


def test_schema_requires_dataset_path_for_npz():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    with pytest.raises(WorkflowError) as err:
        validate({"dataset": {"name": "npz"}}, schema)
    text = str(err.value) + "".join(str(a) for a in err.value.args)
    assert "'path' is a required property" in text and "['dataset']" in text
    cfg = {"dataset": {"name": "npz", "path": "my.npz"}}
    validate(cfg, schema)
    assert cfg["dataset"]["image_shape"] is None and cfg["dataset"]["n_classes"] is None
    validate({"dataset": {"name": "digits"}}, schema)  # path only for npz


# --- the Snakemake rule --------------------------------------------------------------
