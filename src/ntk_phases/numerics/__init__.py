"""NumPy/SciPy numerics of kernels and claims: spectra with a cutoff (:mod:`.spectral`),
predictions and their moments (:mod:`.predictions`), the streaming composition of every kernel
metric (:mod:`.streaming`) and the fitters and tolerance checks of the claims (:mod:`.fits`).

Never imports jax (tests/unit/test_import_contracts.py); importing the package loads nothing.
"""
