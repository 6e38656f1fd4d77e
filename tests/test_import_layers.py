"""Imports point down the layers of docs/architecture.md, never up (function-level imports included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nforge_app"

# Lowest first; a module may import its own layer and those below it.
LAYERS = [
    {"errors", "values", "checks", "config", "_files", "_device", "_version", "progress",
     "_limits", "_jobs", "_cache_budget"},
    {"stimuli"},
    {"features"},
    {"spaces"},
    {"models"},
    {"analysis"},
    {"viz", "export"},
    {"engine"},
    {"ui", "cli", "api", "batch", "compat", "__main__", "__init__"},
]


def _layer(name: str) -> int:
    for level, names in enumerate(LAYERS):
        if name in names:
            return level
    raise AssertionError(f"nforge_app.{name} is in no layer of tests/test_import_layers.py; add it")


def _imports(path: Path) -> set[str]:
    """The nforge_app top-level names that ``path`` imports (``nforge_app.models._base`` -> ``models``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("nforge_app.")}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_point_down(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    upward = {name for name in _imports(path) if _layer(name) > _layer(own)}
    assert not upward, f"{path.relative_to(PACKAGE)} ({own}) imports a higher layer: {sorted(upward)}"


def test_value_types_and_the_analysis_package_load_no_torch():
    code = ("import sys; import nforge_app.values, nforge_app.checks, nforge_app.analysis; "
            "from nforge_app.analysis import evaluate, mean_pearson, read_runs, voxelwise_pearson; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
