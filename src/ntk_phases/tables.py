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

#: Columns every ``metrics/infinite_<arch>_<activation>.csv`` holds (SPEC §3); more follow.
INFINITE_COLUMNS: tuple[str, ...] = (
    "arch",
    "activation",
    "dataset",
    "sigma_w2",
    "sigma_b2",
    "depth",
    "lambda_min",
    "lambda_max",
    "kappa",
    "ntk_diag",
    "ntk_offdiag",
    "mean_pred_rms",
    "t",
    "train_acc",
    "test_acc",
)

#: Leading columns of ``theory/phase_<activation>.csv`` (SPEC §3), in order.
PHASE_COLUMNS: tuple[str, ...] = (
    "activation",
    "sigma_w2",
    "sigma_b2",
    "q_star",
    "c_star",
    "chi_1",
    "chi_c",
    "xi_1",
    "xi_c",
    "xi_star",
    "phase",
    "bounded",
)
