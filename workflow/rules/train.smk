# Stage `train`: finite-width networks (flax/optax), trained in vmapped blocks.
#
# learning rates (kernels stage, neural-tangents)  ->  training jobs (jax/flax/optax only)
#   -> tables under metrics/  ->  F7 (grid), F8 (architectures, with the infinite-width
#   tables; rule in figures.smk), F9 (memorization, C6), F10 (width, C7).
# One learning-rate rule, one training rule and one merge rule: `grid` and `architectures`
# run them over the wildcard `texp` (each block reading its own config section);
# memorization and width are `use rule` copies with their own data, config and outputs.
# Training jobs declare threads/mem_mb/runtime/gpu (config `training`); JAX does not
# pre-allocate GPU memory (shell.prefix, common.smk), so several jobs can share a GPU node.
# A training job trains a chunk of blocks one after another in one process (one Python/JAX
# start-up): `depths_per_job` depths of a grid section, `widths_per_job` widths (null: all
# in one job; 1: one job per block, the cluster's parallelism). Each block keeps its own
# checkpoint until the job's table is written, so a killed job resumes where it stopped.


localrules:
    training_data,
    F7,
    F9,
    F10,


use rule prepare_data as training_data with:
    output:
        npz=f"{RESULTS}/data/{DATASET}_memorization.npz",
        json=f"{RESULTS}/data/{DATASET}_memorization.json",
    log:
        f"{RESULTS}/logs/data/{DATASET}_memorization.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/{DATASET}_memorization.tsv"
    params:
        dataset=DATASET,
        n_train=MEMO["n_train"],
        n_test=n_test_option(MEMO["n_test"]),
        seed=config["dataset"]["seed"],
        args=DATASET_ARGS,


# Learning rates, one job per block experiment, architecture and activation (with the
# depth-scale overlay of its figure).
# The copies share its command and set their own `job` (which job), `theory` and `outputs`
# (the further output options).
rule training_lr_finite:
    input:
        data=rules.prepare_data.output.npz,
    output:
        lr=f"{RESULTS}/training/lr_{{texp}}_{{tarch}}_{{tact}}.csv",
        overlay=f"{RESULTS}/training/depth_scales_{{texp}}_{{tarch}}_{{tact}}.csv",
    log:
        f"{RESULTS}/logs/training/lr_{{texp}}_{{tarch}}_{{tact}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/lr_{{texp}}_{{tarch}}_{{tact}}.tsv"
    conda:
        ENV
    resources:
        mem_mb=sized(
            "mem_mb", TRAIN["lr_mem_mb"], "training_lr_finite", "texp", "tarch", "tact"
        ),
        runtime=sized("runtime", 30, "training_lr_finite", "texp", "tarch", "tact"),  # 30: the SLURM profile default
    params:
        job=block_job,
        cfg=block_job_config,
        theory=THEORY_OPTION,
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
        outputs=output_options(out_overlay="overlay"),
    shell:
        "python -m ntk_phases learning_rates table {params.job} --data {input.data}"
        " --dataset {params.dataset} --config-json {params.cfg:q}{params.theory}"
        " --tanh-deg {params.tanh_deg} {params.kb} --out {output.lr}{params.outputs}"
        " > {log} 2>&1"


# The memorization experiment's learning rate, on its own data.
use rule training_lr_finite as training_lr_memorization with:
    input:
        data=rules.training_data.output.npz,
    output:
        lr=f"{RESULTS}/training/lr_memorization.csv",
    log:
        f"{RESULTS}/logs/training/lr_memorization.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/lr_memorization.tsv"
    resources:
        mem_mb=sized("mem_mb", TRAIN["lr_mem_mb"], "training_lr_memorization"),
        runtime=sized("runtime", 30, "training_lr_memorization"),  # 30: the SLURM profile default
    params:
        job="--experiment memorization",
        cfg=as_json(MEMO),
        theory="",
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
        outputs="",


# The width experiment's learning rate, with the infinite-width kernels width_infinite reads.
use rule training_lr_finite as training_lr_width with:
    output:
        lr=f"{RESULTS}/training/lr_width.csv",
        kernels=f"{RESULTS}/training/kernels_width_{WIDTH_NAME}.npz",
    log:
        f"{RESULTS}/logs/training/lr_width.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/lr_width.tsv"
    resources:
        mem_mb=sized("mem_mb", TRAIN["lr_mem_mb"], "training_lr_width"),
        runtime=sized("runtime", 30, "training_lr_width"),  # 30: the SLURM profile default
    params:
        job="--experiment width",
        cfg=as_json(WIDTH_CFG),
        theory="",
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
        outputs=output_options(out_kernels="kernels"),


# Training, one job per block experiment, architecture, activation and chunk of depths.
# The copies share its command and set their own `job`, `checkpoint` and `outputs`.
rule train_finite:
    input:
        data=rules.prepare_data.output.npz,
        lr=rules.training_lr_finite.output.lr,
    output:
        table=f"{RESULTS}/training/{{texp}}/{{tarch}}_{{tact}}_d{{depths}}.csv",
    log:
        f"{RESULTS}/logs/training/{{texp}}_{{tarch}}_{{tact}}_d{{depths}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/{{texp}}_{{tarch}}_{{tact}}_d{{depths}}.tsv"
    conda:
        ENV
    threads: TRAIN["threads"]
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_finite", "texp", "tarch"),
        runtime=sized("runtime", TRAIN["runtime"], "train_finite", "texp", "tarch"),
        gpu=TRAIN["gpu"],
    params:
        job=block_train_job,
        cfg=block_job_config,
        common=TRAIN_COMMON,
        dataset=DATASET,
        checkpoint=block_checkpoint,
        outputs="",
    shell:
        "python -m ntk_phases training train {params.job}"
        " --data {input.data} --dataset {params.dataset} --lr {input.lr}"
        " --config-json {params.cfg:q} --common-json {params.common:q}"
        " --checkpoint {params.checkpoint:q} --out {output.table}{params.outputs}"
        " > {log} 2>&1"


# The memorization experiment: one job, on its own data.
use rule train_finite as train_memorization with:
    input:
        data=rules.training_data.output.npz,
        lr=rules.training_lr_memorization.output.lr,
    output:
        table=f"{RESULTS}/metrics/memorization_{MEMO_NAME}.csv",
    log:
        f"{RESULTS}/logs/training/memorization_{MEMO_NAME}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/memorization_{MEMO_NAME}.tsv"
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_memorization"),
        runtime=sized("runtime", TRAIN["runtime"], "train_memorization"),
        gpu=TRAIN["gpu"],
    params:
        job="--experiment memorization",
        cfg=as_json(MEMO),
        common=TRAIN_COMMON,
        dataset=DATASET,
        checkpoint=f"{RESULTS}/checkpoints/memorization_{MEMO_NAME}.pkl",
        outputs="",


# The width experiment: one job per chunk of widths, with the network outputs F10 draws.
use rule train_finite as train_width with:
    input:
        data=rules.prepare_data.output.npz,
        lr=rules.training_lr_width.output.lr,
    output:
        table=f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.csv",
        npz=f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.npz",
    log:
        f"{RESULTS}/logs/training/width_{WIDTH_NAME}_w{{widths}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/width_{WIDTH_NAME}_w{{widths}}.tsv"
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_width"),
        runtime=sized("runtime", TRAIN["runtime"], "train_width"),
        gpu=TRAIN["gpu"],
    params:
        job=width_train_job,
        cfg=as_json(WIDTH_CFG),
        common=TRAIN_COMMON,
        dataset=DATASET,
        checkpoint=width_checkpoint,
        outputs=output_options(out_npz="npz"),


# A block experiment's jobs merged into one table per (architecture, activation): the F7
# grid's here, F8's architectures' below.
rule finite_table:
    input:
        block_tables("grid"),
    output:
        f"{RESULTS}/metrics/finite_{{tarch}}_{{tact}}.csv",
    log:
        f"{RESULTS}/logs/training/finite_{{tarch}}_{{tact}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/finite_{{tarch}}_{{tact}}.tsv"
    conda:
        ENV
    shell:
        "python -m ntk_phases tables merge --kind finite --inputs {input}"
        " --out {output} > {log} 2>&1"


use rule finite_table as architectures_table with:
    input:
        block_tables("architectures"),
    output:
        f"{RESULTS}/metrics/finite_architectures_{{tarch}}_{{tact}}.csv",
    log:
        f"{RESULTS}/logs/training/finite_architectures_{{tarch}}_{{tact}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/finite_architectures_{{tarch}}_{{tact}}.tsv"


rule width_infinite:
    input:
        data=rules.prepare_data.output.npz,
        kernels=rules.training_lr_width.output.kernels,
        csv=expand(rules.train_width.output.table, widths=WIDTH_CHUNKS),
        npz=expand(rules.train_width.output.npz, widths=WIDTH_CHUNKS),
    output:
        table=f"{RESULTS}/metrics/width_{WIDTH_NAME}.csv",
        infinite=f"{RESULTS}/metrics/width_infinite_{WIDTH_NAME}.csv",
        summary=f"{RESULTS}/metrics/width_summary_{WIDTH_NAME}.csv",
        outputs=f"{RESULTS}/metrics/width_outputs_{WIDTH_NAME}.csv",
    log:
        f"{RESULTS}/logs/training/width_infinite_{WIDTH_NAME}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/width_infinite_{WIDTH_NAME}.tsv"
    conda:
        ENV
    resources:
        mem_mb=sized("mem_mb", TRAIN["lr_mem_mb"], "width_infinite"),
        runtime=sized("runtime", 30, "width_infinite"),  # 30: the SLURM profile default
    params:
        cfg=as_json(WIDTH_CFG),
        dataset=DATASET,
    shell:
        "python -m ntk_phases width compare --data {input.data}"
        " --dataset {params.dataset} --config-json {params.cfg:q}"
        " --kernels {input.kernels} --finite {input.csv} --npz {input.npz}"
        " --out-table {output.table} --out-infinite {output.infinite}"
        " --out-summary {output.summary} --out-outputs {output.outputs} > {log} 2>&1"


rule claims_finite:
    input:
        memorization=rules.train_memorization.output.table,
        data_json=rules.training_data.output.json,
        summary=rules.width_infinite.output.summary,
    output:
        f"{RESULTS}/metrics/claims_finite.csv",
    log:
        f"{RESULTS}/logs/training/claims_finite.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/claims_finite.tsv"
    conda:
        ENV
    params:
        cfg=as_json({"memorization": MEMO, "width": WIDTH_CFG}),
    shell:
        "python -m ntk_phases claims finite --memorization {input.memorization}"
        " --width-summary {input.summary} --data-json {input.data_json}"
        " --config-json {params.cfg:q} --out {output} > {log} 2>&1"


rule F7:
    input:
        tables=grid_tables(),
        overlays=grid_tables("overlays"),
    output:
        pdf=f"{RESULTS}/figures/F7.pdf",
        png=report(
            f"{RESULTS}/figures/F7.png",
            caption="../report/F7.rst",
            category="Finite width",
        ),
    log:
        f"{RESULTS}/logs/figures/F7.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F7.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
        steps=F7_STEPS,
    shell:
        "python -m ntk_phases figures finite F7 --tables {input.tables}"
        " --overlays {input.overlays} --steps {params.steps} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F9:
    input:
        table=rules.train_memorization.output.table,
        data_json=rules.training_data.output.json,
    output:
        pdf=f"{RESULTS}/figures/F9.pdf",
        png=report(
            f"{RESULTS}/figures/F9.png",
            caption="../report/F9.rst",
            category="Finite width",
        ),
    log:
        f"{RESULTS}/logs/figures/F9.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F9.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures finite F9 --tables {input.table}"
        " --data-json {input.data_json} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F10:
    input:
        table=rules.width_infinite.output.table,
        infinite=rules.width_infinite.output.infinite,
        summary=rules.width_infinite.output.summary,
        outputs=rules.width_infinite.output.outputs,
        claims=rules.claims_finite.output[0],
    output:
        pdf=f"{RESULTS}/figures/F10.pdf",
        png=report(
            f"{RESULTS}/figures/F10.png",
            caption="../report/F10.rst",
            category="Finite width",
        ),
    log:
        f"{RESULTS}/logs/figures/F10.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F10.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures finite F10 --tables {input.table}"
        " --infinite {input.infinite} --summary {input.summary}"
        " --outputs {input.outputs} --claims {input.claims} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
