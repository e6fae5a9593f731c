"""MqttSink against real Mosquitto brokers started on free localhost ports.

Three brokers: plain, password-protected (allow_anonymous false), and TLS with a CA made
here with openssl. Skipped, with the reason, when mosquitto (Debian package `mosquitto`)
or paho-mqtt is not installed; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.sinks import MqttSink, SinkError
from edge.types import Reading, Status

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (pip install "
                           "-e '.[dev]')")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto broker not installed (apt-get install mosquitto)")

AS_ROOT = ["user root"] if os.geteuid() == 0 else []  # else it drops to "mosquitto", which
# cannot read the password file and certificates in pytest's private tmp dir
WAIT_S = 10.0  # generous upper bounds for events; the tests finish in well under a second each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto process on 127.0.0.1:port with the given extra config lines."""

    def __init__(self, workdir: Path, lines: list[str], port: int | None = None):
        self.port = port or free_port()
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        head = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr"]
        self.conf.write_text("\n".join([*head, *AS_ROOT, *lines]) + "\n")
        self.log = workdir / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"))
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:  # ready when the port accepts
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("mqtt")


@pytest.fixture(scope="module")
def plain_broker(workdir):
    broker = Broker(workdir, ["allow_anonymous true"]).start()
    yield broker
    broker.kill()


@pytest.fixture(scope="module")
def auth_broker(workdir):
    pw = workdir / "passwords"
    subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c",
                    str(pw), "alice", "s3cret"], check=True, capture_output=True)
    broker = Broker(workdir, ["allow_anonymous false", f"password_file {pw}"]).start()
    yield broker
    broker.kill()


def make_ca(d: Path) -> Path:
    """A self-signed CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
        "-out", "ca.crt", "-subj", "/CN=edge-vitals test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "san.ext")
    return d


@pytest.fixture(scope="module")
def tls_broker(workdir):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = make_ca(workdir)
    broker = Broker(workdir, ["allow_anonymous true", f"cafile {d / 'ca.crt'}",
                              f"certfile {d / 'server.crt'}", f"keyfile {d / 'server.key'}"])
    yield broker.start()
    broker.kill()


class Listener:
    """A subscriber collecting (topic, payload, retain) on a topic filter."""

    def __init__(self, port: int, topic: str, **tls):
        self.messages: list[tuple[str, str, bool]] = []
        self.got = threading.Condition()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if tls:
            self.client.tls_set(**tls)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(WAIT_S)

    def _on_message(self, client, userdata, msg):
        with self.got:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))
            self.got.notify_all()

    def wait_for(self, predicate) -> list[tuple[str, str, bool]]:
        with self.got:
            assert self.got.wait_for(lambda: predicate(self.messages), WAIT_S), self.messages
            return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def reading(t: float, hr: float | None = 70.0) -> Reading:
    return Reading(timestamp_s=t, heart_rate_bpm=hr, quality=0.8,
                   status=Status.OK if hr is not None else Status.WARMING_UP)


def states(messages) -> list[dict]:
    return [json.loads(p) for t, p, _ in messages if t.endswith("/state")]


def test_readings_discovery_and_availability(plain_broker):
    sink = MqttSink("127.0.0.1", plain_broker.port, topic="edge-vitals/kiosk1")
    sink.write(reading(1.0))
    sink.write(reading(2.0, hr=None))
    sink.close()
    # a subscriber arriving later gets the retained discovery configs and availability
    late = Listener(plain_broker.port, "#")
    msgs = late.wait_for(lambda m: sum(r for *_, r in m) >= 8)
    late.close()
    retained = {t: p for t, p, r in msgs if r}
    assert retained["edge-vitals/kiosk1/availability"] == "offline"  # said goodbye on close
    config = json.loads(retained["homeassistant/sensor/kiosk1/heart_rate_bpm/config"])
    assert config["state_topic"] == "edge-vitals/kiosk1/state"
    assert config["availability_topic"] == "edge-vitals/kiosk1/availability"
    assert config["unique_id"] == "kiosk1_heart_rate_bpm"
    assert config["unit_of_measurement"] == "bpm"
    assert config["value_template"] == "{{ value_json.heart_rate_bpm }}"
    assert config["device"]["identifiers"] == ["edge-vitals-kiosk1"]
    assert {t.split("/")[3] for t in retained if t.startswith("homeassistant/")} == {
        "heart_rate_bpm", "breathing_rate_bpm", "spo2_pct", "sdnn_ms", "rmssd_ms", "quality",
        "status"}


def test_state_messages_carry_the_reading_keys(plain_broker):
    sub = Listener(plain_broker.port, "edge-vitals/k2/#")
    sink = MqttSink("127.0.0.1", plain_broker.port, topic="edge-vitals/k2", discovery=False)
    try:
        assert sub.wait_for(lambda m: ("edge-vitals/k2/availability", "online", False) in m)
        sink.write(reading(1.0))
        sink.write(reading(2.0, hr=None))
        got = states(sub.wait_for(lambda m: len(states(m)) == 2))
    finally:
        sink.close()
        sub.close()
    assert got == [reading(1.0).to_dict(), reading(2.0, hr=None).to_dict()]
    assert got[1]["heart_rate_bpm"] is None and got[1]["status"] == "warming_up"


def test_last_will_says_offline_when_the_process_dies(plain_broker):
    code = (f"import os, sys; from edge.sinks import MqttSink; "
            f"MqttSink('127.0.0.1', {plain_broker.port}, topic='edge-vitals/dies'); "
            f"sys.stdin.read(); os._exit(0)")  # dies without a goodbye when stdin closes
    sub = Listener(plain_broker.port, "edge-vitals/dies/availability")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        sub.wait_for(lambda m: [p for _, p, _ in m] == ["online"])
        proc.stdin.close()
        assert proc.wait(WAIT_S) == 0
        msgs = sub.wait_for(lambda m: len(m) == 2)
    finally:
        proc.kill()
        sub.close()
    assert [p for _, p, _ in msgs] == ["online", "offline"]  # the broker sent the last will


def test_broker_restart_buffers_readings_and_reports_the_gap(workdir):
    broker = Broker(workdir, ["allow_anonymous true"]).start()
    sink = MqttSink("127.0.0.1", broker.port, topic="edge-vitals/restart", discovery=False,
                    reconnect_min_s=1.0, reconnect_max_s=2.0)
    sub = Listener(broker.port, "edge-vitals/restart/state")
    try:
        for t in range(5):
            sink.write(reading(float(t)))
        sub.wait_for(lambda m: len(m) == 5)
        sub.close()
        broker.kill()  # SIGKILL: no goodbye from the broker
        deadline = time.monotonic() + WAIT_S
        while sink.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sink.connected
        for t in range(5, 12):  # readings during the outage are buffered
            sink.write(reading(float(t)))
        broker.start()  # same port; the subscriber (ms) connects long before the sink retries (1 s)
        sub = Listener(broker.port, "edge-vitals/restart/state")
        got = states(sub.wait_for(lambda m: len(m) == 7))
        assert [r["timestamp_s"] for r in got] == [float(t) for t in range(5, 12)]
        assert len(sink.gaps) == 1
        gap = sink.gaps[0]
        assert (gap.buffered, gap.dropped) == (7, 0) and 0 < gap.seconds < WAIT_S
        sink.write(reading(12.0))  # and it carries on live
        assert states(sub.wait_for(lambda m: len(m) == 8))[-1]["timestamp_s"] == 12.0
    finally:
        sink.close()
        sub.close()
        broker.kill()


def test_full_buffer_drops_the_oldest_and_counts_them(workdir):
    broker = Broker(workdir, ["allow_anonymous true"]).start()
    sink = MqttSink("127.0.0.1", broker.port, topic="edge-vitals/full", discovery=False,
                    buffer_readings=3, reconnect_min_s=1.0, reconnect_max_s=2.0)
    try:
        broker.kill()
        deadline = time.monotonic() + WAIT_S
        while sink.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        for t in range(5):
            sink.write(reading(float(t)))
        broker.start()
        sub = Listener(broker.port, "edge-vitals/full/state")
        deadline = time.monotonic() + WAIT_S
        while not sink.gaps and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (sink.gaps[0].buffered, sink.gaps[0].dropped) == (3, 2)
        got = states(sub.wait_for(lambda m: len(m) == 3))
        assert [r["timestamp_s"] for r in got] == [2.0, 3.0, 4.0]
        sub.close()
    finally:
        sink.close()
        broker.kill()


def test_password_broker_accepts_the_right_login(auth_broker):
    sink = MqttSink("127.0.0.1", auth_broker.port, topic="edge-vitals/auth", username="alice",
                    password="s3cret", discovery=False)
    assert sink.connected
    sink.close()


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), (None, None)])
def test_password_broker_rejects_a_wrong_or_missing_login(auth_broker, user, password):
    with pytest.raises(SinkError, match="refused the connection: Not authorized"):
        MqttSink("127.0.0.1", auth_broker.port, username=user, password=password,
                 connect_timeout_s=WAIT_S)


def test_tls_with_our_ca(tls_broker, workdir):
    sink = MqttSink("localhost", tls_broker.port, topic="edge-vitals/tls",
                    ca_certs=workdir / "ca.crt", discovery=False)
    assert sink.connected
    sink.close()


def test_tls_without_the_ca_fails_verification(tls_broker):
    with pytest.raises(SinkError, match=r"TLS with MQTT broker .* failed: CERTIFICATE_VERIFY"):
        MqttSink("localhost", tls_broker.port, tls=True)


def test_unreachable_broker_is_one_clear_error():
    with pytest.raises(SinkError, match=r"cannot connect to MQTT broker 127.0.0.1:\d+: "
                       "Connection refused"):
        MqttSink("127.0.0.1", free_port())


def test_cli_says_a_wrong_password_in_one_line(auth_broker, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    res = subprocess.run(
        [sys.executable, "-m", "edge", "run", "--demo", "--mqtt", f"127.0.0.1:{auth_broker.port}",
         "--mqtt-user", "alice", "--mqtt-password-file", str(pw)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "EDGE_DEBUG": "0"})
    assert res.returncode == 2
    assert res.stderr.strip() == (f"edge-vitals: error: MQTT broker 127.0.0.1:{auth_broker.port} "
                                  "refused the connection: Not authorized")
