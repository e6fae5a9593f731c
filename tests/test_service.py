"""The systemd unit: written into a tmp dir, never through systemctl (no systemd here)."""

import os
import subprocess
import sys

import pytest

from edge import service
from edge.cli.service import check_run_args
from edge.errors import InputError


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edge", *map(str, args)], capture_output=True,
                          text=True, timeout=120, check=False)


def unit_fields(text):
    return [line.split("=", 1) for line in text.splitlines() if "=" in line]


def test_user_unit_restarts_on_failure_and_runs_this_venv():
    spec = service.ServiceSpec(run_args=("--camera", "0", "--json"), python="/opt/ev/bin/python")
    fields = dict(unit_fields(service.unit_text(spec)))
    assert fields["ExecStart"] == "/opt/ev/bin/python -m edge run --camera 0 --json"
    assert fields["Restart"] == "on-failure" and fields["RestartSec"] == "5"
    assert fields["WantedBy"] == "default.target"
    assert "User" not in fields


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
