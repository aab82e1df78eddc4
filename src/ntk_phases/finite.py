"""Finite-width training stage: thin command-line entry points (and the few pure functions
they need) for the ``train`` rules of ``workflow/rules/train.smk``.

Experiments (config section ``training``):

- ``grid`` (F7): every σ_w² of a grid × seeds at one σ_b², one block per (arch,
  activation, depth), ``depths_per_job`` blocks per training job (config: all in one job by
  default, one per job on a cluster); rows merged into
  ``metrics/finite_<arch>_<activation>.csv``.
- ``architectures`` (F8, finite row): the ``grid`` experiment with a section of its own per
  architecture (``training.architectures.<arch>``: CNNs need far smaller grids than the FCN
  on a CPU) and its own training subset (``n_train``, ``n_test``); rows merged into
  ``metrics/finite_architectures_<arch>_<activation>.csv``.
- ``memorization`` (F9, C6): a chaotic and an ordered σ_w² at σ_b² = 0 and one depth,
  full-batch gradient descent on a split with a large test set.
- ``width`` (F10, C7): one configuration at growing width; final outputs and the empirical
  NTK at initialization are compared with the infinite-width (analytic NTK) prediction of
  the same configuration.

Subcommands (``python -m ntk_phases.finite <cmd> ...``):

- ``lr``: the analytic λ_max of Θ(train, train) of every configuration of an experiment
  (neural-tangents, float64) and the learning rate ``η = lr_factor · 2/λ_max`` (see
  :mod:`ntk_phases.train` for its normalization); for ``grid`` and ``architectures`` also the
  mean-field depth scales ξ₁, ξ* along the grid's σ_b² (the F7 and F8 overlays).
- ``train``: train a job's blocks one after another in one process (jax/flax/optax only;
  the learning rate arrives as the ``lr`` table), write their rows as one table, delete
  their checkpoints. Each block has its own checkpoint: a killed job's rerun takes the
  finished blocks' rows from theirs and resumes the unfinished block from its own.
- ``merge``: concatenate block tables into one.
- ``infinite``: the ``width`` experiment against the infinite-width prediction (from the
  analytic kernels that ``lr --out-kernels`` saved; numpy only).
- ``claims``: the C6/C7 rows of ``metrics/claims_finite.csv``.

Import rule: this module imports only numpy, pandas and the training-side package modules at
import time; ``lr`` imports :mod:`ntk_phases.kernels` (and with it neural-tangents and
tensorflow) inside the function, so the ``train`` entry point runs on any jax version
without them (``infinite`` imports only the numpy/scipy :mod:`ntk_phases.numerics`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import io
from .data import class_centred_targets
from .cli import setup_logging, use_compile_cache
from .numerics import fits, predictions, spectral

log = logging.getLogger("ntk_phases.finite")

#: Leading columns of every finite table (SPEC §3), then the extra ones of ``train``.
FINITE_COLUMNS = [
    "arch", "activation", "dataset", "width", "sigma_w2", "sigma_b2", "depth", "seed", "step",
    "train_loss", "train_acc", "test_acc", "status",
]
EXPERIMENTS = ("grid", "architectures", "memorization", "width")
#: Experiments that train on the first ``n_train`` / ``n_test`` prepared examples (the others
#: take their data files whole).
SUBSET_EXPERIMENTS = ("architectures", "width")
KERNEL_KEYS = ("ntk_train", "ntk_test_train", "nngp_train", "nngp_test_train", "nngp_test_diag")
EXIT_INTERRUPTED = 3  # a time-limited job stopped early (checkpoint kept: rerun resumes)


# ----------------------------------------------------------------------------- pure helpers


def grid_values(spec: Any) -> np.ndarray:
    """A 1-D grid from ``{min, max, num}``, ``{values: [...]}``, a list or a number."""
    if isinstance(spec, dict):
        if "values" in spec:
            return np.asarray(spec["values"], dtype=np.float64)
        return np.linspace(spec["min"], spec["max"], int(spec["num"]))
    return np.atleast_1d(np.asarray(spec, dtype=np.float64))


def experiment_configs(experiment: str, cfg: dict, arch: str | None = None,
                       activation: str | None = None) -> dict:
    """The (arch, activation, σ_w² grid, σ_b², depths) an experiment trains.

    ``cfg`` is the experiment's config section (``training.grid``, one architecture's
    ``training.architectures.<arch>``, ...).
    """
    if experiment in ("grid", "architectures"):
        return {"arch": arch, "activation": activation, "sigma_w2": grid_values(cfg["sigma_w2"]),
                "sigma_b2": float(cfg["sigma_b2"]), "depths": [int(d) for d in cfg["depths"]]}
    if experiment == "memorization":
        return {"arch": cfg["arch"], "activation": cfg["activation"],
                "sigma_w2": np.array([cfg["sigma_w2_chaotic"], cfg["sigma_w2_ordered"]], float),
                "sigma_b2": float(cfg["sigma_b2"]), "depths": [int(cfg["depth"])]}
    if experiment == "width":
        return {"arch": cfg["arch"], "activation": cfg["activation"],
                "sigma_w2": np.array([cfg["sigma_w2"]], float), "sigma_b2": float(cfg["sigma_b2"]),
                "depths": [int(cfg["depth"])]}
    raise ValueError(f"unknown experiment {experiment!r}; known: {EXPERIMENTS}")


def experiment_data(experiment: str, cfg: dict, arrays: dict[str, np.ndarray]) -> dict:
    """The examples an experiment trains and evaluates on: its ``n_train`` / ``n_test`` subset
    (:data:`SUBSET_EXPERIMENTS`) or the data file whole."""
    if experiment in SUBSET_EXPERIMENTS:
        return subset(arrays, cfg.get("n_train"), cfg.get("n_test"))
    return arrays


def subset(arrays: dict[str, np.ndarray], n_train: int | None, n_test: int | None) -> dict:
    """The first ``n_train`` / ``n_test`` examples (the prepared sets are seeded draws)."""
    out = dict(arrays)
    for key, n in (("train", n_train), ("test", n_test)):
        if n is not None:
            if n > len(arrays[f"x_{key}"]):
                raise ValueError(f"asked for {n} {key} examples, the data have "
                                 f"{len(arrays[f'x_{key}'])}")
            out[f"x_{key}"], out[f"y_{key}"] = arrays[f"x_{key}"][:n], arrays[f"y_{key}"][:n]
    return out


def select_learning_rates(lr_table: pd.DataFrame, arch: str, activation: str, depth: int,
                          sigma_w2: Sequence[float], sigma_b2: float) -> np.ndarray:
    """The learning rate of each σ_w² (in order) from an ``lr`` table; error if missing."""
    sel = lr_table[(lr_table["arch"] == arch) & (lr_table["activation"] == activation)
                   & (lr_table["depth"] == depth)
                   & np.isclose(lr_table["sigma_b2"], sigma_b2, rtol=1e-9, atol=1e-12)]
    out = []
    for sw in sigma_w2:
        hit = sel[np.isclose(sel["sigma_w2"], sw, rtol=1e-9, atol=1e-12)]
        if len(hit) != 1:
            raise ValueError(f"learning-rate table has {len(hit)} rows for {arch}/{activation} "
                             f"depth {depth} sigma_w2 {sw} sigma_b2 {sigma_b2}")
        out.append(float(hit["learning_rate"].iloc[0]))
    return np.asarray(out)


# ----------------------------------------------------------------------------- lr (kernels)


def lr_table(experiment: str, cfg: dict, x_train: np.ndarray, dataset: str,
             arch: str | None = None, activation: str | None = None,
             tanh_deg: int = 64, kernel_batch_size: int | None = None,
             x_test: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]:
    """λ_max, λ_min, κ of the analytic Θ(train, train) and η = lr_factor · 2/λ_max for every
    (σ_w², depth) of an experiment. Minibatch SGD (``batch_size``) uses the kernel of the
    first ``batch_size`` examples (one batch: its λ_max is what bounds a stable step).
    The section's own ``kernel_batch_size`` / ``sigma_chunk``, where set, bound the sweep's
    memory (CNN-P kernels hold the full spatial covariance of every pair).

    Returns the table and the kernel sweep (with test blocks when ``x_test`` is given)."""
    from . import kernels  # neural-tangents: never in the training job

    c = experiment_configs(experiment, cfg, arch, activation)
    bs = cfg.get("batch_size")
    x = x_train if not bs or bs >= len(x_train) else x_train[: int(bs)]
    t0 = time.perf_counter()
    sweep = kernels.depth_sweep(x, x_test, c["arch"], c["activation"], c["sigma_w2"],
                                c["sigma_b2"], c["depths"], tanh_deg=tanh_deg,
                                batch_size=cfg.get("kernel_batch_size") or kernel_batch_size,
                                sigma_chunk=cfg.get("sigma_chunk"))
    spec = spectral.spectrum(sweep["ntk_train"])  # (S, D)
    log.info("%s %s/%s: Θ on %d points, %d sigma_w2 x %d depths in %.1fs", experiment,
             c["arch"], c["activation"], len(x), len(c["sigma_w2"]), len(sweep["depths"]),
             time.perf_counter() - t0)
    rows = []
    factor = float(cfg["lr_factor"])
    for i, sw in enumerate(sweep["sigma_w2"]):
        for j, d in enumerate(sweep["depths"]):
            lmax = float(spec["lambda_max"][i, j])
            rows.append({"experiment": experiment, "arch": c["arch"], "activation": c["activation"],
                         "dataset": dataset, "sigma_w2": float(sw), "sigma_b2": c["sigma_b2"],
                         "depth": int(d), "n_points": len(x), "lambda_max": lmax,
                         "lambda_min": float(spec["lambda_min"][i, j]),
                         "kappa": float(spec["kappa"][i, j]), "lr_factor": factor,
                         "learning_rate": float(predictions.eta_from_lambda_max(lmax, factor))})
    return pd.DataFrame(rows), sweep


def overlay_table(activation: str, cfg: dict, theory_cfg: dict) -> pd.DataFrame:
    """Mean-field ξ₁, ξ* (and χ₁) on a fine σ_w² axis spanning the grid, at its σ_b²."""
    from . import theory

    sw = grid_values(cfg["sigma_w2"])
    lo, hi = float(sw.min()), float(sw.max())
    pad = 0.02 * (hi - lo if hi > lo else 1.0)
    fine = np.linspace(max(lo - pad, 1e-3), hi + pad, 241)
    return theory.phase_table(activation, fine, [float(cfg["sigma_b2"])],
                              theory_cfg.get("quadrature_degree", 64),
                              theory_cfg.get("newton_iters", 60))


def cmd_lr(args) -> int:
    from . import data as data_mod

    cfg = json.loads(args.config_json)
    arrays = experiment_data(args.experiment, cfg, data_mod.load(args.data))
    frame, sweep = lr_table(args.experiment, cfg, arrays["x_train"], args.dataset, args.arch,
                            args.activation, tanh_deg=args.tanh_deg,
                            kernel_batch_size=args.kernel_batch_size,
                            x_test=arrays["x_test"] if args.out_kernels else None)
    for _, r in frame.iterrows():
        log.info("sigma_w2=%.4g depth=%d lambda_max=%.4g kappa=%.3g eta=%.4g", r.sigma_w2,
                 r.depth, r.lambda_max, r.kappa, r.learning_rate)
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config=cfg, inputs=[args.data], experiment=args.experiment)
    if args.out_kernels:  # analytic blocks of the (single) configuration, for `infinite`
        with io.atomic_path(args.out_kernels, suffix=".npz") as tmp:
            np.savez(tmp, **{k: sweep[k][0, 0] for k in KERNEL_KEYS},
                     sigma_w2=sweep["sigma_w2"][0], sigma_b2=sweep["sigma_b2"],
                     depth=sweep["depths"][0])
        io.write_provenance(args.out_kernels, config=cfg, inputs=[args.data])
    if args.out_overlay:
        theory_cfg = json.loads(args.theory_json) if args.theory_json else {}
        ov = overlay_table(args.activation, cfg, theory_cfg)
        io.write_csv(args.out_overlay, ov)
        io.write_provenance(args.out_overlay, config={"grid": cfg, "theory": theory_cfg})
    return 0


# ----------------------------------------------------------------------------- train


def record_schedule(cfg: dict) -> list[int]:
    from .train import log_step_schedule

    n = int(cfg["n_steps"])
    steps = set(log_step_schedule(n, int(cfg.get("n_record", 25))))
    steps |= {int(s) for s in cfg.get("figure_steps", []) if 0 <= int(s) <= n}
    return sorted(steps)


def _tidy(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    rest = [c for c in frame.columns if c not in FINITE_COLUMNS]
    return frame[FINITE_COLUMNS + rest]


def train_experiment(experiment: str, cfg: dict, arrays: dict, lr: pd.DataFrame, *,
                     dataset: str, arch: str | None = None, activation: str | None = None,
                     depth: int | None = None, width: int | None = None,
                     checkpoint: str | None = None, common: dict | None = None,
                     stop_after_step: int | None = None, max_seconds: float | None = None,
                     final_state: bool = True) -> tuple[pd.DataFrame, Any]:
    """Train one block of an experiment; returns (rows, Block). ``max_seconds``: the
    block's share of the job's time limit (``common['max_minutes']`` is the caller's);
    ``final_state``: keep the parameters in the final checkpoint (the width experiment
    reads them)."""
    from . import train as T

    common = common or {}
    c = experiment_configs(experiment, cfg, arch, activation)
    depth = c["depths"][0] if depth is None else int(depth)
    width = int(cfg["width"] if width is None else width)
    if depth not in c["depths"]:
        raise ValueError(f"depth {depth} is not one of the configured depths {c['depths']}")
    eta = select_learning_rates(lr, c["arch"], c["activation"], depth, c["sigma_w2"], c["sigma_b2"])
    x_train = arrays["x_train"].astype(np.float32)
    x_test = arrays["x_test"].astype(np.float32)
    kwargs = dict(
        n_classes=arrays["y_train"].shape[1], batch_size=cfg.get("batch_size"),
        momentum=float(cfg.get("momentum", 0.0)), dtype=common.get("dtype", "float32"),
        precision=common.get("precision", "highest"),
        eval_batch_size=common.get("eval_batch_size"),
        model_batch_size=common.get("model_batch_size", "auto"),
    )
    log.info("%s: %s/%s depth %d width %d, sigma_w2 %s, sigma_b2 %g, seeds %s, eta %s, "
             "%d steps (batch %s)", experiment, c["arch"], c["activation"], depth, width,
             np.round(c["sigma_w2"], 4).tolist(), c["sigma_b2"], cfg["seeds"],
             np.array2string(eta, precision=4), cfg["n_steps"], cfg.get("batch_size") or "full")
    rows = T.train_block(
        c["arch"], c["activation"], depth, width, c["sigma_w2"], c["sigma_b2"], cfg["seeds"], eta,
        x_train, class_centred_targets(arrays["y_train"]), x_test, class_centred_targets(arrays["y_test"]),
        int(cfg["n_steps"]), record_steps=record_schedule(cfg),
        checkpoint_path=checkpoint, checkpoint_every=common.get("checkpoint_every"),
        log_every=common.get("log_every"), stop_after_step=stop_after_step,
        max_seconds=max_seconds, final_state=final_state,
        extra_columns={"dataset": dataset, "experiment": experiment}, **kwargs,
    )
    block = T.Block(c["arch"], c["activation"], depth, width, c["sigma_w2"], c["sigma_b2"],
                    cfg["seeds"], eta, x_train, class_centred_targets(arrays["y_train"]), x_test,
                    class_centred_targets(arrays["y_test"]), **kwargs)
    return _tidy(rows), block


def empirical_ntk(model, params, x, sigma_w, sigma_b, output: int = 0):
    """Θ̂(x, x') = Σ_p ∂f_out(x)/∂θ_p ∂f_out(x')/∂θ_p of one flax model (jax only), float64
    accumulation of the float32 Jacobian blocks."""
    import jax
    import jax.numpy as jnp

    def f(p):
        return model.apply(p, x, sigma_w, sigma_b)[:, output]

    with jax.default_matmul_precision("highest"):
        jac = jax.jacrev(f)(params)
    n = x.shape[0]
    out = np.zeros((n, n))
    for leaf in jax.tree_util.tree_leaves(jac):
        j = np.asarray(jnp.reshape(leaf, (n, -1)), np.float64)
        out += j @ j.T
    return out


def width_outputs(block, checkpoint: str, arrays: dict, n_ntk: int) -> dict[str, np.ndarray]:
    """Initial and final outputs (train, test) of every model of a block, and each model's
    empirical NTK at initialization on the first ``n_ntk`` training inputs. The final
    parameters come from the block's final checkpoint (written by ``train_block`` at the
    end), so a resumed job has them too."""
    import jax
    import jax.numpy as jnp

    from . import train as T

    template = block.init_state()
    payload = T.load_checkpoint(checkpoint)
    treedef = jax.tree_util.tree_structure(template)
    final = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in payload["state_leaves"]])
    model = block.model
    sw, sb = block.consts["sigma_w"], block.consts["sigma_b"]
    xs = {k: jnp.asarray(arrays[f"x_{k}"], jnp.float32) for k in ("train", "test")}

    def outputs(params):
        f = jax.vmap(lambda p, a, b, x: model.apply(p, x, a, b), in_axes=(0, 0, 0, None))
        with jax.default_matmul_precision("highest"):
            return {k: np.asarray(f(params, sw, sb, x), np.float64) for k, x in xs.items()}

    init_out, final_out = outputs(template["params"]), outputs(final["params"])
    ntk = np.stack([
        empirical_ntk(model, jax.tree_util.tree_map(lambda p: p[m], template["params"]),
                      xs["train"][:n_ntk], sw[m], sb[m])
        for m in range(block.n_models)
    ])
    return {"f0_train": init_out["train"], "f0_test": init_out["test"],
            "f_train": final_out["train"], "f_test": final_out["test"],
            "ntk_emp": ntk, "final_step": np.asarray(int(payload["step"])),
            "diverged": np.asarray(final["diverged"]), "seeds": np.asarray(block.seeds),
            "learning_rate": np.asarray(block.learning_rate), "width": np.asarray(block.spec.width)}


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
    from . import data as data_mod
    from .train import TrainingInterrupted

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
                log.warning("stopped before block %d of %d; rerun the job to resume", i + 1,
                            len(blocks))
                return EXIT_INTERRUPTED

        def run():
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            return train_experiment(
                args.experiment, cfg, arrays, lr, dataset=args.dataset, arch=args.arch,
                activation=args.activation, depth=depth, width=width, checkpoint=ckpt,
                common=common, stop_after_step=stop, max_seconds=left, final_state=is_width)

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
            outs.append(width_outputs(block, ckpt, arrays, int(cfg.get("n_ntk", 32))))

    frame = pd.concat(frames, ignore_index=True)
    if args.out_npz:
        with io.atomic_path(args.out_npz, suffix=".npz") as tmp:
            np.savez(tmp, **_stack_outputs(outs))
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config={"experiment": cfg, "common": common},
                        inputs=[args.data, args.lr], experiment=args.experiment)
    for f in frames:
        last = f[f["step"] == f["step"].max()]
        log.info("%s depth %d width %d: %d rows; final step %d: mean train_acc %.4f, "
                 "test_acc %.4f, %d diverged", args.experiment, int(f["depth"].iloc[0]),
                 int(f["width"].iloc[0]), len(f), int(last["step"].iloc[0]),
                 last["train_acc"].mean(), last["test_acc"].mean(),
                 int(last["status"].eq("diverged").sum()))
    log.info("wrote %s: %d rows of %d blocks; %.1fs", args.out, len(frame), len(blocks),
             time.perf_counter() - t0)
    for ckpt in ckpts:
        if ckpt and Path(ckpt).exists():
            Path(ckpt).unlink()
            log.info("removed checkpoint %s", ckpt)
    return 0


def cmd_merge(args) -> int:
    frames = [pd.read_csv(p) for p in args.inputs]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["arch", "activation", "width", "depth", "sigma_w2", "seed", "step"],
                              kind="stable").reset_index(drop=True)
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, inputs=list(args.inputs))
    log.info("merged %d tables: %d rows -> %s", len(frames), len(frame), args.out)
    return 0


# ----------------------------------------------------------------------------- infinite (F10)


def width_analysis(cfg: dict, arrays: dict, finite: pd.DataFrame, outs: list[dict],
                   blocks: dict[str, np.ndarray], dataset: str) -> dict[str, pd.DataFrame]:
    """Compare the ``width`` experiment with the infinite-width network (analytic Θ and K).

    Returns ``infinite`` (expected losses/accuracies per step of the infinite network),
    ``summary`` (per width and seed: distance of the final test outputs to the infinite-width
    prediction from the same initial function, and the empirical-NTK error) and ``outputs``
    (true-class outputs at tracked test points at the final step: mean and std over seeds
    per width, and the analytic mean and std). ``blocks``: the analytic kernels of the
    configuration (``lr --out-kernels``), so this needs no neural-tangents.
    """
    c = experiment_configs("width", cfg)
    depth, sw2, sb2 = c["depths"][0], float(c["sigma_w2"][0]), c["sigma_b2"]
    y_train = class_centred_targets(arrays["y_train"]).astype(np.float64)
    y_test = class_centred_targets(arrays["y_test"]).astype(np.float64)
    lab_train, lab_test = arrays["y_train"].argmax(1), arrays["y_test"].argmax(1)
    if not (np.isclose(float(blocks["sigma_w2"]), sw2) and int(blocks["depth"]) == depth
            and np.isclose(float(blocks["sigma_b2"]), sb2)):
        raise ValueError("kernels file belongs to another configuration")
    if blocks["ntk_test_train"].shape != (len(arrays["x_test"]), len(arrays["x_train"])):
        raise ValueError("kernels file does not match the data subset")
    eta = float(outs[0]["learning_rate"][0])
    steps = np.array(sorted(finite["step"].unique()))
    kernels = [blocks[k] for k in KERNEL_KEYS]  # Θ, Θ(test, train), K, K(test, train), K(x, x)
    mom = predictions.predictive_moments(*kernels, y_train, steps, learning_rate=eta, dynamics="gd")
    const = {"arch": c["arch"], "activation": c["activation"], "dataset": dataset,
             "sigma_w2": sw2, "sigma_b2": sb2, "depth": depth}
    infinite = pd.DataFrame({
        **const, "step": steps, "learning_rate": eta,
        "train_loss": predictions.expected_loss(mom["train_mean"], mom["train_var"], y_train),
        "test_loss": predictions.expected_loss(mom["test_mean"], mom["test_var"], y_test),
        "train_acc": predictions.expected_accuracy(mom["train_mean"], mom["train_var"], lab_train),
        "test_acc": predictions.expected_accuracy(mom["test_mean"], mom["test_var"], lab_test),
        "test_std_rms": np.sqrt(np.mean(mom["test_var"], axis=-1)),
    })

    n_ntk = int(cfg.get("n_ntk", 32))
    theta_ntk = blocks["ntk_train"][:n_ntk, :n_ntk]
    n_track = int(cfg.get("n_tracked", 8))
    rows, out_rows = [], []
    final_mom = predictions.predictive_moments(*kernels, y_train, [int(outs[0]["final_step"])],
                                               learning_rate=eta, dynamics="gd")
    track = np.arange(min(n_track, len(lab_test)))
    for o in outs:
        width, step = int(o["width"]), int(o["final_step"])
        if not np.isclose(float(o["learning_rate"][0]), eta):
            raise ValueError("width runs were trained at different learning rates")
        lin = predictions.linearized_prediction(blocks["ntk_train"], blocks["ntk_test_train"], y_train,
                                    o["f0_train"], o["f0_test"], eta, [step])
        lin_test = lin["test"][:, 0]  # (seeds, m, C)
        for k, seed in enumerate(o["seeds"]):
            dist = float(np.sqrt(np.mean((o["f_test"][k] - lin_test[k]) ** 2)))
            change = float(np.sqrt(np.mean((lin_test[k] - o["f0_test"][k]) ** 2)))
            ntk_err = float(np.linalg.norm(o["ntk_emp"][k] - theta_ntk) / np.linalg.norm(theta_ntk))
            fin = finite[(finite["width"] == width) & (finite["seed"] == seed)
                         & (finite["step"] == step)]
            rows.append({**const, "width": width, "seed": int(seed), "step": step,
                         "learning_rate": eta, "diverged": bool(o["diverged"][k]),
                         "output_distance": dist, "output_change": change,
                         "relative_distance": dist / change if change > 0 else np.nan,
                         "train_distance": float(np.sqrt(np.mean(
                             (o["f_train"][k] - lin["train"][k, 0]) ** 2))),
                         "ntk_rel_error": ntk_err, "n_ntk": n_ntk,
                         "train_loss": float(fin["train_loss"].iloc[0]) if len(fin) else np.nan,
                         "test_loss": float(fin["test_loss"].iloc[0]) if len(fin) else np.nan})
        true_out = o["f_test"][:, track, lab_test[track]]  # (seeds, n_track)
        for i, p in enumerate(track):
            out_rows.append({**const, "source": "finite", "width": width, "step": step,
                             "point": int(p), "label": int(lab_test[p]),
                             "mean": float(true_out[:, i].mean()),
                             "std": float(true_out[:, i].std(ddof=1)) if len(true_out) > 1 else 0.0,
                             "n_seeds": len(true_out)})
    for i, p in enumerate(track):
        out_rows.append({**const, "source": "infinite", "width": np.nan,
                         "step": int(outs[0]["final_step"]), "point": int(p),
                         "label": int(lab_test[p]),
                         "mean": float(final_mom["test_mean"][0, p, lab_test[p]]),
                         "std": float(np.sqrt(final_mom["test_var"][0, p])), "n_seeds": np.nan})
    return {"infinite": infinite, "summary": pd.DataFrame(rows), "outputs": pd.DataFrame(out_rows)}


def cmd_infinite(args) -> int:
    from . import data as data_mod

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
    for key, path in (("table", args.out_table), ("infinite", args.out_infinite),
                      ("summary", args.out_summary), ("outputs", args.out_outputs)):
        frame = finite if key == "table" else res[key]
        io.write_csv(path, frame)
        io.write_provenance(path, config=cfg, inputs=inputs, table=key)
    s = res["summary"].groupby("width")[["relative_distance", "ntk_rel_error"]].mean()
    for w, r in s.iterrows():
        log.info("width %d: relative output distance %.4g, empirical NTK error %.4g", w,
                 r.relative_distance, r.ntk_rel_error)
    log.info("done in %.1fs", time.perf_counter() - t0)
    return 0


# ----------------------------------------------------------------------------- claims


def _claim_columns() -> list[str]:
    from .claims import COLUMNS  # the one claims-row schema (numpy/pandas only)

    return COLUMNS


CLAIM_COLUMNS = _claim_columns()


def _setting(frame: pd.DataFrame, cfg: dict, key: str, default: Any = None) -> Any:
    """A configuration value of a claims row: the table's column, else the config's."""
    if key in frame and len(frame):
        return frame[key].iloc[0]
    return cfg.get(key, default)


def claims_c6(mem: pd.DataFrame, cfg: dict, n_classes: int) -> list[dict]:
    """C6 from the memorization table: final-step accuracies, mean over seeds (rows of
    :data:`ntk_phases.claims.SCHEMA`)."""
    from .claims import claim_row

    chance = 1.0 / n_classes
    last = mem[mem["step"] == mem["step"].max()]
    arch = str(mem["arch"].iloc[0])
    act = str(_setting(mem, cfg, "activation"))
    sb2, depth = float(_setting(mem, cfg, "sigma_b2")), int(_setting(mem, cfg, "depth"))
    width = _setting(mem, cfg, "width")

    def at(sw2, col):
        sel = last[np.isclose(last["sigma_w2"], sw2)]
        ok = sel[sel["status"] == "ok"]
        return float(ok[col].mean()) if len(ok) else float("nan"), len(ok), len(sel)

    chaotic, ordered = float(cfg["sigma_w2_chaotic"]), float(cfg["sigma_w2_ordered"])
    tr, n_tr, all_tr = at(chaotic, "train_acc")
    te, _, _ = at(chaotic, "test_acc")
    te_o, n_o, all_o = at(ordered, "test_acc")
    tr_min, margin, gap = (float(cfg["train_acc_min"]), float(cfg["chance_margin"]),
                           float(cfg["ordered_min_gap"]))
    step = int(last["step"].iloc[0])

    def row(sw2, quantity, pred, meas, tol, passed, condition, n_ok, n_all):
        return claim_row("C6", arch, act, quantity, pred, meas, tol, passed, condition,
                         sigma_w2=sw2, sigma_b2=sb2, depth_min=depth, depth_max=depth,
                         note=f"width {width}; step {step}; mean over {n_ok} of {n_all} seeds (ok)")

    return [
        row(chaotic, f"chaotic sigma_w2={chaotic:g}: train_acc at step {step}", 1.0, tr, 1.0 - tr_min,
            tr >= tr_min, "measured >= predicted - tolerance", n_tr, all_tr),
        row(chaotic, f"chaotic sigma_w2={chaotic:g}: test_acc at step {step}", chance, te, margin,
            abs(te - chance) <= margin, "|measured - predicted| <= tolerance", n_tr, all_tr),
        row(ordered, f"ordered sigma_w2={ordered:g}: test_acc at step {step}", chance, te_o, gap,
            te_o - chance >= gap, "measured - predicted >= tolerance", n_o, all_o),
    ]


def claims_c7(summary: pd.DataFrame, cfg: dict) -> list[dict]:
    """C7: power-law slopes against width of the distance to the infinite-width prediction
    and of the empirical-NTK error (mean over seeds per width; rows of
    :data:`ntk_phases.claims.SCHEMA`)."""
    from .claims import claim_row

    ok = summary[~summary["diverged"].astype(bool)]
    per = ok.groupby("width")[["relative_distance", "ntk_rel_error"]].mean().reset_index()
    arch = str(summary["arch"].iloc[0])
    act = str(_setting(summary, cfg, "activation"))
    sw2, sb2 = float(_setting(summary, cfg, "sigma_w2")), float(_setting(summary, cfg, "sigma_b2"))
    depth = int(_setting(summary, cfg, "depth"))
    pred, tol = float(cfg["slope"]), float(cfg["slope_tolerance"])
    rows = []
    for col, what in (("relative_distance", "final test outputs vs infinite-width prediction "
                                           "(same f0), relative distance"),
                      ("ntk_rel_error", "empirical vs analytic NTK at init, relative error")):
        if len(per) >= 2 and np.all(per[col] > 0):
            slope, _ = fits.fit_power_law(per["width"], per[col])
        else:
            slope = float("nan")
        falls = bool(np.all(np.diff(per[col].to_numpy()) < 0)) if len(per) >= 2 else False
        rows.append(claim_row(
            "C7", arch, act,
            f"{what}: slope of log against log width (widths {per['width'].min()}-{per['width'].max()})",
            pred, slope, tol, bool(slope < 0 and abs(slope - pred) <= tol),
            "measured < 0 and |measured - predicted| <= tolerance",
            sigma_w2=sw2, sigma_b2=sb2, depth_min=depth, depth_max=depth,
            note=(f"widths {', '.join(str(int(w)) for w in per['width'])}; mean over seeds per width"
                  + ("" if falls else "; not monotone in width"))))
    return rows


def cmd_claims(args) -> int:
    cfg = json.loads(args.config_json)
    meta = json.loads(Path(args.data_json).read_text())
    mem = pd.read_csv(args.memorization)
    summary = pd.read_csv(args.width_summary)
    rows = claims_c6(mem, cfg["memorization"], int(meta["n_classes"]))
    rows += claims_c7(summary, cfg["width"])
    frame = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    io.write_csv(args.out, frame)
    io.write_provenance(args.out, config=cfg, inputs=[args.memorization, args.width_summary])
    for r in rows:
        log.info("%s %s: predicted %.4g measured %.4g tol %.4g -> %s", r["claim"], r["quantity"],
                 r["predicted"], r["measured"], r["tolerance"], "pass" if r["passed"] else "FAIL")
    return 0


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ntk_phases.finite",
                                description="finite-width training stage")
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
    q.add_argument("--out-kernels", default=None,
                   help="width: analytic NTK/NNGP blocks (train, test x train, test diagonal)")

    q = sub.add_parser("train", help="train a job's blocks (jax/flax/optax only)")
    q.add_argument("--experiment", choices=EXPERIMENTS, required=True)
    q.add_argument("--arch")
    q.add_argument("--activation")
    q.add_argument("--depth", type=int, nargs="+", default=None,
                   help="grid, architectures: the depths this job trains, one block each")
    q.add_argument("--width", type=int, nargs="+", default=None,
                   help="width: the widths this job trains, one block each")
    q.add_argument("--data", required=True)
    q.add_argument("--dataset", required=True)
    q.add_argument("--lr", required=True, help="table from the lr subcommand")
    q.add_argument("--config-json", required=True, help="the experiment's config section")
    q.add_argument("--common-json", default=None, help="checkpointing, logging, dtype, ...")
    q.add_argument("--checkpoint", default=None,
                   help="checkpoint path; with several blocks a pattern with {depth} or {width}")
    q.add_argument("--out", required=True, help="the job's table (every block's rows)")
    q.add_argument("--out-npz", default=None,
                   help="width: outputs and empirical NTK (leading axis: the job's widths)")
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


COMMANDS = {"lr": cmd_lr, "train": cmd_train, "merge": cmd_merge, "infinite": cmd_infinite,
            "claims": cmd_claims}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    if args.cmd == "lr":  # neural-tangents kernels; training compiles afresh (see use_compile_cache)
        use_compile_cache()
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
