"""The README's set-up commands are the ones CI runs, and its examples are real."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_test_command_is_what_ci_runs():
    line = next(s for s in README.splitlines() if "pytest" in s and s.startswith("python3 -m venv"))
    for part in line.split("&&"):
        step = part.strip().replace(".venv/bin/", "")
        assert step.split()[-1] in CI, step
    assert '.venv/bin/pip install --quiet -e ".[dev]"' in CI
    assert ".venv/bin/python -m pytest" in CI


def test_readme_cli_examples_use_existing_flags():
    import argparse

    from edge import cli_run

    parser = argparse.ArgumentParser()
    cli_run.add_arguments(parser)
    known = {opt for action in parser._actions for opt in action.option_strings}
    used = set(re.findall(r"edge-vitals run [^\n#]*?(--[a-z0-9-]+)", README))
    used |= {flag for line in README.splitlines() if line.startswith("edge-vitals run")
             for flag in re.findall(r"--[a-z0-9-]+", line)}
    assert used and used <= known, used - known
