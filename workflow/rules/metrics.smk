# Stage `metrics`: the kernels jobs' rows merged into one tidy table per
# (architecture, activation); claims C1-C5.


rule infinite_table:
    input:
        kernel_chunk_tables,
    output:
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
    log:
        f"{RESULTS}/logs/metrics/infinite_{{arch}}_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/infinite_{{arch}}_{{activation}}.tsv"
    conda:
        ENV
    params:
        cfg=merge_config,
    shell:
        "python -m ntk_phases tables merge --kind infinite --inputs {input}"
        " --config-json {params.cfg:q} --out {output} > {log} 2>&1"


# F8's infinite row: the kernels.comparison architectures at one common setting, merged
# as above (comparison_sweep in kernels.smk).
use rule infinite_table as comparison_table with:
    input:
        lambda w: kernel_chunk_tables(w, "comparison"),
    output:
        f"{RESULTS}/metrics/infinite_comparison_{{arch}}_{{activation}}.csv",
    log:
        f"{RESULTS}/logs/metrics/infinite_comparison_{{arch}}_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/infinite_comparison_{{arch}}_{{activation}}.tsv"
    params:
        cfg=lambda w: merge_config(w, "comparison"),


# F3-F5's own setting (kernels.points, when set): its two σ_w² points, merged as above
# (points_sweep in kernels.smk).
use rule infinite_table as points_table with:
    input:
        lambda w: kernel_chunk_tables(w, "points"),
    output:
        f"{RESULTS}/metrics/infinite_points_{{arch}}_{{activation}}.csv",
    log:
        f"{RESULTS}/logs/metrics/infinite_points_{{arch}}_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/infinite_points_{{arch}}_{{activation}}.tsv"
    wildcard_constraints:
        arch=one_of(POINTS_ARCHITECTURES),
    params:
        cfg=lambda w: merge_config(w, "points"),


rule pooling_correction:
    input:
        data=rules.prepare_data.output.npz,
    output:
        f"{RESULTS}/metrics/pooling_correction.csv",
    log:
        f"{RESULTS}/logs/metrics/pooling_correction.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/pooling_correction.tsv"
    # A kernels job (CNN-P kernels at up to 32x32, full spatial covariance): the kernels
    # jobs' memory budget, sizing its blocks of examples, and their resources.
    conda:
        KERNEL_ENV
    threads: KERNEL_RES["threads"]
    resources:
        mem_mb=sized("mem_mb", KERNEL_RES["mem_mb"], "pooling_correction"),
        runtime=sized("runtime", KERNEL_RES["runtime"], "pooling_correction"),
        gpu=KERNEL_RES["gpu"],
    params:
        cfg=pooling_config(),
        activation=config["claims"]["pooling"]["activation"],
    shell:
        "python -m ntk_phases kernels pooling --activation {params.activation}"
        " --data {input.data} --config-json {params.cfg:q} --out {output} > {log} 2>&1"


rule claims:
    input:
        tables=infinite_tables(),
        pooling=rules.pooling_correction.output[0],
        # C9 on the trained F7 grid: its tables and their depth scales, pair by pair
        finite_grid=grid_tables(),
        finite_overlays=grid_tables("overlays"),
        data=rules.prepare_data.output.json,
        # C6-C7 (train.smk) and C8 (freeze_chaos.smk)
        extra=claims_extra(),
    output:
        report(
            f"{RESULTS}/metrics/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        f"{RESULTS}/logs/metrics/claims.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/claims.tsv"
    conda:
        ENV
    params:
        cfg=claims_config(),
    shell:
        "python -m ntk_phases claims table --tables {input.tables} --pooling {input.pooling}"
        " --finite-grid {input.finite_grid} --finite-overlays {input.finite_overlays}"
        " --data-json {input.data}"
        " --extra {input.extra} --config-json {params.cfg:q} --out {output} > {log} 2>&1"
