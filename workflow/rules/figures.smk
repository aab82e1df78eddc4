# Stage `figures`: one rule per figure ID, reading only tidy tables.
# Figure jobs are seconds of matplotlib: on a cluster they run on the submit host
# (localrules) instead of each waiting for a scheduler round.


localrules:
    F1,
    F2,
    infinite_figure,
    F6_mean,


rule F1:
    input:
        expand(rules.phase_table.output.csv, activation=config["theory"]["activations"]),
    output:
        pdf=f"{RESULTS}/figures/F1.pdf",
        png=report(
            f"{RESULTS}/figures/F1.png",
            caption="../report/F1.rst",
            category="Phase diagram",
        ),
    log:
        f"{RESULTS}/logs/figures/F1.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F1.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures phase --inputs {input} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule F2:
    input:
        depth_scales=expand(
            rules.depth_scale_table.output.depth_scales,
            activation=config["theory"]["depth_scales"]["activations"],
        ),
        correlation=expand(
            rules.depth_scale_table.output.correlation,
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
    benchmark:
        f"{RESULTS}/benchmarks/figures/F2.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
    shell:
        "python -m ntk_phases figures depth_scales --depth-scales {input.depth_scales}"
        " --correlation {input.correlation} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


# F8 adds a finite-width row: the `architectures` training tables and their depth-scale
# overlays (train.smk; none when training.architectures.archs is empty).
rule infinite_figure:
    input:
        # F8: every architecture at one common setting (kernels.comparison); F3-F5:
        # kernels.points where set
        tables=lambda w: infinite_figure_tables(w.fig),
        finite=lambda w: architecture_tables() if w.fig == "F8" else [],
        overlays=lambda w: architecture_tables("overlays") if w.fig == "F8" else [],
        # F6: chance (n_classes) for the C9 law it draws
        data=lambda w: [rules.prepare_data.output.json] if w.fig == "F6" else [],
    output:
        pdf=f"{RESULTS}/figures/{{fig}}.pdf",
        png=report(
            f"{RESULTS}/figures/{{fig}}.png",
            caption="../report/infinite_figures.rst",
            category="Infinite width",
        ),
    log:
        f"{RESULTS}/logs/figures/{{fig}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{fig}}.tsv"
    wildcard_constraints:
        fig=one_of(["F3", "F4", "F5", "F6", "F8"]),
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
        data=data_json_options,
        cfg=lambda w: as_json(infinite_figure_config(w.fig)),
    shell:
        "python -m ntk_phases figures infinite --figure {wildcards.fig} --tables {input.tables}"
        " --finite {input.finite} --overlays {input.overlays}"
        " {params.data}"
        " --config-json {params.cfg:q} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


# F6's companion: the mean predictor's accuracies (the paper's and notebook's picture;
# F6 shows the true network with its random initial function), same axes, the
# notebook's filled contours; its test colour scale is the notebook's 0-0.35 on CIFAR-10.
rule F6_mean:
    input:
        tables=infinite_tables(["fcn"]),
        data=rules.prepare_data.output.json,
    output:
        pdf=f"{RESULTS}/figures/F6_mean.pdf",
        png=report(
            f"{RESULTS}/figures/F6_mean.png",
            caption="../report/F6_mean.rst",
            category="Infinite width",
        ),
    log:
        f"{RESULTS}/logs/figures/F6_mean.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/F6_mean.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
        test_vmax=F6_TEST_VMAX,
        cfg=as_json(config["claims"]),
    shell:
        "python -m ntk_phases figures infinite --figure F6_mean --tables {input.tables}"
        " --data-json {input.data} --test-vmax {params.test_vmax}"
        " --config-json {params.cfg:q} --dpi {params.dpi}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


# Figure IDs as targets (`snakemake F3`); the files come from infinite_figure.
rule F3:
    input:
        figure_targets("F3"),


rule F4:
    input:
        figure_targets("F4"),


rule F5:
    input:
        figure_targets("F5"),


rule F6:
    input:
        figure_targets("F6"),


rule F8:
    input:
        figure_targets("F8"),
