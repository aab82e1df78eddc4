"""Architectures described once, as plain data.

``kernels`` turns a description into a neural-tangents ``stax`` network and
``models`` turns the same description into a flax module, so adding an
architecture is one entry in :data:`ARCHITECTURES`.

Conventions shared by both (NTK parameterization):
- depth ``l`` counts hidden layers, each ``[affine(W_std=σ_w, b_std=σ_b), φ]``;
  depth 0 is the linear readout alone;
- ``fcn`` flattens the image first; convolutions are ``kernel_size`` with
  ``padding`` (circular) and stride 1, ``width`` channels;
- readout: ``flatten`` then dense, or global average ``pool`` then dense;
  the readout is ``Dense(n_out, W_std=σ_w, b_std=σ_b)``.

``convention: notebook`` (the authors' companion notebook) uses two other FCNs, both with
a read-in ``Dense(W_std=1, no bias)`` and no readout (:func:`get_architecture` returns
them): ``fcn`` (its F6 cells) has hidden layers ``[Dense, φ]`` and the kernel read after
the last nonlinearity; ``fcn_preact`` (its F3–F5 cells) has hidden layers ``[φ, Dense]``
(``order="activation_first"``), so the kernel is read after the last affine map, i.e. of
the pre-activations, whose fixed points and slopes are the mean-field q*, χ₁, χ_c*.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """A network family: the hidden layer type, its order, the read-in and the readout."""

    name: str
    hidden: str  # "dense" | "conv"
    readout: str  # "flatten" | "pool" | "none" (kernel after the last nonlinearity)
    readin: str = "none"  # "none" | "dense" (Dense(W_std=1, no bias) before the hidden layers)
    # "affine_first": each hidden layer is [affine, φ]; "activation_first": [φ, affine]
    order: str = "affine_first"
    kernel_size: tuple[int, int] = (3, 3)
    padding: str = "CIRCULAR"
    description: str = ""


ARCHITECTURES: dict[str, Architecture] = {
    "fcn": Architecture("fcn", hidden="dense", readout="flatten", description="fully connected"),
    "cnn_f": Architecture(
        "cnn_f",
        hidden="conv",
        readout="flatten",
        description="3x3 circular convolutions, flatten, dense readout",
    ),
    "cnn_p": Architecture(
        "cnn_p",
        hidden="conv",
        readout="pool",
        description="3x3 circular convolutions, global average pooling, dense readout",
    ),
}

#: The architectures of ``convention: notebook`` (the notebook has only FCNs).
NOTEBOOK_ARCHITECTURES: dict[str, Architecture] = {
    "fcn": Architecture(
        "fcn",
        hidden="dense",
        readout="none",
        readin="dense",
        description="the notebook's FCN: read-in Dense(W_std=1, no bias), l x [Dense, φ], no readout",
    ),
    "fcn_preact": Architecture(
        "fcn_preact",
        hidden="dense",
        readout="none",
        readin="dense",
        order="activation_first",
        description="the notebook's F3-F5 FCN: read-in Dense(W_std=1, no bias), l x [φ, Dense], no readout",
    ),
}

CONVENTIONS: tuple[str, ...] = ("ours", "notebook")

ACTIVATIONS: tuple[str, ...] = ("erf", "tanh", "relu")


def get_architecture(name: str, convention: str = "ours") -> Architecture:
    """Look up an architecture by name (and convention), with an error listing the known ones."""
    table = {"ours": ARCHITECTURES, "notebook": NOTEBOOK_ARCHITECTURES}.get(convention)
    if table is None:
        raise ValueError(f"unknown convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown architecture {name!r} for convention {convention!r}; known: {known}") from None
