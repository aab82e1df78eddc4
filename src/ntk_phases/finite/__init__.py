"""Finite-width networks: NTK-parameterized flax models (:mod:`.models`), vmapped block
training with checkpoints (:mod:`.train`), the empirical NTK (:mod:`.empirical`) and the
experiments (:mod:`.recipes`: what each trains, numpy only; :mod:`.experiments`: the
training; :mod:`.batchnorm`: the freeze/chaos BatchNorm NTKs). The jobs are
``python -m ntk_phases training train`` (:mod:`ntk_phases.stages.training`) and its siblings.

jax, flax and optax only: never neural-tangents or TensorFlow (tests/unit/test_import_contracts.py),
so training runs on any jax version. Importing the package loads nothing.
"""
