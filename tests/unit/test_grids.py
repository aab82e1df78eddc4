"""The one value-grid definition (``ntk_phases.config.grid``) against numpy.linspace, bit for bit:
the kernels jobs (through the Snakefile) and the training jobs (``finite.experiments``) must
train and compute at the same σ_w² floats."""

import numpy as np
import pytest

from ntk_phases import config


@pytest.mark.parametrize(
    "spec",
    [
        {"min": 0.5, "max": 3.0, "num": 40},
        {"min": 0.05, "max": 3.0, "num": 48},
        {"min": 0.01, "max": 0.25, "num": 241},
        {"min": 0.5, "max": 3.0, "num": 21},
        {"min": 1.0, "max": 2.5, "num": 3},
        {"min": 0.7, "max": 0.7, "num": 1},
    ],
)
def test_grid_is_numpy_linspace_bit_for_bit(spec):
    expected = np.linspace(spec["min"], spec["max"], spec["num"])
    assert np.array_equal(np.asarray(config.grid(spec)), expected)


def test_explicit_values_lists_and_numbers():
    assert config.grid({"values": [1, 2.5]}) == [1.0, 2.5]
    assert config.grid([0.5, 1]) == [0.5, 1.0]
    assert config.grid(2) == [2.0]
    assert config.grid(1.5) == [1.5]
