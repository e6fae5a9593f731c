"""The README's set-up commands are what CI runs, its examples are real, its links resolve."""

import re
from pathlib import Path

import numpy as np
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


# -- the README's Python examples run as written (#18) ----------------------------------------
CLIP_HR_BPM = 72.0


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    """A 20 s world-simulator face (lossless), its pulse at 125 Hz, and the truth."""
    from firmware_sim.world import WorldConfig, make_clip, write_clip

    folder = tmp_path_factory.mktemp("readme")
    clip = make_clip(WorldConfig(width=320, height=240, duration_s=20.0,
                                 heart_rate_bpm=CLIP_HR_BPM, seed=5))
    video = write_clip(clip, folder / "face.avi")
    truth = clip.truth
    t_125 = np.arange(truth.timestamp_s[0], truth.timestamp_s[-1], 1 / 125)
    np.savetxt(folder / "ppg.txt", np.interp(t_125, truth.timestamp_s, truth.pulse))
    return {"video": video, "ppg": folder / "ppg.txt", "clip": clip,
            "hr_bpm": float(np.mean(truth.heart_rate_bpm))}


def _run_block(code: str, face_clip) -> list[tuple]:
    """Run a README block on the clip (its file names swapped for the clip's); what it printed."""
    code = code.replace('"face.mp4"', repr(str(face_clip["video"])))
    code = code.replace('"ppg.txt"', repr(str(face_clip["ppg"])))
    printed = []
    exec(compile(code, "README.md", "exec"),
         {"__name__": "readme", "print": lambda *args: printed.append(args)})
    return printed


def _median_hr(printed: list[tuple]) -> float:
    import statistics

    rates = [p[0] for p in printed if isinstance(p[0], float)]
    assert rates, printed
    return statistics.median(rates)


def test_readme_python_blocks_are_complete():
    blocks = _python_blocks()
    assert len(blocks) == 2
    assert all("import edge" in block for block in blocks)  # each runs on its own
    assert "COLOR_BGR2RGB" in blocks[1] and "camera_frames(0)" in blocks[1]
    assert '"full"' not in "".join(blocks)  # a face video needs the face ROI


def test_readme_batch_and_pulse_example_give_the_clips_heart_rate(face_clip):
    video_print, pulse_print = _run_block(_python_blocks()[0], face_clip)
    assert abs(video_print[0] - face_clip["hr_bpm"]) <= 1.0, video_print
    assert abs(pulse_print[0] - face_clip["hr_bpm"]) <= 1.0, pulse_print


def test_readme_file_frames_example_gives_the_clips_heart_rate(face_clip):
    printed = _run_block(_python_blocks()[1], face_clip)
    assert len(printed) >= 15
    assert abs(_median_hr(printed) - face_clip["hr_bpm"]) <= 1.0, printed


def test_readme_camera_example_gives_rgb_and_the_clips_heart_rate(face_clip, monkeypatch):
    """The camera recipe reads the clip through the same cv2.VideoCapture; its arrival clock
    ticks one frame period per frame, as a 30 fps camera's does.
    """
    import time

    code = _python_blocks()[1]
    assert 'file_frames("face.mp4")' in code
    code = code.replace('file_frames("face.mp4")', f"camera_frames({str(face_clip['video'])!r})")
    ticks = iter(np.arange(100_000) / 30.0)
    monkeypatch.setattr(time, "monotonic", lambda: float(next(ticks)))
    printed = _run_block(code, face_clip)
    assert abs(_median_hr(printed) - face_clip["hr_bpm"]) <= 1.0, printed


def test_readme_frame_recipes_give_rgb(face_clip):
    namespace = {"__name__": "readme"}
    exec(compile(_python_blocks()[1].split("config = ")[0], "README.md", "exec"), namespace)
    first_rgb = next(face_clip["clip"].frames())[0]
    for frames in (namespace["file_frames"], namespace["camera_frames"]):
        frame, timestamp_s = next(frames(str(face_clip["video"])))
        assert frame.dtype == np.uint8 and np.array_equal(frame, first_rgb)  # RGB, not BGR
        assert isinstance(timestamp_s, float)


# -- the README's Pi install block is what the arm64 job runs (#17) ---------------------------
BLOCK_SCRIPT = ROOT / "tests" / "arm64" / "readme_block.py"


def _readme_block(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(BLOCK_SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_pi_install_block_is_extracted_verbatim_but_the_clone_url():
    res = _readme_block("pi-install", "--repository", "/srv/edge-vitals.git")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("git clone /srv/edge-vitals.git ~/edge-vitals-src")
    readme_lines = {line.strip() for line in README.splitlines()}
    assert all(line.strip() in readme_lines for line in lines[1:]), lines
    assert any('pip install ".[pi,mqtt]"' in line for line in lines)
    assert any("--system-site-packages" in line for line in lines)
    assert "edge-vitals warmup --cache-dir" in res.stdout


def test_pi_install_block_uses_extras_that_exist():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = extras["optional-dependencies"]
    block = _readme_block("pi-install").stdout
    for group in re.findall(r'"\.\[([\w,]+)\]"', block):
        assert set(group.split(",")) <= set(extras), group


def test_arm64_job_runs_the_extracted_block():
    job = (ROOT / "tests" / "arm64" / "run.sh").read_text()
    assert re.search(r"readme_block\.py\"? pi-install", job)


@pytest.mark.parametrize("text", ["no marker here\n",
                                  "<!-- pi-install -->\nprose, not a block\n",
                                  "<!-- pi-install -->\n```bash\nx\n```\n<!-- pi-install -->\n"])
def test_a_missing_or_doubled_block_fails_in_one_line(tmp_path, text):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    res = _readme_block("pi-install", "--readme", readme)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and not res.stdout
