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

from .. import tables
from ..data import class_centred_targets
from . import train as T
from .empirical import empirical_ntk
from .recipes import FIGURE_STEPS_EXPERIMENT, FULL_BATCH_EXPERIMENTS, experiment_configs, select_learning_rates

log = logging.getLogger(__name__)


def record_schedule(n_steps: int, n_record: int, figure_steps: Sequence[int]) -> list[int]:
    """``n_record`` log-spaced steps up to ``n_steps`` and the ``figure_steps`` among them."""
    n = int(n_steps)
    steps = set(T.log_step_schedule(n, int(n_record)))
    steps |= {int(s) for s in figure_steps if 0 <= int(s) <= n}
    return sorted(steps)


def _tidy(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    lead = list(tables.FINITE_COLUMNS)
    return frame[lead + [c for c in frame.columns if c not in lead]]


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
