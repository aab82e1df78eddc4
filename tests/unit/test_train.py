"""Block training: loss normalization vs η, divergence isolation, exact checkpoint resume,
vmapped block == separate models, schedules and minibatch order."""

from __future__ import annotations

import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_phases.data import class_centred_targets, one_hot
from ntk_phases.finite import train as T
from ntk_phases.finite.models import make_model
from ntk_phases.numerics import predictions

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

N_CLASSES = 3

# the schema defaults: training's shared options (dtype … log_every) and the grid
# experiment's full-batch gradient descent (training.grid.batch_size null, momentum 0)
TRAIN_OPTIONS = dict(
    dtype="float32",
    precision="highest",
    eval_batch_size=None,
    model_batch_size="auto",
    checkpoint_every=100,
    log_every=100,
)
FULL_BATCH = dict(batch_size=None, momentum=0.0)
OPTIONS = {**TRAIN_OPTIONS, **FULL_BATCH}


def _data(n_train=48, n_test=48, shape=(4, 4, 1), seed=0):
    """Gaussian classes around random means, each input rescaled to norm √n₀."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(N_CLASSES, *shape))

    def draw(n):
        y = np.arange(n) % N_CLASSES
        x = means[y] + 0.8 * rng.normal(size=(n, *shape))
        x *= np.sqrt(np.prod(shape)) / np.linalg.norm(x.reshape(n, -1), axis=1)[:, None, None, None]
        return x.astype(np.float32), y

    return (*draw(n_train), *draw(n_test))


X, Y, XT, YT = _data()


def _lambda_max(arch, depth, sw2, sb2, x=X):
    """Top eigenvalue of the analytic NTK Θ(train, train) from a stax network."""
    sw, sb = math.sqrt(sw2), math.sqrt(sb2)
    layers = [stax.Flatten()] if arch == "fcn" else []
    for _ in range(depth):
        layers += [
            stax.Dense(1, sw, sb) if arch == "fcn" else stax.Conv(1, (3, 3), padding="CIRCULAR", W_std=sw, b_std=sb),
            stax.Erf(),
        ]
    layers += [stax.GlobalAvgPool() if arch == "cnn_p" else stax.Flatten(), stax.Dense(1, sw, sb)]
    theta = np.asarray(stax.serial(*layers)[2](x, x, "ntk"), np.float64)
    return float(np.linalg.eigvalsh(theta)[-1])


def _lr(arch, depth, sw2s, sb2, factor=0.5):
    return np.array([predictions.eta_from_lambda_max(_lambda_max(arch, depth, s, sb2), factor) for s in sw2s])


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _assert_rows_identical(r1, r2):
    assert len(r1) == len(r2)
    for a, b in zip(r1, r2):
        assert a.keys() == b.keys()
        bad = {k: (a[k], b[k]) for k in a if not _same(a[k], b[k])}
        assert not bad, (a["step"], a["sigma_w2"], a["seed"], bad)


def _metric(rows, key, **where):
    sel = [r for r in rows if all(r[k] == v for k, v in where.items())]
    return np.array([r[key] for r in sorted(sel, key=lambda r: r["step"])])


# ----------------------------------------------------------------------------- helpers


def test_log_step_schedule():
    s = T.log_step_schedule(1000, 10)
    assert s[0] == 0 and s[-1] == 1000 and s == sorted(set(s)) and 1 in s
    ratios = np.diff(np.log(s[1:]))  # geometric, up to rounding at small steps
    assert len(s) == 11 and np.allclose(ratios[-5:], math.log(1000) / 9, atol=0.04)
    assert T.log_step_schedule(3, 25) == [0, 1, 2, 3]
    assert T.log_step_schedule(0, 25) == [0]
    assert 0 not in T.log_step_schedule(10, 4, include_zero=False)


def test_minibatch_order_is_a_function_of_seed_and_step():
    key, n, b = T.data_order_key(7), 50, 12  # 4 steps per epoch, 2 examples left out
    idx = [np.asarray(T.minibatch_indices(key, s, n, b)) for s in range(8)]
    epoch0, epoch1 = np.concatenate(idx[:4]), np.concatenate(idx[4:])
    assert len(set(epoch0)) == 48 and len(set(epoch1)) == 48  # no repeats within an epoch
    assert not np.array_equal(epoch0, epoch1)
    again = np.asarray(jax.jit(T.minibatch_indices, static_argnums=(2, 3))(key, 5, n, b))
    assert np.array_equal(again, idx[5])
    other = np.asarray(T.minibatch_indices(T.data_order_key(8), 5, n, b))
    assert not np.array_equal(other, idx[5])


def test_centred_targets_and_dtype_guard():
    t = class_centred_targets(one_hot(np.array([0, 2]), 3))
    assert np.allclose(t, [[2 / 3, -1 / 3, -1 / 3], [-1 / 3, -1 / 3, 2 / 3]])
    assert np.allclose(t.sum(1), 0)
    from jax.experimental import disable_x64

    with disable_x64(), pytest.raises(ValueError, match="x64"):
        T.train_block(
            "fcn",
            "erf",
            1,
            8,
            [1.0],
            0.0,
            [0],
            0.01,
            X,
            Y,
            XT,
            YT,
            1,
            record_steps=[0, 1],
            **{**OPTIONS, "dtype": "float64"},
        )


# ----------------------------------------------------------------------------- training


@pytest.mark.parametrize("arch", ["fcn", "cnn_f", "cnn_p"])
def test_loss_decreases_full_batch(arch, caplog):
    (depth, width), sw2 = ((2, 128) if arch == "fcn" else (1, 16)), [1.5]
    lr = _lr(arch, depth, sw2, 0.1)
    with caplog.at_level(logging.INFO, logger="ntk_phases.finite.train"):
        rows = T.train_block(
            arch,
            "erf",
            depth,
            width,
            sw2,
            0.1,
            [0],
            lr,
            X,
            Y,
            XT,
            YT,
            60,
            record_steps=T.log_step_schedule(60, 25),
            extra_columns={"dataset": "toy"},
            **{**OPTIONS, "log_every": 30},
        )
    loss = _metric(rows, "train_loss")
    acc = _metric(rows, "train_acc")
    assert all(r["status"] == "ok" and r["dataset"] == "toy" for r in rows)
    assert list(rows[0])[: len(T.ROW_COLUMNS)] == list(T.ROW_COLUMNS)
    assert loss[-1] < 0.3 * loss[0]
    assert np.all(np.diff(loss) <= 1e-6)  # η = 2/λ_max · 0.5: monotone for the NTK dynamics
    assert acc[-1] > acc[0] and acc[-1] > 0.75  # chance: 1/3
    assert _metric(rows, "test_acc")[-1] > 0.6  # classes are separable: it generalizes
    progress = [r.message for r in caplog.records if "steps/s" in r.message]
    assert len(progress) == 2 and "step 60/60" in progress[-1]


def test_full_batch_step_is_the_function_space_ntk_step():
    """With loss ½Σ‖f−y‖² a GD step is f ← f − ηΘ(f − Y): at large width the recorded loss
    follows ½/N‖(I − ηΘ)^t (f₀ − Y)‖² with the empirical NTK of the initial network."""
    arch, depth, width, sw2, sb2, n = "fcn", 1, 2048, 1.5, 0.1, 24
    x, y = X[:n], Y[:n]
    m = make_model(arch, "erf", depth, width, N_CLASSES, jnp.float32)
    p0 = m.init(T.model_init_key(0), x.shape)
    sw, sb = math.sqrt(sw2), math.sqrt(sb2)
    f = lambda p, xx: m.apply(p, xx, sw, sb)  # noqa: E731
    theta = np.asarray(nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)(x, None, p0), np.float64)
    theta = theta.transpose(0, 2, 1, 3).reshape(n * N_CLASSES, n * N_CLASSES)
    lr = 0.5 * 2 / np.linalg.eigvalsh(theta)[-1]
    r0 = (np.asarray(f(p0, x), np.float64) - class_centred_targets(one_hot(y, N_CLASSES))).reshape(-1)
    steps = [0, 1, 3, 10, 30]
    rows = T.train_block(
        arch, "erf", depth, width, [sw2], sb2, [0], lr, x, y, XT, YT, 30, record_steps=steps, **OPTIONS
    )
    got = _metric(rows, "train_loss")
    step_op = np.eye(len(r0)) - lr * theta
    want = [0.5 / n * np.sum((np.linalg.matrix_power(step_op, t) @ r0) ** 2) for t in steps]
    np.testing.assert_allclose(got, want, rtol=0.05)
    # and a mean-over-examples normalization (η/N per step) would be far off
    slow = [0.5 / n * np.sum((np.linalg.matrix_power(np.eye(len(r0)) - lr / n * theta, t) @ r0) ** 2) for t in steps]
    assert abs(got[-1] / slow[-1] - 1) > 0.5


# the same block configuration in the next two tests: compiled once
BLOCK = ("fcn", "tanh", 2, 32)
BLOCK_KW = dict(TRAIN_OPTIONS, batch_size=12, momentum=0.9, model_batch_size=None)  # vmap (the GPU path)


def test_diverging_model_is_isolated():
    sw2 = [1.0, 2.0]
    lr = np.array([0.01, 0.01])
    kw = dict(BLOCK_KW, record_steps=[0, 5, 20, 40])
    finite = []

    def check(step, state, rows):
        finite.append(all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(state["params"])))

    good = T.train_block(*BLOCK, sw2, 0.05, [0], lr, X, Y, XT, YT, 40, **kw)
    mixed = T.train_block(*BLOCK, sw2 + [4.0], 0.05, [0], np.append(lr, 1e4), X, Y, XT, YT, 40, callback=check, **kw)
    bad = [r for r in mixed if r["sigma_w2"] == 4.0]
    assert [r["status"] for r in bad] == ["ok", "diverged", "diverged", "diverged"]
    assert all(math.isnan(r["train_loss"]) and math.isnan(r["test_acc"]) for r in bad[1:])
    assert all(finite)  # frozen at the last finite parameters: no NaN in the state
    rest = [r for r in mixed if r["sigma_w2"] != 4.0]
    assert [r["status"] for r in rest] == ["ok"] * len(rest)
    for a, b in zip(good, rest):
        assert (a["sigma_w2"], a["step"]) == (b["sigma_w2"], b["step"])
        for k in ("train_loss", "train_acc", "test_acc"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (a, b)


def test_checkpoint_resume_is_bit_identical(tmp_path):
    args = (*BLOCK, [1.0, 2.0, 4.0], 0.05, [0, 3])
    lr = np.array([0.01, 0.01, 50.0])  # the last σ diverges on the way: flags are state too
    kw = dict(BLOCK_KW, record_steps=T.log_step_schedule(60, 12), checkpoint_every=20)
    full = T.train_block(*args, lr, X, Y, XT, YT, 60, **kw)
    assert {r["status"] for r in full} == {"ok", "diverged"}

    ckpt = tmp_path / "block.ckpt"
    with pytest.raises(T.TrainingInterrupted) as stop:
        T.train_block(*args, lr, X, Y, XT, YT, 60, checkpoint_path=ckpt, stop_after_step=33, **kw)
    assert (stop.value.step, stop.value.checkpoint_step) == (33, 20)
    assert T.load_checkpoint(ckpt)["step"] == 20
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file
    resumed = T.train_block(*args, lr, X, Y, XT, YT, 60, checkpoint_path=ckpt, **kw)
    _assert_rows_identical(full, resumed)

    # a wall-time stop writes a checkpoint where it stops; resuming is exact as well
    ckpt2 = tmp_path / "timed.ckpt"
    with pytest.raises(T.TrainingInterrupted) as stop:
        T.train_block(*args, lr, X, Y, XT, YT, 60, checkpoint_path=ckpt2, max_seconds=0.0, **kw)
    assert stop.value.checkpoint_step == stop.value.step < 60
    _assert_rows_identical(full, T.train_block(*args, lr, X, Y, XT, YT, 60, checkpoint_path=ckpt2, **kw))

    # a finished checkpoint is returned as is; another configuration is refused
    assert T.load_checkpoint(ckpt)["step"] == 60
    _assert_rows_identical(full, T.train_block(*args, lr, X, Y, XT, YT, 60, checkpoint_path=ckpt, **kw))
    with pytest.raises(ValueError, match="learning_rate"):
        T.train_block(*args, lr * 2, X, Y, XT, YT, 60, checkpoint_path=ckpt, **kw)


@pytest.mark.parametrize("arch,depth", [("fcn", 3), ("cnn_p", 2)])
def test_initial_parameters_do_not_depend_on_jit(arch, depth):
    """Blocks draw their initial parameters eagerly (per-shape compilations shared across
    depths); they must be bit-identical to the same init compiled as one program."""
    spec = T.StepSpec(arch, "erf", depth, 8, N_CLASSES, len(X), len(X), 0.0, math.inf, "float32", "highest", None)
    seeds = jnp.asarray([0, 5], jnp.uint32)
    eager = T._init_params(spec, (-1, *X.shape[1:]), seeds)
    jitted = jax.jit(T._init_params, static_argnums=(0, 1))(spec, (-1, *X.shape[1:]), seeds)
    leaves = jax.tree_util.tree_leaves
    assert len(leaves(eager)) == len(leaves(jitted)) == (6 if depth >= 2 else 4)
    for a, b in zip(leaves(eager), leaves(jitted)):
        assert a.shape == b.shape and np.array_equal(np.asarray(a), np.asarray(b))


def test_finished_checkpoint_without_state_returns_its_rows(tmp_path, monkeypatch):
    """``final_state=False``: the final checkpoint keeps the rows only, and a rerun returns
    them without building (or compiling) any state."""
    args = (*BLOCK, [1.0, 2.0], 0.05, [0])
    lr = np.array([0.01, 0.01])
    kw = dict(BLOCK_KW, record_steps=T.log_step_schedule(40, 6), checkpoint_every=20)
    ckpt = tmp_path / "done.ckpt"
    full = T.train_block(*args, lr, X, Y, XT, YT, 40, checkpoint_path=ckpt, final_state=False, **kw)
    payload = T.load_checkpoint(ckpt)
    assert payload["step"] == 40 and payload["state_leaves"] is None
    monkeypatch.setattr(T.Block, "init_state", lambda self: pytest.fail("state was built"))
    _assert_rows_identical(full, T.train_block(*args, lr, X, Y, XT, YT, 40, checkpoint_path=ckpt, **kw))
    with pytest.raises(ValueError, match="n_steps"):  # still refused for another run
        T.train_block(*args, lr, X, Y, XT, YT, 41, checkpoint_path=ckpt, **kw)


@pytest.mark.parametrize("arch,model_batch_size", [("fcn", 3), ("cnn_f", None)])
# singles run with the schema's default ("auto": 1 on CPU, i.e. lax.map)
def test_vmapped_block_equals_separate_models(arch, model_batch_size):
    """One vmapped block (or lax.map over chunks of 3 of its 4 models) == 4 separate runs."""
    depth, width, sw2, seeds = 1, 8, [1.2, 2.0], [0, 5]
    lr = _lr(arch, depth, sw2, 0.1)
    kw = dict(OPTIONS, batch_size=16, record_steps=T.log_step_schedule(30, 6))
    block = T.train_block(
        arch, "erf", depth, width, sw2, 0.1, seeds, lr, X, Y, XT, YT, 30, **{**kw, "model_batch_size": model_batch_size}
    )
    assert len({(r["sigma_w2"], r["seed"]) for r in block}) == 4
    for i, s2 in enumerate(sw2):
        for seed in seeds:
            alone = T.train_block(arch, "erf", depth, width, [s2], 0.1, [seed], lr[i], X, Y, XT, YT, 30, **kw)
            mine = [r for r in block if r["sigma_w2"] == s2 and r["seed"] == seed]
            assert len(mine) == len(alone)
            for a, b in zip(alone, mine):
                assert a["step"] == b["step"] and a["status"] == b["status"] == "ok"
                for k in ("train_loss", "test_loss", "train_acc", "test_acc"):
                    assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), (k, a, b)
            loss = _metric(mine, "train_loss")
            assert loss[-1] < loss[0]  # minibatch SGD trains too
