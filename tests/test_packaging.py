"""What a Hugging Face Space installs (requirements.txt) stays in step with the package's dependencies."""

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_requirements_hold_every_runtime_dependency_with_the_same_bounds():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    requirements = {line for line in lines if line and not line.startswith("#")}
    assert set(project["dependencies"]) <= requirements
    assert "torch>=2.2,<2.15" in requirements  # a range the local CPU wheel (2.13.0) satisfies
