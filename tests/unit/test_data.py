"""Data stage: digits on the real data; tfds CIFAR-10 through the real builder on a
generated file in the original binary layout (only the download mocked); MNIST and
Fashion-MNIST through ``tfds.testing.mock_data``."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from helpers import prepare_data
from ntk_phases import data, files


def test_digits_shapes_labels_norms():
    arrays, meta = data.prepare("digits", 100, 50, seed=3, convention="ours")
    assert arrays["x_train"].shape == (100, 8, 8, 1) and arrays["x_test"].shape == (50, 8, 8, 1)
    assert arrays["x_train"].dtype == np.float64
    for y in (arrays["y_train"], arrays["y_test"]):
        assert y.shape[1] == 10 and set(np.unique(y)) == {0.0, 1.0}
        np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    for x in (arrays["x_train"], arrays["x_test"]):
        norms = np.linalg.norm(x.reshape(len(x), -1), axis=1)
        np.testing.assert_allclose(norms, np.sqrt(64), rtol=1e-12)
    assert meta["source"] == "sklearn:digits" and meta["n_train"] == 100
    assert sum(meta["class_counts_train"]) == 100


def test_digits_train_test_disjoint_and_real():
    from sklearn.datasets import load_digits

    ids = np.arange(1797)
    tr, _, te, _ = data.split_digits(ids, ids, 300, 200, seed=0, first=False)
    assert len(set(tr) | set(te)) == 500  # disjoint draws
    x_raw, labels = data.load_digits_raw()
    bunch = load_digits()
    np.testing.assert_array_equal(x_raw[..., 0], bunch.images)  # the real 1,797 images
    np.testing.assert_array_equal(labels, bunch.target)


def test_same_seed_same_sha_different_seed_differs():
    _, a = data.prepare("digits", 64, 32, seed=1, convention="ours")
    _, b = data.prepare("digits", 64, 32, seed=1, convention="ours")
    _, c = data.prepare("digits", 64, 32, seed=2, convention="ours")
    assert a["sha256"] == b["sha256"]
    assert a["sha256"]["x_train"] != c["sha256"]["x_train"]


def test_n_test_none_takes_all_remaining():
    arrays, meta = data.prepare("digits", 1000, None, seed=0, convention="ours")
    assert meta["n_test"] == 797


def test_too_many_images_names_the_config_keys():
    with pytest.raises(data.DatasetError, match="dataset.n_train"):
        data.prepare("digits", 1500, 400, seed=0, convention="ours")


def test_mse_targets_are_centred():
    y = data.one_hot(np.array([0, 3, 3, 9]), 10)
    t = data.mse_targets(y)
    np.testing.assert_allclose(t.sum(axis=0), 0.0, atol=1e-15)  # 1ᵀY = 0
    assert t[1, 3] == pytest.approx(0.5) and t[0, 0] == pytest.approx(0.75)
    np.testing.assert_array_equal(np.argmax(t, axis=1), [0, 3, 3, 9])


def test_save_is_all_or_nothing(tmp_path: Path):
    arrays, meta = data.prepare("digits", 16, 8, seed=0, convention="ours")
    npz, js = tmp_path / "d.npz", tmp_path / "d.json"
    with mock.patch.object(files, "write_json", side_effect=RuntimeError("disk full")):
        with pytest.raises(RuntimeError):
            data.save(arrays, meta, npz, js)
    assert list(tmp_path.iterdir()) == []
    data.save(arrays, meta, npz, js)
    loaded = data.load(npz)
    assert {k: files.sha256_array(v) for k, v in loaded.items()} == json.loads(js.read_text())["sha256"]


def test_cli_failure_leaves_no_file(tmp_path: Path):
    rc = prepare_data(
        [
            "--dataset",
            "digits",
            "--n-train",
            "1700",
            "--n-test",
            "200",
            "--out-npz",
            str(tmp_path / "x.npz"),
            "--out-json",
            str(tmp_path / "x.json"),
        ]
    )
    assert rc != 0 and list(tmp_path.iterdir()) == []


# --- tensorflow-datasets -------------------------------------------------------------


def write_cifar10_binary(root: Path, n_per_batch: int, n_test: int, seed: int = 0) -> Path:
    """Files in the original CIFAR-10 binary layout: records of 1 label byte + 3072 pixels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta.txt").write_text("\n".join(names) + "\n")

    def batch(n: int) -> bytes:
        labels = np.arange(n, dtype=np.uint8) % 10
        # class-dependent mean so the labels are learnable, not just noise
        pix = rng.integers(0, 200, size=(n, 3, 32, 32)).astype(np.uint8) + (labels[:, None, None, None] * 5)
        return np.concatenate([labels[:, None], pix.reshape(n, -1)], axis=1).astype(np.uint8).tobytes()

    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(batch(n_per_batch))
    (folder / "test_batch.bin").write_bytes(batch(n_test))
    return root


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory) -> tuple[Path, Path]:
    fake = write_cifar10_binary(tmp_path_factory.mktemp("cifar_download"), n_per_batch=20, n_test=30)
    return fake, tmp_path_factory.mktemp("tfds")


def test_tfds_cifar10_real_builder_on_binary_layout(cifar_dir):
    import tensorflow_datasets as tfds

    fake, data_dir = cifar_dir
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", return_value=str(fake)):
        arrays, meta = data.prepare("cifar10", 40, 16, seed=0, data_dir=str(data_dir), convention="ours")
    assert arrays["x_train"].shape == (40, 32, 32, 3) and arrays["x_test"].shape == (16, 32, 32, 3)
    np.testing.assert_array_equal(arrays["y_train"].sum(1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(arrays["x_train"].reshape(40, -1), axis=1), np.sqrt(3072))
    assert meta["source"] == "tfds:cifar10"
    # the builder's array_record files exist and a second call reuses them deterministically
    assert list(Path(data_dir).glob("cifar10/*/*.array_record*"))
    with mock.patch.object(
        tfds.download.DownloadManager, "download_and_extract", side_effect=AssertionError("re-download")
    ):
        _, meta2 = data.prepare("cifar10", 40, 16, seed=0, data_dir=str(data_dir), convention="ours")
    assert meta2["sha256"] == meta["sha256"]


def test_tfds_cifar10_labels_match_the_binary_records(cifar_dir):
    # every test record was written with label = index % 10 and pixel mean offset 5*label
    import tensorflow_datasets as tfds

    fake, data_dir = cifar_dir
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", return_value=str(fake)):
        x_tr, y_tr, x_te, y_te = data.load_tfds_subset("cifar10", 100, 30, seed=0, data_dir=str(data_dir), first=False)
    assert np.bincount(y_te, minlength=10).tolist() == [3] * 10
    means = np.array([x_tr[y_tr == k].mean() for k in range(10)])
    assert np.all(np.diff(means) > 0)


def test_tfds_too_many_images_names_the_key(cifar_dir):
    import tensorflow_datasets as tfds

    fake, data_dir = cifar_dir
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", return_value=str(fake)):
        with pytest.raises(data.DatasetError, match="dataset.n_train"):
            data.prepare("cifar10", 101, 16, seed=0, data_dir=str(data_dir), convention="ours")


def test_tfds_cifar10_from_the_download_cache_by_concurrent_jobs(tmp_path):
    """The archive in tfds' download cache (tests/helpers/cifar10_archive.py: nothing of tfds
    patched) prepared by two processes at once, as the pipeline's two data rules do on
    a fresh data directory: both get the records of the archive (one prepares, the other
    waits for it and reuses it)."""
    import subprocess
    import sys

    from helpers import cifar10_archive

    archive = cifar10_archive.write_archive(tmp_path / "dl" / "cifar-10-binary.tar.gz", 20, 30)
    data_dir = tmp_path / "tfds"
    cifar10_archive.seed_download_cache(archive, data_dir)
    code = (
        "import sys, numpy as np; from ntk_phases import data; "
        f"x, y, xt, yt = data.load_tfds_subset('cifar10', 100, 30, 0, data_dir={str(data_dir)!r}, first=True); "
        "np.savez(sys.argv[1], x=x, y=y, xt=xt, yt=yt)"
    )
    outs = [tmp_path / f"job{i}.npz" for i in range(2)]
    jobs = [subprocess.Popen([sys.executable, "-c", code, str(o)], stderr=subprocess.PIPE, text=True) for o in outs]
    errors = [j.communicate(timeout=600)[1] for j in jobs]
    assert [j.returncode for j in jobs] == [0, 0], "\n".join(e[-2000:] for e in errors)
    a, b = (np.load(o) for o in outs)
    for k in ("x", "y", "xt", "yt"):
        np.testing.assert_array_equal(a[k], b[k])
    # the test split is the archive's test_batch.bin, record for record: pixels (CHW in
    # the file, HWC from tfds) and labels
    labels, images = cifar10_archive.read_records(archive, "test_batch.bin")
    written = {img.tobytes(): lab for img, lab in zip(images, labels)}
    read = {img.astype(np.uint8).tobytes(): lab for img, lab in zip(a["xt"], a["yt"])}
    assert read == written
    assert a["x"].shape == (100, 32, 32, 3)
    assert list(data_dir.glob("downloads/extracted/*/cifar-10-batches-bin/test_batch.bin"))


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tfds_grayscale_with_mock_data(name, tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=50, data_dir=str(tmp_path)):
        arrays, meta = data.prepare(name, 20, 10, seed=0, data_dir=str(tmp_path), download=False, convention="ours")
    assert arrays["x_train"].shape == (20, 28, 28, 1)
    np.testing.assert_allclose(np.linalg.norm(arrays["x_test"].reshape(10, -1), axis=1), 28.0)
    assert meta["source"] == f"tfds:{name}"


# --- offline: a tfds dataset that cannot be downloaded --------------------------------


def _offline_errors():
    import requests
    import tensorflow_datasets as tfds

    conn = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='www.cs.toronto.edu', port=443): Max retries exceeded"
    )
    wrapped = RuntimeError("Failed to download")
    wrapped.__cause__ = conn
    return {
        "requests-connection-error": conn,
        "tfds-download-error": tfds.download.DownloadError("Failed to get url ... HTTP code: 503."),
        "wrapped-connection-error": wrapped,
        "connection-refused": ConnectionRefusedError(111, "Connection refused"),
        "dns-failure": socket.gaierror(-2, "Name or service not known"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "requests-connection-error",
        "tfds-download-error",
        "wrapped-connection-error",
        "connection-refused",
        "dns-failure",
    ],
)
def test_tfds_offline_is_one_clear_message(tmp_path, capsys, kind):
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"  # empty: cifar10 is not prepared there
    out = tmp_path / "results" / "r" / "data"
    npz, js = out / "cifar10.npz", out / "cifar10.json"
    err = _offline_errors()[kind]
    with (
        mock.patch.object(tfds.download.DownloadManager, "download_and_extract", side_effect=err),
        mock.patch.object(tfds.download.DownloadManager, "download", side_effect=err),
    ):
        rc = prepare_data(
            [
                "--dataset",
                "cifar10",
                "--n-train",
                "10",
                "--n-test",
                "5",
                "--data-dir",
                str(data_dir),
                "--out-npz",
                str(npz),
                "--out-json",
                str(js),
            ]
        )
    cap = capsys.readouterr()
    msg = cap.err + cap.out
    assert rc == 2, msg
    assert "Traceback" not in msg
    assert "cannot download dataset cifar10" in msg
    assert f"dataset.data_dir = {data_dir} holds no prepared cifar10" in msg
    assert "prepare_data" in msg and f"snakemake {npz} --cores 1 --configfile <your config>" in msg
    assert "set dataset.data_dir" in msg
    assert msg.count(" ERROR ") == 1  # one message
    assert not npz.exists() and not js.exists() and not (tmp_path / "results").exists()


def test_tfds_offline_message_with_the_default_data_dir():
    import requests

    e = data.DatasetOffline("mnist", None, "/home/u/tensorflow_datasets", requests.exceptions.ConnectionError("x"))
    text = e.explain("results/run1/data/mnist.npz")
    assert "dataset.data_dir = null (tensorflow-datasets' default, /home/u/tensorflow_datasets)" in text
    assert "snakemake results/run1/data/mnist.npz --cores 1" in text and "mnist/<version>/" in text
    assert "results/<run>/data/mnist.npz" in str(e)  # without a target: the pattern
    assert isinstance(e, data.DatasetError)


def test_tfds_other_download_failures_are_not_called_offline(tmp_path):
    import tensorflow_datasets as tfds

    with mock.patch.object(
        tfds.download.DownloadManager, "download_and_extract", side_effect=KeyError("not a network problem")
    ):
        with pytest.raises(KeyError):
            data.prepare("cifar10", 10, 5, seed=0, data_dir=str(tmp_path / "tfds"), convention="ours")
