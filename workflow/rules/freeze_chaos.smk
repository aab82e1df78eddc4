# Stage `freeze_chaos`: normalized NTK against depth for architecture variants (analytic,
# neural-tangents), the empirical NTK with/without BatchNorm (flax), the output-space NTK
# of transposed-convolution stacks (checkerboard), claims C8; figures F12 and F13.


localrules:
    F12,
    F13,


# One job: neural-tangents and XLA start-up (~20 s) is paid once.
rule freeze_chaos:
    input:
        data=rules.prepare_data.output.npz,
    output:
        analytic=f"{RESULTS}/freeze_chaos/analytic.csv",
        empirical=f"{RESULTS}/freeze_chaos/empirical.csv",
        checkerboard=f"{RESULTS}/freeze_chaos/checkerboard.csv",
        maps=f"{RESULTS}/freeze_chaos/checkerboard_maps.npz",
        claims=f"{RESULTS}/metrics/claims_c8.csv",
    log:
        f"{RESULTS}/logs/freeze_chaos/freeze_chaos.log",
    benchmark:
        f"{RESULTS}/benchmarks/freeze_chaos/freeze_chaos.tsv"
    conda:
        ENV
    resources:
        mem_mb=sized("mem_mb", config["freeze_chaos"]["mem_mb"], "freeze_chaos"),
        runtime=sized("runtime", config["freeze_chaos"]["runtime"], "freeze_chaos"),
    params:
        cfg=freeze_chaos_config(),
    shell:
        "python -m ntk_phases freeze_chaos run --data {input.data} --config-json {params.cfg:q}"
        " --analytic {output.analytic} --empirical {output.empirical}"
        " --checkerboard {output.checkerboard} --maps {output.maps}"
        " --claims {output.claims} > {log} 2>&1"


rule F12:
    input:
        analytic=rules.freeze_chaos.output.analytic,
        empirical=rules.freeze_chaos.output.empirical,
    output:
        pdf=f"{RESULTS}/figures/F12.pdf",
        png=report(
            f"{RESULTS}/figures/F12.png",
            caption="../report/F12.rst",
            category="Freeze and chaos",
        ),
    log:
        f"{RESULTS}/logs/figures/F12.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F12.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures freeze_chaos F12 --analytic {input.analytic}"
        " --empirical {input.empirical} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F13:
    input:
        checkerboard=rules.freeze_chaos.output.checkerboard,
        maps=rules.freeze_chaos.output.maps,
        claims=rules.freeze_chaos.output.claims,
    output:
        pdf=f"{RESULTS}/figures/F13.pdf",
        png=report(
            f"{RESULTS}/figures/F13.png",
            caption="../report/F13.rst",
            category="Freeze and chaos",
        ),
    log:
        f"{RESULTS}/logs/figures/F13.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F13.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures freeze_chaos F13 --checkerboard {input.checkerboard}"
        " --maps {input.maps} --claims {input.claims} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
