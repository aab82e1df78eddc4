"""``python -m ntk_phases <stage> <job> [options]``: the one entry point of every job that
the Snakemake rules run.

The stage names a module of :mod:`ntk_phases.stages`; only that module is imported, so a
job loads the dependencies of its own stage and no others (the import is deferred for
that reason). Shared set-up happens here: logging with timestamps, JAX's persistent
compilation cache for the stages that use it (their ``Stage.setup``), and the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .stages import Stage

#: Stage → one-line summary (the module is ``ntk_phases.stages.<stage>``).
STAGES = {
    "config": "the run's effective config as a table",
    "data": "download or load, subset and save a dataset",
    "theory": "mean-field tables (phase diagram, depth scales, correlation maps)",
    "kernels": "infinite-width metrics from the one-pass kernel sweep; the pooling comparison (C5)",
    "tables": "concatenate chunk or block tables (numpy only)",
    "learning_rates": "analytic λ_max and learning rates of a training experiment; depth-scale overlays",
    "training": "train a job's blocks of finite networks (jax, flax, optax only)",
    "width": "the width experiment against the infinite-width network (numpy only)",
    "freeze_chaos": "freeze/chaos variants, empirical NTK, checkerboard statistics and C8",
    "claims": "claim tables (C1-C5, C9; C6/C7)",
    "figures": "figures from tables (matplotlib and seaborn only)",
}


def setup_logging(level: int = logging.INFO) -> None:
    """Timestamped progress lines in the rule's log; quiet TF/JAX start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    for noisy in ("jax", "absl", "tensorflow", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _usage() -> str:
    lines = ["usage: python -m ntk_phases <stage> <job> [options]", "", "stages:"]
    lines += [f"  {name:15s} {summary}" for name, summary in STAGES.items()]
    return "\n".join(lines)


def load(stage: str) -> Stage:
    """The jobs of a stage: importing its module loads that stage's dependencies only."""
    return importlib.import_module(f"ntk_phases.stages.{stage}").STAGE


def parser(stage: str, spec: Stage) -> argparse.ArgumentParser:
    """The argument parser of one stage: a sub-command per job."""
    p = argparse.ArgumentParser(prog=f"python -m ntk_phases {stage}", description=STAGES[stage])
    sub = p.add_subparsers(dest="job", required=True, metavar="job")
    for job in spec.jobs.values():
        q = sub.add_parser(job.name, help=job.help, description=job.help)
        job.arguments(q)
        q.set_defaults(_job=job)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"unknown stage {stage!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    spec = load(stage)
    args = parser(stage, spec).parse_args(rest)
    setup_logging()
    if spec.setup is not None:
        spec.setup()
    status = args._job.run(args)
    return 0 if status is None else int(status)


if __name__ == "__main__":
    sys.exit(main())
