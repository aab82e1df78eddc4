"""Prepare a dataset: download or load it, take a seeded subset, preprocess, save
(the science is :mod:`ntk_phases.data`)."""

from __future__ import annotations

import argparse
import json
import logging

from ..data import DATASETS, DatasetError, DatasetOffline, prepare, save
from . import Stage

log = logging.getLogger("ntk_phases.data")
STAGE = Stage()

#: Exit status of a dataset that cannot be prepared (offline, or a bad file): the log
#: says why, naming the config key.
EXIT_DATASET = 2


def _prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--n-train", type=int, required=True)
    p.add_argument("--n-test", type=int, default=None, help="omit for every remaining image")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
    p.add_argument("--path", default=None, help="the user's .npz file (--dataset npz)")
    p.add_argument(
        "--image-shape",
        type=int,
        nargs=3,
        default=None,
        metavar=("H", "W", "C"),
        help="reshape flat vectors of an npz dataset to NHWC images",
    )
    p.add_argument("--n-classes", type=int, default=None, help="classes of an npz dataset (default: from its labels)")
    p.add_argument("--convention", required=True, choices=["ours", "notebook"])
    p.add_argument("--out-npz", required=True)
    p.add_argument("--out-json", required=True)


@STAGE.job("prepare", "a seeded, preprocessed subset of a dataset", _prepare_args)
def prepare_dataset(args: argparse.Namespace) -> int:
    log.info("preparing %s: n_train=%s n_test=%s seed=%s", args.dataset, args.n_train, args.n_test, args.seed)
    try:
        arrays, meta = prepare(
            args.dataset,
            args.n_train,
            args.n_test,
            args.seed,
            args.data_dir,
            path=args.path,
            image_shape=args.image_shape,
            n_classes=args.n_classes,
            convention=args.convention,
        )
    except DatasetOffline as e:
        log.error("%s", e.explain(args.out_npz))
        return EXIT_DATASET
    except DatasetError as e:
        log.error("%s", e)
        return EXIT_DATASET
    if meta.get("layout") == "flat":
        log.warning(
            "dataset.path = %s holds flat vectors of %d features: stored 2-D, for the fcn; "
            "cnn_f, cnn_p and the pooling claim (C5) need NHWC images and fail on them "
            "(set dataset.image_shape = [H, W, C] to reshape)",
            args.path,
            meta["image_shape"][0],
        )
    save(arrays, meta, args.out_npz, args.out_json)
    log.info("wrote %s (%s)", args.out_npz, json.dumps({k: meta[k] for k in ("n_train", "n_test", "image_shape")}))
    return 0
