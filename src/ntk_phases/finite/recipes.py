"""What each finite-width experiment (config section ``training``) trains, on which
examples and at which learning rates, and the width experiment's comparison with the
infinite-width network: numpy and pandas only, so the learning-rate jobs (with
neural-tangents) and the width comparison load no training stack. The training itself is
:mod:`ntk_phases.finite.experiments`.

- ``grid`` (F7): every σ_w² of a grid × seeds at one σ_b², one block per (arch,
  activation, depth).
- ``architectures`` (F8, finite row): the ``grid`` experiment with a section of its own per
  architecture (``training.architectures.<arch>``) and its own training subset.
- ``memorization`` (F9, C6): a chaotic and an ordered σ_w² at σ_b² = 0 and one depth.
- ``width`` (F10, C7): one configuration at growing width (:func:`width_analysis`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..config import grid
from ..data import class_centred_targets, subset
from ..numerics import predictions

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


def experiment_configs(experiment: str, cfg: dict, arch: str | None = None, activation: str | None = None) -> dict:
    """The (arch, activation, σ_w² grid, σ_b², depths) an experiment trains.

    ``cfg`` is the experiment's config section (``training.grid``, one architecture's
    ``training.architectures.<arch>``, ...).
    """
    if experiment in ("grid", "architectures"):
        return {
            "arch": arch,
            "activation": activation,
            "sigma_w2": np.asarray(grid(cfg["sigma_w2"]), dtype=np.float64),
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
        return subset(arrays, cfg["n_train"], cfg["n_test"], f"training.{experiment}")
    return arrays


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
