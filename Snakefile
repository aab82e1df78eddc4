# ntk-phases: wiring only. Stages live in workflow/rules/, science in src/ntk_phases/.
from snakemake.utils import min_version

min_version("9.0")


# The default run; `--configfile FILE` is merged over it (config/test.yaml, paper.yaml).
configfile: "config/config.yaml"


# Each stage is included after the stages whose outputs its rules read (rules.x.output).
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/kernels.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/freeze_chaos.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


# A failed job's outputs are removed by Snakemake; their provenance sidecars go with them.
onstart:
    remove_orphan_sidecars()


onerror:
    remove_orphan_sidecars()


rule all:
    default_target: True
    input:
        final_outputs(),
