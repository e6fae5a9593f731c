"""``edge-vitals run --serve``: the live page of a real run on a world-simulator clip played in
real time, read through its JSON endpoints and through a headless browser (Debian's
``chromium``). Loopback addresses only."""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from edge.types import Reading

KEYS = set(Reading(timestamp_s=0.0).to_dict())
HR_BPM = 72.0


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "edge", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    """The decoded body, or None for 204 or when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError):
        return None


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from firmware_sim.world import WorldConfig, make_clip, write_clip

    world = WorldConfig(width=160, height=120, duration_s=14.0, heart_rate_bpm=HR_BPM,
                        pulse_amplitude=0.01, seed=21)  # a clear pulse: a heart rate after 8 s
    return write_clip(make_clip(world), tmp_path_factory.mktemp("live") / "clip.avi",
                      codec="MJPG")


def start_run(clip, port, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", str(clip), "--realtime", "--json",
         "--serve", f"127.0.0.1:{port}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_heart_rate(proc, url, timeout_s=90):
    """The first /api/latest reading with a heart rate (the run still going)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        latest = get_json(url + "api/latest")
        if latest is not None and latest["heart_rate_bpm"] is not None:
            return latest
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no heart rate on the live page; stderr: {proc.communicate()[1]}")


def printed(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def test_endpoints_serve_the_readings_the_run_prints(clip):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_run(clip, port)
    try:
        first = wait_for_heart_rate(proc, url)
        history = get_json(url + "api/history")
        latest = get_json(url + "api/latest")
        since = get_json(url + f"api/history?since={history[1]['timestamp_s']}")
        health = get_json(url + "api/health")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert f"live page at {url}" in stderr
    lines = printed(stdout)
    assert all(set(obj) == KEYS for obj in [first, latest, *history, *since])
    assert history == lines[: len(history)]  # the ring holds every reading so far, in order
    assert first in history and latest in lines
    assert latest["timestamp_s"] >= history[-1]["timestamp_s"]
    assert since == lines[2 : 2 + len(since)] and since
    assert health["status"] == "ok" and health["readings_published"] >= len(history)
    assert isinstance(health["frames_dropped"], int) and health["frames_dropped"] >= 0
    assert re.search(r"live: \d+ frames captured, \d+ dropped", stderr)
    assert get_json(url + "api/health") is None  # the page closes with the run


def test_a_browser_renders_the_heart_rate(clip, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_run(clip, port)
    try:
        wait_for_heart_rate(proc, url)
        browser = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
             "--window-size=390,1200", "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False)
        proc.send_signal(signal.SIGINT)  # a real-time run stops like a camera run
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert browser.returncode == 0, browser.stderr[-2000:]
    assert proc.returncode == 0, stderr
    dom = browser.stdout
    shown = re.search(r'id="hr"[^>]*data-timestamp-s="([^"]+)"', dom)
    value = re.search(r'id="hr-value">([^<]*)<', dom)
    assert shown and value, dom[:3000]
    by_time = {obj["timestamp_s"]: obj for obj in printed(stdout)}
    rendered = by_time[float(shown[1])]  # the reading the page shows, as the run printed it
    assert rendered["heart_rate_bpm"] is not None
    assert abs(float(value[1]) - rendered["heart_rate_bpm"]) <= 0.5 + 1e-9
    assert abs(float(value[1]) - HR_BPM) <= 5
    status = re.search(r'id="hr-status">([^<]*)<', dom)[1]
    assert status == rendered["status"].replace("_", " ")
    assert re.search(r'id="connection"[^>]*>live<', dom)


@pytest.mark.parametrize("serve, match", [("99999", "PORT"), ("127.0.0.1:", "PORT"),
                                          ("http://127.0.0.1:80", "PORT")])
def test_a_bad_address_exits_2_in_one_line(clip, tmp_path, serve, match):
    out_csv = tmp_path / "readings.csv"
    res = run_cli("run", clip, "--serve", serve, "--csv", out_csv)
    assert res.returncode == 2
    assert len(res.stderr.splitlines()) == 1 and match in res.stderr
    assert not out_csv.exists()  # checked before any work


def test_a_port_in_use_exits_2_before_any_work(clip, tmp_path):
    out_csv = tmp_path / "readings.csv"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli("run", clip, "--serve", f"127.0.0.1:{port}", "--csv", out_csv)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"edge-vitals: error: cannot serve the live page on 127.0.0.1:{port}: port in use"]
    assert not out_csv.exists() and res.stdout == ""


def test_service_install_passes_serve_through(tmp_path):
    res = run_cli("service", "install", "--dry-run", "--unit-dir", tmp_path, "--",
                  "--camera", "0", "--serve", "0.0.0.0:8080")
    assert res.returncode == 0, res.stderr
    exec_start = next(line for line in res.stdout.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("run --camera 0 --serve 0.0.0.0:8080")
