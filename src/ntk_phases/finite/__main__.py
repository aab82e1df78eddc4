"""Finite-width training stage: the thin command line (``python -m ntk_phases.finite``) of the
``train`` rules of ``workflow/rules/train.smk``. The experiments themselves (``grid``,
``architectures``, ``memorization``, ``width``) are :mod:`ntk_phases.finite.experiments`.

Subcommands (``python -m ntk_phases.finite <cmd> ...``):

- ``lr``: the analytic λ_max of Θ(train, train) of every configuration of an experiment
  (neural-tangents, float64) and the learning rate ``η = lr_factor · 2/λ_max`` (see
  :mod:`ntk_phases.finite.train` for its normalization); for ``grid`` and ``architectures`` also the
  mean-field depth scales ξ₁, ξ* along the grid's σ_b² (the F7 and F8 overlays).
- ``train``: train a job's blocks one after another in one process (jax/flax/optax only;
  the learning rate arrives as the ``lr`` table), write their rows as one table, delete
  their checkpoints. Each block has its own checkpoint: a killed job's rerun takes the
  finished blocks' rows from theirs and resumes the unfinished block from its own.
- ``merge``: concatenate block tables into one.
- ``infinite``: the ``width`` experiment against the infinite-width prediction (from the
  analytic kernels that ``lr --out-kernels`` saved; numpy only).
- ``claims``: write the C6/C7 rows of ``metrics/claims_finite.csv`` (the claims themselves:
  :mod:`ntk_phases.claims.c6_c7`).

Import rule: this module imports the finite layer (jax, flax, optax), numpy, pandas and the
numpy-only claims and numerics at import time; ``lr`` imports :mod:`ntk_phases.analytic.sweep` (and
with it neural-tangents) inside the function, so the ``train`` entry point runs
on any jax version without them. It moves to ``stages/`` with the dispatcher (issue 13).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import data as data_mod
from .. import io
from ..claims import c6_c7, schema
from ..cli import setup_logging, use_compile_cache
from ..numerics import predictions, spectral
from .experiments import (
    EXPERIMENTS,
    KERNEL_KEYS,
    experiment_configs,
    experiment_data,
    grid_values,
    subset,
    train_experiment,
    width_analysis,
    width_outputs,
)
from .train import TrainingInterrupted

log = logging.getLogger("ntk_phases.finite")

EXIT_INTERRUPTED = 3  # a time-limited job stopped early (checkpoint kept: rerun resumes)


# ----------------------------------------------------------------------------- lr (kernels)


def lr_table(
    experiment: str,
    cfg: dict,
    x_train: np.ndarray,
    dataset: str,
    arch: str | None = None,
    activation: str | None = None,
    tanh_deg: int = 64,
    kernel_batch_size: int | None = None,
    x_test: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict]:
    """λ_max, λ_min, κ of the analytic Θ(train, train) and η = lr_factor · 2/λ_max for every
    (σ_w², depth) of an experiment. Minibatch SGD (``batch_size``) uses the kernel of the
    first ``batch_size`` examples (one batch: its λ_max is what bounds a stable step).
    The section's own ``kernel_batch_size`` / ``sigma_chunk``, where set, bound the sweep's
    memory (CNN-P kernels hold the full spatial covariance of every pair).

    Returns the table and the kernel sweep (with test blocks when ``x_test`` is given)."""
    from ..analytic.sweep import depth_sweep  # deferred: neural-tangents, never in the training job

    c = experiment_configs(experiment, cfg, arch, activation)
    bs = cfg.get("batch_size")
    x = x_train if not bs or bs >= len(x_train) else x_train[: int(bs)]
    t0 = time.perf_counter()
    sweep = depth_sweep(
        x,
        x_test,
        c["arch"],
        c["activation"],
        c["sigma_w2"],
        c["sigma_b2"],
        c["depths"],
        tanh_deg=tanh_deg,
        batch_size=cfg.get("kernel_batch_size") or kernel_batch_size,
        sigma_chunk=cfg.get("sigma_chunk"),
    )
    spec = spectral.spectrum(sweep["ntk_train"])  # (S, D)
    log.info(
        "%s %s/%s: Θ on %d points, %d sigma_w2 x %d depths in %.1fs",
        experiment,
        c["arch"],
        c["activation"],
        len(x),
        len(c["sigma_w2"]),
        len(sweep["depths"]),
        time.perf_counter() - t0,
    )
    rows = []
    factor = float(cfg["lr_factor"])
    for i, sw in enumerate(sweep["sigma_w2"]):
        for j, d in enumerate(sweep["depths"]):
            lmax = float(spec["lambda_max"][i, j])
            rows.append(
                {
                    "experiment": experiment,
                    "arch": c["arch"],
                    "activation": c["activation"],
                    "dataset": dataset,
                    "sigma_w2": float(sw),
                    "sigma_b2": c["sigma_b2"],
                    "depth": int(d),
                    "n_points": len(x),
                    "lambda_max": lmax,
                    "lambda_min": float(spec["lambda_min"][i, j]),
                    "kappa": float(spec["kappa"][i, j]),
                    "lr_factor": factor,
                    "learning_rate": float(predictions.eta_from_lambda_max(lmax, factor)),
                }
            )
    return pd.DataFrame(rows), sweep


def overlay_table(activation: str, cfg: dict, theory_cfg: dict) -> pd.DataFrame:
    """Mean-field ξ₁, ξ* (and χ₁) on a fine σ_w² axis spanning the grid, at its σ_b²."""
    from ..analytic import meanfield  # deferred: the analytic mean-field theory, for the lr job's overlay only

    sw = grid_values(cfg["sigma_w2"])
    lo, hi = float(sw.min()), float(sw.max())
    pad = 0.02 * (hi - lo if hi > lo else 1.0)
    fine = np.linspace(max(lo - pad, 1e-3), hi + pad, 241)
    return meanfield.phase_table(
        activation,
        fine,
        [float(cfg["sigma_b2"])],
        theory_cfg.get("quadrature_degree", 64),
        theory_cfg.get("newton_iters", 60),
    )


def cmd_lr(args) -> int:
    cfg = json.loads(args.config_json)
    arrays = experiment_data(args.experiment, cfg, data_mod.load(args.data))
    frame, sweep = lr_table(
        args.experiment,
        cfg,
        arrays["x_train"],
        args.dataset,
        args.arch,
        args.activation,
        tanh_deg=args.tanh_deg,
        kernel_batch_size=args.kernel_batch_size,
        x_test=arrays["x_test"] if args.out_kernels else None,
    )
    for _, r in frame.iterrows():
        log.info(
            "sigma_w2=%.4g depth=%d lambda_max=%.4g kappa=%.3g eta=%.4g",
            r.sigma_w2,
            r.depth,
            r.lambda_max,
            r.kappa,
            r.learning_rate,
        )
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config=cfg, inputs=[args.data], experiment=args.experiment)
    if args.out_kernels:  # analytic blocks of the (single) configuration, for `infinite`
        with io.atomic_path(args.out_kernels, suffix=".npz") as tmp:
            np.savez(
                tmp,
                **{k: sweep[k][0, 0] for k in KERNEL_KEYS},
                sigma_w2=sweep["sigma_w2"][0],
                sigma_b2=sweep["sigma_b2"],
                depth=sweep["depths"][0],
            )
        io.write_provenance(args.out_kernels, config=cfg, inputs=[args.data])
    if args.out_overlay:
        theory_cfg = json.loads(args.theory_json) if args.theory_json else {}
        ov = overlay_table(args.activation, cfg, theory_cfg)
        io.write_csv(args.out_overlay, ov)
        io.write_provenance(args.out_overlay, config={"grid": cfg, "theory": theory_cfg})
    return 0


# ----------------------------------------------------------------------------- train


def block_checkpoint(pattern: str | None, depth: int | None, width: int | None) -> str | None:
    """The checkpoint of one block of a job: ``pattern`` with ``{depth}`` and ``{width}``
    filled in (a plain path serves a one-block job)."""
    if pattern is None:
        return None
    return pattern.replace("{depth}", str(depth)).replace("{width}", str(width))


def _stack_outputs(outs: list[dict]) -> dict[str, np.ndarray]:
    """One ``--out-npz`` per job: every array of :func:`width_outputs` stacked along a
    leading axis over the job's widths (:func:`_unstack_outputs` reverses it)."""
    return {k: np.stack([o[k] for o in outs]) for k in outs[0]}


def _unstack_outputs(arrays: dict[str, np.ndarray]) -> list[dict]:
    if np.ndim(arrays["width"]) == 0:  # one width, unstacked (older files)
        return [arrays]
    return [{k: v[i] for k, v in arrays.items()} for i in range(len(arrays["width"]))]


def cmd_train(args) -> int:
    """Train the job's blocks one after another in this process (one start-up): every
    ``--depth`` (grid, architectures) or ``--width`` (width) given. Each block keeps its
    own checkpoint (``--checkpoint`` with ``{depth}`` / ``{width}``) until the job's table
    is written: a rerun of a killed job takes finished blocks from their checkpoints (rows
    only) and resumes the unfinished one."""
    t0 = time.perf_counter()
    cfg = json.loads(args.config_json)
    common = json.loads(args.common_json) if args.common_json else {}
    arrays = experiment_data(args.experiment, cfg, data_mod.load(args.data))
    lr = pd.read_csv(args.lr)
    is_width = args.experiment == "width"
    if args.checkpoint is None and is_width:
        raise SystemExit("the width experiment needs --checkpoint (final parameters)")
    blocks = [(d, w) for d in (args.depth or [None]) for w in (args.width or [None])]
    ckpts = [block_checkpoint(args.checkpoint, d, w) for d, w in blocks]
    if args.checkpoint is not None and len(set(ckpts)) != len(ckpts):
        raise SystemExit("several blocks need a --checkpoint pattern with {depth} or {width}")
    max_minutes = common.get("max_minutes")
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
        with io.atomic_path(args.out_npz, suffix=".npz") as tmp:
            np.savez(tmp, **_stack_outputs(outs))
    io.write_csv(args.out, frame)
    io.write_provenance(
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


def cmd_merge(args) -> int:
    frames = [pd.read_csv(p) for p in args.inputs]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(
        ["arch", "activation", "width", "depth", "sigma_w2", "seed", "step"], kind="stable"
    ).reset_index(drop=True)
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, inputs=list(args.inputs))
    log.info("merged %d tables: %d rows -> %s", len(frames), len(frame), args.out)
    return 0


def cmd_infinite(args) -> int:
    cfg = json.loads(args.config_json)
    arrays = subset(data_mod.load(args.data), cfg.get("n_train"), cfg.get("n_test"))
    finite = pd.concat([pd.read_csv(p) for p in args.finite], ignore_index=True)
    finite = finite.sort_values(["width", "seed", "step"], kind="stable").reset_index(drop=True)
    outs = []
    for p in args.npz:
        with np.load(p) as f:
            outs.extend(_unstack_outputs({k: f[k] for k in f.files}))
    outs.sort(key=lambda o: int(o["width"]))
    t0 = time.perf_counter()
    with np.load(args.kernels) as f:
        blocks = {k: f[k] for k in f.files}
    res = width_analysis(cfg, arrays, finite, outs, blocks, args.dataset)
    inputs = [args.data, args.kernels, *args.finite, *args.npz]
    for key, path in (
        ("table", args.out_table),
        ("infinite", args.out_infinite),
        ("summary", args.out_summary),
        ("outputs", args.out_outputs),
    ):
        frame = finite if key == "table" else res[key]
        io.write_csv(path, frame)
        io.write_provenance(path, config=cfg, inputs=inputs, table=key)
    s = res["summary"].groupby("width")[["relative_distance", "ntk_rel_error"]].mean()
    for w, r in s.iterrows():
        log.info(
            "width %d: relative output distance %.4g, empirical NTK error %.4g", w, r.relative_distance, r.ntk_rel_error
        )
    log.info("done in %.1fs", time.perf_counter() - t0)
    return 0


# ----------------------------------------------------------------------------- claims


def cmd_claims(args) -> int:
    cfg = json.loads(args.config_json)
    meta = json.loads(Path(args.data_json).read_text())
    mem = pd.read_csv(args.memorization)
    summary = pd.read_csv(args.width_summary)
    rows = c6_c7.claims_c6(mem, cfg["memorization"], int(meta["n_classes"]))
    rows += c6_c7.claims_c7(summary, cfg["width"])
    frame = pd.DataFrame(rows, columns=schema.COLUMNS)
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config=cfg, inputs=[args.memorization, args.width_summary])
    for r in rows:
        log.info(
            "%s %s: predicted %.4g measured %.4g tol %.4g -> %s",
            r["claim"],
            r["quantity"],
            r["predicted"],
            r["measured"],
            r["tolerance"],
            "pass" if r["passed"] else "FAIL",
        )
    return 0


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ntk_phases.finite", description="finite-width training stage")
    sub = p.add_subparsers(dest="cmd", required=True)

    q = sub.add_parser("lr", help="analytic lambda_max and learning rates (neural-tangents)")
    q.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    q.add_argument("--arch")
    q.add_argument("--activation")
    q.add_argument("--data", required=True)
    q.add_argument("--dataset", required=True)
    q.add_argument("--config-json", required=True, help="the experiment's config section")
    q.add_argument("--theory-json", default=None, help="theory section (overlay quadrature)")
    q.add_argument("--tanh-deg", type=int, default=64)
    q.add_argument("--kernel-batch-size", type=int, default=None)
    q.add_argument("--out", required=True)
    q.add_argument("--out-overlay", default=None, help="grid: depth-scale overlay table")
    q.add_argument(
        "--out-kernels", default=None, help="width: analytic NTK/NNGP blocks (train, test x train, test diagonal)"
    )

    q = sub.add_parser("train", help="train a job's blocks (jax/flax/optax only)")
    q.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    q.add_argument("--arch")
    q.add_argument("--activation")
    q.add_argument(
        "--depth",
        type=int,
        nargs="+",
        default=None,
        help="grid, architectures: the depths this job trains, one block each",
    )
    q.add_argument(
        "--width", type=int, nargs="+", default=None, help="width: the widths this job trains, one block each"
    )
    q.add_argument("--data", required=True)
    q.add_argument("--dataset", required=True)
    q.add_argument("--lr", required=True, help="table from the lr subcommand")
    q.add_argument("--config-json", required=True, help="the experiment's config section")
    q.add_argument("--common-json", default=None, help="checkpointing, logging, dtype, ...")
    q.add_argument(
        "--checkpoint", default=None, help="checkpoint path; with several blocks a pattern with {depth} or {width}"
    )
    q.add_argument("--out", required=True, help="the job's table (every block's rows)")
    q.add_argument("--out-npz", default=None, help="width: outputs and empirical NTK (leading axis: the job's widths)")
    q.add_argument("--stop-after-step", type=int, default=None, help=argparse.SUPPRESS)

    q = sub.add_parser("merge", help="concatenate block tables")
    q.add_argument("--inputs", nargs="+", required=True)
    q.add_argument("--out", required=True)

    q = sub.add_parser("infinite", help="width experiment vs the infinite-width network")
    q.add_argument("--data", required=True)
    q.add_argument("--dataset", required=True)
    q.add_argument("--config-json", required=True)
    q.add_argument("--finite", nargs="+", required=True)
    q.add_argument("--npz", nargs="+", required=True)
    q.add_argument("--kernels", required=True, help="from lr --out-kernels")
    q.add_argument("--out-table", required=True)
    q.add_argument("--out-infinite", required=True)
    q.add_argument("--out-summary", required=True)
    q.add_argument("--out-outputs", required=True)

    q = sub.add_parser("claims", help="C6/C7 rows")
    q.add_argument("--memorization", required=True)
    q.add_argument("--width-summary", required=True)
    q.add_argument("--data-json", required=True, help="metadata of the memorization data")
    q.add_argument("--config-json", required=True, help="the training section")
    q.add_argument("--out", required=True)
    return p


COMMANDS = {"lr": cmd_lr, "train": cmd_train, "merge": cmd_merge, "infinite": cmd_infinite, "claims": cmd_claims}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    if args.cmd == "lr":  # neural-tangents kernels; training compiles afresh (see use_compile_cache)
        use_compile_cache()
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
