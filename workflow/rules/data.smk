# Stage `data`: a seeded, preprocessed subset of the configured dataset.
import os
import shlex

# What every rule that calls `python -m ntk_phases.data` shares (prepare_data here, and
# any other data rule): DATASET_SOURCE, the user's file of `dataset.name: npz`
# (`dataset.path`, `~` expanded), to declare as an input so that editing it reruns the
# pipeline (empty for the other datasets); DATASET_ARGS, the options that say where the
# data are (tfds data directory; the npz file, its image shape and classes).
_ds = config["dataset"]
DATASET_SOURCE = []
DATASET_ARGS = [f"--convention {config['convention']}"]
if _ds["data_dir"]:
    DATASET_ARGS.append(f"--data-dir {shlex.quote(_ds['data_dir'])}")
if DATASET == "npz":
    DATASET_SOURCE.append(os.path.expanduser(_ds["path"]))
    DATASET_ARGS.append(f"--path {shlex.quote(DATASET_SOURCE[0])}")
    if _ds.get("image_shape"):
        DATASET_ARGS.append("--image-shape " + " ".join(map(str, _ds["image_shape"])))
    if _ds.get("n_classes"):
        DATASET_ARGS.append(f"--n-classes {_ds['n_classes']}")
DATASET_ARGS = " ".join(DATASET_ARGS)


localrules:
    prepare_data,
    prepare_points_data,


TARGETS.append(f"{RESULTS}/data/{DATASET}.npz")


rule prepare_data:
    input:
        source=DATASET_SOURCE,
    output:
        npz=f"{RESULTS}/data/{DATASET}.npz",
        json=f"{RESULTS}/data/{DATASET}.json",
    log:
        f"{RESULTS}/logs/data/{DATASET}.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/{DATASET}.tsv"
    conda:
        ENV
    params:
        dataset=DATASET,
        n_train=config["dataset"]["n_train"],
        n_test=f"--n-test {config['dataset']['n_test']}",
        seed=config["dataset"]["seed"],
        args=DATASET_ARGS,
    shell:
        "python -m ntk_phases.data --dataset {params.dataset}"
        " --n-train {params.n_train} {params.n_test} --seed {params.seed}"
        " {params.args} --out-npz {output.npz} --out-json {output.json} > {log} 2>&1"


# F3-F5's own data (kernels.points, when set): the same preparation at its own sizes, as
# the notebook's F3-F5 cells load their 64 / 32 images (standardised as those splits).
use rule prepare_data as prepare_points_data with:
    output:
        npz=f"{RESULTS}/data/{DATASET}_points.npz",
        json=f"{RESULTS}/data/{DATASET}_points.json",
    log:
        f"{RESULTS}/logs/data/{DATASET}_points.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/{DATASET}_points.tsv"
    params:
        dataset=DATASET,
        n_train=lambda w: POINTS["n_train"],
        n_test=lambda w: f"--n-test {POINTS['n_test']}",
        seed=config["dataset"]["seed"],
        args=DATASET_ARGS,
