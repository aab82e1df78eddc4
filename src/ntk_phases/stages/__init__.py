"""The jobs that Snakemake rules run, one module per stage (``python -m ntk_phases <stage>
<job> …``, dispatched by :mod:`ntk_phases.__main__`).

A stage module groups the jobs that load the same dependencies: the dispatcher imports
only the module of the stage asked for, so a table merge never loads jax and a training
job never loads neural-tangents. Each job is a thin function: read its inputs, call the
science in :mod:`ntk_phases.numerics`, :mod:`~ntk_phases.analytic`, :mod:`~ntk_phases.finite`,
:mod:`~ntk_phases.claims` or :mod:`~ntk_phases.figures`, write its outputs atomically with
their provenance sidecars.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import files, provenance

#: Exit status of a time-limited job that stopped early with its checkpoint kept.
EXIT_INTERRUPTED = 3

Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Job:
    """One job of a stage: its command-line arguments and the function that runs it."""

    name: str
    help: str
    arguments: Arguments
    run: Callable[[argparse.Namespace], int | None]


@dataclass
class Stage:
    """The jobs of one stage module, registered with :meth:`job` (the stage's one-line
    summary is :data:`ntk_phases.__main__.STAGES`)."""

    #: run once before any job of the stage (the analytic stages open JAX's compilation cache)
    setup: Callable[[], object] | None = None
    jobs: dict[str, Job] = field(default_factory=dict)

    def job(self, name: str, help: str, arguments: Arguments) -> Callable:
        def register(run: Callable[[argparse.Namespace], int | None]) -> Callable:
            if name in self.jobs:
                raise ValueError(f"job {name!r} registered twice")
            self.jobs[name] = Job(name, help, arguments, run)
            return run

        return register


def config_arg(p: argparse.ArgumentParser, help: str = "the job's share of the run's config as JSON") -> None:
    """``--config-json``, parsed: the rules pass their config as a JSON param, so that
    Snakemake's params rerun trigger sees it."""
    p.add_argument("--config-json", dest="config", type=json.loads, required=True, help=help)


def write_table(path: str | os.PathLike, frame: Any, inputs: Sequence[str | os.PathLike] = (), **meta: Any) -> None:
    """Write a tidy table atomically with its provenance sidecar (``meta``: config and
    labels recorded there)."""
    files.write_csv(path, frame)
    provenance.write_provenance(path, inputs=list(inputs), **meta)


def read_keyed(paths: Sequence[str | os.PathLike]) -> dict[tuple[str, str], pd.DataFrame]:
    """Tables keyed by their (arch, activation), in the order given."""
    out = {}
    for path in paths:
        f = pd.read_csv(path)
        out[(str(f["arch"].iloc[0]), str(f["activation"].iloc[0]))] = f
    return out


def read_meta(path: str | os.PathLike | None) -> dict:
    """A prepared dataset's metadata (``<data>.json``: classes, sizes, convention), or {}
    when not given."""
    return json.loads(Path(path).read_text()) if path else {}
