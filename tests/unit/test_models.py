"""Flax models against neural-tangents stax: shapes, parameter scaling, identical outputs
for identical weights, NNGP variance at init, and empirical → analytic NTK with width."""

from __future__ import annotations

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntk_phases.finite.models import make_model, param_count

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

SW2, SB2 = 1.7, 0.1
SW, SB = float(np.sqrt(SW2)), float(np.sqrt(SB2))
STAX_ACT = {"erf": stax.Erf, "relu": stax.Relu}


def _inputs(n=6, shape=(4, 4, 1), seed=1):
    x = np.random.default_rng(seed).normal(size=(n, *shape))
    x *= np.sqrt(np.prod(shape)) / np.linalg.norm(x.reshape(n, -1), axis=1)[:, None, None, None]
    return jnp.asarray(x, jnp.float32)


def stax_network(arch, depth, width, n_out, activation="erf", sw=SW, sb=SB):
    """The same network written directly in stax (independent of ntk_phases.kernels)."""
    layers = [stax.Flatten()] if arch == "fcn" else []
    for _ in range(depth):
        if arch == "fcn":
            layers.append(stax.Dense(width, W_std=sw, b_std=sb))
        else:
            layers.append(stax.Conv(width, (3, 3), padding="CIRCULAR", W_std=sw, b_std=sb))
        layers.append(STAX_ACT[activation]())
    layers.append(stax.GlobalAvgPool() if arch == "cnn_p" else stax.Flatten())
    layers.append(stax.Dense(n_out, W_std=sw, b_std=sb))
    return stax.serial(*layers)


def stax_to_flax(stax_params, depth):
    """Map stax.serial params (list per layer; () for parameter-free layers)."""
    affine = [p for p in stax_params if len(p) == 2]
    assert len(affine) == depth + 1
    out = {}
    if depth >= 1:
        out["input_W"], out["input_b"] = affine[0][0], affine[0][1].reshape(-1)
    if depth >= 2:
        out["hidden_W"] = jnp.stack([w for w, _ in affine[1:-1]])
        out["hidden_b"] = jnp.stack([b.reshape(-1) for _, b in affine[1:-1]])
    out["readout_W"], out["readout_b"] = affine[-1][0], affine[-1][1].reshape(-1)
    return out


@pytest.mark.parametrize("arch", ["fcn", "cnn_f", "cnn_p"])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_output_and_param_shapes(arch, depth):
    x = _inputs(5, (4, 4, 2))
    m = make_model(arch, "tanh", depth, 8, 3, jnp.float32)
    p = m.init(jax.random.PRNGKey(0), x.shape)
    assert m.apply(p, x, SW, SB).shape == (5, 3)
    expected = {"readout_W", "readout_b"}
    if depth >= 1:
        expected |= {"input_W", "input_b"}
    if depth >= 2:
        expected |= {"hidden_W", "hidden_b"}
        assert p["hidden_W"].shape[0] == depth - 1
    assert set(p) == expected
    fan_in = {"fcn": 8 if depth else 32, "cnn_f": 16 * (8 if depth else 2), "cnn_p": 8 if depth else 2}
    assert p["readout_W"].shape == (fan_in[arch], 3)


def test_parameters_are_standard_normal_and_sigma_is_runtime():
    m = make_model("fcn", "erf", 2, 512, 10, jnp.float32)
    p = m.init(jax.random.PRNGKey(0), (-1, 8, 8, 1))
    w = np.asarray(p["hidden_W"]).ravel()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01
    assert param_count(p) == 64 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    # σ is a call argument, not a parameter: σ_w = σ_b = 0 silences the network.
    x = _inputs(3, (8, 8, 1))
    assert np.allclose(m.apply(p, x, 0.0, 0.0), 0.0)
    # one jitted function serves several σ
    f = jax.jit(jax.vmap(m.apply, in_axes=(None, None, 0, 0)))
    out = f(p, x, jnp.array([1.0, 2.0]), jnp.array([0.1, 0.2]))
    assert np.allclose(out[1], m.apply(p, x, 2.0, 0.2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["cnn_p"])  # conv layers and the dense readout
def test_float32_stays_float32_when_x64_is_enabled(arch):
    """theory/kernels switch jax_enable_x64 on globally; training must stay float32."""
    from jax.experimental import enable_x64

    with enable_x64():
        m = make_model(arch, "erf", 2, 8, 3, jnp.float32)
        x = _inputs(3)
        p = m.init(jax.random.PRNGKey(0), x.shape)
        assert {v.dtype for v in jax.tree_util.tree_leaves(p)} == {jnp.dtype("float32")}
        assert m.apply(p, x, SW, SB).dtype == jnp.float32
        assert m.apply(p, x, jnp.float32(SW), jnp.float32(SB)).dtype == jnp.float32


@pytest.mark.parametrize("arch", ["fcn", "cnn_f", "cnn_p"])
@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_same_weights_same_outputs_as_stax(arch, activation):
    """Identical weights ⇒ identical outputs: pins parameterization, padding, flatten order."""
    depth, width, n_out = 3, 6, 4
    # stax itself mixes dtypes under x64 (switched on by theory/kernels): use one dtype
    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    x = _inputs(5, (5, 4, 3)).astype(dt)
    init_fn, apply_fn, _ = stax_network(arch, depth, width, n_out, activation)
    _, sp = init_fn(jax.random.PRNGKey(3), x.shape)
    sp = jax.tree_util.tree_map(lambda a: a.astype(dt), sp)
    ours = make_model(arch, activation, depth, width, n_out, jnp.float32)
    fp = stax_to_flax(sp, depth)
    ref_shapes = jax.tree_util.tree_map(jnp.shape, ours.init(jax.random.PRNGKey(0), x.shape))
    assert jax.tree_util.tree_map(jnp.shape, fp) == ref_shapes
    np.testing.assert_allclose(ours.apply(fp, x, SW, SB), apply_fn(sp, x), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("arch,width", [("fcn", 512), ("cnn_f", 128)])
def test_output_variance_at_init_matches_nngp(arch, width):
    depth, n_out, n_init = 2, 16, 128
    x = _inputs(4)
    m = make_model(arch, "erf", depth, width, n_out, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(0), n_init)
    outs = jax.lax.map(lambda k: m.apply(m.init(k, x.shape), x, SW, SB), keys)  # (init, N, out)
    var = np.asarray(jnp.mean(outs**2, axis=(0, 2)))
    nngp = np.diag(np.asarray(stax_network(arch, depth, width, n_out)[2](x, x, "nngp")))
    # 2048 samples per input: ~3% standard error; finite-width corrections O(1/width)
    np.testing.assert_allclose(var, nngp, rtol=0.12)
    assert abs(var.mean() / nngp.mean() - 1) < 0.06


def _ntk_rel_errors(arch, depth, widths, n_seeds=3, n_out=2):
    x = _inputs(6)
    theta = np.asarray(stax_network(arch, depth, 1, n_out)[2](x, x, "ntk"))
    errs = []
    for w in widths:
        m = make_model(arch, "erf", depth, w, n_out, jnp.float32)
        # trace_axes=(-1,) averages the output-space NTK over the n_out logits
        efn = jax.jit(nt.empirical_ntk_fn(lambda p, xx: m.apply(p, xx, SW, SB), trace_axes=(-1,), vmap_axes=0))
        e = [
            np.linalg.norm(np.asarray(efn(x, None, m.init(jax.random.PRNGKey(s), x.shape))) - theta)
            / np.linalg.norm(theta)
            for s in range(n_seeds)
        ]
        errs.append(float(np.mean(e)))
    return np.array(errs)


@pytest.mark.parametrize(
    "arch,depth,widths",
    [
        ("fcn", 3, [32, 128, 512]),
        ("cnn_f", 1, [16, 64, 256]),
    ],
)
def test_empirical_ntk_converges_to_analytic(arch, depth, widths):
    errs = _ntk_rel_errors(arch, depth, widths)
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert np.all(np.diff(errs) < 0), errs
    assert -0.8 < slope < -0.3, (slope, errs)  # O(width^-1/2) fluctuations
    assert errs[-1] < 0.1


def test_empirical_ntk_cnn_p_close_to_analytic():
    errs = _ntk_rel_errors("cnn_p", 1, [256], n_seeds=2)
    assert errs[0] < 0.12, errs


@pytest.mark.parametrize("module", ["finite/models.py", "finite/train.py", "finite/empirical.py"])
def test_training_code_never_imports_neural_tangents(module):
    src = Path(__file__).resolve().parents[2] / "src" / "ntk_phases" / module
    allowed = {"jax", "flax", "optax", "numpy", "ntk_phases", "__future__"}
    import sys

    for node in ast.walk(ast.parse(src.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in allowed or top in sys.stdlib_module_names, f"{module} imports {name}"
