"""F3-F5 at the companion notebook's points (`kernels.points` in `config/notebook.yaml`).

The reference is computed here independently, as the notebook's F3-F5 cells do, through
neural-tangents' own API: the first n of each split standardised by one scalar per
split, then the notebook's ``normalize`` (each image to norm √n₀, training labels
centred), and for each depth the network read-in ``Dense(W_std=1, b_std=0)`` then
``depth × serial(Erf(), Dense(σ_w, σ_b))`` (``stax.serial``), its NTK on train × train and
test × train, and P(Θ)Y = Θ_td Θ_dd⁻¹ Y with a plain inverse. The pipeline's kernels job
(data preparation, then ``fcn_preact`` with ``normalize``) must give the same NTK
entries, λ_min, λ_max, κ and P(Θ)Y (its rms and single entries) at every
(σ_w², depth), to 1e-10 relative.

The notebook's labels are float32 one-hot (``_one_hot``), which moves its P(Θ)Y by ~1e-8
relative; both sides here centre float64 labels. Depths stop where Θ stays well
conditioned (κ below ~1e4): deeper ordered points are singular in float64 whichever way
they are inverted, and the comparison would measure rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from neural_tangents import stax

from ntk_phases import data as data_mod
from ntk_phases.__main__ import main

jax.config.update("jax_enable_x64", True)

SIGMA_W2 = [1.25, 1.5]  # (nb) ordered, chaotic
SIGMA_B2 = 0.05  # (nb)
DEPTHS = [0, 1, 2, 3, 5, 8, 13, 21, 34]
N_TRAIN, N_TEST = 24, 12
RTOL = 1e-10


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    """CIFAR-shaped uint8 images (8×8×3 to keep it fast): a prototype per class plus noise."""
    rng = np.random.default_rng(11)
    labels = rng.permutation(np.arange(60) % 10)
    protos = rng.uniform(40, 215, size=(10, 8, 8, 3))
    x = np.clip(protos[labels] + rng.normal(0, 60, size=(60, 8, 8, 3)), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("nb_points") / "cifar_like.npz"
    np.savez(path, x_train=x[:40], y_train=labels[:40], x_test=x[40:], y_test=labels[40:])
    return path


def notebook_data(path: Path):
    """The notebook's ``get_dataset`` (first n, flattened, one scalar mean/std per split)
    then its ``normalize``, written out here."""
    raw = np.load(path)
    x_train = raw["x_train"][:N_TRAIN].reshape(N_TRAIN, -1).astype(np.float64)
    x_test = raw["x_test"][:N_TEST].reshape(N_TEST, -1).astype(np.float64)
    x_train, x_test = ((x - np.mean(x)) / np.std(x) for x in (x_train, x_test))
    y_train = np.eye(10)[raw["y_train"][:N_TRAIN]]
    labels_test = raw["y_test"][:N_TEST]
    n0 = x_train.shape[-1]
    x_train = x_train / np.sqrt(np.einsum("ij,ij->i", x_train, x_train)).reshape(N_TRAIN, 1) * np.sqrt(n0)
    y_train = y_train - np.mean(y_train, axis=0, keepdims=True)
    x_test = x_test / np.sqrt(np.einsum("ij,ij->i", x_test, x_test)).reshape(N_TEST, 1) * np.sqrt(n0)
    return x_train, y_train, x_test, labels_test


def notebook_metrics(x_train, y_train, x_test, labels_test) -> pd.DataFrame:
    """F3-F5's quantities from neural-tangents' own stax network, one depth at a time."""
    rows = []
    for sw2 in SIGMA_W2:
        for depth in DEPTHS:
            layers = [stax.Dense(1024, W_std=1.0, b_std=0.0)]
            layers += [
                stax.serial(stax.Erf(), stax.Dense(1024, W_std=np.sqrt(sw2), b_std=np.sqrt(SIGMA_B2)))
                for _ in range(depth)
            ]
            kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
            k_dd = np.asarray(kernel_fn(jnp.asarray(x_train), None, get="ntk"))
            k_td = np.asarray(kernel_fn(jnp.asarray(x_test), jnp.asarray(x_train), get="ntk"))
            evals = np.linalg.eigvalsh(k_dd)
            pred = k_td @ np.linalg.inv(k_dd) @ y_train
            n = len(k_dd)
            rows.append(
                {
                    "sigma_w2": sw2,
                    "depth": depth,
                    "ntk_diag_nb": np.trace(k_dd) / n,
                    "ntk_offdiag_nb": (k_dd.sum() - np.trace(k_dd)) / (n * (n - 1)),
                    "lambda_min_nb": evals[0],
                    "lambda_max_nb": evals[-1],
                    "kappa_nb": evals[-1] / evals[0],
                    "mean_pred_rms_nb": np.sqrt(np.mean(pred**2)),
                    **{f"mean_pred_entry_{i}_nb": pred[i, labels_test[i]] for i in range(4)},
                }
            )
    return pd.DataFrame(rows)


def test_points_table_equals_the_notebook(user_file, tmp_path):
    arrays, _ = data_mod.prepare("npz", N_TRAIN, N_TEST, seed=0, path=str(user_file), convention="notebook")
    prepared = tmp_path / "npz_points.npz"
    np.savez(prepared, **arrays)
    cfg = {
        "arch": {"n_train": N_TRAIN, "n_test": N_TEST, "depths": DEPTHS, "normalize": True},
        "sigma_w2": SIGMA_W2,
        "sigma_b2": SIGMA_B2,
        "tanh_deg": 32,
        "newton_iters": 60,  # the schema default of theory.newton_iters
        "memory_mb": 200,
        "times": [1.0],
        "rcond": None,
        "convention": "notebook",
    }
    out = tmp_path / "chunk.csv"
    main(
        [
            "kernels",
            "sweep",
            "--arch",
            "fcn_preact",
            "--activation",
            "erf",
            "--data",
            str(prepared),
            "--dataset",
            "npz",
            "--config-json",
            json.dumps(cfg),
            "--out",
            str(out),
        ]
    )
    ours = pd.read_csv(out)
    assert (ours["arch"] == "fcn_preact").all() and (ours["convention"] == "notebook").all()
    assert set(ours["phase"]) == {"ordered", "chaotic"}  # the notebook's two phases

    ref = notebook_metrics(*notebook_data(user_file))
    both = ours.merge(ref, on=["sigma_w2", "depth"], validate="one_to_one")
    assert len(both) == len(SIGMA_W2) * len(DEPTHS)
    assert not both["singular"].any() and both["kappa"].max() < 1e5, both["kappa"].max()
    cols = [
        "ntk_diag",
        "ntk_offdiag",
        "lambda_min",
        "lambda_max",
        "kappa",
        "mean_pred_rms",
        *(f"mean_pred_entry_{i}" for i in range(4)),
    ]
    for col in cols:
        np.testing.assert_allclose(both[col], both[f"{col}_nb"], rtol=RTOL, atol=0, err_msg=col)
    # the quantities move with depth: the comparison is not between constants
    assert both.groupby("sigma_w2")["ntk_diag"].nunique().min() == len(DEPTHS)
