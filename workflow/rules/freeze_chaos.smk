# Stage `freeze_chaos`: normalized NTK against depth for architecture variants (analytic,
# neural-tangents), the empirical NTK with/without BatchNorm (flax), the output-space NTK
# of transposed-convolution stacks (checkerboard), claims C8; figures F12 and F13.


FREEZE_CHAOS = {
    name: f"{RESULTS}/freeze_chaos/{name}.csv"
    for name in ("analytic", "empirical", "checkerboard")
}

TARGETS.extend(FREEZE_CHAOS.values())
TARGETS.append(f"{RESULTS}/metrics/claims_c8.csv")
TARGETS.extend(figure_targets("F12", "F13"))
CLAIMS_EXTRA.append(f"{RESULTS}/metrics/claims_c8.csv")


localrules:
    F12,
    F13,


# One job: neural-tangents and XLA start-up (~20 s) is paid once.
rule freeze_chaos:
    input:
        data=f"{RESULTS}/data/{DATASET}.npz",
    output:
        analytic=FREEZE_CHAOS["analytic"],
        empirical=FREEZE_CHAOS["empirical"],
        checkerboard=FREEZE_CHAOS["checkerboard"],
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
        # resources are not inputs of the computation: changing them does not rerun it
        cfg=as_json(
            {
                k: v
                for k, v in config["freeze_chaos"].items()
                if k not in ("mem_mb", "runtime")
            }
        ),
    shell:
        "python -m ntk_phases.freeze_chaos --data {input.data} --config-json {params.cfg:q}"
        " --analytic {output.analytic} --empirical {output.empirical}"
        " --checkerboard {output.checkerboard} --maps {output.maps}"
        " --claims {output.claims} > {log} 2>&1"


rule F12:
    input:
        analytic=FREEZE_CHAOS["analytic"],
        empirical=FREEZE_CHAOS["empirical"],
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
        "python -m ntk_phases.figures.freeze_chaos F12 --analytic {input.analytic}"
        " --empirical {input.empirical} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F13:
    input:
        checkerboard=FREEZE_CHAOS["checkerboard"],
        maps=f"{RESULTS}/freeze_chaos/checkerboard_maps.npz",
        claims=f"{RESULTS}/metrics/claims_c8.csv",
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
        "python -m ntk_phases.figures.freeze_chaos F13 --checkerboard {input.checkerboard}"
        " --maps {input.maps} --claims {input.claims} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"
