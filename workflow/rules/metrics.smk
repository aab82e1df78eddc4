# Stage `metrics`: the kernels jobs' rows merged into one tidy table per
# (architecture, activation); claims C1-C5.


TARGETS.append(f"{RESULTS}/metrics/claims.csv")
TARGETS.extend(
    expand(
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
        arch=list(config["kernels"]["architectures"]),
        activation=config["kernels"]["activations"],
    )
)


rule infinite_table:
    input:
        kernel_chunk_tables,
    output:
        f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
    log:
        f"{RESULTS}/logs/metrics/infinite_{{arch}}_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/infinite_{{arch}}_{{activation}}.tsv"
    wildcard_constraints:
        arch="fcn|cnn_f|cnn_p",
        activation="erf|tanh|relu",
    conda:
        ENV
    params:
        cfg=lambda w: as_json(
            {
                "arch": kernel_spec(w.arch),
                "sigma_b2": config["kernels"]["sigma_b2"],
                "metrics": config["metrics"],
            }
        ),
    shell:
        "python -m ntk_phases.infinite merge --inputs {input}"
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
        cfg=lambda w: as_json(
            {
                "arch": kernel_spec(w.arch, "comparison"),
                "sigma_b2": config["kernels"]["sigma_b2"],
                "metrics": config["metrics"],
            }
        ),


rule pooling_correction:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
    output:
        f"{RESULTS}/metrics/pooling_correction.csv",
    log:
        f"{RESULTS}/logs/metrics/pooling_correction.log",
    benchmark:
        f"{RESULTS}/benchmarks/metrics/pooling_correction.tsv"
    # A kernels job (CNN-P kernels at up to 32x32, full spatial covariance): the kernels
    # jobs' memory budget, sizing its blocks of examples, and their resources.
    conda:
        ENV_CUDA if KERNEL_RES["gpu"] else ENV
    threads: KERNEL_RES["threads"]
    resources:
        mem_mb=per_attempt(KERNEL_RES["mem_mb"]),
        runtime=per_attempt(KERNEL_RES["runtime"]),
        gpu=KERNEL_RES["gpu"],
    params:
        cfg=as_json(
            {
                "pooling": config["claims"]["pooling"],
                "tanh_deg": config["theory"]["quadrature_degree"],
                "memory_mb": config["kernels"]["memory_mb"],
            }
        ),
        activation=config["claims"]["pooling"]["activation"],
    shell:
        "python -m ntk_phases.infinite pooling --activation {params.activation}"
        " --data {input.data} --config-json {params.cfg:q} --out {output} > {log} 2>&1"


rule claims:
    input:
        tables=expand(
            f"{RESULTS}/metrics/infinite_{{arch}}_{{activation}}.csv",
            arch=list(config["kernels"]["architectures"]),
            activation=config["kernels"]["activations"],
        ),
        pooling=f"{RESULTS}/metrics/pooling_correction.csv",
        # C9 on the trained F7 grid: its tables and their depth scales, pair by pair
        finite_grid=[
            f"{RESULTS}/metrics/finite_{a}_{f}.csv"
            for a in config["training"]["grid"]["archs"]
            for f in config["training"]["grid"]["activations"]
        ],
        finite_overlays=[
            f"{RESULTS}/training/depth_scales_grid_{a}_{f}.csv"
            for a in config["training"]["grid"]["archs"]
            for f in config["training"]["grid"]["activations"]
        ],
        data=f"{RESULTS}/data/{DATASET}.json",
        extra=lambda w: CLAIMS_EXTRA,
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
        cfg=as_json(
            {
                # not F8's common setting (kernels.comparison): no claim reads it
                "kernels": {
                    k: v for k, v in config["kernels"].items() if k != "comparison"
                },
                "claims": config["claims"],
                "metrics": config["metrics"],
            }
        ),
    shell:
        "python -m ntk_phases.claims --tables {input.tables} --pooling {input.pooling}"
        " --finite-grid {input.finite_grid} --finite-overlays {input.finite_overlays}"
        " --data-json {input.data}"
        " --extra {input.extra} --config-json {params.cfg:q} --out {output} > {log} 2>&1"
