"""ntk-phases: trainability and generalization phases of wide networks (NNGP/NTK)."""

__version__ = "0.1.0"
