"""Import contracts between the package's layers (DESIGN.md "Contracts, tested").

Two checks per contract: every import statement of the layer's files, function-local ones
included (AST), and what importing the layer's modules actually loads (``sys.modules`` in a
fresh interpreter, so transitive imports count too). The layers are named by today's
modules; the redesign (issue 13) moves them into ``numerics/``, ``analytic/``,
``finite/`` and ``figures/`` and keeps these contracts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ntk_phases"

#: layer -> (its modules, relative to src/ntk_phases; the top-level packages it must not import)
LAYERS: dict[str, tuple[list[str], set[str]]] = {
    # numpy / scipy / pandas science and plumbing: no jax, no kernels library, no training
    "numerics": (
        [str(p.relative_to(SRC)) for p in sorted((SRC / "numerics").glob("*.py"))]
        + ["grids.py", "io.py", "conventions.py", "architectures.py", "run_config.py"],
        {"jax", "neural_tangents", "tensorflow", "flax", "optax"},
    ),
    # claims from the tables (its command line included): numpy / pandas, like numerics
    "claims": (
        [str(p.relative_to(SRC)) for p in sorted((SRC / "claims").glob("*.py"))],
        {"jax", "neural_tangents", "tensorflow", "flax", "optax"},
    ),
    # finite-width training: jax, flax, optax only (runs on machines without neural-tangents)
    "finite": (
        [str(p.relative_to(SRC)) for p in sorted((SRC / "finite").glob("*.py")) if p.name != "__main__.py"],
        {"neural_tangents", "tensorflow"},
    ),
    # tables -> pictures
    "figures": (
        [str(p.relative_to(SRC)) for p in sorted((SRC / "figures").glob("*.py"))],
        {"jax", "neural_tangents", "tensorflow", "flax", "optax"},
    ),
    # analytic kernels and mean-field theory: never the training stack, and never TensorFlow
    # (analytic/__init__ defers neural-tangents' eager import of it)
    "analytic": (
        ["theory.py", "infinite.py"]  # the analytic entry points (command lines)
        + [str(p.relative_to(SRC)) for p in sorted((SRC / "analytic").glob("*.py"))],
        {"flax", "optax", "tensorflow"},
    ),
    # the jobs where the analytic (neural-tangents) and finite (flax) stacks meet, and only
    # there: they may load both, but never TensorFlow (neural-tangents' is deferred) or optax
    "jobs": (["freeze_chaos.py"], {"tensorflow", "optax"}),
}

#: Modules that still break a contract, each with the reason; the redesign empties this.
#: (freeze_chaos.py left it: its analytic variants are in analytic/freeze_chaos.py and
#: analytic/checkerboard.py, its flax MLPs come from finite/, and the job is in "jobs".)
KNOWN_VIOLATIONS: dict[str, str] = {}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages named by every import statement of a file (function-local too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _module_name(rel: str) -> str:
    return "ntk_phases." + rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def test_every_module_belongs_to_a_layer():
    """A new module must be placed in a layer (or listed as a known violation)."""
    placed = {rel for mods, _ in LAYERS.values() for rel in mods} | set(KNOWN_VIOLATIONS)
    unplaced = {"__init__.py", "cli.py", "data.py"}  # shared set-up and the data stage
    # the training stage's command line (`python -m ntk_phases.finite`): its `lr` command
    # defers neural-tangents kernels; it moves to stages/ with the dispatcher (issue 13)
    unplaced |= {"finite/__main__.py"}
    every = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")}
    missing = sorted(every - placed - unplaced - {"figures/__init__.py", "analytic/__init__.py"})
    assert not missing, f"modules in no layer of LAYERS: {missing}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_import_statements(layer):
    modules, forbidden = LAYERS[layer]
    found = {rel: sorted(imported_packages(SRC / rel) & forbidden) for rel in modules}
    assert not {k: v for k, v in found.items() if v}, f"{layer} imports {found}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_loads_nothing_forbidden(layer):
    modules, forbidden = LAYERS[layer]
    code = (
        "import importlib, sys\n"
        f"for m in {[_module_name(r) for r in modules]!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(p for p in {sorted(forbidden)!r} if p in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=SRC.parents[1])
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", f"importing the {layer} layer loads {res.stdout.strip()}"


def test_nothing_imports_snakemake():
    """The package runs inside jobs; the workflow imports it, never the reverse."""
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "snakemake" in imported_packages(p))
    assert not users


def loaded_packages(rel: str, packages: set[str]) -> set[str]:
    """Which of ``packages`` importing the module loads (a fresh interpreter)."""
    code = (
        f"import importlib, sys\nimportlib.import_module({_module_name(rel)!r})\n"
        f"print(sorted(p for p in {sorted(packages)!r} if p in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=SRC.parents[1])
    assert res.returncode == 0, res.stderr[-2000:]
    return set(ast.literal_eval(res.stdout.strip().splitlines()[-1]))


def test_known_violations_still_violate():
    """An entry here that no longer breaks a contract must be removed (and placed in a layer).
    A module breaks one by importing a package itself or by loading it through the package's
    own modules (freeze_chaos.py takes its flax networks from finite/)."""
    everything = set().union(*(f for _, f in LAYERS.values()))
    for rel in KNOWN_VIOLATIONS:
        pkgs = imported_packages(SRC / rel) | loaded_packages(rel, everything)
        assert {"neural_tangents", "flax"} <= pkgs & everything, rel


def test_x64_and_the_tensorflow_deferral_are_set_up_once():
    """One place switches jax to float64 and defers neural-tangents' TensorFlow import:
    analytic.setup(), run by analytic/__init__; the package's own __init__ has no side effects."""
    setters = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if 'jax_enable_x64", True' in p.read_text() or ".defer()" in p.read_text()
    )
    assert setters == ["analytic/__init__.py"], setters
    top = ast.parse((SRC / "__init__.py").read_text())
    assert all(isinstance(n, (ast.Expr, ast.Assign, ast.ImportFrom)) for n in top.body)
    assert not any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) for n in top.body)
    code = (
        "import sys, jax, ntk_phases, ntk_phases.finite.models\n"
        "print(jax.config.jax_enable_x64, 'neural_tangents.experimental' in sys.modules)\n"
        "import ntk_phases.analytic\n"
        "print(jax.config.jax_enable_x64, 'neural_tangents.experimental' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=SRC.parents[1])
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["False", "False", "True", "True"], res.stdout
