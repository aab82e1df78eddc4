# Config validation (before any job runs), run paths, global wildcard constraints, the
# environment of every job, the helpers the rules' inputs and params call, and the default
# target (final_outputs()).
import json
import os
import shlex
import sys

import yaml
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

# The package's plain-Python config module (stdlib only, no jax): grids, the values-win
# merge and the cross-field checks, one definition each.
sys.path.insert(0, f"{workflow.basedir}/src")
from ntk_phases import config as ntk_config

ntk_config.values_win(config)
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
ntk_config.check(config)

# F3-F5's own setting (null: they read the fcn grid)
POINTS = config["kernels"]["points"]
KERNEL_RES = config["kernels"]["resources"]
# first-attempt resources per cost class (sized(); config key `resources`)
RESOURCES = config["resources"]

RUN = config["run"]
RESULTS = f"results/{RUN}"
DATASET = config["dataset"]["name"]
ENV = "../../envs/cpu.yaml"
# The CUDA-12 build of the same stack, for rules whose jobs ask for a GPU.
ENV_CUDA = "../../envs/cuda12.yaml"
# The kernels jobs' environment (kernel_sweep and its copies, pooling_correction).
KERNEL_ENV = ENV_CUDA if KERNEL_RES["gpu"] else ENV

TRAIN = config["training"]
GRID = TRAIN["grid"]
MEMO = TRAIN["memorization"]
WIDTH = TRAIN["width"]
MEMO_NAME = f"{MEMO['arch']}_{MEMO['activation']}"
WIDTH_NAME = f"{WIDTH['arch']}_{WIDTH['activation']}"
TANH_DEG = config["theory"]["quadrature_degree"]

# Architectures and activations as the config schema lists them (the kernels grids'
# architectures; F3-F5's own `kernels.points.arch`, which may also be the notebook's
# fcn_preact): the wildcards' values.
_SCHEMA = yaml.safe_load(
    open(f"{workflow.basedir}/workflow/schemas/config.schema.yaml", encoding="utf-8")
)
_KERNELS_SCHEMA = _SCHEMA["properties"]["kernels"]["properties"]
ARCHITECTURES = list(_KERNELS_SCHEMA["architectures"]["properties"])
POINTS_ARCHITECTURES = _SCHEMA["$defs"]["points"]["properties"]["arch"]["enum"]
ACTIVATIONS = _KERNELS_SCHEMA["activations"]["items"]["enum"]
# The training experiments trained in blocks of depths (`training.grid`, F7, and
# `training.architectures`, F8): wildcard `texp`.
BLOCK_EXPERIMENTS = ["grid", "architectures"]


def one_of(values):
    """A wildcard constraint matching exactly one of `values`."""
    return "|".join(values)


# One value each, for every rule (points_sweep and points_table narrow `arch` to
# POINTS_ARCHITECTURES). Job chunks (`depths`, `widths`) join their values with `_`.
wildcard_constraints:
    arch=one_of(ARCHITECTURES),
    activation=one_of(ACTIVATIONS),
    tarch=one_of(ARCHITECTURES),
    tact=one_of(ACTIVATIONS),
    texp=one_of(BLOCK_EXPERIMENTS),
    sb=r"\d+",
    chunk=r"\d+",
    depths=r"\d+(_\d+)*",
    widths=r"\d+(_\d+)*",


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
# the same shapes loads them from disk (ntk_phases.analytic.compile_cache.use_compile_cache, which also says
# why training jobs do not use it).
# JAX does not pre-allocate GPU memory (XLA_PYTHON_CLIENT_PREALLOCATE): several training
# jobs can share a GPU node. Every environment export of the jobs is set here, once.
_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
_PYTHON_FIRST = "" if _CONDA else f"PATH={os.path.dirname(sys.executable)}:$PATH "
JAX_CACHE = config["jax_cache_dir"] or f"results/{config['run']}/.jax_cache"
shell.prefix(
    f"export {_PYTHON_FIRST}PYTHONPATH=src${{{{PYTHONPATH:+:$PYTHONPATH}}}}"
    " OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1"
    f" NTK_PHASES_JAX_CACHE={JAX_CACHE} XLA_PYTHON_CLIENT_PREALLOCATE=false; "
)


def as_json(obj):
    """A config section as compact JSON, passed to an entry point as one argument."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


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
    return ntk_config.chunks(ntk_config.grid(spec["sigma_w2"]), spec["sigma_chunk"])


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
            "newton_iters": config["theory"]["newton_iters"],
            "memory_mb": config["kernels"]["memory_mb"],
            "convention": config["convention"],
            "times": config["metrics"]["times"],
            "rcond": config["metrics"]["rcond"],
        }
    )


def infinite_tables(archs=None):
    """The infinite-width metrics tables (infinite_table) of the configured architectures
    among ``archs`` (default: all of them)."""
    configured = list(config["kernels"]["architectures"])
    return expand(
        rules.infinite_table.output[0],
        arch=[a for a in (archs or configured) if a in configured],
        activation=config["kernels"]["activations"],
    )


def kernel_chunk_tables(wildcards, grid="architectures"):
    """The kernels jobs' row files of one (architecture, activation): every σ_b² and
    σ_w² chunk of the architecture's grid (`comparison`: F8's common setting; `points`:
    F3-F5's)."""
    sweep = {
        "architectures": rules.kernel_sweep,
        "comparison": rules.comparison_sweep,
        "points": rules.points_sweep,
    }[grid]
    return expand(
        sweep.output[0],
        arch=wildcards.arch,
        activation=wildcards.activation,
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
        and ntk_config.grid(own["sigma_w2"]) == ntk_config.grid(comp["sigma_w2"])
        and ntk_config.depth_list(own["depths"])
        == ntk_config.depth_list(comp["depths"])
    )


def comparison_tables():
    """F8's infinite-width inputs: each `kernels.comparison` architecture and kernels
    activation at the one common setting (`metrics/infinite_comparison_*`, or the
    architecture's own table where its grid is that setting)."""
    tables = []
    for arch in config["kernels"]["comparison"]["archs"]:
        own = comparison_is_own_grid(arch)
        merge = rules.infinite_table if own else rules.comparison_table
        tables += expand(
            merge.output[0], arch=arch, activation=config["kernels"]["activations"]
        )
    return tables


def infinite_figure_tables(fig):
    """The tables infinite_figure reads: F8 its common setting, F3-F5 `kernels.points`
    where set (one per kernels activation), else (and F6) the FCN grid."""
    if fig == "F8":
        return comparison_tables()
    if fig in ("F3", "F4", "F5") and POINTS:
        return expand(
            rules.points_table.output[0],
            arch=POINTS["arch"],
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
    sec = TRAIN["architectures"]
    path = {
        "metrics": rules.architectures_table.output[0],
        "overlays": rules.training_lr_finite.output.overlay,
    }[kind]
    return expand(
        path, texp="architectures", tarch=sec["archs"], tact=sec["activations"]
    )


def grid_tables(kind="metrics"):
    """F7's and C9's inputs, one per trained (architecture, activation) of `training.grid`:
    merged tables (`metrics`) or depth-scale overlays."""
    path = {
        "metrics": rules.finite_table.output[0],
        "overlays": rules.training_lr_finite.output.overlay,
    }[kind]
    return expand(path, texp="grid", tarch=GRID["archs"], tact=GRID["activations"])


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


def block_job_config(wildcards):
    """A block experiment's job config (`texp`, `tarch`), as JSON."""
    return as_json(job_config(wildcards.texp, wildcards.tarch))


def block_job(wildcards):
    """Which block job of `python -m ntk_phases learning_rates table` / `training train` this is."""
    w = wildcards
    return f"--experiment {w.texp} --arch {w.tarch} --activation {w.tact}"


def block_train_job(wildcards):
    """A block training job: its experiment, network and chunk of depths."""
    return f"{block_job(wildcards)} --depth {wildcards.depths.replace('_', ' ')}"


def width_train_job(wildcards):
    """A width training job: its chunk of widths."""
    return f"--experiment width --width {wildcards.widths.replace('_', ' ')}"


def block_checkpoint(wildcards):
    """A block training job's checkpoints, one per depth (`{depth}`: filled in by the job)."""
    w = wildcards
    return f"{RESULTS}/checkpoints/{w.texp}_{w.tarch}_{w.tact}_d{{depth}}.pkl"


def width_checkpoint(wildcards):
    """A width training job's checkpoints, one per width (`{width}`: filled in by the job)."""
    return f"{RESULTS}/checkpoints/width_{WIDTH_NAME}_w{{width}}.pkl"


def block_tables(texp):
    """The merge's inputs: the training jobs' tables of one (architecture, activation) of a
    block experiment, one per chunk of depths."""
    return lambda w: expand(
        rules.train_finite.output.table,
        texp=texp,
        tarch=w.tarch,
        tact=w.tact,
        depths=depth_chunks(texp, w.tarch),
    )


def output_options(**flags):
    """A job's further output options (`--flag path` per `flag=output name`; `_` in a
    flag is `-`): a params function, for rules that share one command."""
    return lambda wildcards, output: "".join(
        f" --{flag.replace('_', '-')} {output[name]}" for flag, name in flags.items()
    )


#: the training options every training job shares (they change no learning rate)
TRAIN_COMMON = as_json(
    {
        k: TRAIN[k]
        for k in (
            "dtype",
            "precision",
            "model_batch_size",
            "eval_batch_size",
            "checkpoint_every",
            "log_every",
            "max_minutes",
        )
    }
)
#: the learning-rate jobs' kernel batch option (none: one batch)
KERNEL_BATCH = (
    f"--kernel-batch-size {TRAIN['kernel_batch_size']}"
    if TRAIN["kernel_batch_size"]
    else ""
)
#: the block learning-rate jobs' mean-field option (the overlays' depth scales)
_THEORY = {k: config["theory"][k] for k in ("quadrature_degree", "newton_iters")}
THEORY_OPTION = f" --theory-json {shlex.quote(as_json(_THEORY))}"
#: the width experiment's jobs: chunks of widths, and the config they read
WIDTH_CHUNKS = job_chunks(WIDTH["widths"], WIDTH["widths_per_job"])
WIDTH_CFG = {k: v for k, v in WIDTH.items() if k != "widths_per_job"}


def n_test_option(n_test):
    """`--n-test N`, or nothing where n_test is null (the data module's default)."""
    return f"--n-test {n_test}" if n_test else ""


def dataset_source():
    """The user's file of `dataset.name: npz` (`dataset.path`, `~` expanded), declared as
    an input of every data rule so that editing it reruns the pipeline; none for the other
    datasets."""
    ds = config["dataset"]
    return [os.path.expanduser(ds["path"])] if ds["name"] == "npz" else []


def dataset_args():
    """The options of `python -m ntk_phases data prepare` that say where the data are (tfds data
    directory; the npz file, its image shape and classes), shared by every data rule."""
    ds = config["dataset"]
    args = [f"--convention {config['convention']}"]
    if ds["data_dir"]:
        args.append(f"--data-dir {shlex.quote(ds['data_dir'])}")
    if ds["name"] == "npz":
        args.append(f"--path {shlex.quote(dataset_source()[0])}")
        if ds.get("image_shape"):
            args.append("--image-shape " + " ".join(map(str, ds["image_shape"])))
        if ds.get("n_classes"):
            args.append(f"--n-classes {ds['n_classes']}")
    return " ".join(args)


DATASET_SOURCE = dataset_source()
DATASET_ARGS = dataset_args()


def pooling_config():
    """What the pooling-correction job (C4) computes from."""
    return as_json(
        {
            "pooling": config["claims"]["pooling"],
            "tanh_deg": TANH_DEG,
            "memory_mb": config["kernels"]["memory_mb"],
        }
    )


def claims_config():
    """What the claims job reads: not F8's or F3-F5's own settings (kernels.comparison,
    kernels.points), which no claim reads."""
    kernels = config["kernels"]
    return as_json(
        {
            "kernels": {
                k: v for k, v in kernels.items() if k not in ("comparison", "points")
            },
            "claims": config["claims"],
            "metrics": config["metrics"],
        }
    )


def freeze_chaos_config():
    """The freeze/chaos job's config, less its resources (not inputs of the computation:
    changing them does not rerun it), and theory.newton_iters (the erf mean field)."""
    sec = config["freeze_chaos"]
    return as_json(
        {
            **{k: v for k, v in sec.items() if k not in ("mem_mb", "runtime")},
            "newton_iters": config["theory"]["newton_iters"],
        }
    )


def data_json_options(wildcards, input):
    """infinite_figure's `--data-json` option (F6 only)."""
    return " ".join(f"--data-json {p}" for p in input.data)


#: F6_mean's test colour scale: the notebook's 0-0.35 on CIFAR-10
F6_TEST_VMAX = 0.35 if DATASET == "cifar10" else 1.0
#: F7's training steps
F7_STEPS = " ".join(str(s) for s in GRID["figure_steps"])


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
    Imported here, not at the top: ntk_phases.provenance needs numpy, and the workflow is parsed
    again inside every cluster job."""
    from ntk_phases.provenance import remove_orphan_sidecars as remove

    remove(RESULTS)


def final_outputs():
    """The default target's inputs: every stage's final outputs, or only the figures named
    in the config key `targets` (with the run's config table). Called by `rule all`, after
    every rule is defined."""
    if config["targets"]:
        return figure_targets(*config["targets"]) + [rules.run_config.output[0]]
    chaos = rules.freeze_chaos.output
    return [
        # data, metrics (C1-C5 and C9 claims, infinite-width tables)
        rules.prepare_data.output.npz,
        rules.claims.output[0],
        *infinite_tables(),
        # figures of the theory and infinite-width stages
        *figure_targets("F1", "F2", "F3", "F4", "F5", "F6", "F8", "F6_mean"),
        # finite width
        *grid_tables(),
        *architecture_tables(),
        rules.train_memorization.output.table,
        rules.width_infinite.output.summary,
        rules.claims_finite.output[0],
        *figure_targets("F7", "F9", "F10"),
        # freeze and chaos
        chaos.analytic,
        chaos.empirical,
        chaos.checkerboard,
        chaos.claims,
        *figure_targets("F12", "F13"),
        rules.run_config.output[0],
    ]


def claims_extra():
    """The claim tables other stages make, for metrics/claims.csv: C6-C7, C8."""
    return [rules.claims_finite.output[0], rules.freeze_chaos.output.claims]


def figure_targets(*ids):
    """PDF and PNG of each figure ID."""
    return [f"{RESULTS}/figures/{i}.{ext}" for i in ids for ext in ("pdf", "png")]
