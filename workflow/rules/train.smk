# Stage `train`: finite-width networks (flax/optax), trained in vmapped blocks.
#
# learning rates (kernels stage, neural-tangents)  ->  training jobs (jax/flax/optax only)
#   -> tables under metrics/  ->  F7 (grid), F8 (architectures, with the infinite-width
#   tables; rule in figures.smk), F9 (memorization, C6), F10 (width, C7).
# `grid` and `architectures` share the learning-rate and block-training rules (wildcard
# `texp`): the same entry points, each block reading its own config section.
# Training jobs declare threads/mem_mb/runtime/gpu (config `training`); JAX does not
# pre-allocate GPU memory, so several jobs can share a GPU node.
# A training job trains a chunk of blocks one after another in one process (one Python/JAX
# start-up): `depths_per_job` depths of a grid section, `widths_per_job` widths (null: all
# in one job; 1: one job per block, the cluster's parallelism). Each block keeps its own
# checkpoint until the job's table is written, so a killed job resumes where it stopped.

TRAIN = config["training"]
GRID = TRAIN["grid"]
ARCHS = TRAIN["architectures"]
MEMO = TRAIN["memorization"]
WIDTH = TRAIN["width"]
GRID_PAIRS = [(a, f) for a in GRID["archs"] for f in GRID["activations"]]
MEMO_NAME = f"{MEMO['arch']}_{MEMO['activation']}"
WIDTH_NAME = f"{WIDTH['arch']}_{WIDTH['activation']}"
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
TANH_DEG = config["theory"]["quadrature_degree"]
KERNEL_BATCH = (
    f"--kernel-batch-size {TRAIN['kernel_batch_size']}"
    if TRAIN["kernel_batch_size"]
    else ""
)


WIDTH_CHUNKS = job_chunks(WIDTH["widths"], WIDTH["widths_per_job"])
WIDTH_CFG = {k: v for k, v in WIDTH.items() if k != "widths_per_job"}


TARGETS.extend(
    [f"{RESULTS}/metrics/finite_{a}_{f}.csv" for a, f in GRID_PAIRS]
    + architecture_tables()
    + [
        f"{RESULTS}/metrics/memorization_{MEMO_NAME}.csv",
        f"{RESULTS}/metrics/width_summary_{WIDTH_NAME}.csv",
        f"{RESULTS}/metrics/claims_finite.csv",
    ]
)
TARGETS.extend(figure_targets("F7", "F9", "F10"))
CLAIMS_EXTRA.append(f"{RESULTS}/metrics/claims_finite.csv")


localrules:
    training_data,
    F7,
    F9,
    F10,


wildcard_constraints:
    tarch="fcn|cnn_f|cnn_p",
    tact="erf|tanh|relu",
    texp="grid|architectures",


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
        n_test=f"--n-test {MEMO['n_test']}" if MEMO["n_test"] else "",
        seed=config["dataset"]["seed"],
        args=DATASET_ARGS,


rule training_lr_finite:
    input:
        f"{RESULTS}/data/{DATASET}.npz",
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
        cfg=lambda w: as_json(job_config(w.texp, w.tarch)),
        theory=as_json(
            {k: config["theory"][k] for k in ("quadrature_degree", "newton_iters")}
        ),
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
    shell:
        "python -m ntk_phases.finite lr --experiment {wildcards.texp} --arch {wildcards.tarch}"
        " --activation {wildcards.tact} --data {input} --dataset {params.dataset}"
        " --config-json {params.cfg:q} --theory-json {params.theory:q}"
        " --tanh-deg {params.tanh_deg} {params.kb} --out {output.lr} --out-overlay {output.overlay}"
        " > {log} 2>&1"


rule training_lr_memorization:
    input:
        f"{RESULTS}/data/{DATASET}_memorization.npz",
    output:
        f"{RESULTS}/training/lr_memorization.csv",
    log:
        f"{RESULTS}/logs/training/lr_memorization.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/lr_memorization.tsv"
    conda:
        ENV
    resources:
        mem_mb=sized("mem_mb", TRAIN["lr_mem_mb"], "training_lr_memorization"),
        runtime=sized("runtime", 30, "training_lr_memorization"),  # 30: the SLURM profile default
    params:
        cfg=as_json(MEMO),
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
    shell:
        "python -m ntk_phases.finite lr --experiment memorization --data {input}"
        " --dataset {params.dataset} --config-json {params.cfg:q}"
        " --tanh-deg {params.tanh_deg} {params.kb} --out {output} > {log} 2>&1"


rule training_lr_width:
    input:
        f"{RESULTS}/data/{DATASET}.npz",
    output:
        lr=f"{RESULTS}/training/lr_width.csv",
        kernels=f"{RESULTS}/training/kernels_width_{WIDTH_NAME}.npz",
    log:
        f"{RESULTS}/logs/training/lr_width.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/lr_width.tsv"
    conda:
        ENV
    resources:
        mem_mb=sized("mem_mb", TRAIN["lr_mem_mb"], "training_lr_width"),
        runtime=sized("runtime", 30, "training_lr_width"),  # 30: the SLURM profile default
    params:
        cfg=as_json(WIDTH_CFG),
        dataset=DATASET,
        tanh_deg=TANH_DEG,
        kb=KERNEL_BATCH,
    shell:
        "python -m ntk_phases.finite lr --experiment width --data {input}"
        " --dataset {params.dataset} --config-json {params.cfg:q}"
        " --tanh-deg {params.tanh_deg} {params.kb} --out {output.lr}"
        " --out-kernels {output.kernels} > {log} 2>&1"


rule train_finite:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
        lr=f"{RESULTS}/training/lr_{{texp}}_{{tarch}}_{{tact}}.csv",
    output:
        f"{RESULTS}/training/{{texp}}/{{tarch}}_{{tact}}_d{{depths}}.csv",
    log:
        f"{RESULTS}/logs/training/{{texp}}_{{tarch}}_{{tact}}_d{{depths}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/{{texp}}_{{tarch}}_{{tact}}_d{{depths}}.tsv"
    wildcard_constraints:
        depths=r"\d+(_\d+)*",
    conda:
        ENV
    threads: TRAIN["threads"]
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_finite", "texp", "tarch"),
        runtime=sized("runtime", TRAIN["runtime"], "train_finite", "texp", "tarch"),
        gpu=TRAIN["gpu"],
    params:
        cfg=lambda w: as_json(job_config(w.texp, w.tarch)),
        common=TRAIN_COMMON,
        dataset=DATASET,
        depths=lambda wc: wc.depths.replace("_", " "),
        checkpoint=lambda wc: f"{RESULTS}/checkpoints/{wc.texp}_{wc.tarch}_{wc.tact}_d{{depth}}.pkl",
    shell:
        "export XLA_PYTHON_CLIENT_PREALLOCATE=false;"
        " python -m ntk_phases.finite train --experiment {wildcards.texp}"
        " --arch {wildcards.tarch} --activation {wildcards.tact} --depth {params.depths}"
        " --data {input.data} --dataset {params.dataset} --lr {input.lr}"
        " --config-json {params.cfg:q} --common-json {params.common:q}"
        " --checkpoint {params.checkpoint:q} --out {output} > {log} 2>&1"


rule finite_table:
    input:
        lambda w: expand(
            f"{RESULTS}/training/grid/{w.tarch}_{w.tact}_d{{depths}}.csv",
            depths=depth_chunks("grid", w.tarch),
        ),
    output:
        f"{RESULTS}/metrics/finite_{{tarch}}_{{tact}}.csv",
    log:
        f"{RESULTS}/logs/training/finite_{{tarch}}_{{tact}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/finite_{{tarch}}_{{tact}}.tsv"
    conda:
        ENV
    shell:
        "python -m ntk_phases.finite merge --inputs {input} --out {output} > {log} 2>&1"


rule architectures_table:
    input:
        lambda w: expand(
            f"{RESULTS}/training/architectures/{w.tarch}_{w.tact}_d{{depths}}.csv",
            depths=depth_chunks("architectures", w.tarch),
        ),
    output:
        f"{RESULTS}/metrics/finite_architectures_{{tarch}}_{{tact}}.csv",
    log:
        f"{RESULTS}/logs/training/finite_architectures_{{tarch}}_{{tact}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/finite_architectures_{{tarch}}_{{tact}}.tsv"
    conda:
        ENV
    shell:
        "python -m ntk_phases.finite merge --inputs {input} --out {output} > {log} 2>&1"


rule train_memorization:
    input:
        data=f"{RESULTS}/data/{DATASET}_memorization.npz",
        lr=f"{RESULTS}/training/lr_memorization.csv",
    output:
        f"{RESULTS}/metrics/memorization_{MEMO_NAME}.csv",
    log:
        f"{RESULTS}/logs/training/memorization_{MEMO_NAME}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/memorization_{MEMO_NAME}.tsv"
    conda:
        ENV
    threads: TRAIN["threads"]
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_memorization"),
        runtime=sized("runtime", TRAIN["runtime"], "train_memorization"),
        gpu=TRAIN["gpu"],
    params:
        cfg=as_json(MEMO),
        common=TRAIN_COMMON,
        dataset=DATASET,
        checkpoint=f"{RESULTS}/checkpoints/memorization_{MEMO_NAME}.pkl",
    shell:
        "export XLA_PYTHON_CLIENT_PREALLOCATE=false;"
        " python -m ntk_phases.finite train --experiment memorization"
        " --data {input.data} --dataset {params.dataset} --lr {input.lr}"
        " --config-json {params.cfg:q} --common-json {params.common:q}"
        " --checkpoint {params.checkpoint} --out {output} > {log} 2>&1"


rule train_width:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
        lr=f"{RESULTS}/training/lr_width.csv",
    output:
        csv=f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.csv",
        npz=f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.npz",
    log:
        f"{RESULTS}/logs/training/width_{WIDTH_NAME}_w{{widths}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/training/width_{WIDTH_NAME}_w{{widths}}.tsv"
    wildcard_constraints:
        widths=r"\d+(_\d+)*",
    conda:
        ENV
    threads: TRAIN["threads"]
    resources:
        mem_mb=sized("mem_mb", TRAIN["mem_mb"], "train_width"),
        runtime=sized("runtime", TRAIN["runtime"], "train_width"),
        gpu=TRAIN["gpu"],
    params:
        cfg=as_json(WIDTH_CFG),
        common=TRAIN_COMMON,
        dataset=DATASET,
        widths=lambda wc: wc.widths.replace("_", " "),
        checkpoint=lambda wc: f"{RESULTS}/checkpoints/width_{WIDTH_NAME}_w{{width}}.pkl",
    shell:
        "export XLA_PYTHON_CLIENT_PREALLOCATE=false;"
        " python -m ntk_phases.finite train --experiment width"
        " --width {params.widths} --data {input.data} --dataset {params.dataset}"
        " --lr {input.lr} --config-json {params.cfg:q} --common-json {params.common:q}"
        " --checkpoint {params.checkpoint:q} --out {output.csv} --out-npz {output.npz}"
        " > {log} 2>&1"


rule width_infinite:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
        kernels=f"{RESULTS}/training/kernels_width_{WIDTH_NAME}.npz",
        csv=expand(
            f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.csv",
            widths=WIDTH_CHUNKS,
        ),
        npz=expand(
            f"{RESULTS}/training/width/{WIDTH_NAME}_w{{widths}}.npz",
            widths=WIDTH_CHUNKS,
        ),
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
        "python -m ntk_phases.finite infinite --data {input.data}"
        " --dataset {params.dataset} --config-json {params.cfg:q}"
        " --kernels {input.kernels} --finite {input.csv} --npz {input.npz}"
        " --out-table {output.table} --out-infinite {output.infinite}"
        " --out-summary {output.summary} --out-outputs {output.outputs} > {log} 2>&1"


rule claims_finite:
    input:
        memorization=f"{RESULTS}/metrics/memorization_{MEMO_NAME}.csv",
        data_json=f"{RESULTS}/data/{DATASET}_memorization.json",
        summary=f"{RESULTS}/metrics/width_summary_{WIDTH_NAME}.csv",
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
        "python -m ntk_phases.finite claims --memorization {input.memorization}"
        " --width-summary {input.summary} --data-json {input.data_json}"
        " --config-json {params.cfg:q} --out {output} > {log} 2>&1"


rule F7:
    input:
        tables=[f"{RESULTS}/metrics/finite_{a}_{f}.csv" for a, f in GRID_PAIRS],
        overlays=[
            f"{RESULTS}/training/depth_scales_grid_{a}_{f}.csv" for a, f in GRID_PAIRS
        ],
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
        steps=" ".join(str(s) for s in GRID["figure_steps"]),
    shell:
        "python -m ntk_phases.figures.finite F7 --tables {input.tables}"
        " --overlays {input.overlays} --steps {params.steps} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F9:
    input:
        table=f"{RESULTS}/metrics/memorization_{MEMO_NAME}.csv",
        data_json=f"{RESULTS}/data/{DATASET}_memorization.json",
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
        "python -m ntk_phases.figures.finite F9 --tables {input.table}"
        " --data-json {input.data_json} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F10:
    input:
        table=f"{RESULTS}/metrics/width_{WIDTH_NAME}.csv",
        infinite=f"{RESULTS}/metrics/width_infinite_{WIDTH_NAME}.csv",
        summary=f"{RESULTS}/metrics/width_summary_{WIDTH_NAME}.csv",
        outputs=f"{RESULTS}/metrics/width_outputs_{WIDTH_NAME}.csv",
        claims=f"{RESULTS}/metrics/claims_finite.csv",
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
        "python -m ntk_phases.figures.finite F10 --tables {input.table}"
        " --infinite {input.infinite} --summary {input.summary}"
        " --outputs {input.outputs} --claims {input.claims} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
