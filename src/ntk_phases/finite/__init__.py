"""Finite-width networks: NTK-parameterized flax models (:mod:`.models`), vmapped block
training with checkpoints (:mod:`.train`), the empirical NTK (:mod:`.empirical`) and the
experiment recipes (:mod:`.experiments`); ``python -m ntk_phases.finite <cmd>`` runs the
training stage's jobs (:mod:`.__main__`).

jax, flax and optax only: never neural-tangents or TensorFlow (tests/test_import_contracts.py),
so training runs on any jax version. Importing the package loads nothing.
"""
