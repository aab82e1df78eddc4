"""Finite-width training stage (its end-to-end run: tests/workflow/test_finite_stage.py):
the training entry point (no neural-tangents, divergence rows, kill + restart resumes
identically, checkpoints removed), and the discrete-time infinite-width predictions."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import run_env
from ntk_phases import config
from ntk_phases import data as data_mod
from ntk_phases.__main__ import main
from ntk_phases.claims import c6_c7, schema
from ntk_phases.data import class_centred_targets
from ntk_phases.finite import experiments
from ntk_phases.finite import recipes as E
from ntk_phases.numerics import predictions
from ntk_phases.stages import EXIT_INTERRUPTED

# Runs an entry point with neural-tangents and tensorflow made unimportable: the training
# job must never need them (SPEC §4).
BLOCKED = (
    "import sys\n"
    "for m in ('neural_tangents', 'tensorflow', 'ntk_phases.kernels'):\n"
    "    sys.modules[m] = None\n"
    "from ntk_phases.__main__ import main\n"
    "sys.exit(main(['training', *sys.argv[1:]]))\n"
)


# ----------------------------------------------------------------------------- entry point


GRID_CFG = {
    "sigma_w2": {"values": [1.0, 2.0]},
    "sigma_b2": 0.1,
    "depths": [2],
    "seeds": [0, 1],
    "width": 16,
    "n_steps": 60,
    "n_record": 6,
    "figure_steps": [5],
    "lr_factor": 0.5,
    "batch_size": None,
    "momentum": 0.0,
}
#: The training options every training job gets (the schema's defaults); tests override some.
TRAIN_COMMON = {
    "dtype": "float32",
    "precision": "highest",
    "model_batch_size": "auto",
    "eval_batch_size": None,
    "checkpoint_every": 100,
    "log_every": 100,
    "max_minutes": None,
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    arrays, meta = data_mod.prepare("digits", 24, 16, seed=3, convention="ours")
    data_mod.save(arrays, meta, str(folder / "d.npz"), str(folder / "d.json"))
    return folder / "d.npz"


def _lr_csv(path: Path, cfg: dict, learning_rate: float) -> Path:
    rows = [
        {
            "arch": "fcn",
            "activation": "erf",
            "depth": d,
            "sigma_w2": float(s),
            "sigma_b2": cfg["sigma_b2"],
            "learning_rate": learning_rate,
        }
        for s in config.grid(cfg["sigma_w2"])
        for d in cfg["depths"]
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _train_cmd(
    folder: Path,
    data: Path,
    cfg: dict,
    lr: Path,
    common: dict,
    *extra: str,
    depths: list | None = None,
    checkpoint: str = "ck.pkl",
):
    depths = [cfg["depths"][0]] if depths is None else depths
    return [
        sys.executable,
        "-c",
        BLOCKED,
        "train",
        "--experiment",
        "grid",
        "--arch",
        "fcn",
        "--activation",
        "erf",
        "--depth",
        *map(str, depths),
        "--data",
        str(data),
        "--dataset",
        "digits",
        "--lr",
        str(lr),
        "--config-json",
        json.dumps(cfg),
        "--common-json",
        json.dumps({**TRAIN_COMMON, **common}),
        "--checkpoint",
        str(folder / checkpoint),
        "--out",
        str(folder / "out.csv"),
        *extra,
    ]


def _run(cmd, timeout=300):
    env = run_env()
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _assert_same_table(a: Path, b: Path):
    fa, fb = pd.read_csv(a), pd.read_csv(b)
    pd.testing.assert_frame_equal(fa, fb, check_exact=True)


def test_huge_learning_rate_gives_diverged_rows(tmp_path, tiny_data):
    lr = _lr_csv(tmp_path / "lr.csv", GRID_CFG, 1e4)
    proc = _run(_train_cmd(tmp_path, tiny_data, GRID_CFG, lr, {"checkpoint_every": 20}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    frame = pd.read_csv(tmp_path / "out.csv")
    last = frame[frame["step"] == frame["step"].max()]
    assert (last["status"] == "diverged").all()
    assert last[["train_loss", "train_acc", "test_acc"]].isna().all().all()
    assert (frame.loc[frame["step"] == 0, "status"] == "ok").all()  # fine at initialization
    assert not (tmp_path / "ck.pkl").exists()


def test_kill_and_restart_resumes_with_identical_rows(tmp_path, tiny_data):
    cfg = {**GRID_CFG, "n_steps": 4000, "n_record": 12}
    common = {"checkpoint_every": 100, "log_every": 1000}
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    lr = _lr_csv(tmp_path / "lr.csv", cfg, 2e-3)
    ref = _run(_train_cmd(ref_dir, tiny_data, cfg, lr, common))
    assert ref.returncode == 0, ref.stderr[-3000:]

    env = run_env()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.Popen(
        _train_cmd(run_dir, tiny_data, cfg, lr, common), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt = run_dir / "ck.pkl"
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert ckpt.exists() and not (run_dir / "out.csv").exists()
    from ntk_phases.finite.train import load_checkpoint

    step = int(load_checkpoint(ckpt)["step"])
    assert 0 < step < cfg["n_steps"]

    again = _run(_train_cmd(run_dir, tiny_data, cfg, lr, common))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"from step {step}" in again.stderr, again.stderr[-2000:]
    _assert_same_table(ref_dir / "out.csv", run_dir / "out.csv")
    assert not ckpt.exists()


def test_time_limited_job_exits_3_and_a_rerun_resumes(tmp_path, tiny_data):
    lr = _lr_csv(tmp_path / "lr.csv", GRID_CFG, 2e-3)
    common = {"checkpoint_every": 20}
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = _run(_train_cmd(ref_dir, tiny_data, GRID_CFG, lr, common))
    assert ref.returncode == 0, ref.stderr[-3000:]
    stopped = _run(_train_cmd(tmp_path, tiny_data, GRID_CFG, lr, common, "--stop-after-step", "40"))
    assert stopped.returncode == EXIT_INTERRUPTED, stopped.stderr[-3000:]
    assert (tmp_path / "ck.pkl").exists() and not (tmp_path / "out.csv").exists()
    resumed = _run(_train_cmd(tmp_path, tiny_data, GRID_CFG, lr, common))
    assert resumed.returncode == 0 and "resumed" in resumed.stderr
    _assert_same_table(ref_dir / "out.csv", tmp_path / "out.csv")


def test_stale_checkpoint_of_another_configuration_is_replaced(tmp_path, tiny_data):
    lr = _lr_csv(tmp_path / "lr.csv", GRID_CFG, 2e-3)
    common = {"checkpoint_every": 20}
    stopped = _run(_train_cmd(tmp_path, tiny_data, GRID_CFG, lr, common, "--stop-after-step", "20"))
    assert stopped.returncode == EXIT_INTERRUPTED and (tmp_path / "ck.pkl").exists()
    changed = {**GRID_CFG, "n_steps": 30}  # the config changed before the rerun
    proc = _run(_train_cmd(tmp_path, tiny_data, changed, lr, common))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "belongs to another run" in proc.stderr
    assert pd.read_csv(tmp_path / "out.csv")["step"].max() == 30
    assert not (tmp_path / "ck.pkl").exists()


def test_job_of_several_depths_resumes_from_per_depth_checkpoints(tmp_path, tiny_data):
    """A job training depths 1 and 2 in one process: its table is the two one-depth jobs'
    rows; stopped inside depth 2, the rerun takes depth 1 from its (rows-only) finished
    checkpoint, resumes depth 2 from its own, and writes the same table."""
    cfg = {**GRID_CFG, "depths": [1, 2]}
    common = {"checkpoint_every": 20}
    lr = _lr_csv(tmp_path / "lr.csv", cfg, 2e-3)
    pattern = "ck_d{depth}.pkl"
    dirs = {k: tmp_path / k for k in ("d1", "d2", "ref", "run")}
    for d in dirs.values():
        d.mkdir()
    for depth in (1, 2):
        one = _run(_train_cmd(dirs[f"d{depth}"], tiny_data, cfg, lr, common, depths=[depth]))
        assert one.returncode == 0, one.stderr[-3000:]
    ref = _run(_train_cmd(dirs["ref"], tiny_data, cfg, lr, common, depths=[1, 2], checkpoint=pattern))
    assert ref.returncode == 0, ref.stderr[-3000:]
    merged = pd.concat([pd.read_csv(dirs[f"d{d}"] / "out.csv") for d in (1, 2)], ignore_index=True)
    pd.testing.assert_frame_equal(merged, pd.read_csv(dirs["ref"] / "out.csv"), check_exact=True)
    assert not list(dirs["ref"].glob("*.pkl"))

    # a kill 80 steps into the job: depth 1 (60 steps) done, depth 2 at step 20
    run = dirs["run"]
    stopped = _run(
        _train_cmd(run, tiny_data, cfg, lr, common, "--stop-after-step", "80", depths=[1, 2], checkpoint=pattern)
    )
    assert stopped.returncode == EXIT_INTERRUPTED, stopped.stderr[-3000:]
    assert not (run / "out.csv").exists()
    from ntk_phases.finite.train import load_checkpoint

    done, partial = load_checkpoint(run / "ck_d1.pkl"), load_checkpoint(run / "ck_d2.pkl")
    assert done["step"] == cfg["n_steps"] and done["state_leaves"] is None and done["rows"]
    assert partial["step"] == 20 and partial["state_leaves"] is not None
    again = _run(_train_cmd(run, tiny_data, cfg, lr, common, depths=[1, 2], checkpoint=pattern))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "ck_d1.pkl is finished" in again.stderr and "from step 20" in again.stderr
    _assert_same_table(dirs["ref"] / "out.csv", run / "out.csv")
    assert not list(run.glob("*.pkl"))

    # several blocks need a checkpoint per block
    clash = _run(_train_cmd(run, tiny_data, cfg, lr, common, depths=[1, 2]))
    assert clash.returncode != 0 and "pattern" in clash.stderr


def test_record_schedule_includes_figure_steps():
    steps = experiments.record_schedule(100, 5, [7, 500])
    assert steps[0] == 0 and steps[-1] == 100 and 7 in steps and 500 not in steps


def test_learning_rate_lookup_is_strict():
    lr = pd.DataFrame(
        {
            "arch": ["fcn"] * 2,
            "activation": ["erf"] * 2,
            "depth": [2, 2],
            "sigma_w2": [1.0, 2.0],
            "sigma_b2": [0.1, 0.1],
            "learning_rate": [0.1, 0.2],
        }
    )
    assert np.allclose(E.select_learning_rates(lr, "fcn", "erf", 2, [2.0, 1.0], 0.1), [0.2, 0.1])
    with pytest.raises(ValueError, match="learning-rate table"):
        E.select_learning_rates(lr, "fcn", "erf", 3, [1.0], 0.1)


def test_architectures_experiment_reads_its_own_section_and_subset():
    section = {
        "sigma_w2": {"min": 0.5, "max": 3.0, "num": 5},
        "sigma_b2": 0.18,
        "depths": [1, 4],
        "n_train": 3,
        "n_test": None,
    }
    c = E.experiment_configs("architectures", section, "cnn_p", "erf")
    assert c["arch"] == "cnn_p" and c["activation"] == "erf" and c["depths"] == [1, 4]
    assert np.allclose(c["sigma_w2"], [0.5, 1.125, 1.75, 2.375, 3.0]) and c["sigma_b2"] == 0.18
    arrays = {"x_train": np.arange(10.0), "y_train": np.arange(10), "x_test": np.arange(4.0), "y_test": np.arange(4)}
    sub = E.experiment_data("architectures", section, arrays)
    assert list(sub["y_train"]) == [0, 1, 2] and len(sub["x_test"]) == 4  # n_test null: all
    # the grid trains on its data file whole, whatever keys its section carries
    assert E.experiment_data("grid", section, arrays) is arrays


def _f8_tables():
    """Synthetic F8 inputs: infinite-width tables (fcn, cnn_f), trained tables (fcn, cnn_p)
    and one depth-scale overlay per trained table."""
    sw, depths = [0.5, 1.75, 3.0], [1, 4]
    inf = pd.DataFrame(
        [
            {
                "arch": a,
                "activation": "erf",
                "sigma_w2": s,
                "sigma_b2": 0.18,
                "depth": d,
                "t": 64.0,
                "test_acc": 0.5,
                "xi_1": 2.0,
                "xi_star": 3.0,
            }
            for a in ("fcn", "cnn_f")
            for s in sw
            for d in depths
        ]
    )
    fin = pd.DataFrame(
        [
            {
                "arch": a,
                "activation": "erf",
                "width": 8,
                "sigma_w2": s,
                "sigma_b2": 0.18,
                "depth": d,
                "seed": 0,
                "step": st,
                "test_acc": 0.4,
                "status": "diverged" if (s, d) == (3.0, 4) else "ok",
                "batch_size": 16,
            }
            for a in ("fcn", "cnn_p")
            for s in sw
            for d in depths
            for st in (0, 8)
        ]
    )
    ov = pd.DataFrame({"sigma_w2": np.linspace(0.4, 3.1, 20)})
    ov["chi_1"] = ov["sigma_w2"] / 1.76
    ov["phase"] = np.where(ov["chi_1"] < 1, "ordered", "chaotic")
    ov["xi_1"], ov["xi_star"] = 1.0 / np.abs(np.log(ov["chi_1"])), 2.0
    key = lambda f, a: f[f["arch"] == a].reset_index(drop=True)  # noqa: E731
    return (
        {(a, "erf"): key(inf, a) for a in ("fcn", "cnn_f")},
        {(a, "erf"): key(fin, a) for a in ("fcn", "cnn_p")},
        {(a, "erf"): ov for a in ("fcn", "cnn_p")},
    )


def test_f8_adds_a_finite_row_only_when_something_was_trained(tmp_path):
    from ntk_phases.figures import infinite as FI

    tables, finite, overlays = _f8_tables()
    assert FI.f8_rows(tables, finite) == (["fcn", "cnn_f", "cnn_p"], [("infinite", "erf"), ("finite", "erf")])
    assert FI.f8_rows(tables, {}) == (["fcn", "cnn_f"], [("infinite", "erf")])
    cfg = {"architectures": {"fcn": {"n_train": 32}}, "finite": {"fcn": {"n_train": 16}}}
    fig = FI.f8(tables, cfg, finite, overlays)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 6
    visible = [ax.axison for ax in axes]
    # top: fcn, cnn_f infinite (no cnn_p kernels); bottom: fcn, cnn_p trained (no cnn_f)
    assert visible == [True, True, False, True, False, True]
    assert "width 8, n_train = 16, batch 16" in axes[3].get_title()
    assert "channels 8, n_train = all" in axes[5].get_title()

    # the entry point: provenance lists every table, F8 builds with no trained tables too
    paths = {}
    for name, frame in [
        ("inf_fcn", tables[("fcn", "erf")]),
        ("fin_fcn", finite[("fcn", "erf")]),
        ("ov_fcn", overlays[("fcn", "erf")]),
    ]:
        paths[name] = str(tmp_path / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    out = [str(tmp_path / "F8.pdf"), str(tmp_path / "F8.png")]
    common = [
        "figures",
        "infinite",
        "--figure",
        "F8",
        "--tables",
        paths["inf_fcn"],
        "--config-json",
        json.dumps(cfg),
        "--dpi",
        "40",
        "--out",
        *out,
    ]
    assert main(common + ["--finite", paths["fin_fcn"], "--overlays", paths["ov_fcn"]]) == 0
    inputs = json.loads(Path(out[1] + ".prov.json").read_text())["inputs"]
    assert set(inputs) == {paths["inf_fcn"], paths["fin_fcn"], paths["ov_fcn"]}
    assert main(common + ["--finite", "--overlays"]) == 0
    assert list(json.loads(Path(out[1] + ".prov.json").read_text())["inputs"]) == [paths["inf_fcn"]]


# ----------------------------------------------------------------------------- infinite width


def _kernels(n=6, m=3, seed=0):
    """A random PSD joint NNGP K and NTK Θ over n train + m test points."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n + m, n + m + 2))
    k = a @ a.T / (n + m) + 0.1 * np.eye(n + m)
    b = rng.normal(size=(n + m, n + m + 2))
    theta = k + b @ b.T / (n + m)
    y = class_centred_targets(np.eye(3)[rng.integers(0, 3, n)]).astype(float)
    return k, theta, y, n, m


def test_linearized_prediction_is_discrete_gradient_descent():
    k, theta, y, n, m = _kernels()
    rng = np.random.default_rng(1)
    f0 = rng.normal(size=(n + m, 3))
    eta = 1.0 / np.linalg.eigvalsh(theta[:n, :n])[-1]
    steps = [0, 1, 5, 17]
    pred = predictions.linearized_prediction(theta[:n, :n], theta[n:, :n], y, f0[:n], f0[n:], eta, steps)
    f = f0.copy()
    for t in range(max(steps) + 1):
        if t in steps:
            i = steps.index(t)
            assert np.allclose(pred["train"][i], f[:n], atol=1e-12)
            assert np.allclose(pred["test"][i], f[n:], atol=1e-12)
        f = f - eta * theta[:, :n] @ (f[:n] - y)


def test_gradient_descent_moments_match_sampled_initial_functions():
    k, theta, y, n, m = _kernels(seed=2)
    eta = 0.8 / np.linalg.eigvalsh(theta[:n, :n])[-1]
    steps = [3, 40]
    mom = predictions.predictive_moments(
        theta[:n, :n], theta[n:, :n], k[:n, :n], k[n:, :n], np.diag(k)[n:], y, steps, learning_rate=eta, dynamics="gd"
    )
    # the mean is the prediction from f0 = 0
    zero = predictions.linearized_prediction(
        theta[:n, :n], theta[n:, :n], y, np.zeros((n, 3)), np.zeros((m, 3)), eta, steps
    )
    assert np.allclose(mom["test_mean"], zero["test"]) and np.allclose(mom["train_mean"], zero["train"])
    # variance: Monte Carlo over f0 ~ GP(0, K) ⊗ I_C
    rng = np.random.default_rng(3)
    chol = np.linalg.cholesky(k)
    f0 = np.einsum("ij,sjc->sic", chol, rng.normal(size=(20000, n + m, 3)))
    pred = predictions.linearized_prediction(theta[:n, :n], theta[n:, :n], y, f0[:, :n], f0[:, n:], eta, steps)
    assert np.allclose(pred["test"].var(axis=0).mean(-1), mom["test_var"], rtol=0.05)
    assert np.allclose(pred["train"].var(axis=0).mean(-1), mom["train_var"], rtol=0.05, atol=1e-6)
    # expected loss matches the sampled mean loss
    loss = 0.5 * np.mean(np.sum((pred["test"] - 0) ** 2, -1), -1)  # against y = 0
    assert np.allclose(
        loss.mean(0), predictions.expected_loss(mom["test_mean"], mom["test_var"], np.zeros((m, 3))), rtol=0.05
    )


# ----------------------------------------------------------------------------- claims


def _mem_frame(chaotic_train, chaotic_test, ordered_test):
    rows = []
    for sw, tr, te in ((25.0, chaotic_train, chaotic_test), (0.5, 1.0, ordered_test)):
        for seed in (0, 1):
            rows.append(
                {
                    "arch": "fcn",
                    "activation": "erf",
                    "width": 256,
                    "sigma_w2": sw,
                    "sigma_b2": 0.0,
                    "depth": 8,
                    "seed": seed,
                    "step": 100,
                    "train_acc": tr,
                    "test_acc": te,
                    "status": "ok",
                }
            )
    return pd.DataFrame(rows)


def test_claims_c6_logic():
    cfg = {
        "sigma_w2_chaotic": 25.0,
        "sigma_w2_ordered": 0.5,
        "train_acc_min": 0.99,
        "chance_margin": 0.05,
        "ordered_min_gap": 0.3,
    }
    good = c6_c7.claims_c6(_mem_frame(1.0, 0.11, 0.9), cfg, 10)
    assert [r["passed"] for r in good] == [True, True, True]
    bad = c6_c7.claims_c6(_mem_frame(0.9, 0.3, 0.2), cfg, 10)
    assert [r["passed"] for r in bad] == [False, False, False]
    # rows of the one claims schema, every configuration column filled
    table = pd.DataFrame(good + bad, columns=schema.COLUMNS)
    assert schema.schema_violations(table) == []
    assert table["depth_min"].eq(8).all() and table["sigma_w2"].tolist()[:3] == [25.0, 25.0, 0.5]


def test_claims_c7_fits_the_slope():
    widths = np.array([64, 128, 256, 512])
    rows = [
        {
            "arch": "fcn",
            "activation": "erf",
            "sigma_w2": 2.0,
            "sigma_b2": 0.18,
            "depth": 2,
            "width": w,
            "seed": s,
            "diverged": False,
            "relative_distance": 2.0 * w**-0.5,
            "ntk_rel_error": 3.0 * w**-0.1,
        }
        for w in widths
        for s in (0, 1)
    ]
    out = c6_c7.claims_c7(pd.DataFrame(rows), {"slope": -0.5, "slope_tolerance": 0.2})
    assert math.isclose(out[0]["measured"], -0.5, abs_tol=1e-9) and out[0]["passed"]
    assert math.isclose(out[1]["measured"], -0.1, abs_tol=1e-9) and not out[1]["passed"]
    assert schema.schema_violations(pd.DataFrame(out, columns=schema.COLUMNS)) == []
