"""The package is ready for an index: one version, the build tools in the dev extra, and CI
building, checking and running the wheel (.ci/wheel.sh) on every run.
"""

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import edge

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_lives_in_edge_only():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "edge.__version__"}


def test_installed_metadata_and_the_command_agree_with_edge():
    assert importlib.metadata.version("edge-vitals") == edge.__version__
    res = subprocess.run([sys.executable, "-m", "edge", "--version"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0 and res.stdout.strip() == f"edge-vitals {edge.__version__}"


def test_the_dev_extra_can_build_and_check_the_package():
    dev = " ".join(PYPROJECT["project"]["optional-dependencies"]["dev"])
    assert "build" in dev and "twine" in dev


def test_ci_builds_checks_and_runs_the_wheel_outside_the_checkout():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    wheel = (ROOT / ".ci" / "wheel.sh").read_text(encoding="utf-8")
    assert ".ci/wheel.sh" in ci
    assert ci.index(".ci/wheel.sh") < ci.index("tests/arm64/run.sh")
    for step in ("-m build", "twine check --strict", "python3 -m venv", "run --demo",
                 "simulate", "elsewhere"):
        assert step in wheel, step
    assert "pip install -e" not in wheel and "--editable" not in wheel
