"""Train a job's blocks of finite networks (the ``train`` rules; jax, flax and optax only,
never neural-tangents or TensorFlow: the learning rate arrives as the ``learning_rates``
table). The blocks run one after another in one process (one start-up); their rows are
written as one table and their checkpoints deleted. Each block has its own checkpoint: a
killed job's rerun takes the finished blocks' rows from theirs and resumes the unfinished
block from its own. The experiments themselves are :mod:`ntk_phases.finite.experiments`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pandas as pd

from .. import data as data_mod
from .. import files, provenance
from ..finite.experiments import train_experiment, width_outputs
from ..finite.recipes import EXPERIMENTS, experiment_data
from ..finite.train import TrainingInterrupted
from . import EXIT_INTERRUPTED, Stage, config_arg
from .width import stack_outputs

log = logging.getLogger("ntk_phases.training")
STAGE = Stage()


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    p.add_argument("--arch")
    p.add_argument("--activation")
    p.add_argument(
        "--depth",
        type=int,
        nargs="+",
        default=None,
        help="grid, architectures: the depths this job trains, one block each",
    )
    p.add_argument(
        "--width", type=int, nargs="+", default=None, help="width: the widths this job trains, one block each"
    )
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--lr", required=True, help="the learning_rates table")
    config_arg(p, "the experiment's config section")
    p.add_argument("--common-json", type=json.loads, required=True, help="checkpointing, logging, dtype, ...")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint path; with several blocks a pattern with {depth} or {width}"
    )
    p.add_argument("--out", required=True, help="the job's table (every block's rows)")
    p.add_argument("--out-npz", default=None, help="width: outputs and empirical NTK (leading axis: the job's widths)")
    p.add_argument("--stop-after-step", type=int, default=None, help=argparse.SUPPRESS)


def block_checkpoint(pattern: str | None, depth: int | None, width: int | None) -> str | None:
    """The checkpoint of one block of a job: ``pattern`` with ``{depth}`` and ``{width}``
    filled in (a plain path serves a one-block job)."""
    if pattern is None:
        return None
    return pattern.replace("{depth}", str(depth)).replace("{width}", str(width))


@STAGE.job("train", "train a job's blocks", _train_args)
def train(args: argparse.Namespace) -> int:
    """Train the job's blocks one after another in this process (one start-up): every
    ``--depth`` (grid, architectures) or ``--width`` (width) given. Each block keeps its
    own checkpoint (``--checkpoint`` with ``{depth}`` / ``{width}``) until the job's table
    is written: a rerun of a killed job takes finished blocks from their checkpoints (rows
    only) and resumes the unfinished one."""
    t0 = time.perf_counter()
    cfg, common = args.config, args.common_json
    arrays = experiment_data(args.experiment, cfg, data_mod.load(args.data))
    lr = pd.read_csv(args.lr)
    is_width = args.experiment == "width"
    if args.checkpoint is None and is_width:
        raise SystemExit("the width experiment needs --checkpoint (final parameters)")
    blocks = [(d, w) for d in (args.depth or [None]) for w in (args.width or [None])]
    ckpts = [block_checkpoint(args.checkpoint, d, w) for d, w in blocks]
    if args.checkpoint is not None and len(set(ckpts)) != len(ckpts):
        raise SystemExit("several blocks need a --checkpoint pattern with {depth} or {width}")
    max_minutes = common["max_minutes"]
    deadline = None if max_minutes is None else t0 + 60.0 * float(max_minutes)

    frames, outs = [], []
    for i, ((depth, width), ckpt) in enumerate(zip(blocks, ckpts)):
        stop = None
        if args.stop_after_step is not None:  # a simulated kill after that many steps of
            stop = args.stop_after_step - i * int(cfg["n_steps"])  # the job's blocks in order
            if stop <= 0:
                log.warning("stopped before block %d of %d; rerun the job to resume", i + 1, len(blocks))
                return EXIT_INTERRUPTED

        def run():
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            return train_experiment(
                args.experiment,
                cfg,
                arrays,
                lr,
                dataset=args.dataset,
                arch=args.arch,
                activation=args.activation,
                depth=depth,
                width=width,
                checkpoint=ckpt,
                common=common,
                stop_after_step=stop,
                max_seconds=left,
                final_state=is_width,
            )

        try:
            try:
                frame, block = run()
            except ValueError as e:
                # a checkpoint left by a killed job of an older configuration: start afresh
                if ckpt is None or "belongs to another run" not in str(e):
                    raise
                log.warning("%s; removing it and training from scratch", e)
                Path(ckpt).unlink()
                frame, block = run()
        except TrainingInterrupted as e:
            log.warning("%s; rerun the job to resume from the checkpoint %s", e, ckpt)
            return EXIT_INTERRUPTED
        frames.append(frame)
        if is_width:
            outs.append(width_outputs(block, ckpt, arrays, int(cfg["n_ntk"])))

    frame = pd.concat(frames, ignore_index=True)
    if args.out_npz:
        files.write_npz(args.out_npz, stack_outputs(outs))
    files.write_csv(args.out, frame)
    provenance.write_provenance(
        args.out, config={"experiment": cfg, "common": common}, inputs=[args.data, args.lr], experiment=args.experiment
    )
    for f in frames:
        last = f[f["step"] == f["step"].max()]
        log.info(
            "%s depth %d width %d: %d rows; final step %d: mean train_acc %.4f, test_acc %.4f, %d diverged",
            args.experiment,
            int(f["depth"].iloc[0]),
            int(f["width"].iloc[0]),
            len(f),
            int(last["step"].iloc[0]),
            last["train_acc"].mean(),
            last["test_acc"].mean(),
            int(last["status"].eq("diverged").sum()),
        )
    log.info("wrote %s: %d rows of %d blocks; %.1fs", args.out, len(frame), len(blocks), time.perf_counter() - t0)
    for ckpt in ckpts:
        if ckpt and Path(ckpt).exists():
            Path(ckpt).unlink()
            log.info("removed checkpoint %s", ckpt)
    return 0
