import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from synthetic import make_face_clip
from videos import write_video

from edge.types import Reading

KEYS = set(Reading(timestamp_s=0.0).to_dict())


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "edge", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def skin_video(tmp_path_factory):
    frames, _ = make_face_clip(hr_bpm=75, seconds=14, seed=11)
    return write_video(tmp_path_factory.mktemp("cli") / "skin.avi", frames)


def test_run_json_lines_have_the_reading_keys(skin_video, tmp_path):
    out_csv = tmp_path / "readings.csv"
    res = run_cli("run", skin_video, "--roi", "full", "--json", "--csv", out_csv)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 13 and all(set(obj) == KEYS for obj in lines)
    hr = [obj["heart_rate_bpm"] for obj in lines if obj["status"] == "ok"]
    assert hr and all(abs(v - 75) <= 2 for v in hr)
    assert "median" in res.stderr  # the summary goes to stderr, not into the JSON stream
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 13 and set(rows[0]) == KEYS


def test_run_text_output_and_method_choice(skin_video):
    res = run_cli("run", skin_video, "--roi", "full", "--method", "chrom")
    assert res.returncode == 0, res.stderr
    assert "HR" in res.stdout and "ok" in res.stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["run", "/nonexistent/clip.avi"], "video file not found"),
        (["run"], "exactly one source"),
        (["run", "x.avi", "--demo"], "exactly one source"),
        (["run", "--camera", "57"], "cannot open camera 57"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, match):
    res = run_cli(*args)
    assert res.returncode == 2
    assert match in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_non_video_file(tmp_path):
    bad = tmp_path / "fake.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 500)
    res = run_cli("run", bad)
    assert res.returncode == 2 and "not a video" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_no_face_in_the_video_exits_2_with_a_hint(skin_video):
    res = run_cli("run", skin_video)  # face mode on a skin-only clip
    assert res.returncode == 2
    assert "no face found" in res.stderr and "--roi full" in res.stderr
    assert "Traceback" not in res.stderr


def test_usage_errors_exit_2():
    assert run_cli("run", "--method", "magic", "x.avi").returncode == 2
    assert run_cli().returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("edge-vitals ")


def test_fps_override_changes_time(tmp_path):
    frames = np.full((30, 40, 40, 3), 128, np.uint8)
    path = write_video(tmp_path / "flat.avi", frames)
    res = run_cli("run", path, "--roi", "full", "--json", "--fps", "10")
    assert res.returncode == 0, res.stderr
    times = [json.loads(line)["timestamp_s"] for line in res.stdout.splitlines()]
    assert times == pytest.approx([1.0, 2.0])  # 30 frames last 3 s at 10 fps (1 s at 30)


def test_demo_runs_and_reports_the_truth():
    from firmware_sim.world import demo_config, make_clip

    res = run_cli("run", "--demo", "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    truth = make_clip(demo_config()).truth  # the same seeded clip: the rate of each window
    ok = [obj for obj in lines if obj["status"] == "ok"]
    assert len(ok) >= 20
    for obj in ok:
        t = obj["timestamp_s"]
        assert abs(obj["heart_rate_bpm"] - truth.mean_heart_rate_bpm(max(0.0, t - 10.0), t)) <= 3.0
    said = float(res.stderr.split("demo clip truth ")[1].split()[0])
    assert said == pytest.approx(truth.mean_heart_rate_bpm(0.0, 40.0), abs=0.05)
    breathing = [obj["breathing_rate_bpm"] for obj in lines if obj["breathing_status"] == "ok"]
    assert breathing and all(abs(v - 15.0) <= 1.0 for v in breathing)
    assert any(obj["spo2_status"] == "ok" for obj in lines)
    assert any(obj["hrv_status"] == "ok" for obj in lines)


@pytest.mark.parametrize(("codec", "worst_bpm"), [
    ("FFV1", 3.0),  # lossless: every reading within 3 bpm
    (None, 5.0),  # the default, MJPG: the first reading of a 14 s clip is off by up to ~4.6
])
def test_synth_writes_a_clip_that_run_measures(tmp_path, codec, worst_bpm):
    out = tmp_path / "clip.avi"
    res = run_cli("synth", out, "--hr", "96", "--seconds", "14", "--size", "320x240", "--seed", "9",
                  *(["--codec", codec] if codec else []))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "clip.truth.csv").is_file()
    assert (codec or "MJPG") in res.stdout
    res = run_cli("run", out, "--json")
    assert res.returncode == 0, res.stderr
    hr = [json.loads(line)["heart_rate_bpm"] for line in res.stdout.splitlines()]
    hr = [v for v in hr if v is not None]
    assert hr and all(abs(v - 96) <= worst_bpm for v in hr)
    assert abs(np.median(hr) - 96) <= 2.0


# -- commands registered by the other packages ------------------------------------------------
REGISTERED = {"edge_vitals.commands": {"synth", "simulate", "eval", "export"},
              "edge_vitals.calibrations": {"device"}, "edge_vitals.sources": {"demo"}}


def test_every_registered_entry_point_loads():
    from importlib.metadata import entry_points

    for group, names in REGISTERED.items():
        points = {point.name: point for point in entry_points(group=group)}
        assert names <= set(points), f"{group}: reinstall (pip install -e .)"
        for point in points.values():
            loaded = point.load()
            assert callable(loaded) if group.endswith("sources") else loaded.HELP


def command_lines():
    from edge.cli import BUILTIN
    from edge.cli.calibrate import BUILTIN as TARGETS

    commands = set(BUILTIN) | REGISTERED["edge_vitals.commands"]
    targets = set(TARGETS) | REGISTERED["edge_vitals.calibrations"]
    return [[name] for name in sorted(commands)] + [["calibrate", t] for t in sorted(targets)]


@pytest.mark.parametrize("command", command_lines(), ids=" ".join)
def test_each_command_has_help(command, capsys):
    from edge.cli import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: edge-vitals {' '.join(command)}")


def test_top_level_help_lists_every_command_with_its_line():
    res = run_cli("--help")
    assert res.returncode == 0
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("    ")
              and len(line.split()) > 1}
    assert {c[0] for c in command_lines()} <= listed


BLOCKED = """
import sys
sys.modules["firmware_sim"] = None  # as if the wheel were installed without it
from edge.cli import main
code = main(sys.argv[1:])
print(code, "firmware_sim" in sys.modules and sys.modules["firmware_sim"] is not None)
"""


@pytest.mark.parametrize("args", [["synth", "x.avi", "--hr", "80"], ["run", "--demo"],
                                  ["calibrate", "device", "--base", "pi4"]])
def test_a_missing_package_is_one_line_and_exit_2(args):
    res = subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.stdout.split() == ["2", "False"], res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "reinstall" in res.stderr


def test_help_still_lists_a_command_that_does_not_load():
    res = subprocess.run([sys.executable, "-c", BLOCKED, "--help"], capture_output=True,
                         text=True, timeout=120, check=False)
    synth = [line for line in res.stdout.splitlines() if line.split()[:1] == ["synth"]]
    assert synth and "not available" in synth[0]


def test_running_a_file_imports_neither_the_simulator_nor_export(skin_video):
    code = ("import sys\nfrom edge.cli import main\n"
            f"code = main(['run', {str(skin_video)!r}, '--roi', 'full', '--no-progress'])\n"
            "print(code, 'firmware_sim' in sys.modules, 'export' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.stdout.split()[-3:] == ["0", "False", "False"], res.stderr
