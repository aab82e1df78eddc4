"""Import contracts between the package's layers (DESIGN.md "Contracts, tested").

Two checks per contract: every import statement of the layer's files, function-local ones
included (AST), and what importing the layer's modules actually loads (``sys.modules`` in a
fresh interpreter, so transitive imports count too). Also: imports sit at the
top of modules, and each deferred (function-local) import says why on its line or the line
above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ntk_phases"


def _modules(folder: str) -> list[str]:
    return [str(p.relative_to(SRC)) for p in sorted((SRC / folder).glob("*.py"))]


NUMPY_ONLY = {"jax", "neural_tangents", "tensorflow", "flax", "optax"}

#: layer -> (its modules, relative to src/ntk_phases; the top-level packages it must not import).
#: A stage module (stages/) sits in the layer of what its jobs load: the dispatcher imports
#: only the stage asked for, so a job loads nothing of another stage.
LAYERS: dict[str, tuple[list[str], set[str]]] = {
    # numpy / scipy / pandas science and plumbing, the dispatcher and the table jobs
    "numerics": (
        _modules("numerics")
        + ["config.py", "files.py", "provenance.py", "tables.py", "conventions.py", "architectures.py"]
        + ["__init__.py", "__main__.py", "stages/__init__.py", "stages/config.py", "stages/tables.py"],
        NUMPY_ONLY,
    ),
    # datasets: numpy, with scikit-learn and tensorflow-datasets inside the loaders
    "data": (["data.py", "stages/data.py"], {"jax", "neural_tangents", "flax", "optax"}),
    # claims from the tables, and the width comparison: numpy / pandas
    "claims": (_modules("claims") + ["stages/claims.py", "stages/width.py"], NUMPY_ONLY),
    # finite-width training: jax, flax, optax only (runs on machines without neural-tangents)
    "finite": (_modules("finite") + ["stages/training.py"], {"neural_tangents", "tensorflow"}),
    # tables -> pictures
    "figures": (_modules("figures") + ["stages/figures.py"], NUMPY_ONLY),
    # analytic kernels and mean-field theory: never the training stack, and never TensorFlow
    # (analytic/__init__ defers neural-tangents' eager import of it)
    "analytic": (
        _modules("analytic") + ["stages/kernels.py", "stages/theory.py", "stages/learning_rates.py"],
        {"flax", "optax", "tensorflow"},
    ),
    # the one job where the analytic (neural-tangents) and finite (flax) stacks meet: it may
    # load both, never TensorFlow (neural-tangents' is deferred)
    "jobs": (["stages/freeze_chaos.py"], {"tensorflow"}),
}

#: Modules that still break a contract, each with the reason; the redesign emptied it.
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
    every = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")}
    missing = sorted(every - placed)
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


def test_deferred_imports_say_why():
    """An import inside a function keeps a heavy dependency out of jobs that do not need it
    (DESIGN.md); each says so in a comment on its line or within the two lines above."""
    unexplained = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    context = lines[max(node.lineno - 3, 0) : node.lineno]
                    if not any("deferred" in line for line in context):
                        unexplained.append(f"{path.relative_to(SRC)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not unexplained, "\n".join(unexplained)
