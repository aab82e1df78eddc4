"""A generated CIFAR-10 archive in the original binary layout, and tensorflow-datasets'
download cache seeded with it, so that the real ``cifar10`` builder prepares it offline.

The archive is what https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz holds, with
fewer records and synthetic pixels: ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and
``test_batch.bin`` (records of 1 label byte + 3072 pixel bytes, channel-major: 1024 red,
1024 green, 1024 blue, each row-major) and ``batches.meta.txt`` (the class names).

How it reaches the builder (:func:`seed_download_cache`): tfds downloads a URL whose
checksum it has registered (``url_checksums/cifar10.txt`` in the installed package) to
``<data_dir>/downloads/cifar10/<name from the URL and that checksum>`` with a ``.INFO``
file beside it, and on a later call takes a file found there as the download, without
hashing it again ("Skipping download ...: File cached in ..."). The helper puts the
generated archive there; its ``.INFO`` file states the file's own size and sha256 (tfds
reads only its original file name, to choose the extraction method). Everything after
that is tensorflow-datasets' unpatched code: the download manager's cache lookup, its
tar.gz extraction, the builder's ``_split_generators`` / ``_generate_examples`` reading
the binary records, the array_record writer, and ``as_data_source`` in the pipeline.

Why not a public option: ``DownloadConfig(register_checksums=True)`` accepts a file with
another checksum but writes it into the installed package's checksum file;
``force_checksums_validation`` only concerns URLs without a registered checksum; a file
in ``manual_dir`` is hashed and compared with the registered checksum
(``NonMatchingChecksumError``). No option reads a local file in place of a registered
download without one of those.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
RECORD_BYTES = 1 + 3 * 32 * 32


def records(n: int, rng: np.random.Generator, offset: int = 0) -> bytes:
    """``n`` binary records. Labels cycle through the classes; each class shifts its
    pixels' mean (learnable, not pure noise, so the trained networks see some signal)."""
    labels = ((np.arange(n) + offset) % 10).astype(np.uint8)
    chw = rng.integers(0, 200, size=(n, 3, 32, 32), dtype=np.uint8) + (labels[:, None, None, None] * 5)
    return np.concatenate([labels[:, None], chw.reshape(n, -1)], axis=1).astype(np.uint8).tobytes()


def write_archive(path: Path, n_per_batch: int, n_test: int, seed: int = 0) -> Path:
    """``cifar-10-binary.tar.gz`` at ``path`` with 5 × ``n_per_batch`` training records and
    ``n_test`` test records (the original: 10 000 each)."""
    rng = np.random.default_rng(seed)
    files = {"batches.meta.txt": ("\n".join(CLASS_NAMES) + "\n\n").encode()}
    for i in range(1, 6):
        files[f"data_batch_{i}.bin"] = records(n_per_batch, rng, offset=i)
    files["test_batch.bin"] = records(n_test, rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    for name, payload in files.items():
        if name.endswith(".bin"):
            assert len(payload) % RECORD_BYTES == 0
    return path


def read_records(archive: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and NHWC uint8 images of one ``.bin`` file of the archive, parsed here
    (independently of tfds): to hold what tfds reads to what was written."""
    with tarfile.open(archive, "r:gz") as tar:
        raw = tar.extractfile(f"cifar-10-batches-bin/{name}").read()
    rec = np.frombuffer(raw, np.uint8).reshape(-1, RECORD_BYTES)
    return rec[:, 0].astype(np.int64), np.transpose(rec[:, 1:].reshape(-1, 3, 32, 32), (0, 2, 3, 1))


def seed_download_cache(archive: Path, data_dir: Path) -> Path:
    """Place ``archive`` where the real ``cifar10`` builder's download manager looks for its
    cached download under ``data_dir`` (see the module docstring); returns that path."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums, resource

    builder_cls = tfds.builder_cls("cifar10")
    ((url, registered),) = builder_cls.url_infos.items()
    dest = data_dir / "downloads" / "cifar10" / resource.get_dl_fname(url, registered.checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(archive, dest)
    own = checksums.UrlInfo(
        size=archive.stat().st_size,
        checksum=hashlib.sha256(archive.read_bytes()).hexdigest(),
        filename=registered.filename,
    )
    resource.write_info_file(
        url=url, path=dest, dataset_name="cifar10", original_fname=registered.filename, url_info=own
    )
    return dest
