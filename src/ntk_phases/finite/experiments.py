"""The finite-width experiments (config section ``training``): which networks each trains,
on which examples, at which learning rates and recorded steps, and the width experiment's
comparison with the infinite-width network.

- ``grid`` (F7): every σ_w² of a grid × seeds at one σ_b², one block per (arch,
  activation, depth).
- ``architectures`` (F8, finite row): the ``grid`` experiment with a section of its own per
  architecture (``training.architectures.<arch>``) and its own training subset
  (``n_train``, ``n_test``).
- ``memorization`` (F9, C6): a chaotic and an ordered σ_w² at σ_b² = 0 and one depth,
  full-batch gradient descent on a split with a large test set.
- ``width`` (F10, C7): one configuration at growing width; final outputs and the empirical
  NTK at initialization are compared with the infinite-width (analytic NTK) prediction of
  the same configuration (:func:`width_analysis`, NumPy only, from the analytic kernels the
  ``lr`` job saved).

Config sections arrive validated (workflow/schemas/config.schema.yaml holds every default).
jax, flax, optax and NumPy only: never neural-tangents or TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import grids
from ..data import class_centred_targets
from ..numerics import predictions
from . import train as T
from .empirical import empirical_ntk

log = logging.getLogger(__name__)

#: Leading columns of every finite table (SPEC §3), then the extra ones of ``train``.
FINITE_COLUMNS = [
    "arch",
    "activation",
    "dataset",
    "width",
    "sigma_w2",
    "sigma_b2",
    "depth",
    "seed",
    "step",
    "train_loss",
    "train_acc",
    "test_acc",
    "status",
]
EXPERIMENTS = ("grid", "architectures", "memorization", "width")
#: Experiments that train on the first ``n_train`` / ``n_test`` prepared examples (the others
#: take their data files whole).
SUBSET_EXPERIMENTS = ("architectures", "width")
#: Experiments that train by full-batch gradient descent without momentum: their sections
#: have no ``batch_size`` or ``momentum`` (the others' come from their sections).
FULL_BATCH_EXPERIMENTS = ("memorization", "width")
#: The experiment whose section lists ``figure_steps`` (steps F7 shows, recorded too).
FIGURE_STEPS_EXPERIMENT = "grid"
KERNEL_KEYS = ("ntk_train", "ntk_test_train", "nngp_train", "nngp_test_train", "nngp_test_diag")


def grid_values(spec: Any) -> np.ndarray:
    """:func:`ntk_phases.grids.grid` as a float64 array."""
    return np.asarray(grids.grid(spec), dtype=np.float64)


def experiment_configs(experiment: str, cfg: dict, arch: str | None = None, activation: str | None = None) -> dict:
    """The (arch, activation, σ_w² grid, σ_b², depths) an experiment trains.

    ``cfg`` is the experiment's config section (``training.grid``, one architecture's
    ``training.architectures.<arch>``, ...).
    """
    if experiment in ("grid", "architectures"):
        return {
            "arch": arch,
            "activation": activation,
            "sigma_w2": grid_values(cfg["sigma_w2"]),
            "sigma_b2": float(cfg["sigma_b2"]),
            "depths": [int(d) for d in cfg["depths"]],
        }
    if experiment == "memorization":
        return {
            "arch": cfg["arch"],
            "activation": cfg["activation"],
            "sigma_w2": np.array([cfg["sigma_w2_chaotic"], cfg["sigma_w2_ordered"]], float),
            "sigma_b2": float(cfg["sigma_b2"]),
            "depths": [int(cfg["depth"])],
        }
    if experiment == "width":
        return {
            "arch": cfg["arch"],
            "activation": cfg["activation"],
            "sigma_w2": np.array([cfg["sigma_w2"]], float),
            "sigma_b2": float(cfg["sigma_b2"]),
            "depths": [int(cfg["depth"])],
        }
    raise ValueError(f"unknown experiment {experiment!r}; known: {EXPERIMENTS}")


def experiment_data(experiment: str, cfg: dict, arrays: dict[str, np.ndarray]) -> dict:
    """The examples an experiment trains and evaluates on: its ``n_train`` / ``n_test`` subset
    (:data:`SUBSET_EXPERIMENTS`) or the data file whole."""
    if experiment in SUBSET_EXPERIMENTS:
        return subset(arrays, cfg["n_train"], cfg["n_test"])
    return arrays


def subset(arrays: dict[str, np.ndarray], n_train: int | None, n_test: int | None) -> dict:
    """The first ``n_train`` / ``n_test`` examples (the prepared sets are seeded draws)."""
    out = dict(arrays)
    for key, n in (("train", n_train), ("test", n_test)):
        if n is not None:
            if n > len(arrays[f"x_{key}"]):
                raise ValueError(f"asked for {n} {key} examples, the data have {len(arrays[f'x_{key}'])}")
            out[f"x_{key}"], out[f"y_{key}"] = arrays[f"x_{key}"][:n], arrays[f"y_{key}"][:n]
    return out


def select_learning_rates(
    lr_table: pd.DataFrame, arch: str, activation: str, depth: int, sigma_w2: Sequence[float], sigma_b2: float
) -> np.ndarray:
    """The learning rate of each σ_w² (in order) from an ``lr`` table; error if missing."""
    sel = lr_table[
        (lr_table["arch"] == arch)
        & (lr_table["activation"] == activation)
        & (lr_table["depth"] == depth)
        & np.isclose(lr_table["sigma_b2"], sigma_b2, rtol=1e-9, atol=1e-12)
    ]
    out = []
    for sw in sigma_w2:
        hit = sel[np.isclose(sel["sigma_w2"], sw, rtol=1e-9, atol=1e-12)]
        if len(hit) != 1:
            raise ValueError(
                f"learning-rate table has {len(hit)} rows for {arch}/{activation} "
                f"depth {depth} sigma_w2 {sw} sigma_b2 {sigma_b2}"
            )
        out.append(float(hit["learning_rate"].iloc[0]))
    return np.asarray(out)


def record_schedule(n_steps: int, n_record: int, figure_steps: Sequence[int]) -> list[int]:
    """``n_record`` log-spaced steps up to ``n_steps`` and the ``figure_steps`` among them."""
    n = int(n_steps)
    steps = set(T.log_step_schedule(n, int(n_record)))
    steps |= {int(s) for s in figure_steps if 0 <= int(s) <= n}
    return sorted(steps)


def _tidy(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    rest = [c for c in frame.columns if c not in FINITE_COLUMNS]
    return frame[FINITE_COLUMNS + rest]


def train_experiment(
    experiment: str,
    cfg: dict,
    arrays: dict,
    lr: pd.DataFrame,
    *,
    dataset: str,
    arch: str | None = None,
    activation: str | None = None,
    depth: int | None = None,
    width: int | None = None,
    checkpoint: str | None = None,
    common: dict,
    stop_after_step: int | None = None,
    max_seconds: float | None = None,
    final_state: bool = True,
) -> tuple[pd.DataFrame, Any]:
    """Train one block of an experiment; returns (rows, Block). ``max_seconds``: the
    block's share of the job's time limit (``common['max_minutes']`` is the caller's);
    ``final_state``: keep the parameters in the final checkpoint (the width experiment
    reads them). ``common``: the training options every job shares (the validated
    ``training`` section's dtype, precision, model/eval batch sizes, checkpoint_every,
    log_every)."""
    c = experiment_configs(experiment, cfg, arch, activation)
    depth = c["depths"][0] if depth is None else int(depth)
    width = int(cfg["width"] if width is None else width)
    if depth not in c["depths"]:
        raise ValueError(f"depth {depth} is not one of the configured depths {c['depths']}")
    eta = select_learning_rates(lr, c["arch"], c["activation"], depth, c["sigma_w2"], c["sigma_b2"])
    x_train = arrays["x_train"].astype(np.float32)
    x_test = arrays["x_test"].astype(np.float32)
    if experiment in FULL_BATCH_EXPERIMENTS:
        batch_size, momentum = None, 0.0
    else:
        batch_size, momentum = cfg["batch_size"], float(cfg["momentum"])
    figure_steps = cfg["figure_steps"] if experiment == FIGURE_STEPS_EXPERIMENT else []
    kwargs = dict(
        n_classes=arrays["y_train"].shape[1],
        batch_size=batch_size,
        momentum=momentum,
        dtype=common["dtype"],
        precision=common["precision"],
        eval_batch_size=common["eval_batch_size"],
        model_batch_size=common["model_batch_size"],
    )
    log.info(
        "%s: %s/%s depth %d width %d, sigma_w2 %s, sigma_b2 %g, seeds %s, eta %s, %d steps (batch %s)",
        experiment,
        c["arch"],
        c["activation"],
        depth,
        width,
        np.round(c["sigma_w2"], 4).tolist(),
        c["sigma_b2"],
        cfg["seeds"],
        np.array2string(eta, precision=4),
        cfg["n_steps"],
        batch_size or "full",
    )
    # the block's definition, shared by the trained rows and the returned Block
    spec = (
        c["arch"],
        c["activation"],
        depth,
        width,
        c["sigma_w2"],
        c["sigma_b2"],
        cfg["seeds"],
        eta,
        x_train,
        class_centred_targets(arrays["y_train"]),
        x_test,
        class_centred_targets(arrays["y_test"]),
    )
    rows = T.train_block(
        *spec,
        int(cfg["n_steps"]),
        record_steps=record_schedule(cfg["n_steps"], cfg["n_record"], figure_steps),
        checkpoint_path=checkpoint,
        checkpoint_every=common["checkpoint_every"],
        log_every=common["log_every"],
        stop_after_step=stop_after_step,
        max_seconds=max_seconds,
        final_state=final_state,
        extra_columns={"dataset": dataset, "experiment": experiment},
        **kwargs,
    )
    block = T.Block(*spec, **kwargs)
    return _tidy(rows), block


def width_outputs(block, checkpoint: str, arrays: dict, n_ntk: int) -> dict[str, np.ndarray]:
    """Initial and final outputs (train, test) of every model of a block, and each model's
    empirical NTK at initialization on the first ``n_ntk`` training inputs. The final
    parameters come from the block's final checkpoint (written by ``train_block`` at the
    end), so a resumed job has them too."""
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
    x_ntk = xs["train"][:n_ntk]

    def ntk_at_init(m):  # model m's empirical NTK of its first output
        def f(p):
            return model.apply(p, x_ntk, sw[m], sb[m])[:, 0]

        return empirical_ntk(f, jax.tree_util.tree_map(lambda p: p[m], template["params"]), x_ntk.shape[0])

    ntk = np.stack([ntk_at_init(m) for m in range(block.n_models)])
    return {
        "f0_train": init_out["train"],
        "f0_test": init_out["test"],
        "f_train": final_out["train"],
        "f_test": final_out["test"],
        "ntk_emp": ntk,
        "final_step": np.asarray(int(payload["step"])),
        "diverged": np.asarray(final["diverged"]),
        "seeds": np.asarray(block.seeds),
        "learning_rate": np.asarray(block.learning_rate),
        "width": np.asarray(block.spec.width),
    }


def width_analysis(
    cfg: dict, arrays: dict, finite: pd.DataFrame, outs: list[dict], blocks: dict[str, np.ndarray], dataset: str
) -> dict[str, pd.DataFrame]:
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
    if not (
        np.isclose(float(blocks["sigma_w2"]), sw2)
        and int(blocks["depth"]) == depth
        and np.isclose(float(blocks["sigma_b2"]), sb2)
    ):
        raise ValueError("kernels file belongs to another configuration")
    if blocks["ntk_test_train"].shape != (len(arrays["x_test"]), len(arrays["x_train"])):
        raise ValueError("kernels file does not match the data subset")
    eta = float(outs[0]["learning_rate"][0])
    steps = np.array(sorted(finite["step"].unique()))
    kernels = [blocks[k] for k in KERNEL_KEYS]  # Θ, Θ(test, train), K, K(test, train), K(x, x)
    mom = predictions.predictive_moments(*kernels, y_train, steps, learning_rate=eta, dynamics="gd")
    const = {
        "arch": c["arch"],
        "activation": c["activation"],
        "dataset": dataset,
        "sigma_w2": sw2,
        "sigma_b2": sb2,
        "depth": depth,
    }
    infinite = pd.DataFrame(
        {
            **const,
            "step": steps,
            "learning_rate": eta,
            "train_loss": predictions.expected_loss(mom["train_mean"], mom["train_var"], y_train),
            "test_loss": predictions.expected_loss(mom["test_mean"], mom["test_var"], y_test),
            "train_acc": predictions.expected_accuracy(mom["train_mean"], mom["train_var"], lab_train),
            "test_acc": predictions.expected_accuracy(mom["test_mean"], mom["test_var"], lab_test),
            "test_std_rms": np.sqrt(np.mean(mom["test_var"], axis=-1)),
        }
    )

    n_ntk = int(cfg["n_ntk"])
    theta_ntk = blocks["ntk_train"][:n_ntk, :n_ntk]
    n_track = int(cfg["n_tracked"])
    rows, out_rows = [], []
    final_mom = predictions.predictive_moments(
        *kernels, y_train, [int(outs[0]["final_step"])], learning_rate=eta, dynamics="gd"
    )
    track = np.arange(min(n_track, len(lab_test)))
    for o in outs:
        width, step = int(o["width"]), int(o["final_step"])
        if not np.isclose(float(o["learning_rate"][0]), eta):
            raise ValueError("width runs were trained at different learning rates")
        lin = predictions.linearized_prediction(
            blocks["ntk_train"], blocks["ntk_test_train"], y_train, o["f0_train"], o["f0_test"], eta, [step]
        )
        lin_test = lin["test"][:, 0]  # (seeds, m, C)
        for k, seed in enumerate(o["seeds"]):
            dist = float(np.sqrt(np.mean((o["f_test"][k] - lin_test[k]) ** 2)))
            change = float(np.sqrt(np.mean((lin_test[k] - o["f0_test"][k]) ** 2)))
            ntk_err = float(np.linalg.norm(o["ntk_emp"][k] - theta_ntk) / np.linalg.norm(theta_ntk))
            fin = finite[(finite["width"] == width) & (finite["seed"] == seed) & (finite["step"] == step)]
            rows.append(
                {
                    **const,
                    "width": width,
                    "seed": int(seed),
                    "step": step,
                    "learning_rate": eta,
                    "diverged": bool(o["diverged"][k]),
                    "output_distance": dist,
                    "output_change": change,
                    "relative_distance": dist / change if change > 0 else np.nan,
                    "train_distance": float(np.sqrt(np.mean((o["f_train"][k] - lin["train"][k, 0]) ** 2))),
                    "ntk_rel_error": ntk_err,
                    "n_ntk": n_ntk,
                    "train_loss": float(fin["train_loss"].iloc[0]) if len(fin) else np.nan,
                    "test_loss": float(fin["test_loss"].iloc[0]) if len(fin) else np.nan,
                }
            )
        true_out = o["f_test"][:, track, lab_test[track]]  # (seeds, n_track)
        for i, p in enumerate(track):
            out_rows.append(
                {
                    **const,
                    "source": "finite",
                    "width": width,
                    "step": step,
                    "point": int(p),
                    "label": int(lab_test[p]),
                    "mean": float(true_out[:, i].mean()),
                    "std": float(true_out[:, i].std(ddof=1)) if len(true_out) > 1 else 0.0,
                    "n_seeds": len(true_out),
                }
            )
    for p in track:
        out_rows.append(
            {
                **const,
                "source": "infinite",
                "width": np.nan,
                "step": int(outs[0]["final_step"]),
                "point": int(p),
                "label": int(lab_test[p]),
                "mean": float(final_mom["test_mean"][0, p, lab_test[p]]),
                "std": float(np.sqrt(final_mom["test_var"][0, p])),
                "n_seeds": np.nan,
            }
        )
    return {"infinite": infinite, "summary": pd.DataFrame(rows), "outputs": pd.DataFrame(out_rows)}
