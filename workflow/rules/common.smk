# Config validation (before any job runs), run paths and target lists.
import json
import os
import sys

from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

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
_check_grid("kernels.comparison.sigma_w2", config["kernels"]["comparison"]["sigma_w2"])
# F3-F5's own setting (null: they read the fcn grid)
POINTS = config["kernels"]["points"]
if POINTS and POINTS["arch"] == "fcn_preact" and config["convention"] != "notebook":
    raise ValueError(
        "config key kernels.points.arch = fcn_preact is the notebook's F3-F5 network "
        "(read-in Dense, then l x [φ, Dense]): it needs convention: notebook"
    )

KERNEL_RES = config["kernels"]["resources"]
# first-attempt resources per cost class (sized(); config key `resources`)
RESOURCES = config["resources"]
if config["kernels"]["memory_mb"] >= KERNEL_RES["mem_mb"]:
    raise ValueError(
        f"config key kernels.memory_mb ({config['kernels']['memory_mb']}) must be below "
        f"kernels.resources.mem_mb ({KERNEL_RES['mem_mb']}): the budget is for the kernel "
        "and metric arrays, the job also holds Python, jax and neural-tangents"
    )

RUN = config["run"]
RESULTS = f"results/{RUN}"
DATASET = config["dataset"]["name"]
ENV = "../../envs/cpu.yaml"
# The CUDA-12 build of the same stack, for rules whose jobs ask for a GPU.
ENV_CUDA = "../../envs/cuda12.yaml"
# Each stage file appends the final outputs it contributes to `rule all`, and the claim
# tables it makes for metrics/claims.csv.
TARGETS = []
CLAIMS_EXTRA = []

# Rules run `python -m ntk_phases...` from the workflow directory; putting src/ on the
# path makes the package importable without an install (e.g. in a conda environment
# made by --sdm conda). The prefix is formatted like a command, hence doubled braces.
# One BLAS thread per job (jobs run side by side; XLA has its own pool): oversubscribed
# OpenBLAS threads made a batched 32x32 eigh 200x slower on 2 busy cores.
# Jobs run `python` from PATH: without --sdm conda, this Snakemake's own interpreter
# comes first, so `.venv/bin/snakemake` works without activating the venv (jobs used to
# pick up another python and fail on a missing package). With conda, the rule's
# environment supplies python.
# JAX's persistent compilation cache, shared by the analytic jobs of a run (kernels,
# theory, learning rates): a job whose jitted functions a sibling job already compiled for
# the same shapes loads them from disk (ntk_phases.cli.use_compile_cache, which also says
# why training jobs do not use it).
_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
_PYTHON_FIRST = "" if _CONDA else f"PATH={os.path.dirname(sys.executable)}:$PATH "
JAX_CACHE = config["jax_cache_dir"] or f"results/{config['run']}/.jax_cache"
shell.prefix(
    f"export {_PYTHON_FIRST}PYTHONPATH=src${{{{PYTHONPATH:+:$PYTHONPATH}}}}"
    " OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"
    f" NTK_PHASES_JAX_CACHE={JAX_CACHE}; "
)


def kernel_spec(arch, grid="architectures"):
    """An architecture's kernel grid {n_train, n_test, sigma_w2, depths, sigma_chunk}:
    its own (`kernels.architectures.<arch>`), F8's common setting (grid `comparison`:
    `kernels.comparison`, with the architecture's `sigma_chunk`) or F3-F5's (grid
    `points`: `kernels.points`, its two σ_w² in one job, and its `normalize`)."""
    if grid == "architectures":
        return config["kernels"]["architectures"][arch]
    if grid == "points":
        return {
            **{k: POINTS[k] for k in ("n_train", "n_test", "depths", "normalize")},
            "sigma_w2": {
                "values": [POINTS["ordered_sigma_w2"], POINTS["chaotic_sigma_w2"]]
            },
            "sigma_chunk": 2,
        }
    comp = config["kernels"]["comparison"]
    shared = {k: comp[k] for k in ("n_train", "n_test", "sigma_w2", "depths")}
    return {**shared, "sigma_chunk": comp["sigma_chunk"][arch]}


def kernel_chunks(arch, grid="architectures"):
    """The σ_w² values of each kernels job of an architecture (chunks of its grid)."""
    spec = kernel_spec(arch, grid)
    return grids.chunks(grids.grid(spec["sigma_w2"]), spec["sigma_chunk"])


def kernel_chunk_ids(arch, grid="architectures"):
    """Chunk indices of an architecture's σ_w² grid (one kernels job each)."""
    return list(range(len(kernel_chunks(arch, grid))))


def kernel_sigma_b2(grid="architectures"):
    """The σ_b² values of a setting (one set of kernels jobs each): `kernels.sigma_b2`,
    or the points' own."""
    return [POINTS["sigma_b2"]] if grid == "points" else config["kernels"]["sigma_b2"]


def kernel_job_config(wildcards, grid="architectures"):
    """Only what one kernels job computes from: its σ_w² values, its σ_b², the
    architecture's settings. Snakemake's params trigger then reruns just the jobs whose
    values changed when a grid is edited."""
    spec = kernel_spec(wildcards.arch, grid)
    return as_json(
        {
            "arch": {
                k: v for k, v in spec.items() if k not in ("sigma_w2", "sigma_chunk")
            },
            "sigma_w2": kernel_chunks(wildcards.arch, grid)[int(wildcards.chunk)],
            "sigma_b2": kernel_sigma_b2(grid)[int(wildcards.sb)],
            "tanh_deg": config["theory"]["quadrature_degree"],
            "memory_mb": config["kernels"]["memory_mb"],
            "convention": config["convention"],
            "times": config["metrics"]["times"],
            "rcond": config["metrics"]["rcond"],
        }
    )


def infinite_tables(archs):
    """The infinite-width metrics tables of the configured architectures among ``archs``."""
    return expand(
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
        arch=[a for a in archs if a in config["kernels"]["architectures"]],
        activation=config["kernels"]["activations"],
    )


#: file-name prefix of each setting's metrics tables
TABLE_PREFIX = {
    "architectures": "infinite",
    "comparison": "infinite_comparison",
    "points": "infinite_points",
}


def kernel_chunk_tables(wildcards, grid="architectures"):
    """The kernels jobs' row files of one (architecture, activation): every σ_b² and
    σ_w² chunk of the architecture's grid (`comparison`: F8's common setting; `points`:
    F3-F5's)."""
    return expand(
        f"{RESULTS}/metrics/chunks/{TABLE_PREFIX[grid]}_{wildcards.arch}"
        f"_{wildcards.activation}_sb{{sb}}_chunk{{chunk}}.csv",
        sb=range(len(kernel_sigma_b2(grid))),
        chunk=kernel_chunk_ids(wildcards.arch, grid),
    )


def merge_config(wildcards, grid="architectures"):
    """What the merge of one (architecture, activation)'s row files records."""
    return as_json(
        {
            "arch": kernel_spec(wildcards.arch, grid),
            "sigma_b2": kernel_sigma_b2(grid),
            "metrics": config["metrics"],
        }
    )


def comparison_is_own_grid(arch):
    """Whether `kernels.architectures.<arch>` already is F8's common setting (same
    examples, σ_w² values and depths): F8 then reads that table, computed once."""
    own = config["kernels"]["architectures"].get(arch)
    comp = config["kernels"]["comparison"]
    return own is not None and (
        (own["n_train"], own["n_test"]) == (comp["n_train"], comp["n_test"])
        and grids.grid(own["sigma_w2"]) == grids.grid(comp["sigma_w2"])
        and grids.depth_list(own["depths"]) == grids.depth_list(comp["depths"])
    )


def comparison_tables():
    """F8's infinite-width inputs: each `kernels.comparison` architecture and kernels
    activation at the one common setting (`metrics/infinite_comparison_*`, or the
    architecture's own table where its grid is that setting)."""
    return [
        (
            f"{RESULTS}/metrics/infinite_{a}_{f}.csv"
            if comparison_is_own_grid(a)
            else f"{RESULTS}/metrics/infinite_comparison_{a}_{f}.csv"
        )
        for a in config["kernels"]["comparison"]["archs"]
        for f in config["kernels"]["activations"]
    ]


def infinite_figure_tables(fig):
    """The tables infinite_figure reads: F8 its common setting, F3-F5 `kernels.points`
    where set (one per kernels activation), else (and F6) the FCN grid."""
    if fig == "F8":
        return comparison_tables()
    if fig in ("F3", "F4", "F5") and POINTS:
        return expand(
            f"{RESULTS}/metrics/infinite_points_{POINTS['arch']}_{{activation}}.csv",
            activation=config["kernels"]["activations"],
        )
    return infinite_tables(["fcn"])


def infinite_figure_config(fig):
    """The config infinite_figure passes each figure. F3-F6: the claim points and the
    FCN grid (F3-F5: `kernels.points`' points and examples where set); F8: its infinite
    row's common setting and its trained row's recipes."""
    kern = config["kernels"]
    if fig == "F8":
        return {
            "comparison": kern["comparison"],
            "finite": config["training"]["architectures"],
        }
    if fig in ("F3", "F4", "F5") and POINTS:
        return {
            **config["claims"],
            "chaotic_sigma_w2": POINTS["chaotic_sigma_w2"],
            "ordered_sigma_w2": POINTS["ordered_sigma_w2"],
            "n_train": POINTS["n_train"],
            "architectures": {},
            "finite": {},
        }
    return {
        **config["claims"],
        "n_train": kern["architectures"].get("fcn", {}).get("n_train", 0),
        "architectures": {a: s for a, s in kern["architectures"].items() if a == "fcn"},
        "finite": {},
    }


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


def job_chunks(values, size):
    """The jobs' wildcard values: `values` in runs of `size` (null: one run), joined by
    `_` (one value: its own name, as a job per block was always named)."""
    size = size or len(values)
    return [
        "_".join(str(v) for v in values[i : i + size])
        for i in range(0, len(values), size)
    ]


def depth_chunks(texp, tarch):
    """The depth groups of a training section's jobs (`depths_per_job`)."""
    sec = block_config(texp, tarch)
    return job_chunks(sec["depths"], sec["depths_per_job"])


def job_config(texp, tarch):
    """The section a training job reads, less its job granularity (which changes no row)."""
    return {k: v for k, v in block_config(texp, tarch).items() if k != "depths_per_job"}


def per_attempt(base):
    """A resource that grows with the attempt (base, 2 base, 3 base): a job SLURM kills
    for memory or time is retried with more (profile `retries`); also used locally."""
    return lambda wildcards, attempt: base * attempt


def sized(key, base, rule, *names):
    """Resource `key` (mem_mb, runtime) of a job of `rule` as `per_attempt`: its first
    attempt is the config's `resources` entry for the job's cost class, `rule[v1,...]`
    with the values of the wildcards `names` (e.g. `kernel_sweep[fcn,tanh]`), else
    `rule`, else `base`. config/paper.yaml sets them from the measured paper cost
    (bench/paper_cost.csv, bench/measure_paper_cost.py)."""

    def value(wildcards, attempt):
        cls = f"{rule}[{','.join(str(wildcards[n]) for n in names)}]" if names else rule
        entry = RESOURCES.get(cls) or RESOURCES.get(rule) or {}
        return entry.get(key, base) * attempt

    return value


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
    """The default target's inputs: every stage's outputs, or only the figures named in the
    config key `targets` (with the run's config table)."""
    if config["targets"]:
        return figure_targets(*config["targets"]) + [f"{RESULTS}/config.csv"]
    return TARGETS


def figure_targets(*ids):
    """PDF and PNG of each figure ID."""
    return [f"{RESULTS}/figures/{i}.{ext}" for i in ids for ext in ("pdf", "png")]
