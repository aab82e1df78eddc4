"""Analytic (infinite-width) computations built on jax and neural-tangents, in float64.

Modules: :mod:`.layers` (the one activation registry, stax layers, kernel maps),
:mod:`.sweep` (the one-pass depth sweep and its streaming metrics), :mod:`.meanfield`
(q*, c*, χ, depth scales, phase tables), :mod:`.freeze_chaos` (the freeze/chaos variants
and their mean-field laws), :mod:`.checkerboard` (transposed-convolution NTKs),
:mod:`.fcn_closed_form` (the closed-form fast path of the sweep).

:func:`setup` is the layer's one set-up, and importing this package runs it, once:

- ``jax_enable_x64``: kernels are float64 (deep chaotic kernels overflow float32);
- neural-tangents' TensorFlow import deferred (:mod:`.nt_tensorflow_workaround`).

Why at import, in this ``__init__`` and nowhere else: the deferral only works if it runs
before neural-tangents is first imported, and a package's ``__init__`` is the one piece of
code Python runs before any of its modules, so before any of their (top-level) imports of
neural-tangents. An explicit call from each entry point's ``main`` would come after those
imports, too late. The top-level ``ntk_phases/__init__.py`` keeps no side effects: the
finite-width stack (flax, float32 by default) never imports this package, so it never gets
x64 or the deferral.
"""

from __future__ import annotations

import jax

from . import nt_tensorflow_workaround


def setup() -> None:
    """Float64 jax and neural-tangents without its eager TensorFlow import (idempotent)."""
    jax.config.update("jax_enable_x64", True)
    nt_tensorflow_workaround.defer()


setup()
