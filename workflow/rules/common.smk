# Config validation (before any job runs), run paths and target lists.
import json

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml", set_default=True)


def _check_grid(key, spec):
    if "min" in spec and spec["min"] > spec["max"]:
        raise ValueError(
            f"config key {key}: min ({spec['min']}) is larger than max ({spec['max']})"
        )


_check_grid("theory.sigma_w2", config["theory"]["sigma_w2"])
_check_grid("theory.sigma_b2", config["theory"]["sigma_b2"])

RUN = config["run"]
RESULTS = f"results/{RUN}"
DATASET = config["dataset"]["name"]
ENV = "../../envs/cpu.yaml"
# Each stage file appends the final outputs it contributes to `rule all`.
TARGETS = []

# Rules run `python -m ntk_phases...` from the workflow directory; putting src/ on the
# path makes the package importable without an install (e.g. in a conda environment
# made by --sdm conda). The prefix is formatted like a command, hence doubled braces.
shell.prefix("export PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}}; ")


def as_json(obj):
    """A config section as compact JSON, passed to an entry point as one argument."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def all_targets():
    return TARGETS


def figure_targets(*ids):
    """PDF and PNG of each figure ID."""
    return [f"{RESULTS}/figures/{i}.{ext}" for i in ids for ext in ("pdf", "png")]
