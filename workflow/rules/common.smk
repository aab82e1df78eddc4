# Config validation (before any job runs), run paths and target lists.
import json

from snakemake.utils import validate

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


def theory_grid(spec):
    """Values of a {min, max, num} / {values} grid (same rule as ntk_phases.theory.grid)."""
    if "values" in spec:
        return list(spec["values"])
    n = spec["num"]
    step = (spec["max"] - spec["min"]) / (n - 1) if n > 1 else 0.0
    return [spec["min"] + i * step for i in range(n)]


def kernel_chunk_ids(arch):
    """Chunk indices of an architecture's σ_w² grid (one kernels job each)."""
    spec = config["kernels"]["architectures"][arch]
    n = len(theory_grid(spec["sigma_w2"]))
    return list(range((n + spec["sigma_chunk"] - 1) // spec["sigma_chunk"]))


def infinite_tables(archs):
    """The infinite-width metrics tables of the configured architectures among ``archs``."""
    return expand(
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
        arch=[a for a in archs if a in config["kernels"]["architectures"]],
        activation=config["kernels"]["activations"],
    )


def as_json(obj):
    """A config section as compact JSON, passed to an entry point as one argument."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def all_targets():
    return TARGETS


def figure_targets(*ids):
    """PDF and PNG of each figure ID."""
    return [f"{RESULTS}/figures/{i}.{ext}" for i in ids for ext in ("pdf", "png")]
