# Config validation (before any job runs), run paths and target lists.
import json
import sys

from snakemake.utils import validate

# The package's plain-Python grid helpers (no jax): one definition of a config grid.
sys.path.insert(0, f"{workflow.basedir}/src")
from ntk_phases import grids


def _values_win(node):
    """An explicit grid {values: [...]} replaces a {min, max, num} range: `--configfile`
    merges dictionaries key by key, so giving values over config.yaml's range would
    otherwise leave both forms in one grid."""
    if isinstance(node, dict):
        if "values" in node:
            for key in ("min", "max", "num"):
                node.pop(key, None)
        for child in node.values():
            _values_win(child)


_values_win(config)
validate(config, schema="../schemas/config.schema.yaml", set_default=True)


def _check_grid(key, spec):
    if "min" in spec and spec["min"] > spec["max"]:
        raise ValueError(
            f"config key {key}: min ({spec['min']}) is larger than max ({spec['max']})"
        )


_check_grid("theory.sigma_w2", config["theory"]["sigma_w2"])
_check_grid("theory.sigma_b2", config["theory"]["sigma_b2"])
for _arch, _spec in config["kernels"]["architectures"].items():
    _check_grid(f"kernels.architectures.{_arch}.sigma_w2", _spec["sigma_w2"])

RUN = config["run"]
RESULTS = f"results/{RUN}"
DATASET = config["dataset"]["name"]
ENV = "../../envs/cpu.yaml"
# Each stage file appends the final outputs it contributes to `rule all`, and the claim
# tables it makes for metrics/claims.csv.
TARGETS = []
CLAIMS_EXTRA = []

# Rules run `python -m ntk_phases...` from the workflow directory; putting src/ on the
# path makes the package importable without an install (e.g. in a conda environment
# made by --sdm conda). The prefix is formatted like a command, hence doubled braces.
# One BLAS thread per job (jobs run side by side; XLA has its own pool): oversubscribed
# OpenBLAS threads made a batched 32x32 eigh 200x slower on 2 busy cores.
shell.prefix(
    "export PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}}"
    " OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1; "
)


def kernel_chunks(arch):
    """The σ_w² values of each kernels job of an architecture (chunks of its grid)."""
    spec = config["kernels"]["architectures"][arch]
    return grids.chunks(grids.grid(spec["sigma_w2"]), spec["sigma_chunk"])


def kernel_chunk_ids(arch):
    """Chunk indices of an architecture's σ_w² grid (one kernels job each)."""
    return list(range(len(kernel_chunks(arch))))


def kernel_job_config(wildcards):
    """Only what one kernels job computes from: its σ_w² values, its σ_b², the
    architecture's settings. Snakemake's params trigger then reruns just the jobs whose
    values changed when a grid is edited."""
    spec = config["kernels"]["architectures"][wildcards.arch]
    return as_json(
        {
            "arch": {
                k: v for k, v in spec.items() if k not in ("sigma_w2", "sigma_chunk")
            },
            "sigma_w2": kernel_chunks(wildcards.arch)[int(wildcards.chunk)],
            "sigma_b2": config["kernels"]["sigma_b2"][int(wildcards.sb)],
            "tanh_deg": config["kernels"]["tanh_deg"],
        }
    )


def infinite_tables(archs):
    """The infinite-width metrics tables of the configured architectures among ``archs``."""
    return expand(
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
        arch=[a for a in archs if a in config["kernels"]["architectures"]],
        activation=config["kernels"]["activations"],
    )


def block_config(texp, tarch):
    """The config section a finite-width training block of experiment `texp` reads:
    `training.grid` (shared by its architectures) or `training.architectures.<arch>`."""
    train = config["training"]
    return train["grid"] if texp == "grid" else train["architectures"][tarch]


def architecture_tables(kind="metrics"):
    """F8's finite-width inputs, one per trained (architecture, activation) of
    `training.architectures`: merged tables (`metrics`) or depth-scale overlays."""
    sec = config["training"]["architectures"]
    path = {
        "metrics": f"{RESULTS}/metrics/finite_architectures_{{a}}_{{f}}.csv",
        "overlays": f"{RESULTS}/training/depth_scales_architectures_{{a}}_{{f}}.csv",
    }[kind]
    return expand(path, a=sec["archs"], f=sec["activations"])


def per_attempt(base):
    """A resource that grows with the attempt (base, 2 base, 3 base): a job SLURM kills
    for memory or time is retried with more (profile `retries`); also used locally."""
    return lambda wildcards, attempt: base * attempt


def remove_orphan_sidecars():
    """Delete provenance sidecars under RESULTS whose output is gone (onstart, onerror).
    Imported here, not at the top: ntk_phases.io needs numpy, and the workflow is parsed
    again inside every cluster job."""
    from ntk_phases.io import remove_orphan_sidecars as remove

    remove(RESULTS)


def as_json(obj):
    """A config section as compact JSON, passed to an entry point as one argument."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def all_targets():
    return TARGETS


def figure_targets(*ids):
    """PDF and PNG of each figure ID."""
    return [f"{RESULTS}/figures/{i}.{ext}" for i in ids for ext in ("pdf", "png")]
