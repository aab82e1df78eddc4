# Stage `kernels`: analytic NNGP/NTK at every depth, reduced to metrics as they are
# computed, one job per (architecture, activation, σ_b², chunk of σ_w²). Kernel blocks
# never leave the job's memory (test points stream in batches sized by
# `kernels.memory_mb`); the job writes its rows of the metrics table.


rule kernel_sweep:
    input:
        data=rules.prepare_data.output.npz,
    output:
        f"{RESULTS}/metrics/chunks/infinite_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.csv",
    log:
        f"{RESULTS}/logs/kernels/{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/kernels/{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.tsv"
    conda:
        KERNEL_ENV
    threads: KERNEL_RES["threads"]
    resources:
        mem_mb=sized(
            "mem_mb", KERNEL_RES["mem_mb"], "kernel_sweep", "arch", "activation"
        ),
        runtime=sized(
            "runtime", KERNEL_RES["runtime"], "kernel_sweep", "arch", "activation"
        ),
        gpu=KERNEL_RES["gpu"],
    params:
        cfg=kernel_job_config,
        dataset=DATASET,
    shell:
        "python -m ntk_phases kernels sweep --arch {wildcards.arch}"
        " --activation {wildcards.activation} --data {input.data} --dataset {params.dataset}"
        " --config-json {params.cfg:q} --out {output} > {log} 2>&1"


# F8's infinite row: every architecture of `kernels.comparison` at one common setting
# (examples, σ_w² grid, depths; the kernels σ_b² and activations), by the same job.
# An architecture whose own grid is that setting is not computed twice
# (comparison_tables in common.smk).
use rule kernel_sweep as comparison_sweep with:
    output:
        f"{RESULTS}/metrics/chunks/infinite_comparison_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.csv",
    log:
        f"{RESULTS}/logs/kernels/comparison_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/kernels/comparison_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.tsv"
    params:
        cfg=lambda w: kernel_job_config(w, "comparison"),
        dataset=DATASET,


# F3-F5's own setting (kernels.points, when set; the notebook's F3-F5 cells): its chaotic
# and ordered σ_w² at its own σ_b², examples and depths, from its own prepared data
# (prepare_points_data), by the same job.
use rule kernel_sweep as points_sweep with:
    input:
        data=rules.prepare_points_data.output.npz,
    output:
        f"{RESULTS}/metrics/chunks/infinite_points_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.csv",
    log:
        f"{RESULTS}/logs/kernels/points_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/kernels/points_{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.tsv"
    wildcard_constraints:
        arch=one_of(POINTS_ARCHITECTURES),
    params:
        cfg=lambda w: kernel_job_config(w, "points"),
        dataset=DATASET,
