"""Tests of the peer benchmark harness that install nothing and run no peer package."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware_sim.bench import _peer_common, peers
from firmware_sim.bench.peers import (
    PEERS,
    RESULT_SCHEMA,
    PeerError,
    PeerResult,
    PeerSpec,
    ensure_peer_venv,
    format_table,
    parse_runner_output,
    run_peer,
)

_IMPORT_NAMES = {"vitallens": {"vitallens", "prpy"}, "open-rppg": {"rppg"}}


def _record(**overrides):
    base = {
        "schema": RESULT_SCHEMA,
        "peer": "x",
        "version": "1.0",
        "model": "m",
        "frames": 600,
        "seconds": 2.0,
        "cpu_seconds": 1.9,
        "load_seconds": 0.5,
        "heart_rate_bpm": 72.0,
        "peak_rss_mb": 350.5,
        "child_peak_rss_mb": 12.0,
    }
    base.update(overrides)
    return json.dumps(base)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_registry_entry_is_well_formed(name):
    spec = PEERS[name]
    assert isinstance(spec, PeerSpec)
    assert spec.requirements and all(isinstance(r, str) and r for r in spec.requirements)
    assert spec.requirements[0].startswith(spec.package)
    assert spec.runner_path.is_file()
    assert spec.runner_path.parent == Path(peers.__file__).resolve().parent
    assert set(spec.binaries) <= {"ffmpeg", "ffprobe"} or spec.apt_packages
    for key, value in spec.env:
        assert key.isupper() and isinstance(value, str)


def test_registry_knows_peer_specific_needs():
    assert "ffmpeg" in PEERS["vitallens"].apt_packages
    assert "--method" in PEERS["vitallens"].runner_args
    assert "pos" in PEERS["vitallens"].runner_args
    assert any(r.replace(" ", "") == "setuptools<81" for r in PEERS["open-rppg"].requirements)
    assert "ME-flow.rlap" in PEERS["open-rppg"].runner_args


def _top_level_imports(path: Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "runners run alone; no relative imports"
            imported.add(node.module.split(".")[0])
    return imported


@pytest.mark.parametrize("name", sorted(PEERS))
def test_runner_imports_only_stdlib_numpy_and_its_peer(name):
    imported = _top_level_imports(PEERS[name].runner_path)
    allowed = set(sys.stdlib_module_names) | {"numpy", "_peer_common"} | _IMPORT_NAMES[name]
    assert imported <= allowed, imported - allowed


def test_runner_common_module_is_stdlib_only_and_speaks_the_schema():
    path = Path(_peer_common.__file__)
    assert path.parent == Path(peers.__file__).resolve().parent
    imported = _top_level_imports(path)
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert _peer_common.SCHEMA == RESULT_SCHEMA


@pytest.mark.parametrize("name", sorted(PEERS))
def test_runner_finds_common_module_when_run_isolated(name, tmp_path):
    # As run_peer runs it (-I, another cwd), up to argument parsing; --help exits before the peer
    # package is imported.
    proc = subprocess.run(
        [sys.executable, "-I", str(PEERS[name].runner_path), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_run_timed_prints_one_parseable_record(capsys):
    calls = []
    code = _peer_common.run_timed(
        peer="pytest",  # an installed distribution, for the version
        model="m",
        load=lambda: calls.append("load") or "loaded",
        process=lambda loaded: calls.append(loaded) or {"hr": 61.0},
        describe=lambda loaded, result: {
            "faces": 1,
            "heart_rate_bpm": _peer_common.finite_or_none(result["hr"]),
            "frames": 30,
        },
    )
    assert code == 0 and calls == ["load", "loaded"]
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    record = json.loads(out)
    assert list(record)[:9] == [
        "schema",
        "peer",
        "version",
        "model",
        "frames",
        "seconds",
        "cpu_seconds",
        "load_seconds",
        "heart_rate_bpm",
    ]
    assert list(record)[9:] == [
        "faces",
        "cores",
        "repinned_threads",
        "escaped_threads",
        "peak_rss_mb",
        "child_peak_rss_mb",
    ]
    assert record["peer"] == "pytest" and record["version"] == pytest.__version__
    r = parse_runner_output("pytest", out)
    assert r.ok and r.frames == 30 and r.heart_rate_bpm == 61.0 and r.model == "m"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (float("nan"), None), (float("inf"), None), ("72", 72.0)]
)
def test_finite_or_none(value, expected):
    assert _peer_common.finite_or_none(value) == expected


def test_parse_picks_schema_line_among_noise():
    out = "\n".join(["loading model...", '{"not": "ours"}', _record(), "bye"])
    r = parse_runner_output("vitallens", out)
    assert r.ok and r.name == "vitallens"
    assert r.frames == 600 and r.seconds == 2.0
    assert r.frames_per_s == pytest.approx(300.0)
    assert r.heart_rate_bpm == 72.0 and r.peak_rss_mb == 350.5
    assert r.load_seconds == 0.5 and r.cpu_seconds == 1.9
    assert r.version == "1.0" and r.model == "m"


def test_parse_uses_last_schema_line():
    out = _record(frames=1) + "\n" + _record(frames=2)
    assert parse_runner_output("p", out).frames == 2


@pytest.mark.parametrize("hr", [None, "NaN", float("inf")])
def test_parse_maps_missing_or_non_finite_hr_to_none(hr):
    out = _record().replace('"heart_rate_bpm": 72.0', f'"heart_rate_bpm": {json.dumps(hr)}')
    assert parse_runner_output("p", out).heart_rate_bpm is None


def test_parse_zero_seconds_gives_no_rate():
    assert parse_runner_output("p", _record(seconds=0.0)).frames_per_s is None


@pytest.mark.parametrize(
    "out",
    [
        "",
        "Traceback...\nValueError: x",
        '{"frames": 1, "seconds": 1}',
        _record(frames=None),
        _record(seconds="fast"),
    ],
)
def test_parse_rejects_output_without_valid_result(out):
    with pytest.raises(PeerError):
        parse_runner_output("p", out)


def test_run_peer_without_venv_returns_error(tmp_path):
    video = tmp_path / "clip.avi"
    video.write_bytes(b"\0")
    r = run_peer("open-rppg", video, root=tmp_path / "venvs")
    assert not r.ok and "no venv python" in r.error
    assert r.frames is None and r.frames_per_s is None


def test_run_peer_unknown_name_raises_with_suggestion(tmp_path):
    with pytest.raises(ValueError, match="vitallens"):
        run_peer("vitalens", tmp_path / "x.avi", root=tmp_path)


def _fake_peer(tmp_path, monkeypatch, runner_body):
    """Register peer 'fake' whose venv python is this interpreter and runner is a tmp script."""
    runner = tmp_path / "_peer_fake.py"
    runner.write_text(textwrap.dedent(runner_body))
    monkeypatch.setitem(
        PEERS,
        "fake",
        PeerSpec(
            package="fake",
            requirements=("fake==1",),
            runner=str(runner),
            env=(("FAKE_PEER_ENV", "yes"),),
        ),
    )
    bindir = tmp_path / "venvs" / "fake" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").symlink_to(sys.executable)
    video = tmp_path / "clip.avi"
    video.write_bytes(b"\0")
    return video


def test_run_peer_runs_runner_single_threaded_and_parses(tmp_path, monkeypatch):
    body = f"""
        import json, os, sys
        assert os.environ["OMP_NUM_THREADS"] == "1", os.environ.get("OMP_NUM_THREADS")
        assert os.environ["FAKE_PEER_ENV"] == "yes"
        assert "PYTHONPATH" not in os.environ
        assert os.path.isfile(sys.argv[1])
        print("peer chatter")
        print(json.dumps({{"schema": "{RESULT_SCHEMA}", "frames": 30, "seconds": 0.5,
                          "heart_rate_bpm": 60.0, "peak_rss_mb": 20.0,
                          "cores": sorted(os.sched_getaffinity(0))}}))
    """
    video = _fake_peer(tmp_path, monkeypatch, body)
    monkeypatch.setenv("PYTHONPATH", "/nonexistent")
    r = run_peer("fake", video, root=tmp_path / "venvs")
    assert r.ok, r.error
    assert r.frames == 30 and r.frames_per_s == pytest.approx(60.0)
    assert r.heart_rate_bpm == 60.0
    if peers.shutil.which("taskset"):
        assert r.pinned_core == 0


def test_run_peer_reports_runner_crash(tmp_path, monkeypatch):
    video = _fake_peer(tmp_path, monkeypatch, "raise ModuleNotFoundError('no peer here')\n")
    r = run_peer("fake", video, root=tmp_path / "venvs", core=None)
    assert not r.ok and "no peer here" in r.error and r.pinned_core is None


def test_run_peer_times_out(tmp_path, monkeypatch):
    video = _fake_peer(tmp_path, monkeypatch, "import time; time.sleep(30)\n")
    r = run_peer("fake", video, root=tmp_path / "venvs", core=None, timeout_s=0.5)
    assert not r.ok and "timed out" in r.error


def test_ensure_is_idempotent_with_marker(tmp_path, monkeypatch):
    spec = PEERS["open-rppg"]
    venv = tmp_path / "open-rppg"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / peers.MARKER_NAME).write_text(
        json.dumps({"requirements": [*peers.PIP_BOOTSTRAP, *spec.requirements]})
    )

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess: {args}")

    monkeypatch.setattr(peers.subprocess, "run", no_subprocess)
    assert ensure_peer_venv("open-rppg", root=tmp_path) == venv


def test_ensure_reports_missing_apt_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    with pytest.raises(PeerError, match="apt-get install ffmpeg"):
        ensure_peer_venv("vitallens", root=tmp_path)
    assert not (tmp_path / "vitallens").exists()


def test_ensure_wraps_failed_step(tmp_path, monkeypatch):
    class Failed:
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found"

    monkeypatch.setattr(peers.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(PeerError, match="No matching distribution"):
        ensure_peer_venv("open-rppg", root=tmp_path)


def test_table_marks_errors():
    ok = parse_runner_output("vitallens", _record())
    bad = PeerResult.failed("open-rppg", "install failed: no network")
    table = format_table([ok, bad])
    lines = table.splitlines()
    assert lines[0].split()[0] == "peer" and "frames/s" in lines[0]
    assert "300.0" in lines[2] and lines[2].rstrip().endswith("ok")
    assert lines[3].rstrip().endswith("error")
    assert "open-rppg: error: install failed: no network" in table


def test_main_without_venvs_prints_errors_and_exits_zero(tmp_path, capsys):
    video = tmp_path / "clip.avi"
    video.write_bytes(b"\0")
    out_json = tmp_path / "out" / "peers.json"
    code = peers.main(
        [str(video), "--root", str(tmp_path / "venvs"), "--no-install", "--json", str(out_json)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "vitallens: error:" in text and "open-rppg: error:" in text
    data = json.loads(out_json.read_text())
    assert [d["name"] for d in data] == list(PEERS) and all(d["error"] for d in data)
    assert (
        peers.main(
            [
                str(video),
                "--root",
                str(tmp_path),
                "--no-install",
                "--strict",
                "--peers",
                "open-rppg",
            ]
        )
        == 1
    )


def test_main_rejects_unknown_peer(tmp_path):
    with pytest.raises(SystemExit) as exc:
        peers.main([str(tmp_path / "x.avi"), "--peers", "vitallens,bogus"])
    assert exc.value.code == 2
