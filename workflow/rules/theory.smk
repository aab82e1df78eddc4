# Stage `theory`: mean-field fixed points, slopes and depth scales on a grid.
# Scalar recursions vmapped over the σ grid: seconds on the default grid; on the paper
# grid tanh takes ~2.5 minutes on 2 cores and 1 GB (README, Performance). On a cluster
# they run on the submit host (localrules) rather than wait for a scheduler round each.


localrules:
    phase_table,
    depth_scale_table,


rule phase_table:
    output:
        csv=f"{RESULTS}/theory/phase_{{activation}}.csv",
        prov=f"{RESULTS}/theory/phase_{{activation}}.csv.prov.json",
    log:
        f"{RESULTS}/logs/theory/phase_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/theory/phase_{{activation}}.tsv"
    conda:
        ENV
    params:
        cfg=as_json(config["theory"]),
    shell:
        "python -m ntk_phases theory tables --table phase --activation {wildcards.activation}"
        " --config-json {params.cfg:q} --out {output.csv} > {log} 2>&1"


rule depth_scale_table:
    output:
        depth_scales=f"{RESULTS}/theory/depth_scales_{{activation}}.csv",
        correlation=f"{RESULTS}/theory/correlation_{{activation}}.csv",
    log:
        f"{RESULTS}/logs/theory/depth_scales_{{activation}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/theory/depth_scales_{{activation}}.tsv"
    conda:
        ENV
    params:
        cfg=as_json(config["theory"]),
    shell:
        "python -m ntk_phases theory tables --table depth_scales correlation"
        " --activation {wildcards.activation} --config-json {params.cfg:q}"
        " --out {output.depth_scales} {output.correlation} > {log} 2>&1"
