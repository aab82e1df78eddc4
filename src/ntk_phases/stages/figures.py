"""Figures from tables (matplotlib and seaborn only; never jax): each job reads its tables,
calls a plotting function of :mod:`ntk_phases.figures` and saves PDF and PNG with
provenance sidecars (:func:`ntk_phases.figures.style.save`)."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from ..figures import depth_scales, finite, freeze_chaos, infinite, phase, style
from . import Stage, config_arg, read_keyed, read_meta

log = logging.getLogger("ntk_phases.figures")
STAGE = Stage()


def _out_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", nargs="+", required=True, help="output files (.pdf, .png)")
    p.add_argument("--dpi", type=int, required=True)


def _by_activation(paths: list[str]) -> dict[str, pd.DataFrame]:
    return {str(f["activation"].iloc[0]): f for f in map(pd.read_csv, paths)}


def _phase_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", nargs="+", required=True, help="phase_<activation>.csv tables")
    _out_args(p)


@STAGE.job("phase", "F1: the phase diagram", _phase_args)
def f1(args: argparse.Namespace) -> None:
    fig = phase.plot(_by_activation(args.inputs))
    style.save(fig, args.out, args.dpi, inputs=args.inputs, figure="F1")
    log.info("wrote %s", " ".join(args.out))


def _depth_scales_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth-scales", nargs="+", required=True)
    p.add_argument("--correlation", nargs="+", required=True)
    _out_args(p)


@STAGE.job("depth_scales", "F2: depth scales and correlation convergence", _depth_scales_args)
def f2(args: argparse.Namespace) -> None:
    fig = depth_scales.plot(_by_activation(args.depth_scales), _by_activation(args.correlation))
    style.save(fig, args.out, args.dpi, inputs=args.depth_scales + args.correlation, figure="F2")
    log.info("wrote %s", " ".join(args.out))


def _infinite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", required=True, choices=sorted(infinite.FIGURES))
    p.add_argument("--tables", nargs="+", required=True)
    config_arg(p)
    p.add_argument("--finite", nargs="*", default=[], help="F8: trained tables (metrics/finite_architectures_*.csv)")
    p.add_argument(
        "--overlays", nargs="*", default=[], help="F8: one depth-scale overlay per --finite table, in the same order"
    )
    p.add_argument(
        "--data-json", default=None, help="F6, F6_mean: the dataset's metadata (n_classes sets chance for C9)"
    )
    p.add_argument(
        "--test-vmax", type=float, default=1.0, help="F6_mean: top of the test colour scale (notebook, CIFAR-10: 0.35)"
    )
    _out_args(p)


@STAGE.job("infinite", "F3-F6, F8 from the infinite-width tables", _infinite_args)
def f3_f8(args: argparse.Namespace) -> None:
    style.setup()
    cfg = args.config
    tables = read_keyed(args.tables)
    if len(args.overlays) != len(args.finite):
        raise SystemExit("give one --overlays table per --finite table")
    trained = read_keyed(args.finite)
    overlays = {k: pd.read_csv(o) for k, o in zip(trained, args.overlays)}
    chance, convention = 0.1, "ours"
    if args.data_json:
        meta = read_meta(args.data_json)
        chance, convention = 1.0 / int(meta["n_classes"]), meta.get("convention", "ours")
    if args.figure == "F8":
        fig = infinite.f8(tables, cfg, trained, overlays)
    elif args.figure in ("F6", "F6_mean"):
        predictor = "mean" if args.figure == "F6_mean" else "network"
        fig = infinite.f6(tables, cfg, predictor, chance, args.test_vmax, convention)
    else:
        fig = infinite.FIGURES[args.figure](tables, cfg)
    inputs = args.tables + args.finite + args.overlays + ([args.data_json] if args.data_json else [])
    style.save(fig, args.out, args.dpi, inputs=inputs, figure=args.figure)
    log.info("wrote %s", " ".join(args.out))


def _finite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("figure", choices=["F7", "F9", "F10"])
    p.add_argument("--tables", nargs="+", required=True)
    p.add_argument("--overlays", nargs="+", default=[])
    p.add_argument("--steps", nargs="+", type=int, default=[])
    p.add_argument("--data-json", default=None)
    p.add_argument("--infinite", default=None)
    p.add_argument("--summary", default=None)
    p.add_argument("--outputs", default=None)
    p.add_argument("--claims", default=None)
    _out_args(p)


@STAGE.job("finite", "F7, F9, F10: finite-width figures", _finite_args)
def f7_f10(args: argparse.Namespace) -> None:
    tables = [pd.read_csv(t) for t in args.tables]
    inputs = list(args.tables)
    if args.figure == "F7":
        overlays = [pd.read_csv(o) for o in args.overlays]
        if len(overlays) != len(tables):
            raise SystemExit("give one --overlays table per --tables table")
        chance = 0.1
        if args.data_json:
            chance = 1.0 / int(read_meta(args.data_json)["n_classes"])
            inputs += [args.data_json]
        fig = finite.plot_f7(tables, overlays, args.steps or [int(tables[0]["step"].max())], chance)
        inputs += args.overlays
    elif args.figure == "F9":
        meta = read_meta(args.data_json)
        sizes = f"{meta['n_train']} train / {meta['n_test']} test {meta['dataset']}, " if meta else ""
        fig = finite.plot_f9(tables[0], 1.0 / meta.get("n_classes", 10), sizes)
        inputs += [args.data_json] if args.data_json else []
    else:
        extra = [args.infinite, args.summary, args.outputs]
        claims = pd.read_csv(args.claims) if args.claims else None
        fig = finite.plot_f10(tables[0], *(pd.read_csv(x) for x in extra), claims)
        inputs += extra + ([args.claims] if args.claims else [])
    style.save(fig, args.out, args.dpi, inputs=inputs, figure=args.figure)
    log.info("wrote %s", " ".join(args.out))


def _freeze_chaos_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("figure", choices=["F12", "F13"])
    p.add_argument("--analytic")
    p.add_argument("--empirical")
    p.add_argument("--checkerboard")
    p.add_argument("--maps")
    p.add_argument("--claims", help="claims_c8.csv (thresholds of the F13 statistics)")
    _out_args(p)


@STAGE.job("freeze_chaos", "F12, F13: freeze and chaos across variants; the checkerboard", _freeze_chaos_args)
def f12_f13(args: argparse.Namespace) -> None:
    style.setup()
    if args.figure == "F12":
        fig = freeze_chaos.figure_f12(pd.read_csv(args.analytic), pd.read_csv(args.empirical))
        inputs = [args.analytic, args.empirical]
    else:
        with np.load(args.maps) as f:
            maps = {k: f[k] for k in f.files}
        claims = pd.read_csv(args.claims) if args.claims else None
        fig = freeze_chaos.figure_f13(pd.read_csv(args.checkerboard), maps, claims)
        inputs = [args.checkerboard, args.maps] + ([args.claims] if args.claims else [])
    style.save(fig, args.out, args.dpi, inputs, figure=args.figure)
    log.info("wrote %s", " ".join(args.out))
