"""`convention: notebook` reproduces the authors' companion notebook's F6 computation.

The reference is computed here independently, the way the notebook does it, through
neural-tangents' own API: for each depth the network read-in ``Dense(W_std=1, no bias)``
then ``depth × [Dense(σ_w, σ_b), Erf]`` (``stax.serial``), its NTK on train × train and
test × train, ``nt.predict.gradient_descent_mse`` at learning rate 1 with zero initial
outputs, and argmax accuracy. The pipeline's job (data preparation, then the kernels
job in notebook convention) must give the same train and test accuracy at every
(σ_w², depth, t) point. Points where the notebook's own prediction is undecided at
float64 rounding (two classes within 1e-9 of each other at some example: exact ties of
class counts deep in the ordered phase) are counted and left out.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import neural_tangents as nt
import numpy as np
import pandas as pd
import pytest
from neural_tangents import stax

from ntk_phases import data as data_mod
from ntk_phases.__main__ import main

jax.config.update("jax_enable_x64", True)

SIGMA_W2 = [0.5, 1.2, 1.76, 2.4, 3.0]
SIGMA_B2 = 0.18
DEPTHS = [0, 1, 2, 3, 5, 10, 20, 40]
TIMES = [1.0, 8.0, 64.0, 512.0, 4096.0]
N_TRAIN, N_TEST = 24, 16


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    """CIFAR-shaped uint8 images (8×8×3 to keep it fast): a prototype per class plus noise,
    so that accuracies range from chance to high across the grid."""
    rng = np.random.default_rng(7)
    labels = rng.permutation(np.arange(60) % 10)
    protos = rng.uniform(40, 215, size=(10, 8, 8, 3))
    x = np.clip(protos[labels] + rng.normal(0, 60, size=(60, 8, 8, 3)), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("nb") / "cifar_like.npz"
    np.savez(path, x_train=x[:40], y_train=labels[:40], x_test=x[40:], y_test=labels[40:])
    return path


def notebook_accuracies(x_train, y_train, x_test, y_test):
    """The notebook's F6 loop, written against neural-tangents directly."""
    rows, undecided = [], 0
    for sw2 in SIGMA_W2:
        for depth in DEPTHS:
            layers = [stax.Dense(1, W_std=1.0)]
            for _ in range(depth):
                layers += [stax.Dense(1, W_std=np.sqrt(sw2), b_std=np.sqrt(SIGMA_B2)), stax.Erf()]
            kernel_fn = stax.serial(*layers)[2]
            k_dd = kernel_fn(x_train, None, "ntk")
            k_td = kernel_fn(x_test, x_train, "ntk")
            predict = nt.predict.gradient_descent_mse(k_dd, y_train)
            fx_train, fx_test = predict(jnp.asarray(TIMES), 0.0, 0.0, k_td)
            for ti, t in enumerate(TIMES):
                accs = []
                for fx, y in ((fx_train[ti], y_train), (fx_test[ti], y_test)):
                    fx = np.asarray(fx)
                    top2 = np.sort(fx, axis=1)[:, -2:]
                    if np.any(top2[:, 1] - top2[:, 0] <= 1e-9 * np.abs(fx).max()):
                        accs.append(np.nan)
                    else:
                        accs.append(np.mean(np.argmax(fx, 1) == np.argmax(y, 1)))
                undecided += int(np.isnan(accs).any())
                rows.append({"sigma_w2": sw2, "depth": depth, "t": t, "train_nb": accs[0], "test_nb": accs[1]})
    return pd.DataFrame(rows), undecided


def test_notebook_convention_equals_the_notebook(user_file, tmp_path):
    arrays, meta = data_mod.prepare("npz", N_TRAIN, N_TEST, seed=3, path=str(user_file), convention="notebook")
    assert meta["convention"] == "notebook"
    raw = np.load(user_file)
    # the notebook's data: the first n of each split, flattened, one scalar mean/std per split
    x_train = raw["x_train"][:N_TRAIN].reshape(N_TRAIN, -1).astype(np.float64)
    x_test = raw["x_test"][:N_TEST].reshape(N_TEST, -1).astype(np.float64)
    x_train, x_test = ((x - x.mean()) / x.std() for x in (x_train, x_test))
    np.testing.assert_allclose(arrays["x_train"].reshape(N_TRAIN, -1), x_train, rtol=0, atol=1e-13)
    np.testing.assert_allclose(arrays["x_test"].reshape(N_TEST, -1), x_test, rtol=0, atol=1e-13)
    y_train, y_test = np.eye(10)[raw["y_train"][:N_TRAIN]], np.eye(10)[raw["y_test"][:N_TEST]]
    np.testing.assert_array_equal(arrays["y_train"], y_train)

    prepared = tmp_path / "npz.npz"
    np.savez(prepared, **arrays)
    cfg = {
        "arch": {"n_train": N_TRAIN, "n_test": N_TEST, "depths": DEPTHS},
        "sigma_w2": SIGMA_W2,
        "sigma_b2": SIGMA_B2,
        "tanh_deg": 32,
        "newton_iters": 60,  # the schema default of theory.newton_iters
        "memory_mb": 200,
        "times": TIMES,
        "rcond": None,
        "convention": "notebook",
    }
    out = tmp_path / "chunk.csv"
    main(
        [
            "kernels",
            "sweep",
            "--arch",
            "fcn",
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
    assert (ours["convention"] == "notebook").all()

    ref, undecided = notebook_accuracies(x_train, y_train, x_test, y_test)
    both = ours.merge(ref, on=["sigma_w2", "depth", "t"], validate="one_to_one")
    assert len(both) == len(SIGMA_W2) * len(DEPTHS) * len(TIMES)
    decided = both.dropna(subset=["train_nb", "test_nb"])
    assert undecided <= 0.1 * len(both), undecided
    np.testing.assert_array_equal(decided["train_acc"], decided["train_nb"])
    np.testing.assert_array_equal(decided["test_acc"], decided["test_nb"])
    # accuracies vary across the grid: the comparison is not between constants
    assert decided["test_acc"].nunique() > 3
