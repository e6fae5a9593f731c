"""The systemd unit: written into a tmp dir, never through systemctl (no systemd here)."""

import os
import shutil
import subprocess
import sys

import pytest

from edge import service
from edge.cli.service import check_run_args
from edge.errors import ConfigError, InputError


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edge", *map(str, args)], capture_output=True,
                          text=True, timeout=120, check=False)


def unit_fields(text):
    return [line.split("=", 1) for line in text.splitlines() if "=" in line]


def test_user_unit_restarts_on_failure_and_runs_this_venv():
    spec = service.ServiceSpec(run_args=("--camera", "0", "--json"), python="/opt/ev/bin/python")
    fields = dict(unit_fields(service.unit_text(spec)))
    assert fields["ExecStart"] == "/opt/ev/bin/python -m edge run --camera 0 --json"
    assert fields["Restart"] == "on-failure"
    assert fields["WantedBy"] == "default.target"
    assert "User" not in fields


def test_restarts_back_off_where_systemd_can_and_stop_at_a_start_limit():
    old = dict(unit_fields(service.unit_text(service.ServiceSpec(run_args=("picamera",),
                                                                 systemd_version=252))))
    new = dict(unit_fields(service.unit_text(service.ServiceSpec(run_args=("picamera",),
                                                                 systemd_version=256))))
    for fields in (old, new):
        assert fields["StartLimitBurst"] == "10" and fields["StartLimitIntervalSec"] == "1800"
    assert old["RestartSec"] == "30" and "RestartSteps" not in old  # Bookworm's 252: fixed
    assert new["RestartSec"] == "5" and new["RestartSteps"] == "8"
    assert new["RestartMaxDelaySec"] == "120"
    # both give up after about five minutes of retrying, not after seconds or never
    old_window_s = 9 * 30
    growth = (120 / 5) ** (1 / 8)
    new_window_s = sum(min(120, 5 * growth**k) for k in range(9))
    assert 240 <= old_window_s <= 420 and 240 <= new_window_s <= 420


def test_the_unit_has_the_start_limit_in_its_unit_section():
    text = service.unit_text(service.ServiceSpec(run_args=("picamera",)))
    unit, rest = text.split("[Service]")
    assert "StartLimitBurst=" in unit and "StartLimit" not in rest


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_here_reads_the_unit_without_warnings(tmp_path):
    from edge.cli.service import _systemd_version

    spec = service.ServiceSpec(run_args=("--camera", "0"), python=sys.executable, user=False,
                               run_as="root", systemd_version=_systemd_version())
    path = service.install(spec, directory=tmp_path)
    res = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert "Unknown key" not in res.stderr and "Unknown section" not in res.stderr, res.stderr


def test_systemd_version_is_read_from_systemctl_version():
    assert service.parse_systemd_version("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT") == 252
    assert service.parse_systemd_version("systemd 256 (256.5-1)") == 256
    assert service.parse_systemd_version("") is None
    assert service.parse_systemd_version("bash: systemctl: not found") is None


def test_status_says_why_a_unit_stopped():
    properties = {"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed",
                  "Result": "start-limit-hit", "ExecMainStatus": "2", "NRestarts": "9"}
    journal = ["edge-vitals: error: cannot reach the MQTT broker broker.lan:1883"]
    lines = service.describe_state(properties, journal, user=True)
    text = "\n".join(lines)
    assert "gave up" in text and "exit status 2" in text and "9 automatic restarts" in text
    assert "systemctl --user reset-failed edge-vitals" in text
    assert lines[-1].strip() == journal[0]
    running = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
               "Result": "success", "NRestarts": "0"}
    lines = service.describe_state(running, [], user=False)
    assert lines == ["state: active (running), result success, 0 automatic restarts"]
    gone = service.describe_state({"LoadState": "not-found"}, [], user=True)
    assert "daemon-reload" in gone[0]


def test_system_unit_runs_as_a_user_in_group_video():
    spec = service.ServiceSpec(run_args=("picamera",), user=False, run_as="pi",
                               cache_dir="/var/cache/ev")
    fields = unit_fields(service.unit_text(spec))
    assert ["User", "pi"] in fields and ["SupplementaryGroups", "video"] in fields
    assert ["WantedBy", "multi-user.target"] in fields
    assert ["Environment", "NUMBA_CACHE_DIR=/var/cache/ev"] in fields


def test_exec_start_escapes_specifiers_and_spaces():
    spec = service.ServiceSpec(run_args=("--mqtt-topic", "home/vitals 100%", "x$y.avi"),
                               python="/p")
    exec_start = dict(unit_fields(service.unit_text(spec)))["ExecStart"]
    assert exec_start == '/p -m edge run --mqtt-topic "home/vitals 100%%" x$$y.avi'


def test_install_status_uninstall_round_trip(tmp_path):
    res = run_cli("service", "install", "--unit-dir", tmp_path, "--", "--camera", "0",
                  "--mqtt", "broker.lan")
    assert res.returncode == 0, res.stderr
    unit = tmp_path / "edge-vitals.service"
    assert unit.is_file() and (unit.stat().st_mode & 0o777) == 0o644
    assert "systemctl --user enable --now edge-vitals" in res.stderr  # the next step, not run
    res = run_cli("service", "status", "--unit-dir", tmp_path)
    assert res.returncode == 0 and "--mqtt broker.lan" in res.stdout
    assert "\nstate: " in res.stdout  # no systemd as PID 1 here: "unknown", and says so
    assert run_cli("service", "uninstall", "--unit-dir", tmp_path).returncode == 0
    assert not unit.exists()
    res = run_cli("service", "status", "--unit-dir", tmp_path)
    assert res.returncode == 1 and "no unit" in res.stderr


def test_a_unit_holding_a_password_is_private(tmp_path):
    spec = service.ServiceSpec(run_args=("--camera", "0", "--mqtt", "b", "--mqtt-password", "x"))
    path = service.install(spec, directory=tmp_path)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_dry_run_prints_and_writes_nothing(tmp_path):
    res = run_cli("service", "install", "--system", "--dry-run", "--unit-dir", tmp_path, "--",
                  "picamera")
    assert res.returncode == 0 and "ExecStart=" in res.stdout and "User=" in res.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("run_args", "match"), [
    ([], "give the run arguments after --"),
    (["--", "--camera", "0", "--bogus"], "unrecognized arguments: --bogus"),
    (["--", "--json"], "exactly one source"),
    (["--", "--camera", "0", "--method", "magic"], "invalid choice"),
])
def test_bad_run_arguments_fail_at_install_time(run_args, match):
    with pytest.raises(InputError, match=match):
        check_run_args(run_args)


def test_every_file_named_must_exist_and_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pw.txt").write_text("secret\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "device.toml").write_text('[rppg]\nmethod = "chrom"\n')
    args = check_run_args(["--", "--camera", "0", "--mqtt", "b", "--mqtt-password-file",
                           "pw.txt", "--mqtt-ca=ca.crt", "--config", "device.toml",
                           "--mqtt-topic", "pw.txt", "--csv", "out.csv"])
    assert args == ["--camera", "0", "--mqtt", "b", "--mqtt-password-file",
                    str(tmp_path / "pw.txt"), f"--mqtt-ca={tmp_path / 'ca.crt'}", "--config",
                    str(tmp_path / "device.toml"), "--mqtt-topic", "pw.txt",  # not a file
                    "--csv", str(tmp_path / "out.csv")]


@pytest.mark.parametrize(("run_args", "match"), [
    (["--camera", "0", "--mqtt", "b", "--mqtt-password-file", "nope.txt"],
     r"--mqtt-password-file: no such file: .*nope\.txt"),
    (["--camera", "0", "--config", "nope.toml"], "--config: no such file"),
    (["--camera", "0", "--spo2-calibration", "cal.json"], "--spo2-calibration: no such file"),
    (["--camera", "0", "--method", "cnn", "--model", "m.onnx"], "--model: no such file"),
    (["--camera", "0", "--mqtt", "b", "--mqtt-ca", "ca.crt"], "--mqtt-ca: no such file"),
    (["--camera", "0", "--csv", "no/such/dir/r.csv"], "--csv: folder .* does not exist"),
    (["clip.avi"], "video: no such file"),
    (["--camera", "0", "--serve", "localhost:99999"], "port 0-65535"),
    (["--camera", "0", "--mqtt-pass", "x"], "unrecognized arguments"),  # no abbreviations
])
def test_a_service_that_could_never_start_is_refused(tmp_path, monkeypatch, run_args, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=match):
        check_run_args(run_args)


def test_a_config_file_that_cannot_load_is_refused(tmp_path):
    bad = tmp_path / "device.toml"
    bad.write_text('[rppg]\nmethd = "chrom"\n')
    with pytest.raises(ConfigError, match="method"):
        check_run_args(["picamera", "--config", str(bad)])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_refused(tmp_path):
    secret = tmp_path / "pw.txt"
    secret.write_text("x")
    secret.chmod(0)
    with pytest.raises(InputError, match="cannot read"):
        check_run_args(["--camera", "0", "--mqtt", "b", "--mqtt-password-file", str(secret)])


def test_cli_missing_password_file_is_one_line_and_writes_nothing(tmp_path):
    res = run_cli("service", "install", "--unit-dir", tmp_path, "--", "--camera", "0",
                  "--mqtt", "b", "--mqtt-password-file", tmp_path / "missing.txt")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "missing.txt" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_run_arguments_are_one_line(tmp_path):
    res = run_cli("service", "install", "--unit-dir", tmp_path, "--", "--camera", "0", "--bogus")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr and list(tmp_path.iterdir()) == []


def test_warmup_fills_the_given_cache_dir(tmp_path):
    res = run_cli("warmup", "--cache-dir", tmp_path / "numba")
    assert res.returncode == 0, res.stderr
    assert "warmed" in res.stderr and "pos, chrom" in res.stderr
    if os.environ.get("NUMBA_DISABLE_JIT") != "1":  # nothing is compiled without the JIT
        assert any((tmp_path / "numba").rglob("*.nbi"))  # numba index files written there
