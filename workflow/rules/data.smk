# Stage `data`: a seeded, preprocessed subset of the configured dataset.


localrules:
    prepare_data,


TARGETS.append(f"{RESULTS}/data/{DATASET}.npz")


rule prepare_data:
    output:
        npz=f"{RESULTS}/data/{DATASET}.npz",
        json=f"{RESULTS}/data/{DATASET}.json",
    log:
        f"{RESULTS}/logs/data/{DATASET}.log",
    conda:
        ENV
    params:
        dataset=DATASET,
        n_train=config["dataset"]["n_train"],
        n_test=config["dataset"]["n_test"],
        seed=config["dataset"]["seed"],
        data_dir=(
            f"--data-dir {config['dataset']['data_dir']}"
            if config["dataset"]["data_dir"]
            else ""
        ),
    shell:
        "python -m ntk_phases.data --dataset {params.dataset}"
        " --n-train {params.n_train} --n-test {params.n_test} --seed {params.seed}"
        " {params.data_dir} --out-npz {output.npz} --out-json {output.json} > {log} 2>&1"
