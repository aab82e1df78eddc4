"""The one empirical NTK (finite.empirical) against neural-tangents' Jacobian contraction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import neural_tangents as nt
import numpy as np
import pytest

from ntk_phases.finite.empirical import empirical_ntk
from ntk_phases.finite.models import batch_apply_fn, make_batchnorm_mlp


@pytest.mark.parametrize("batchnorm", [False, True])
def test_float32_contraction_is_neural_tangents_bit_for_bit(batchnorm):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(10, 12)), jnp.float32)
    model = make_batchnorm_mlp(32, 2, batchnorm, 2.0, 0.1)
    variables = model.init(jax.random.PRNGKey(1), x)
    f = batch_apply_fn(model, variables)
    ref = np.asarray(nt.empirical_ntk_fn(f, trace_axes=(-1,), vmap_axes=None)(x, None, variables["params"]), np.float64)
    ours = empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x), accumulate="float32")
    np.testing.assert_array_equal(ours, ref)
    wide = empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x))  # float64 sums
    np.testing.assert_allclose(wide, ref, rtol=1e-5)
    with pytest.raises(ValueError):
        empirical_ntk(lambda p: f(p, x)[:, 0], variables["params"], len(x), accumulate="float16")
