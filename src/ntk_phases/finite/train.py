"""Finite-width training of whole blocks of networks at once (flax + optax only).

A *block* is every (σ_w², σ_b²) pair of a grid × every seed for one architecture, activation,
depth and width (so parameter shapes agree). All models of a block are trained together:
one jitted, ``jax.vmap``-ed training step over (params, σ_w, σ_b, learning rate), run for
whole chunks of steps between recording points inside one ``lax.fori_loop`` (a traced trip
count, so one compilation serves every chunk length).

Loss and learning rate
----------------------
Targets are centred one-hot vectors ``y = onehot − 1/C``. Writing ``f`` for the ``(N, C)``
outputs on the training set:

- the *optimized* objective of a full-batch step is the **sum** over examples
  ``L_sum = ½ Σ_i ‖f(x_i) − y_i‖²``; plain gradient descent ``θ ← θ − η ∇L_sum`` is, for
  the linearized network, ``f ← f − η Θ (f − Y)`` with ``Θ = J Jᵀ`` the (per-example, not
  divided by N) NTK, i.e. exactly the discrete form of the SPEC's gradient flow
  ``f_t = (I − e^{−ηΘt}) Y`` with ``t`` counted in full-batch steps. Hence the learning rate
  arrives as ``η = lr_factor · 2/λ_max`` with ``λ_max`` the largest eigenvalue of the
  analytic ``Θ(X_train, X_train)`` (the kernels stage); ``lr_factor < 1`` is needed for
  the top mode to converge (``|1 − ηλ_max| < 1``). A mean-over-examples objective would
  need ``η = lr_factor · 2N/λ_max`` instead. (With C outputs the output-space NTK is
  ``Θ ⊗ I_C``: same eigenvalues as the analytic N×N Θ.) ``tests/unit/test_train.py`` checks
  the recorded losses of a wide network against ``½/N ‖(I − ηΘ)^t (f₀ − Y)‖²``.
- minibatch SGD (``batch_size = B < N``) optimizes ``½ Σ_{i∈batch} ‖f(x_i) − y_i‖²``, the sum
  over the batch, not rescaled by N/B: its kernel Θ_BB is a principal submatrix of Θ, so
  ``λ_max(Θ_BB) ≤ λ_max(Θ)`` and the same η is stable; one epoch (N/B steps) moves the
  function about as far as one full-batch step.
- the *recorded* ``train_loss`` / ``test_loss`` is the per-example mean
  ``½ (1/N) Σ_i ‖f(x_i) − y_i‖²`` (½ · mean over examples of the sum over classes) on the
  whole set, so it is comparable across set sizes.

Divergence: a model whose batch loss is non-finite (or above ``max_loss``), or whose updated
parameters are non-finite, is flagged *diverged*: its parameters and optimizer state are
frozen at their last finite values (no NaN ever enters the state, and under ``vmap`` models
never interact anyway) and from then on its rows carry ``status='diverged'`` with NaN
metrics; the other models carry on.

Checkpoints are a pickle (protocol 4) of plain Python / numpy objects, written atomically
(temp file in the same directory + ``os.replace``)::

    {"format": CHECKPOINT_FORMAT, "meta": {...configuration and data fingerprint...},
     "step": int, "state_leaves": [np.ndarray, ...], "rows": [dict, ...]}

``state_leaves`` are the leaves of the state pytree (params and optimizer state of all
models, divergence flags, last loss, step counter) in ``jax.tree_util`` order; they are
restored into a freshly built template, so unpickling needs no jax/optax classes. A
finished checkpoint (``step == n_steps``) may carry ``state_leaves = None``
(``final_state=False``): its rows are the block's result, and resuming it returns them as
they are. Minibatch order is a pure function of (seed, step) — epoch
``e = step // (N//B)`` uses the permutation
``jax.random.permutation(fold_in(fold_in(PRNGKey(seed), 1), e), N)`` — so there is no RNG
state to save and a resumed run is bit-identical to an uninterrupted one on the same
machine. Initial parameters depend only on the seed (``fold_in(PRNGKey(seed), 0)``): all
σ of a block share their standard-normal weights (common random numbers), and a model
trained alone equals the same model trained inside a block.

Models are vmapped all together on accelerators; ``model_batch_size`` loops (``lax.map``)
over chunks of models inside the same compiled step instead (memory). On CPU vmapping buys
nothing (the matmuls already use every core) and XLA's batched = grouped convolutions are
~4x slower than a loop, so there ``"auto"`` (the schema's default) runs the models one at a time
inside the compiled step.

Float32 when so configured (the schema's default), also when ``jax_enable_x64`` is on (theory/kernels switch it on
globally): nothing in the step promotes to float64.

This module imports only jax, flax (through :mod:`.models`), optax, numpy and the numpy data helpers.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import files, tables
from ..data import class_centred_targets, one_hot
from .models import Model, make_model

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ntk_phases.train.checkpoint/1"

#: Columns of every row returned by :func:`train_block`, in order (the first ones are the
#: SPEC's ``metrics/finite_<arch>_<activation>.csv`` contract; ``extra_columns`` follow).
ROW_COLUMNS: tuple[str, ...] = tuple(c for c in tables.FINITE_COLUMNS if c != "dataset") + (
    "test_loss",
    "learning_rate",
    "batch_size",
)

State = dict[str, Any]


class TrainingInterrupted(RuntimeError):
    """Raised by :func:`train_block` when it stops early on purpose (``stop_after_step`` or
    ``max_seconds``); ``step`` is where it stopped, ``checkpoint_step`` the last saved."""

    def __init__(self, step: int, checkpoint_step: int | None):
        super().__init__(f"training stopped at step {step} (last checkpoint: {checkpoint_step})")
        self.step = step
        self.checkpoint_step = checkpoint_step


# ----------------------------------------------------------------------------- helpers


def log_step_schedule(n_steps: int, n_points: int, include_zero: bool = True) -> list[int]:
    """Logarithmically spaced integer steps in ``[1, n_steps]`` (``n_steps`` included), plus 0.

    Duplicates from rounding are removed, so short runs get fewer than ``n_points``.
    """
    n_steps = int(n_steps)
    if n_steps < 0:
        raise ValueError("n_steps must be >= 0")
    steps = {0} if include_zero else set()
    if n_steps >= 1:
        pts = np.logspace(0.0, math.log10(n_steps), max(int(n_points), 1))
        steps |= {int(s) for s in np.round(pts)}
        steps.add(n_steps)
    return sorted(s for s in steps if 0 <= s <= n_steps)


def minibatch_indices(data_key: jax.Array, step, n_train: int, batch_size: int) -> jax.Array:
    """Indices of the minibatch used at ``step``: a pure function of (data_key, step).

    Each epoch of ``n_train // batch_size`` steps walks one fresh permutation (the last
    ``n_train % batch_size`` examples of each permutation are skipped).
    """
    steps_per_epoch = n_train // batch_size
    epoch = step // steps_per_epoch
    pos = step % steps_per_epoch
    perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n_train)
    return jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))


def model_init_key(seed: int) -> jax.Array:
    """Key of the initial parameters of every model with this seed (any σ)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 0)


def data_order_key(seed: int) -> jax.Array:
    """Key from which the minibatch order of every model with this seed derives."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), 1)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _check_dtype(dtype: str) -> Any:
    dt = jnp.dtype(dtype)
    if dt == jnp.float64 and jax.dtypes.canonicalize_dtype(jnp.float64) != jnp.float64:
        raise ValueError("dtype float64 needs jax.config.update('jax_enable_x64', True)")
    if dt not in (jnp.float32, jnp.float64, jnp.bfloat16, jnp.float16):
        raise ValueError(f"unsupported dtype {dtype!r}")
    return dt


# ----------------------------------------------------------------------------- compiled core


@dataclass(frozen=True)
class StepSpec:
    """Everything static about a block's compiled step (hashable: the jit cache key)."""

    arch: str
    activation: str
    depth: int
    width: int
    n_out: int
    n_train: int
    batch_size: int  # == n_train for full batch
    momentum: float
    max_loss: float
    dtype: str
    precision: str
    model_batch_size: int | None  # models vmapped together (None: all)

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.n_train

    @property
    def model(self) -> Model:
        return make_model(self.arch, self.activation, self.depth, self.width, self.n_out, jnp.dtype(self.dtype))

    def optimizer(self) -> optax.GradientTransformation:
        # Unit learning rate; each model's own η multiplies the update (vmapped scalar).
        return optax.sgd(1.0, momentum=self.momentum if self.momentum else None)


def _model_step(spec: StepSpec, params, opt_state, diverged, sigma_w, sigma_b, lr, data_key, step, x, y):
    """One optimizer step of one model (vmapped over models by the caller)."""
    model = spec.model
    if not spec.full_batch:
        idx = minibatch_indices(data_key, step, spec.n_train, spec.batch_size)
        x, y = x[idx], y[idx]

    def loss_fn(p):
        out = model.apply(p, x, sigma_w, sigma_b)
        return 0.5 * jnp.sum(jnp.square(out - y))

    loss_sum, grads = jax.value_and_grad(loss_fn)(params)
    updates, new_opt = spec.optimizer().update(grads, opt_state, params)
    updates = jax.tree_util.tree_map(lambda u: (lr * u).astype(u.dtype), updates)
    new_params = optax.apply_updates(params, updates)
    loss = loss_sum / x.shape[0]
    ok = jnp.isfinite(loss) & (loss <= spec.max_loss) & _all_finite(new_params) & _all_finite(new_opt)
    div = diverged | ~ok

    def keep(old, new):
        return jnp.where(div, old, new)

    params = jax.tree_util.tree_map(keep, params, new_params)
    opt_state = jax.tree_util.tree_map(keep, opt_state, new_opt)
    return params, opt_state, div, loss


def _map_models(spec: StepSpec, fn: Callable, per_model: tuple):
    """``fn`` over the leading (model) axis of ``per_model``: one ``vmap`` over all models,
    or ``lax.map`` over chunks of ``spec.model_batch_size`` vmapped models (memory, or
    backends where batched convolutions are slow). Each model's arithmetic is the same."""
    n_models = jax.tree_util.tree_leaves(per_model)[0].shape[0]
    if spec.model_batch_size is None or spec.model_batch_size >= n_models:
        return jax.vmap(lambda a: fn(*a))(per_model)
    return jax.lax.map(lambda a: fn(*a), per_model, batch_size=spec.model_batch_size)


def _block_step(spec: StepSpec, state: State, consts: dict) -> State:
    """One step of every model of the block."""
    step, x, y = state["step"], consts["x"], consts["y"]

    def one(params, opt_state, diverged, sw, sb, lr, key):
        return _model_step(spec, params, opt_state, diverged, sw, sb, lr, key, step, x, y)

    params, opt_state, div, loss = _map_models(
        spec,
        one,
        (
            state["params"],
            state["opt_state"],
            state["diverged"],
            consts["sigma_w"],
            consts["sigma_b"],
            consts["lr"],
            consts["data_key"],
        ),
    )
    return {"params": params, "opt_state": opt_state, "diverged": div, "loss": loss, "step": state["step"] + 1}


@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def _run_steps(spec: StepSpec, state: State, n_steps, consts: dict) -> State:
    """``n_steps`` (traced) steps of the whole block in one ``fori_loop``."""
    with jax.default_matmul_precision(spec.precision):
        return jax.lax.fori_loop(0, n_steps, lambda _, s: _block_step(spec, s, consts), state)


def _init_params(spec: StepSpec, input_shape: tuple, seeds: jax.Array):
    """Initial parameters of each seed, stacked.

    Not jitted as a whole: run eagerly, each parameter's draw is jax.random's own jitted
    normal, compiled once per (shape, seeds) and reused by every block of the process that
    shares the shape (all but the stacked hidden layers across depths). Compiling the
    whole init per spec cost ~2.5 s of XLA time per block on CPU (threefry), more than
    the training step; the eager draws cost ~1 s for a new depth. The parameters are
    bit-identical either way (integer threefry bits, the same elementwise transform;
    ``tests/unit/test_train.py`` holds them equal)."""
    model = spec.model
    return jax.vmap(lambda s: model.init(model_init_key(s), input_shape))(seeds)


@functools.partial(jax.jit, static_argnums=0)
def _eval_chunk(spec: StepSpec, params, sigma_w, sigma_b, x, y, labels):
    """Per model: ½ Σ‖f − y‖² and the number of correct argmax predictions on a chunk."""
    model = spec.model

    def one(p, sw, sb):
        out = model.apply(p, x, sw, sb)
        sse = 0.5 * jnp.sum(jnp.square(out - y))
        correct = jnp.sum(jnp.argmax(out, axis=-1) == labels)
        return sse, correct

    with jax.default_matmul_precision(spec.precision):
        return _map_models(spec, one, (params, sigma_w, sigma_b))


# ----------------------------------------------------------------------------- block


def _as_labels_targets(y, n_classes: int | None, dtype) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    if y.ndim == 1:
        labels = y.astype(np.int32)
        return labels, class_centred_targets(one_hot(labels, n_classes), dtype)
    if y.ndim == 2:  # targets supplied as they are (e.g. centred one-hot from the data stage)
        return np.argmax(y, axis=-1).astype(np.int32), y.astype(dtype)
    raise ValueError(f"labels must be 1-D ints or 2-D targets, got shape {y.shape}")


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Block:
    """A block of models (σ pairs × seeds, model index = i_sigma * n_seeds + i_seed) with
    their data, compiled step and evaluation. :func:`train_block` drives it; benchmarks use
    it directly (``init_state``, ``run``, ``evaluate``)."""

    def __init__(
        self,
        arch: str,
        activation: str,
        depth: int,
        width: int,
        sigma_w2: Sequence[float] | float,
        sigma_b2: Sequence[float] | float,
        seeds: Sequence[int] | int,
        learning_rate,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        *,
        n_classes: int | None = None,
        batch_size: int | None,
        momentum: float,
        dtype: str,
        precision: str,
        max_loss: float = math.inf,
        eval_batch_size: int | None,
        model_batch_size: int | str | None,
    ):
        dt = _check_dtype(dtype)
        sw2 = np.atleast_1d(np.asarray(sigma_w2, dtype=np.float64))
        sb2 = np.broadcast_to(np.asarray(sigma_b2, dtype=np.float64), sw2.shape).copy()
        seeds = [int(s) for s in np.atleast_1d(seeds)]
        if sw2.ndim != 1 or len(set(seeds)) != len(seeds):
            raise ValueError("sigma_w2 must be 1-D and seeds distinct")
        n_sig, n_seed = len(sw2), len(seeds)
        lr = np.asarray(learning_rate, dtype=np.float64)
        if lr.ndim == 1 and lr.shape[0] == n_sig:
            lr = lr[:, None]
        lr = np.broadcast_to(lr, (n_sig, n_seed)).reshape(-1)
        if not np.all(np.isfinite(lr) & (lr > 0)):
            raise ValueError(f"learning rates must be finite and positive, got {lr}")

        if n_classes is None:
            ys = [np.asarray(y) for y in (y_train, y_test)]
            n_classes = ys[0].shape[1] if ys[0].ndim == 2 else int(max(y.max() for y in ys)) + 1
        self.n_classes = int(n_classes)
        x_train = np.asarray(x_train)
        x_test = np.asarray(x_test)
        self.labels_train, targets_train = _as_labels_targets(y_train, self.n_classes, np.float32)
        self.labels_test, targets_test = _as_labels_targets(y_test, self.n_classes, np.float32)
        n_train = x_train.shape[0]
        bs = n_train if batch_size is None or batch_size >= n_train else int(batch_size)
        if bs < 1:
            raise ValueError("batch_size must be positive")

        if model_batch_size == "auto":
            model_batch_size = 1 if jax.default_backend() == "cpu" else None
        self.spec = StepSpec(
            arch=arch,
            activation=activation,
            depth=int(depth),
            width=int(width),
            n_out=self.n_classes,
            n_train=n_train,
            batch_size=bs,
            momentum=float(momentum),
            max_loss=float(max_loss),
            dtype=dt.name,
            precision=precision,
            model_batch_size=None if model_batch_size is None else int(model_batch_size),
        )
        self.model = self.spec.model
        self.sigma_w2 = np.repeat(sw2, n_seed)
        self.sigma_b2 = np.repeat(sb2, n_seed)
        self.seeds = np.tile(np.asarray(seeds, dtype=np.int64), n_sig)
        self.learning_rate = lr
        self.n_models = n_sig * n_seed
        self.eval_batch_size = eval_batch_size
        self._meta_base = {
            "sigma_w2_grid": sw2.tolist(),
            "sigma_b2_grid": sb2.tolist(),
            "seeds": seeds,
            "learning_rate": lr.tolist(),
            # model_batch_size changes only float rounding: a checkpoint may move between
            # machines that chunk differently (bit-identical resume needs the same one)
            "spec": {k: v for k, v in asdict(self.spec).items() if k != "model_batch_size"},
            "data": _fingerprint(x_train, targets_train, x_test, targets_test),
        }

        self.consts = {
            "x": jnp.asarray(x_train, dt),
            "y": jnp.asarray(targets_train, dt),
            "sigma_w": jnp.asarray(np.sqrt(self.sigma_w2), dt),
            "sigma_b": jnp.asarray(np.sqrt(self.sigma_b2), dt),
            "lr": jnp.asarray(lr, dt),
            "data_key": jax.vmap(data_order_key)(jnp.asarray(self.seeds, jnp.uint32)),
        }
        self._eval_sets = {
            "train": (x_train, targets_train, self.labels_train),
            "test": (x_test, targets_test, self.labels_test),
        }
        self._eval_device: dict[str, list] = {}

    # -- state -------------------------------------------------------------------------
    def init_state(self) -> State:
        seeds, index = np.unique(self.seeds, return_inverse=True)
        shape = (-1, *self.consts["x"].shape[1:])
        per_seed = _init_params(self.spec, shape, jnp.asarray(seeds, jnp.uint32))
        params = jax.tree_util.tree_map(lambda p: p[jnp.asarray(index)], per_seed)
        opt_state = jax.vmap(self.spec.optimizer().init)(params)
        return {
            "params": params,
            "opt_state": opt_state,
            "diverged": jnp.zeros((self.n_models,), bool),
            "loss": jnp.zeros((self.n_models,), self.consts["x"].dtype),
            "step": jnp.zeros((), jnp.int32),
        }

    def run(self, state: State, n_steps: int) -> State:
        """Advance every model ``n_steps`` steps (one compiled loop). ``state`` is donated
        (its buffers are reused for the result): use only the returned state."""
        if n_steps <= 0:
            return state
        return _run_steps(self.spec, state, jnp.int32(n_steps), self.consts)

    # -- evaluation --------------------------------------------------------------------
    def _chunks(self, which: str) -> list:
        if which not in self._eval_device:
            x, y, lab = self._eval_sets[which]
            n = x.shape[0]
            size = n if not self.eval_batch_size else int(self.eval_batch_size)
            dt = self.consts["x"].dtype
            self._eval_device[which] = [
                (jnp.asarray(x[i : i + size], dt), jnp.asarray(y[i : i + size], dt), jnp.asarray(lab[i : i + size]))
                for i in range(0, n, size)
            ]
        return self._eval_device[which]

    def evaluate(self, state: State) -> dict[str, np.ndarray]:
        """Per-model ``train_loss, train_acc, test_loss, test_acc`` (numpy, shape (M,)) on
        the whole sets; loss = ½ · mean over examples of Σ_classes (f − y)²."""
        out = {}
        for which in ("train", "test"):
            sse = np.zeros(self.n_models)
            correct = np.zeros(self.n_models)
            n = 0
            for x, y, lab in self._chunks(which):
                s, c = _eval_chunk(
                    self.spec, state["params"], self.consts["sigma_w"], self.consts["sigma_b"], x, y, lab
                )
                sse += np.asarray(s, np.float64)
                correct += np.asarray(c, np.float64)
                n += x.shape[0]
            out[f"{which}_loss"] = sse / n
            out[f"{which}_acc"] = correct / n
        return out

    def meta(self, record_steps: Sequence[int], n_steps: int) -> dict:
        return {**self._meta_base, "record_steps": [int(s) for s in record_steps], "n_steps": int(n_steps)}

    def rows(self, step: int, metrics: dict[str, np.ndarray], diverged: np.ndarray, extra: dict | None) -> list[dict]:
        rows = []
        for m in range(self.n_models):
            bad = bool(diverged[m])
            nan = float("nan")
            row = {
                "arch": self.spec.arch,
                "activation": self.spec.activation,
                "width": self.spec.width,
                "sigma_w2": float(self.sigma_w2[m]),
                "sigma_b2": float(self.sigma_b2[m]),
                "depth": self.spec.depth,
                "seed": int(self.seeds[m]),
                "step": int(step),
                "train_loss": nan if bad else float(metrics["train_loss"][m]),
                "train_acc": nan if bad else float(metrics["train_acc"][m]),
                "test_acc": nan if bad else float(metrics["test_acc"][m]),
                "status": "diverged" if bad else "ok",
                "test_loss": nan if bad else float(metrics["test_loss"][m]),
                "learning_rate": float(self.learning_rate[m]),
                "batch_size": self.spec.batch_size,
            }
            if extra:
                row.update(extra)
            rows.append(row)
        return rows


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Pickle ``payload`` to ``path`` atomically (:func:`ntk_phases.files.atomic_path`, which
    also removes a killed job's temporaries), fsynced before the move."""
    with files.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=4)
        fh.flush()
        os.fsync(fh.fileno())


def load_checkpoint(path: str | os.PathLike) -> dict:
    with open(path, "rb") as fh:
        payload = pickle.load(fh)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return payload


def _state_to_payload(state: State) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(state))]


def _state_from_payload(template: State, leaves: list[np.ndarray]) -> State:
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(t_leaves) != len(leaves):
        raise ValueError("checkpoint state does not match this block (leaf count)")
    out = []
    for t, s in zip(t_leaves, leaves):
        if t.shape != s.shape or t.dtype != s.dtype:
            raise ValueError(f"checkpoint leaf {s.shape}/{s.dtype} != {t.shape}/{t.dtype}")
        out.append(jnp.asarray(s))
    return jax.tree_util.tree_unflatten(treedef, out)


# ----------------------------------------------------------------------------- driver


def train_block(
    arch: str,
    activation: str,
    depth: int,
    width: int,
    sigma_w2: Sequence[float] | float,
    sigma_b2: Sequence[float] | float,
    seeds: Sequence[int] | int,
    learning_rate,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_steps: int,
    *,
    n_classes: int | None = None,
    batch_size: int | None,
    momentum: float,
    record_steps: Sequence[int],
    dtype: str,
    precision: str,
    max_loss: float = math.inf,
    eval_batch_size: int | None,
    model_batch_size: int | str | None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int | None,
    resume: bool = True,
    final_state: bool = True,
    log_every: int | None,
    stop_after_step: int | None = None,
    max_seconds: float | None = None,
    extra_columns: dict | None = None,
    callback: Callable[[int, State, list[dict]], None] | None = None,
) -> list[dict]:
    """Train every (σ_w², σ_b²) × seed model of one block; return tidy rows.

    Args:
      arch, activation, depth, width: the network (``models.make_model``); ``n_out`` is
        the number of classes.
      sigma_w2: 1-D grid of weight variances; ``sigma_b2``: scalar or one per σ_w².
      seeds: seeds; model (σ, seed) is initialized from ``seed`` alone.
      learning_rate: η per σ pair (shape ``(n_sigma,)``), per model ``(n_sigma, n_seeds)``
        or a scalar; see the module docstring for its normalization (``2/λ_max`` scale).
      x_train, x_test: inputs (NHWC images, or ``(N, d)`` for ``fcn``).
      y_train, y_test: integer labels (targets become centred one-hot), or 2-D targets
        used as given (labels = argmax).
      n_steps: total optimizer steps.
      batch_size: ``None`` (or ≥ N) for full-batch gradient descent, else minibatch SGD.
      momentum: optax SGD momentum (0: plain gradient descent).
      record_steps: steps at which rows are recorded (e.g. ``log_step_schedule(n_steps,
        n_record)``).
      dtype: ``float32`` or ``float64`` (needs ``jax_enable_x64``).
      precision: ``jax.default_matmul_precision`` for training and evaluation ("highest":
        true fp32 on GPUs, where the default would be TF32).
      max_loss: a batch loss (½ mean Σ_classes) above this also counts as divergence.
      eval_batch_size: evaluate in chunks of this many examples (memory; ``None``: all).
      model_batch_size: vmap this many models at a time, looping (``lax.map``) over such
        chunks inside the same compiled step (``None``: all at once). Bounds memory on
        accelerators; ``1`` is much faster for convolutions on CPU, where XLA's batched
        (grouped) convolutions are slow. Results agree to float rounding. ``"auto"``: 1 on
        the CPU backend (measured faster there, see ``bench/bench_train.py``), else all.
      checkpoint_path, checkpoint_every: save the whole state every ``checkpoint_every``
        steps and at the end; an existing compatible checkpoint is resumed from
        (``resume=True``) — an incompatible one raises ``ValueError``. A finished
        checkpoint (step ``n_steps``) returns its rows without building any state.
      final_state: keep the state in the final checkpoint (``False``: rows only,
        ``state_leaves = None`` — enough to skip a finished block when a multi-block job
        is rerun, without holding every block's parameters on disk).
      log_every: log step, mean loss/accuracies of live models, divergences, steps/s
        (``None``: never).

      stop_after_step: stop (raise :class:`TrainingInterrupted`) once this step is reached,
        without writing an extra checkpoint — simulates a kill (tests).
      max_seconds: stop after this much wall time at the next chunk boundary, writing a
        checkpoint first, and raise :class:`TrainingInterrupted` (time-limited jobs).
      extra_columns: constant columns added to every row (e.g. ``dataset``).
      callback: ``callback(step, state, rows_so_far)`` after every chunk boundary (the
        state's buffers are donated to the next chunk: copy what you keep).

    Returns:
      list of row dicts with the columns :data:`ROW_COLUMNS` (+ ``extra_columns``), one per
      model per recorded step, ordered by step then model.

    The options the config holds (``batch_size``, ``momentum``, ``dtype``, ``precision``,
    ``eval_batch_size``, ``model_batch_size``, ``checkpoint_every``, ``log_every``) have no
    defaults here: their defaults live in the schema only.
    """
    t_start = time.perf_counter()
    block = Block(
        arch,
        activation,
        depth,
        width,
        sigma_w2,
        sigma_b2,
        seeds,
        learning_rate,
        x_train,
        y_train,
        x_test,
        y_test,
        n_classes=n_classes,
        batch_size=batch_size,
        momentum=momentum,
        dtype=dtype,
        precision=precision,
        max_loss=max_loss,
        eval_batch_size=eval_batch_size,
        model_batch_size=model_batch_size,
    )
    n_steps = int(n_steps)
    record = sorted({int(s) for s in record_steps if 0 <= int(s) <= n_steps})
    meta = block.meta(record, n_steps)

    payload = None
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        payload = load_checkpoint(checkpoint_path)
        if payload["meta"] != meta:
            diff = sorted(k for k in meta if payload["meta"].get(k) != meta[k])
            raise ValueError(
                f"checkpoint {checkpoint_path} belongs to another run "
                f"(differs in {diff}); delete it or pass resume=False"
            )
        if int(payload["step"]) == n_steps:  # finished: nothing to build or compile
            log.info("%s is finished (step %d, %d rows)", checkpoint_path, n_steps, len(payload["rows"]))
            return list(payload["rows"])
    state = block.init_state()
    rows: list[dict] = []
    step = 0
    last_ckpt: int | None = None
    if payload is not None:
        state = _state_from_payload(state, payload["state_leaves"])
        rows = list(payload["rows"])
        step = last_ckpt = int(payload["step"])
        log.info("resumed %s from step %d (%d rows)", checkpoint_path, step, len(rows))

    def save(at: int) -> None:
        keep = final_state or at < n_steps
        save_checkpoint(
            checkpoint_path,
            {
                "format": CHECKPOINT_FORMAT,
                "meta": meta,
                "step": at,
                "state_leaves": _state_to_payload(state) if keep else None,
                "rows": rows,
            },
        )

    def record_rows(at: int) -> None:
        nonlocal state
        metrics = block.evaluate(state)
        bad = ~np.isfinite(metrics["train_loss"])
        diverged = np.asarray(state["diverged"]) | bad
        state = {**state, "diverged": jnp.asarray(diverged)}
        rows.extend(block.rows(at, metrics, diverged, extra_columns))

    if step == 0 and 0 in record:
        record_rows(0)

    bounds = set(record) | {n_steps}
    for every in (checkpoint_every, log_every):
        if every:
            bounds |= set(range(every, n_steps + 1, int(every)))
    if stop_after_step is not None:
        bounds.add(min(int(stop_after_step), n_steps))
    bounds = sorted(b for b in bounds if b > step)

    train_time, steps_since_log = 0.0, 0
    for b in bounds:
        t0 = time.perf_counter()
        state = block.run(state, b - step)
        jax.block_until_ready(state)
        train_time += time.perf_counter() - t0
        steps_since_log += b - step
        step = b
        if b in record:
            record_rows(b)
        if log_every and (b % log_every == 0 or b == n_steps):
            _log_progress(block, state, b, n_steps, steps_since_log, train_time)
            train_time, steps_since_log = 0.0, 0
        if checkpoint_path is not None and ((checkpoint_every and b % checkpoint_every == 0) or b == n_steps):
            save(b)
            last_ckpt = b
        if callback is not None:
            callback(b, state, rows)
        if stop_after_step is not None and b >= stop_after_step and b < n_steps:
            raise TrainingInterrupted(b, last_ckpt)
        if max_seconds is not None and b < n_steps and time.perf_counter() - t_start > max_seconds:
            if checkpoint_path is not None and last_ckpt != b:
                save(b)
                last_ckpt = b
            raise TrainingInterrupted(b, last_ckpt)
    return rows


def _log_progress(block: Block, state: State, step: int, n_steps: int, n: int, secs: float):
    metrics = block.evaluate(state)
    div = np.asarray(state["diverged"]) | ~np.isfinite(metrics["train_loss"])
    live = ~div

    def mean(k: str) -> float:
        return float(np.mean(metrics[k][live])) if live.any() else float("nan")

    rate = n / secs if secs > 0 else float("nan")
    log.info(
        "%s d=%d w=%d step %d/%d | loss %.4g | train_acc %.4f | test_acc %.4f | "
        "diverged %d/%d | %.1f steps/s (%.3g example-models/s)",
        block.spec.arch,
        block.spec.depth,
        block.spec.width,
        step,
        n_steps,
        mean("train_loss"),
        mean("train_acc"),
        mean("test_acc"),
        int(div.sum()),
        block.n_models,
        rate,
        rate * block.spec.batch_size * block.n_models,
    )
