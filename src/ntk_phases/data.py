"""Dataset preparation: load, take a seeded subset, preprocess, save.

Sources:
- ``digits``: scikit-learn's ``load_digits`` (1,797 real 8x8 images shipped inside
  scikit-learn), the offline default. It has no official split, so train and test
  are disjoint seeded draws from the 1,797 images.
- ``cifar10``, ``mnist``, ``fashion_mnist``: tensorflow-datasets through the
  array_record data source (``builder.as_data_source``), which avoids the TF graph
  path that aborted with TF 2.21 (SPEC §4). Offline, a dataset that is not yet in the
  tfds data directory fails with one message that says how to get it
  (:class:`DatasetOffline`), not a traceback.
- ``npz``: the user's own file (``dataset.path``) holding ``x_train, y_train, x_test,
  y_test``; images NHWC ``(N, H, W, C)`` or flat vectors ``(N, d)``, labels integer
  ``(N,)`` or one-hot ``(N, K)``. Checked in full before anything is written
  (:func:`load_npz`); seeded subsets as for tfds (train and test are the file's own).

Preprocessing (SPEC §3): standardize each channel with the training set's mean and
standard deviation, then rescale every input to norm √n₀ (n₀ = H·W·C). Flat vectors
``(N, d)`` have no channel axis: each of the d features is standardized on its own
and the inputs stay 2-D (the ``fcn`` takes them; the convolutional architectures need
NHWC, which ``dataset.image_shape`` gives by reshaping). Labels are stored one-hot;
:func:`mse_targets` centres them (per class, over the set) for MSE.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import socket
import urllib.error
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import files

log = logging.getLogger("ntk_phases.data")

DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"source": "sklearn:digits", "n_classes": 10},
    "cifar10": {"source": "tfds:cifar10", "n_classes": 10},
    "mnist": {"source": "tfds:mnist", "n_classes": 10},
    "fashion_mnist": {"source": "tfds:fashion_mnist", "n_classes": 10},
    # the user's file (dataset.path); classes from its labels or dataset.n_classes
    "npz": {"source": "npz", "n_classes": None},
}
PREPROCESSING = (
    "per-channel standardization with training-set mean/std; "
    "each input rescaled to Euclidean norm sqrt(n0), n0 = H*W*C; labels one-hot"
)
PREPROCESSING_FLAT = (
    "per-feature standardization with training-set mean/std (flat vectors, no channel axis); "
    "each input rescaled to Euclidean norm sqrt(n0), n0 = d; labels one-hot"
)
PREPROCESSING_NOTEBOOK = (
    "convention notebook: the first n_train / n_test of each split; each split standardised "
    "by one scalar mean and std of that split; labels one-hot (not centred)"
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetError(ValueError):
    """A dataset request that cannot be satisfied (bad size, unknown name, bad file)."""


class DatasetOffline(DatasetError):
    """A tfds dataset that is not in the data directory and cannot be downloaded."""

    def __init__(self, name: str, data_dir: str | None, root: str, cause: BaseException):
        self.name, self.data_dir, self.root, self.cause = name, data_dir, root, cause
        super().__init__(self.explain())

    def explain(self, target: str | None = None) -> str:
        """The message; ``target`` is the prepared file the data rule was asked for."""
        target = target or f"results/<run>/data/{self.name}.npz"
        where = (
            f"dataset.data_dir = {self.data_dir}"
            if self.data_dir
            else f"dataset.data_dir = null (tensorflow-datasets' default, {self.root})"
        )
        cause = f"{type(self.cause).__name__}: {self.cause}".splitlines()[0][:240]
        return (
            f"cannot download dataset {self.name} (no network here, or the server refused): {cause}\n"
            f"{where} holds no prepared {self.name}. Two ways out:\n"
            f"  1. on a machine with a network, run the data rule (prepare_data, a localrule: "
            f"on a cluster it runs on the login node):\n"
            f"       snakemake {target} --cores 1 --configfile <your config>\n"
            f"     it downloads {self.name} into dataset.data_dir there; run the pipeline there, "
            f"or go on with 2;\n"
            f"  2. copy a prepared tensorflow-datasets data directory (one holding "
            f"{self.name}/<version>/ in array_record format, as this pipeline's data rule "
            f"writes it) to this machine and set dataset.data_dir to it."
        )


def _network_error(exc: BaseException) -> BaseException | None:
    """The download failure in ``exc``'s chain (requests, tfds or socket errors), if any."""
    kinds: list[type] = [urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror]
    try:  # deferred: tfds's network stack, loaded only when a download failed
        import requests

        kinds.append(requests.exceptions.RequestException)
    except ImportError:  # pragma: no cover - tfds depends on requests
        pass
    try:  # deferred: tensorflow-datasets (and TensorFlow), only when a download failed
        from tensorflow_datasets.core.download.util import DownloadError

        kinds.append(DownloadError)
    except ImportError:  # pragma: no cover
        pass
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, tuple(kinds)):
            return e
        e = e.__cause__ or e.__context__
    return None


def load_digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as NHWC float64 images (values 0..16) and integer labels."""
    from sklearn.datasets import load_digits  # deferred: scikit-learn, for the digits only

    bunch = load_digits()
    x = bunch.images.astype(np.float64)[..., None]
    return x, bunch.target.astype(np.int64)


def split_digits(
    x: np.ndarray, labels: np.ndarray, n_train: int, n_test: int | None, seed: int, first: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint seeded train/test draws; ``n_test=None`` takes every remaining image.
    ``first``: the first n_train images, then the next n_test (no draw)."""
    n_total = len(x)
    n_test_eff = n_total - n_train if n_test is None else n_test
    if n_train + n_test_eff > n_total:
        raise DatasetError(
            f"dataset.n_train + dataset.n_test = {n_train} + {n_test_eff} exceeds the {n_total} images of digits"
        )
    perm = np.arange(n_total) if first else np.random.default_rng(seed).permutation(n_total)
    tr, te = perm[:n_train], perm[n_train : n_train + n_test_eff]
    return x[tr], labels[tr], x[te], labels[te]


def tfds_builder(name: str, data_dir: str | None):
    """The tfds builder with the array_record file format (random access, no TF graph)."""
    import tensorflow_datasets as tfds  # deferred: TensorFlow, for the tfds datasets only

    return tfds.builder(name, data_dir=data_dir, file_format="array_record")


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive advisory lock (``flock``) on ``lock_path`` for the ``with`` block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download_and_prepare(builder, name: str, data_dir: str | None) -> None:
    """``builder.download_and_prepare()``; a network failure becomes :class:`DatasetOffline`."""
    if not builder.is_prepared():
        log.info(
            "%s is not in %s: downloading (needs a network; offline, the download "
            "retries for a few minutes before it fails)",
            name,
            Path(builder.data_dir).parents[1],
        )
    try:
        builder.download_and_prepare()
    except Exception as e:
        cause = _network_error(e)
        if cause is None:
            raise
        raise DatasetOffline(name, data_dir, str(Path(builder.data_dir).parents[1]), cause) from e


def load_tfds_subset(
    name: str,
    n_train: int,
    n_test: int | None,
    seed: int,
    data_dir: str | None = None,
    download: bool = True,
    *,
    first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded subsets of a tfds dataset's train and test splits (``first``: the first n
    of each split, as the notebook takes them).

    Only the selected records are read (random access into array_record files).
    """
    builder = tfds_builder(name, data_dir)
    if download:
        # One preparation at a time per data directory: the pipeline's two data rules
        # (prepare_data, training_data) run side by side on a fresh directory, and two
        # concurrent download_and_prepare calls both extract and generate the dataset;
        # the second one's final rename onto the first one's directory fails. The lock
        # makes the second wait and then reuse it (a builder made after the wait sees it).
        with _exclusive(Path(builder.data_dir_root) / f".{name}.prepare.lock"):
            builder = tfds_builder(name, data_dir)
            _download_and_prepare(builder, name, data_dir)
    out = []
    rng = np.random.default_rng(seed)
    for split, n, key in (("train", n_train, "n_train"), ("test", n_test, "n_test")):
        source = builder.as_data_source(split=split)
        n_total = len(source)
        n = n_total if n is None else n
        if n > n_total:
            raise DatasetError(f"dataset.{key} = {n} exceeds the {n_total} images of {name}'s {split} split")
        idx = np.arange(n) if first else np.sort(rng.choice(n_total, size=n, replace=False))
        records = [source[int(i)] for i in idx]
        x = np.stack([np.asarray(r["image"]) for r in records]).astype(np.float64)
        y = np.array([int(r["label"]) for r in records], dtype=np.int64)
        if x.ndim == 3:  # grayscale without a channel axis
            x = x[..., None]
        out += [x, y]
    return out[0], out[1], out[2], out[3]


def _npz_error(path: str, what: str) -> DatasetError:
    return DatasetError(f"dataset.path = {path}: {what}")


def _read_npz(path: str) -> dict[str, np.ndarray]:
    """The four arrays of a user's .npz file (no pickles), or a DatasetError saying why not."""
    p = Path(path)
    if not p.exists():
        raise _npz_error(path, "no such file")
    if not p.is_file():
        raise _npz_error(path, "is not a file")
    try:
        f = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _npz_error(path, f"is not a readable .npz file ({e})") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise _npz_error(
            path,
            f"holds a single array of shape {np.shape(f)}, not a .npz archive; "
            f"save the four arrays with np.savez(path, {', '.join(k + '=...' for k in NPZ_KEYS)})",
        )
    with f:
        missing = [k for k in NPZ_KEYS if k not in f.files]
        if missing:
            raise _npz_error(
                path,
                f"missing array(s) {', '.join(missing)}; it holds {sorted(f.files)}, and needs {', '.join(NPZ_KEYS)}",
            )
        out = {}
        for k in NPZ_KEYS:
            try:
                out[k] = f[k]
            except ValueError as e:  # object arrays need pickle
                raise _npz_error(path, f"{k} cannot be read without pickle ({e}); store numeric arrays") from None
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise _npz_error(path, f"{k} cannot be read ({e})") from None
    return out


def _real(a: np.ndarray) -> bool:
    """Real numbers (bool, integers, floats): not strings, objects or complex numbers."""
    return (np.issubdtype(a.dtype, np.number) or a.dtype == bool) and not np.issubdtype(a.dtype, np.complexfloating)


def _labels(path: str, key: str, y: np.ndarray, n: int) -> tuple[np.ndarray, int | None]:
    """Integer labels from integer ``(N,)`` (or ``(N, 1)``) or one-hot ``(N, K)`` labels;
    the one-hot width K, else None."""
    if y.ndim == 2 and y.shape[1] == 1:  # a column of integer labels
        y = y[:, 0]
    if y.ndim not in (1, 2):
        raise _npz_error(path, f"{key} has shape {y.shape}; labels are integers (N,) or one-hot (N, K)")
    if len(y) != n:
        raise _npz_error(path, f"{key} has {len(y)} labels but x_{key[2:]} has {n} inputs; the lengths must match")
    if not _real(y):
        raise _npz_error(path, f"{key} has dtype {y.dtype}; labels must be integers (or one-hot numbers)")
    yf = y.astype(np.float64)
    if y.ndim == 1:
        bad = ~np.isfinite(yf) | (yf != np.round(yf))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _npz_error(
                path,
                f"{key} holds {int(bad.sum())} non-integer label(s), e.g. {key}[{i}] = {y[i]}; "
                "labels are integer classes 0..K-1 (or one-hot rows)",
            )
        if (yf < 0).any():
            i = int(np.flatnonzero(yf < 0)[0])
            raise _npz_error(
                path,
                f"{key} holds {int((yf < 0).sum())} negative label(s), e.g. {key}[{i}] = {y[i]}; "
                "labels are integer classes 0..K-1",
            )
        return yf.astype(np.int64), None
    ok_vals = (yf == 0) | (yf == 1)
    rows = ok_vals.all(axis=1) & (yf.sum(axis=1) == 1)
    if not rows.all():
        i = int(np.flatnonzero(~rows)[0])
        raise _npz_error(
            path,
            f"{key} has shape {y.shape} but is not one-hot: {int((~rows).sum())} row(s) "
            f"are not a single 1 among 0s, e.g. {key}[{i}] = {np.array2string(y[i], threshold=12)}",
        )
    return yf.argmax(axis=1).astype(np.int64), int(y.shape[1])


def load_npz(
    path: str, image_shape: list[int] | None = None, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """A user's dataset, checked in full: x_train, labels, x_test, labels, n_classes.

    Inputs are float64, NHWC ``(N, H, W, C)`` or flat ``(N, d)`` (reshaped to NHWC when
    ``image_shape`` = [H, W, C] is given); labels are integer classes. ``n_classes``
    defaults to the one-hot width, else the largest label + 1. Any problem raises a
    :class:`DatasetError` naming ``dataset.path``, the file and the array.
    """
    a = _read_npz(path)
    xs = {}
    for key in ("x_train", "x_test"):
        x = a[key]
        if not _real(x):
            raise _npz_error(path, f"{key} has dtype {x.dtype}; inputs must be real numbers")
        if x.ndim not in (2, 4):
            hint = "; for grayscale images add a channel axis, x[..., None]" if x.ndim == 3 else ""
            raise _npz_error(
                path,
                f"{key} has shape {x.shape} ({x.ndim}-D); inputs are NHWC images "
                f"(N, H, W, C) or flat vectors (N, d){hint}",
            )
        if len(x) == 0:
            raise _npz_error(path, f"{key} is empty")
        xs[key] = x.astype(np.float64)
    if xs["x_train"].shape[1:] != xs["x_test"].shape[1:]:
        raise _npz_error(
            path,
            f"x_train inputs have shape {xs['x_train'].shape[1:]} but x_test inputs "
            f"{xs['x_test'].shape[1:]}; they must agree",
        )
    for key, x in xs.items():
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
            raise _npz_error(
                path,
                f"{key} holds {int(bad.sum())} NaN or infinite value(s) "
                f"(first in input {key}[{i}]); inputs must be finite",
            )
    labels, widths = {}, {}
    for key in ("y_train", "y_test"):
        labels[key], widths[key] = _labels(path, key, a[key], len(xs["x" + key[1:]]))
    onehot = {w for w in widths.values() if w is not None}
    if len(onehot) > 1:
        raise _npz_error(
            path,
            f"y_train is one-hot over {widths['y_train']} classes but y_test over {widths['y_test']}; they must agree",
        )
    if n_classes is not None and onehot and n_classes not in onehot:
        raise _npz_error(path, f"the one-hot labels have {onehot.pop()} columns but dataset.n_classes = {n_classes}")
    k = n_classes or (onehot.pop() if onehot else int(max(y.max() for y in labels.values())) + 1)
    n_examples = sum(len(y) for y in labels.values())
    if not n_classes and not onehot and k > n_examples:
        raise _npz_error(
            path,
            f"the largest label is {k - 1} but the file has {n_examples} examples; labels "
            "are integer classes 0..K-1 (set dataset.n_classes if there really are more classes)",
        )
    for key, y in labels.items():
        if (y >= k).any():
            i = int(np.flatnonzero(y >= k)[0])
            given = "dataset.n_classes" if n_classes else "the one-hot labels"
            raise _npz_error(
                path,
                f"{key} holds {int((y >= k).sum())} label(s) out of range 0..{k - 1} "
                f"({given}: {k} classes), e.g. {key}[{i}] = {y[i]}",
            )
    if k < 2:
        raise _npz_error(path, f"the labels have {k} class; at least 2 are needed")
    counts = np.bincount(np.concatenate(list(labels.values())), minlength=k)
    if (counts == 0).any():
        log.warning(
            "dataset.path = %s: class(es) %s of 0..%d have no example (labels are classes "
            "0..K-1; labels counted from 1 leave class 0 empty)",
            path,
            np.flatnonzero(counts == 0).tolist(),
            k - 1,
        )
    if image_shape is not None:
        shape = tuple(int(v) for v in image_shape)
        for key, x in xs.items():
            if x.ndim == 4 and x.shape[1:] != shape:
                raise _npz_error(
                    path, f"{key} holds images of shape {x.shape[1:]} but dataset.image_shape = {list(shape)}"
                )
            if x.ndim == 2:
                if x.shape[1] != int(np.prod(shape)):
                    raise _npz_error(
                        path,
                        f"{key} holds vectors of {x.shape[1]} features, which cannot be "
                        f"reshaped to dataset.image_shape = {list(shape)} ({int(np.prod(shape))} values)",
                    )
                xs[key] = x.reshape((len(x),) + shape)  # C order: (h, w, c) with c fastest
    return xs["x_train"], labels["y_train"], xs["x_test"], labels["y_test"], int(k)


def subset_npz(
    path: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_train: int,
    n_test: int | None,
    seed: int,
    first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded subsets of the file's own train and test sets (drawn as for tfds; ``first``:
    the first n of each)."""
    rng = np.random.default_rng(seed)
    out = []
    for x, y, n, key, split in (
        (x_train, y_train, n_train, "n_train", "x_train"),
        (x_test, y_test, n_test, "n_test", "x_test"),
    ):
        n_total = len(x)
        n = n_total if n is None else n
        if n > n_total:
            raise DatasetError(
                f"dataset.{key} = {n} exceeds the {n_total} examples of {split} in dataset.path = {path}"
            )
        idx = np.arange(n) if first else np.sort(rng.choice(n_total, size=n, replace=False))
        out += [x[idx], y[idx]]
    return out[0], out[1], out[2], out[3]


def rescale_inputs(x: np.ndarray) -> np.ndarray:
    """Each input (first axis) rescaled to Euclidean norm √n₀, n₀ its number of entries."""
    n0 = int(np.prod(x.shape[1:]))
    norms = np.sqrt((x.reshape(len(x), -1) ** 2).sum(axis=1))
    if np.any(norms == 0):
        raise DatasetError("an input is constant after standardization; cannot rescale")
    return x * (np.sqrt(n0) / norms).reshape((-1,) + (1,) * (x.ndim - 1))


def preprocess(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardize per channel with training statistics, then rescale each input to norm √n₀."""
    axes = tuple(range(x_train.ndim - 1))
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return rescale_inputs((x_train - mean) / std), rescale_inputs((x_test - mean) / std)


def standardize_splits(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's preprocessing: each split standardised by one scalar mean and std of
    that split (no per-input rescaling)."""

    def scalar(x: np.ndarray) -> np.ndarray:
        std = x.std()
        if std == 0:
            raise DatasetError("a split is constant; cannot standardize")
        return (x - x.mean()) / std

    return scalar(x_train), scalar(x_test)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot float64 labels."""
    return np.eye(n_classes, dtype=np.float64)[labels]


def subset(arrays: dict[str, np.ndarray], n_train: int | None, n_test: int | None, key: str) -> dict:
    """The first ``n_train`` / ``n_test`` examples of a prepared dataset (itself a seeded
    draw; None: all of a split). ``key`` is the config section that asked, named in the
    error when it asks for more than were prepared."""
    out = dict(arrays)
    for split, n in (("train", n_train), ("test", n_test)):
        if n is None:
            continue
        have = len(arrays[f"x_{split}"])
        if n > have:
            raise ValueError(
                f"config key {key}.n_{split} = {n} exceeds the {have} examples prepared (dataset.n_{split})"
            )
        out[f"x_{split}"], out[f"y_{split}"] = arrays[f"x_{split}"][:n], arrays[f"y_{split}"][:n]
    return out


def class_centred_targets(y_one_hot: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """One-hot targets less ``1/C`` (each row sums to 0), in ``dtype``: the trained
    networks' targets. Not :func:`mse_targets`, which centres each class over the set
    (the two agree only for balanced classes)."""
    return (y_one_hot - 1.0 / y_one_hot.shape[-1]).astype(dtype)


def mse_targets(y_one_hot: np.ndarray) -> np.ndarray:
    """Mean-centred one-hot targets for MSE: each class column has zero mean over the set.

    Centring over the examples (1ᵀY = 0), not just subtracting 1/k, matters for the
    mean predictor: with unbalanced classes a non-zero 1ᵀY leaves a constant part of
    P(Θ)Y that decays only like χ₁^−l in the chaotic phase and would mask the
    (χ_c*/χ₁)^l collapse of the data-dependent part.
    """
    return y_one_hot - y_one_hot.mean(axis=0, keepdims=True)


def prepare(
    name: str,
    n_train: int,
    n_test: int | None,
    seed: int,
    data_dir: str | None = None,
    download: bool = True,
    path: str | None = None,
    image_shape: list[int] | None = None,
    n_classes: int | None = None,
    *,
    convention: str,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load, subset and preprocess a dataset; return arrays and their metadata.

    ``convention = "notebook"`` takes the first n of each split and standardises each
    split by one scalar (the authors' notebook); ``"ours"`` draws seeded subsets,
    standardises per channel and rescales each input to norm √n₀.

    ``path``, ``image_shape`` and ``n_classes`` are those of ``name = "npz"`` (the
    user's file, ``dataset.path``); other datasets ignore them. ``None`` (``data_dir``,
    ``path``, ``image_shape``, ``n_classes``) means "not given", as in the schema;
    ``convention`` has no default here (the schema's is ``ours``).
    """
    if name not in DATASETS:
        raise DatasetError(f"dataset.name = {name!r} is not one of {sorted(DATASETS)}")
    if n_train <= 0 or (n_test is not None and n_test <= 0):
        raise DatasetError("dataset.n_train and dataset.n_test must be positive")
    if convention not in ("ours", "notebook"):
        raise DatasetError(f"convention = {convention!r} is not one of ours, notebook")
    first = convention == "notebook"
    spec = dict(DATASETS[name])
    extra: dict[str, Any] = {}
    if name == "digits":
        x, labels = load_digits_raw()
        xtr, ytr, xte, yte = split_digits(x, labels, n_train, n_test, seed, first)
    elif name == "npz":
        if not path:
            raise DatasetError("dataset.path is required when dataset.name is npz (the user's .npz file)")
        full = load_npz(path, image_shape, n_classes)
        spec["n_classes"] = full[4]
        xtr, ytr, xte, yte = subset_npz(path, *full[:4], n_train, n_test, seed, first)
        resolved = Path(path).expanduser().resolve()
        spec["source"] = f"npz:{resolved}"
        extra = {
            "source_path": str(path),
            "source_sha256": files.sha256_file(resolved),
            "layout": "NHWC" if xtr.ndim == 4 else "flat",
        }
    else:
        xtr, ytr, xte, yte = load_tfds_subset(name, n_train, n_test, seed, data_dir, download, first=first)
    try:
        xtr, xte = standardize_splits(xtr, xte) if first else preprocess(xtr, xte)
    except DatasetError as e:
        if name == "npz":
            raise _npz_error(path, str(e)) from None
        raise
    arrays = {
        "x_train": xtr,
        "y_train": one_hot(ytr, spec["n_classes"]),
        "x_test": xte,
        "y_test": one_hot(yte, spec["n_classes"]),
    }
    meta = {
        "dataset": name,
        "source": spec["source"],
        "n_train": int(len(xtr)),
        "n_test": int(len(xte)),
        "image_shape": list(xtr.shape[1:]),
        "n_classes": spec["n_classes"],
        "seed": int(seed),
        "convention": convention,
        "preprocessing": (PREPROCESSING_NOTEBOOK if first else PREPROCESSING if xtr.ndim == 4 else PREPROCESSING_FLAT),
        "class_counts_train": np.bincount(ytr, minlength=spec["n_classes"]).tolist(),
        "sha256": {k: files.sha256_array(v) for k, v in arrays.items()},
        **extra,
    }
    return arrays, meta


def save(arrays: dict[str, np.ndarray], meta: dict, npz_path: str, json_path: str) -> None:
    """Write the arrays (.npz) and metadata (.json); both or neither are left behind."""
    npz_path, json_path = Path(npz_path), Path(json_path)
    try:
        # compressed: standardised pixels take few distinct values, and the notebook's
        # 10 000 CIFAR-10 test images are 253 MB raw, ~55 MB compressed (+~1.4 s to load)
        files.write_npz(npz_path, arrays, compressed=True)
        files.write_json(json_path, meta)
    except BaseException:
        for p in (npz_path, json_path):
            p.unlink(missing_ok=True)
        raise


def load(npz_path: str) -> dict[str, np.ndarray]:
    """Read a prepared dataset: x_train, y_train, x_test, y_test."""
    with np.load(npz_path) as f:
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
