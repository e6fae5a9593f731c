"""The README's set-up commands are what CI runs, its examples are real, its links resolve."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
DOCS = ["README.md", "edge/README.md", "firmware_sim/README.md", "export/README.md"]


def test_readme_test_command_is_what_ci_runs():
    line = next(s for s in README.splitlines() if "pytest" in s and s.startswith("python3 -m venv"))
    for part in line.split("&&"):
        step = part.strip().replace(".venv/bin/", "")
        assert step.split()[-1] in CI, step
    assert '.venv/bin/pip install --quiet -e ".[dev]"' in CI
    assert ".venv/bin/python -m pytest" in CI


def test_ci_runs_the_linter_and_the_budget_before_the_tests():
    tests_at = CI.index(".venv/bin/python -m pytest")
    assert -1 < CI.index(".venv/bin/ruff check .") < tests_at
    assert -1 < CI.index(".ci/budget.py") < tests_at


def test_readme_cli_examples_use_existing_flags():
    import argparse

    from edge.cli import run as cli_run

    parser = argparse.ArgumentParser()
    cli_run.add_arguments(parser)
    known = {opt for action in parser._actions for opt in action.option_strings}
    used = set(re.findall(r"edge-vitals run [^\n#]*?(--[a-z0-9-]+)", README))
    used |= {flag for line in README.splitlines() if line.startswith("edge-vitals run")
             for flag in re.findall(r"--[a-z0-9-]+", line)}
    assert used and used <= known, used - known


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_point_at_files_and_headings_that_exist(doc):
    path = ROOT / doc
    links = re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", path.read_text(encoding="utf-8"))
    relative = [(target, anchor) for target, anchor in links if "://" not in target]
    for target, anchor in relative:
        linked = (path.parent / target).resolve() if target else path
        assert linked.is_file(), f"{doc}: {target}"
        if anchor:
            headings = _anchors(linked.read_text(encoding="utf-8"))
            assert anchor in headings, f"{doc}: {target}#{anchor}"


def test_readme_links_to_the_figures_beside_the_code():
    for doc in DOCS[1:]:
        assert f"]({doc}" in README, doc


def test_docs_cite_nothing_outside_the_repository():
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/ref" not in text, doc
