# Stage `figures`: one rule per figure ID, reading only tidy tables.


rule F1:
    input:
        expand(
            f"{RESULTS}/theory/phase_{{activation}}.csv",
            activation=config["theory"]["activations"],
        ),
    output:
        pdf=f"{RESULTS}/figures/F1.pdf",
        png=report(
            f"{RESULTS}/figures/F1.png",
            caption="../report/F1.rst",
            category="Phase diagram",
        ),
    log:
        f"{RESULTS}/logs/figures/F1.log",
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases.figures.phase --inputs {input} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
