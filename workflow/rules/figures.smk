# Stage `figures`: one rule per figure ID, reading only tidy tables.


TARGETS.extend(figure_targets("F1", "F2"))


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


rule F2:
    input:
        depth_scales=expand(
            f"{RESULTS}/theory/depth_scales_{{activation}}.csv",
            activation=config["theory"]["depth_scales"]["activations"],
        ),
        correlation=expand(
            f"{RESULTS}/theory/correlation_{{activation}}.csv",
            activation=config["theory"]["depth_scales"]["activations"],
        ),
    output:
        pdf=f"{RESULTS}/figures/F2.pdf",
        png=report(
            f"{RESULTS}/figures/F2.png",
            caption="../report/F2.rst",
            category="Phase diagram",
        ),
    log:
        f"{RESULTS}/logs/figures/F2.log",
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases.figures.depth_scales --depth-scales {input.depth_scales}"
        " --correlation {input.correlation} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
