# Stage `theory`: mean-field fixed points, slopes and depth scales on a grid.


rule phase_table:
    output:
        csv=f"{RESULTS}/theory/phase_{{activation}}.csv",
        prov=f"{RESULTS}/theory/phase_{{activation}}.csv.prov.json",
    log:
        f"{RESULTS}/logs/theory/phase_{{activation}}.log",
    wildcard_constraints:
        activation="erf|tanh|relu",
    conda:
        ENV
    params:
        cfg=as_json(config["theory"]),
    shell:
        "python -m ntk_phases.theory --activation {wildcards.activation}"
        " --config-json {params.cfg:q} --out {output.csv} > {log} 2>&1"
