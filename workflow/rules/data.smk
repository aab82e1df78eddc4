# Stage `data`: a seeded, preprocessed subset of the configured dataset.
# Every rule that calls `python -m ntk_phases data prepare` (prepare_data here, and its copies)
# declares the user's npz file as an input (DATASET_SOURCE) and passes the options that say
# where the data are (DATASET_ARGS; both in common.smk).


localrules:
    prepare_data,
    prepare_points_data,


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
        "python -m ntk_phases data prepare --dataset {params.dataset}"
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
