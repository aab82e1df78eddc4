"""ntk-phases: trainability and generalization phases of wide networks (NNGP/NTK)."""

from . import nt_tensorflow_workaround

__version__ = "0.1.0"

# neural-tangents would import TensorFlow on import; see nt_tensorflow_workaround.
nt_tensorflow_workaround.defer()
