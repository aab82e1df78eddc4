"""The column and row contracts of the pipeline's tidy tables (SPEC §3): what each kind of
table holds and in which order its rows are written. Producers and tests import them."""

from __future__ import annotations

#: Row order of a merged table of each kind (a stable sort on these columns).
ROW_ORDER: dict[str, tuple[str, ...]] = {
    # metrics/infinite_<arch>_<activation>.csv: kernels chunks of σ_w² (and σ_b²)
    "infinite": ("sigma_b2", "sigma_w2", "depth", "t"),
    # metrics/finite_*.csv: training blocks of depths (and widths)
    "finite": ("arch", "activation", "width", "depth", "sigma_w2", "seed", "step"),
}

#: Leading columns of every finite table (SPEC §3), then the extra ones of ``train``.
FINITE_COLUMNS: tuple[str, ...] = (
    "arch",
    "activation",
    "dataset",
    "width",
    "sigma_w2",
    "sigma_b2",
    "depth",
    "seed",
    "step",
    "train_loss",
    "train_acc",
    "test_acc",
    "status",
)
