# Stage `kernels`: analytic NNGP/NTK at every depth, one job per
# (architecture, activation, σ_b², chunk of σ_w²). The kernel files are large and only
# the metrics stage reads them, so they are temporary.


rule kernel_sweep:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
    output:
        temp(f"{RESULTS}/kernels/{{arch}}_{{activation}}/sb{{sb}}_chunk{{chunk}}.npz"),
    log:
        f"{RESULTS}/logs/kernels/{{arch}}_{{activation}}_sb{{sb}}_chunk{{chunk}}.log",
    wildcard_constraints:
        arch="fcn|cnn_f|cnn_p",
        activation="erf|tanh|relu",
        sb=r"\d+",
        chunk=r"\d+",
    conda:
        ENV
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        cfg=kernel_job_config,
    shell:
        "python -m ntk_phases.infinite kernels --arch {wildcards.arch}"
        " --activation {wildcards.activation} --data {input.data}"
        " --config-json {params.cfg:q} --out {output} > {log} 2>&1"
