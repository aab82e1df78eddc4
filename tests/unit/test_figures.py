"""Figures a reader of the paper recognizes, on synthetic tidy tables: F4's ordered-phase
overlays carry C2's polynomial factor, F5 draws single entries of P(Θ)Y and nothing where
Θ is singular, F6/F6_mean/F7 draw the measured depth-scale law (C9) next to 8ξ, F8's
infinite row is one setting (and says which), F12's lower panels carry the key of the
panel above them."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from matplotlib.collections import QuadMesh  # noqa: E402

from ntk_phases.__main__ import main  # noqa: E402
from ntk_phases.claims import c9  # noqa: E402
from ntk_phases.figures import finite as FF  # noqa: E402
from ntk_phases.figures import freeze_chaos as FC  # noqa: E402
from ntk_phases.figures import infinite as FI  # noqa: E402
from ntk_phases.figures import panels, style  # noqa: E402

CFG = {"chaotic_sigma_w2": 2.5, "ordered_sigma_w2": 1.0, "n_train": 16}
SINGULAR_FROM = 30


def infinite_table(act: str = "erf", entries: bool = True) -> pd.DataFrame:
    """A synthetic ``metrics/infinite_fcn_<act>.csv``: mean-field-shaped kernels over
    σ_w² 0.5-3 (critical at 1.75), depths 0-60; the ordered point's Θ is singular from
    depth 30 on (where its mean predictor then "collapses", as the pseudo-inverse makes
    it); accuracies fall at 4ξ (network) and 6ξ (mean predictor). With ``entries``, the
    single entries of P(Θ)Y (fake values settling to constants)."""
    rows = []
    depths = np.arange(0, 61, 2)
    for sw in (0.5, 0.75, 1.0, 1.25, 1.5, 1.65, 2.0, 2.25, 2.5, 2.75, 3.0):
        chi1 = sw / 1.75
        ordered = chi1 < 1
        chic = chi1 if ordered else 0.7 * chi1**-0.5
        xi1 = 1 / abs(np.log(chi1)) if ordered else np.inf
        xis = np.inf if ordered else 1 / (np.log(chi1) - np.log(chic))
        xi = xi1 if ordered else xis
        q = 0.5 * sw
        for t in (1.0, 4096.0):
            for d in depths:
                sing = ordered and sw == 1.0 and d >= SINGULAR_FROM
                lam_min = max(d, 1) * chi1**d if ordered else chi1**d
                step = lambda a: 0.1 + 0.8 / (1 + np.exp((d - a * xi) / 0.5))  # noqa: E731
                row = {
                    "arch": "fcn",
                    "activation": act,
                    "dataset": "synthetic",
                    "sigma_w2": sw,
                    "sigma_b2": 0.18,
                    "depth": d,
                    "t": t,
                    "lambda_min": max(lam_min, 1e-13),
                    "lambda_max": 16 * q / (1 - min(chi1, 0.9)),
                    "singular": sing,
                    "ntk_diag": q / (1 - min(chi1, 0.9)) * (chi1**d if not ordered else 1),
                    "ntk_offdiag": q,
                    "mean_pred_rms": 1e-15 if sing else 0.3 * max(d, 1) * (chic / chi1) ** d,
                    "q_star": q,
                    "c_star": 1.0 if ordered else 0.5,
                    "chi_1": chi1,
                    "chi_c": chic,
                    "xi_1": xi1,
                    "xi_c": 1 / abs(np.log(chic)),
                    "xi_star": xis,
                    "phase": "ordered" if ordered else "chaotic",
                    "train_acc": step(4) if ordered else 1.0,
                    "test_acc": 0.9 if ordered else step(4),
                    "train_acc_mean": step(6) if ordered else 1.0,
                    "test_acc_mean": 0.9 if ordered else step(6),
                }
                row["kappa"] = row["lambda_max"] / row["lambda_min"]
                if entries:
                    for k in range(4):
                        row[f"mean_pred_entry_{k}"] = (0.2 * k - 0.1) + 0.3 * np.exp(-d / 5) * (-1) ** k
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _style():
    style.setup()
    yield
    matplotlib.pyplot.close("all")


def _legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


# ----------------------------------------------------------------------------- F4, F5


def test_f4_ordered_overlays_carry_the_polynomial_factor():
    fig = FI.f4({("fcn", "erf"): infinite_table("erf"), ("fcn", "relu"): infinite_table("relu")}, CFG)
    texts = {i: _legend_texts(fig.axes[i]) for i in (1, 3)}  # ordered panels: erf, relu
    assert r"$\propto l\,\chi_1^{l}$ (C2)" in texts[0 + 1]
    assert r"$\propto 1/(l\,\chi_1^{l})$ (C2)" in texts[1]
    assert r"$\propto\chi_1^{l/2}$ (C2)" in texts[3] and r"$\propto\chi_1^{-l/2}$ (C2)" in texts[3]
    # the λ_min overlay is l χ₁^l: its ratio to χ₁^l grows like l
    ax = fig.axes[1]
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith(r"$\propto l"))
    d, y = line.get_xdata(), line.get_ydata()
    chi1 = 1.0 / 1.75
    ratio = y / chi1**d
    assert np.allclose(ratio[d >= 1] / d[d >= 1], ratio[-1] / d[-1])


def test_f5_ordered_entries_stop_at_the_first_singular_depth():
    fig = FI.f5({("fcn", "erf"): infinite_table()}, CFG)
    chaotic, ordered = fig.axes[0], fig.axes[1]
    assert chaotic.get_yscale() == "log" and ordered.get_yscale() == "linear"
    entries = [ln for ln in ordered.get_lines() if ln.get_label().startswith("test point")]
    assert len(entries) == 4
    for ln in entries:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        assert np.isnan(y[x >= SINGULAR_FROM]).all()  # no line where Θ is singular
        assert np.all(np.abs(y[x < SINGULAR_FROM]) > 1e-3)  # no collapse drawn
    # the singular depths are shaded and say so
    spans = [p for p in ordered.patches if "singular" in p.get_label()]
    assert len(spans) == 1
    assert any("singular" in t for t in _legend_texts(ordered))
    assert any(r"\chi_{c^*}/\chi_1" in t for t in _legend_texts(chaotic))


def test_f5_falls_back_to_the_rms_without_entry_columns():
    fig = FI.f5({("fcn", "erf"): infinite_table(entries=False)}, CFG)
    ordered = fig.axes[1]
    lines = [ln for ln in ordered.get_lines() if "rms" in ln.get_label()]
    assert len(lines) == 1
    x, y = np.asarray(lines[0].get_xdata(), float), np.asarray(lines[0].get_ydata(), float)
    assert np.isnan(y[x >= SINGULAR_FROM]).all() and np.all(y[x < SINGULAR_FROM] > 1e-3)
    # entry columns present but empty (NaN): also the fallback
    t = infinite_table()
    t["mean_pred_entry_0"] = np.nan
    assert FI.mean_pred_entries(t) == [f"mean_pred_entry_{k}" for k in (1, 2, 3)]
    assert FI.mean_pred_entries(infinite_table(entries=False)) == []


# ----------------------------------------------------------------------------- F6, F6_mean


def _fitted_a(texts: list[str]) -> list[float]:
    return [float(t.split("$")[1].split("\\")[0]) for t in texts if t.startswith("fit $")]


def _fit_lines(ax):
    return [ln for ln in ax.get_lines() if ln.get_color() == panels.FIT_COLOUR]


def test_f6_draws_the_fitted_law_next_to_8xi():
    table = infinite_table()
    fig = FI.f6({("fcn", "erf"): table}, CFG, "network", 0.1)
    ax = fig.axes[0]  # erf train, t = 1: the legend
    texts = _legend_texts(ax)
    assert _fitted_a(texts) == pytest.approx([4.0, 4.0], abs=0.1), texts  # a = 4 (synthetic)
    assert any("8\\xi_1" in t for t in texts)
    assert len(_fit_lines(ax)) == 2  # ordered and chaotic
    assert any(isinstance(c, QuadMesh) for c in ax.collections)
    # the same numbers as the claims rows
    fits = c9.depth_scale_fits(c9.infinite_law_frame(table), c9.predictor_columns("network"), 0.1)
    rows = pd.DataFrame(c9.c9_claims({("fcn", "erf"): table}, [], 0.1))
    net = rows[rows["quantity"].str.contains("true network")]
    assert np.allclose(sorted(net["measured"]), sorted(f["a"] for _, f in fits.values()))
    # measured boundaries marked on the last-t panels (train: ordered; test: chaotic)
    n_t = 2
    last_train, last_test = fig.axes[n_t - 1], fig.axes[2 * n_t - 1]
    for ax, phase in ((last_train, "ordered"), (last_test, "chaotic")):
        pts = [c for c in ax.collections if c.get_offsets().shape[0] and not isinstance(c, QuadMesh)]
        resolved = fits[phase][1]["resolved"]
        assert any(len(c.get_offsets()) == resolved for c in pts)


def test_f6_title_names_the_predictor_of_the_convention():
    """Under convention notebook the F6 columns hold the noise-free mean's accuracies (no
    f0): the title must not call them the true network's."""
    table = infinite_table()
    ours = FI.f6({("fcn", "erf"): table}, CFG, "network", 0.1)._suptitle.get_text()
    nb = FI.f6({("fcn", "erf"): table}, CFG, "network", 0.1, convention="notebook")._suptitle.get_text()
    assert "random initial function" in ours and "noise-free mean" not in ours
    assert "noise-free mean" in nb and "random initial function" not in nb


def test_f6_mean_uses_the_mean_columns_contours_and_the_notebook_test_scale():
    table = infinite_table()
    fig = FI.f6_mean({("fcn", "erf"): table}, CFG, 0.1, test_vmax=0.35)
    ax = fig.axes[0]
    texts = _legend_texts(ax)
    assert _fitted_a(texts) == pytest.approx([6.0, 6.0], abs=0.15), texts  # mean predictor: a = 6
    assert not any(isinstance(c, QuadMesh) for c in ax.collections)  # filled contours
    # two colour bars: train 0-1, test 0-0.35
    bars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(bars) == 2
    assert max(b.get_ylim()[1] for b in bars) == pytest.approx(1.0)
    assert min(b.get_ylim()[1] for b in bars) == pytest.approx(0.35)
    assert "F6_mean" in fig._suptitle.get_text()


def test_f6_mean_entry_point_writes_pdf_png_and_provenance(tmp_path):
    path = tmp_path / "infinite_fcn_erf.csv"
    infinite_table().to_csv(path, index=False)
    data = tmp_path / "digits.json"
    data.write_text(json.dumps({"n_classes": 10}))
    out = [tmp_path / "F6_mean.pdf", tmp_path / "F6_mean.png"]
    rc = main(
        [
            "figures",
            "infinite",
            "--figure",
            "F6_mean",
            "--tables",
            str(path),
            "--data-json",
            str(data),
            "--config-json",
            json.dumps(CFG),
            "--dpi",
            "40",
            "--out",
            *map(str, out),
        ]
    )
    assert rc == 0 and all(p.stat().st_size > 1000 for p in out)
    assert all((tmp_path / (p.name + ".prov.json")).exists() for p in out)
    out5 = [tmp_path / "F5.pdf", tmp_path / "F5.png"]
    assert (
        main(
            [
                "figures",
                "infinite",
                "--figure",
                "F5",
                "--tables",
                str(path),
                "--config-json",
                json.dumps(CFG),
                "--dpi",
                "40",
                "--out",
                *map(str, out5),
            ]
        )
        == 0
    )


# ----------------------------------------------------------------------------- F7


def test_f7_draws_the_law_measured_on_the_trained_grid():
    rows, ov = [], []
    sws = np.linspace(0.5, 3.0, 6)
    for sw in sws:
        ordered = sw < 1.75
        xi = 1.0 / abs(np.log(sw / 1.75))
        ov.append(
            {
                "sigma_w2": sw,
                "xi_1": xi if ordered else np.inf,
                "xi_star": np.inf if ordered else xi,
                "phase": "ordered" if ordered else "chaotic",
                "chi_1": sw / 1.75,
            }
        )
        for d in (1, 4, 8, 16, 24, 32):
            acc = 0.1 + 0.8 / (1 + np.exp((d - 5.0 * xi) / 0.5))
            for step in (16, 256):
                for seed in (0, 1):
                    rows.append(
                        {
                            "arch": "fcn",
                            "activation": "erf",
                            "width": 64,
                            "sigma_w2": sw,
                            "sigma_b2": 0.18,
                            "depth": d,
                            "seed": seed,
                            "step": step,
                            "train_acc": acc if ordered else 1.0,
                            "test_acc": 0.9 if ordered else acc,
                            "train_loss": 0.1,
                            "status": "ok",
                        }
                    )
    fig = FF.plot_f7([pd.DataFrame(rows)], [pd.DataFrame(ov)], [16, 256])
    texts = _legend_texts(fig.axes[0])
    assert any("fit" in t for t in texts) and any("8\\xi_1" in t for t in texts), texts
    assert _fit_lines(fig.axes[0])


# ----------------------------------------------------------------------------- F8


def _f8_tables(**changed) -> dict:
    """F8's infinite row: the synthetic table as fcn, cnn_f and cnn_p at one setting
    (16 train / 8 test examples); ``changed`` maps an architecture to a function that
    alters its table."""
    out = {}
    for arch in ("fcn", "cnn_f", "cnn_p"):
        frame = infinite_table().assign(arch=arch, n_train=16, n_test=8)
        out[(arch, "erf")] = changed.get(arch, lambda f: f)(frame)
    return out


def test_f8_states_the_one_setting_of_its_infinite_row():
    fig = FI.f8(_f8_tables(), {})
    title = fig._suptitle.get_text()
    assert "n_train = 16, n_test = 8" in title and "σ_w² = 0.5–3 (11 values)" in title, title
    assert "depths 0–60" in title and "σ_b² = 0.18" in title, title
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(panels) == 3 and all("n_train = 16, n_test = 8" in a.get_title() for a in panels)


@pytest.mark.parametrize(
    "field,change",
    [
        ("n_train", lambda f: f.assign(n_train=32)),
        ("n_test", lambda f: f.assign(n_test=4)),
        ("sigma_w2", lambda f: f[f["sigma_w2"] != 3.0]),
        ("depths", lambda f: f[f["depth"] <= 24]),
    ],
)
def test_f8_refuses_infinite_tables_of_different_settings(field, change):
    with pytest.raises(ValueError, match=f"differ in {field}: .*cnn_p/erf"):
        FI.f8(_f8_tables(cnn_p=change), {})


def test_f8_takes_the_examples_of_tables_without_those_columns_from_the_config():
    old = _f8_tables(cnn_p=lambda f: f.drop(columns=["n_train", "n_test"]))
    assert FI.shared_setting(old, {"n_train": 16, "n_test": 8})["n_train"] == 16
    with pytest.raises(ValueError, match="n_train"):
        FI.shared_setting(old, {"n_train": 32, "n_test": 8})


# ----------------------------------------------------------------------------- F12


def _analytic() -> pd.DataFrame:
    rows = []
    variants = (
        [("bias", f"relu_b{b:g}", "relu", 2.0, b) for b in (0, 0.5, 2)]
        + [("bias_vp", "relu_vp_b0.5", "relu", 1.0, 0.5)]
        + [("erf", f"erf_w{w:g}", "erf", w, 0.05) for w in (1.0, 2.5, 4.0)]
        + [("norm", v, "relu", 2.0, 0.1) for v in ("relu_plain", "relu_centred", "relu_layernorm")]
    )
    for fam, v, act, sw, sb in variants:
        for d in range(1, 11):
            rows.append(
                {
                    "variant": v,
                    "family": fam,
                    "activation": act,
                    "sigma_w2": sw,
                    "sigma_b2": sb,
                    "depth": d,
                    "rho_mean": 0.5,
                    "rho_std": 0.1,
                    "kappa": 10.0 * d,
                    "mean_pred_rms": 0.1 / d,
                    "test_acc": 0.5,
                    "t": 4096.0,
                    "pred_rate": np.nan,
                    "pred_poly": 0.0,
                    "pred_regime": "chaos",
                }
            )
    return pd.DataFrame(rows)


def test_f12_each_lower_panel_has_the_key_of_its_column():
    fig = FC.figure_f12(_analytic(), None)
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    bars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(panels) == 12
    assert len(bars) == 8  # bias and erf columns: one colour bar beside each of their 4 panels
    grid = np.array(panels).reshape(4, 3)
    for ax in grid[1:, 0]:  # bias: colour bar + line-style legend
        assert any("critical" in t for t in _legend_texts(ax))
    for ax in grid[1:, 2]:  # norm variants: their legend
        assert set(_legend_texts(ax)) == {"plain", "centred", "layernorm"}
    # a column's panels show only its family
    assert len(grid[1, 1].get_lines()) == 3 and len(grid[1, 2].get_lines()) == 3
