"""Work-around: ``import neural_tangents`` (0.6.5) imports TensorFlow.

The package's ``__init__`` runs ``from . import experimental``, and that subpackage is
only the TensorFlow port of the empirical NTK (``jax2tf`` → ``tensorflow``). Every
kernels, metrics, theory and freeze/chaos job paid that import (seconds per process:
``bench/bench_imports.py``) for code none of them uses.

:func:`defer` registers a stand-in for ``neural_tangents.experimental`` before
neural-tangents is first imported. The stand-in imports the real subpackage on first
attribute access and keeps its submodules importable, so nothing of neural-tangents is
lost; it only stops paying for TensorFlow up front. :func:`ntk_phases.analytic.setup` calls
it, before any module of the analytic layer imports neural-tangents.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

NAME = "neural_tangents.experimental"


class _Deferred(types.ModuleType):
    """``neural_tangents.experimental`` until something reads from it."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(_load(), attr)


def _load() -> types.ModuleType:
    """Import the real subpackage in place of the stand-in and return it."""
    stub = sys.modules.get(NAME)
    if isinstance(stub, _Deferred):
        del sys.modules[NAME]
    real = importlib.import_module(NAME)
    parent = sys.modules.get("neural_tangents")
    if parent is not None:
        parent.experimental = real
    return real


def defer() -> bool:
    """Install the stand-in; False where neural-tangents is already imported or absent."""
    if "neural_tangents" in sys.modules or NAME in sys.modules:
        return False
    spec = importlib.util.find_spec("neural_tangents")
    if spec is None or not spec.submodule_search_locations:
        return False
    stub = _Deferred(NAME)
    stub.__path__ = [os.path.join(loc, "experimental") for loc in spec.submodule_search_locations]
    sys.modules[NAME] = stub
    return True
