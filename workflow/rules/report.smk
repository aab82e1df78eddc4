# The run's config as a table for the HTML report (`snakemake --report`).


localrules:
    run_config,


rule run_config:
    output:
        report(
            f"{RESULTS}/config.csv",
            caption="../report/config.rst",
            category="Configuration",
        ),
    log:
        f"{RESULTS}/logs/run_config.log",
    benchmark:
        f"{RESULTS}/benchmarks/run_config.tsv"
    conda:
        ENV
    params:
        cfg=as_json(config),
    shell:
        "python -m ntk_phases config table --config-json {params.cfg:q} --out {output} > {log} 2>&1"
