"""Sinks without a broker, and the Pi camera source against a stand-in for picamera2."""

import csv
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.capture.picamera import PicameraSource, sensor_time_s
from edge.errors import CaptureError, InputError
from edge.sinks import (
    HA_SENSORS,
    CsvSink,
    JsonLinesSink,
    MqttSink,
    SinkError,
    TextSink,
    discovery_messages,
    parse_host_port,
)
from edge.types import Box, Reading, Status

READING = Reading(timestamp_s=3.0, heart_rate_bpm=71.84, quality=0.83, status=Status.OK,
                  face_box=Box(10, 20, 30, 40), latency_ms=0.3)
EMPTY = Reading(timestamp_s=4.0, status=Status.NO_FACE)


def test_json_lines_are_the_reading_dicts():
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.write(READING)
    sink.write(EMPTY)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows == [READING.to_dict(), EMPTY.to_dict()]
    assert rows[1]["heart_rate_bpm"] is None


def test_text_lines():
    out = io.StringIO()
    all_vitals = Reading(timestamp_s=40.0, heart_rate_bpm=71.84, breathing_rate_bpm=12.06,
                         spo2_pct=94.62, sdnn_ms=41.3, quality=0.65, status=Status.OK)
    calibrated = Reading(timestamp_s=41.0, heart_rate_bpm=70.0, spo2_pct=97.0,
                         spo2_calibrated=True, status=Status.OK)
    for reading in (READING, EMPTY, all_vitals, calibrated):
        TextSink(out).write(reading)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("ok  (BR, SpO2, HRV: warming up)")  # READING withholds them
    assert lines[3].endswith("ok  (BR, HRV: warming up)")
    first, second, third, fourth = (line.split("  (")[0] for line in lines)
    assert "HR   71.8 bpm" in first and first.endswith("ok")
    assert "BR    -- /min" in first and "SpO2    -- % " in first and "SDNN   -- ms" in first
    assert "HR     -- bpm" in second and second.endswith("no_face")
    assert "HR   71.8 bpm  BR  12.1 /min  SpO2  94.6 %*  SDNN   41 ms  quality 0.65  ok" in third
    assert "SpO2  97.0 %  " in fourth  # calibrated: no mark
    assert len({len(line) - len(line.split()[-1]) for line in (first, third, fourth)}) == 1


def test_csv_has_a_header_and_a_flat_face_box(tmp_path):
    path = tmp_path / "r.csv"
    with CsvSink(path) as sink:
        sink.write(READING)
        sink.write(EMPTY)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == list(READING.to_dict())
    assert rows[0]["face_box"] == "10 20 30 40" and rows[1]["face_box"] == ""


def test_csv_in_a_missing_directory_is_a_sink_error(tmp_path):
    with pytest.raises(SinkError, match="cannot write the CSV file"):
        CsvSink(tmp_path / "no" / "such" / "dir.csv")


@pytest.mark.parametrize(("text", "expected"), [
    ("broker", ("broker", 1883)), ("broker.lan:1884", ("broker.lan", 1884)),
    ("10.0.0.2", ("10.0.0.2", 1883)), ("[fd00::1]:8883", ("fd00::1", 8883)),
    ("[fd00::1]", ("fd00::1", 1883)),
])
def test_host_port(text, expected):
    assert parse_host_port(text, default_port=1883) == expected


@pytest.mark.parametrize("text", ["", "a:b", "host:0", "host:70000", "a:1:2"])
def test_bad_host_port(text):
    with pytest.raises(SinkError, match="MQTT"):
        parse_host_port(text, default_port=1883)


def test_discovery_has_one_sensor_per_reading_key():
    msgs = dict(discovery_messages("pi1", "ev/pi1/state", "ev/pi1/availability"))
    assert set(HA_SENSORS) <= set(READING.to_dict())  # templates only name real keys
    assert set(msgs) == {f"homeassistant/sensor/pi1/{k}/config" for k in HA_SENSORS}
    hr = msgs["homeassistant/sensor/pi1/heart_rate_bpm/config"]
    assert hr["state_class"] == "measurement" and hr["payload_not_available"] == "offline"
    assert "state_class" not in msgs["homeassistant/sensor/pi1/status/config"]
    assert len({m["unique_id"] for m in msgs.values()}) == len(msgs)


def test_mqtt_without_paho_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "paho", None)
    monkeypatch.setitem(sys.modules, "paho.mqtt", None)
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    with pytest.raises(SinkError, match=r"pip install 'edge-vitals\[mqtt\]'"):
        MqttSink("localhost")


# -- Pi camera --------------------------------------------------------------------------


class FakeRequest:
    def __init__(self, pixels, t_ns, log):
        self.pixels, self.t_ns, self.log = pixels, t_ns, log

    def make_array(self, name):
        assert name == "main"
        return self.pixels.copy()  # picamera2 copies the buffer out

    def get_metadata(self):
        return {"SensorTimestamp": self.t_ns}

    def release(self):
        self.log.append("release")


class FakePicamera2:
    """The calls PicameraSource makes, recorded; a frame's bytes are in the order its format's
    DRM fourcc names from the least significant byte, as on a Pi ("BGR888": R, G, B)."""

    def __init__(self, num):
        self.log = [f"open {num}"]
        FakePicamera2.last = self
        self.t_ns = 5_000_000_000

    def create_video_configuration(self, main, controls, buffer_count):
        self.fourcc = main["format"]
        return {"main": main, "controls": controls}

    def configure(self, config):
        self.config = config

    def start(self):
        self.log.append("start")

    def capture_request(self):
        self.t_ns += 33_333_333
        pixels = np.zeros((4, 6, 3), np.uint8)
        blue_byte = {"RGB888": 0, "BGR888": 2}[self.fourcc]
        pixels[..., blue_byte] = 200  # a blue frame
        return FakeRequest(pixels, self.t_ns, self.log)

    def stop(self):
        self.log.append("stop")

    def close(self):
        self.log.append("close")


def test_picamera_frames_are_rgb_with_sensor_timestamps():
    with PicameraSource(width=6, height=4, fps=30, picamera2_class=FakePicamera2) as cam:
        frames = iter(cam)
        (f1, t1), (_, t2) = next(frames), next(frames)
    fake = FakePicamera2.last
    assert fake.config["main"]["size"] == (6, 4)
    assert fake.config["controls"]["FrameDurationLimits"] == (33333, 33333)
    assert f1.shape == (4, 6, 3) and f1.flags.c_contiguous
    assert (f1[..., 2] == 200).all() and (f1[..., 0] == 0).all()  # blue is the last channel
    assert t1 == pytest.approx(5.033333333) and t2 - t1 == pytest.approx(1 / 30, abs=1e-6)
    assert fake.log == ["open 0", "start", "release", "release", "stop", "close"]


def test_sensor_time():
    assert sensor_time_s({"SensorTimestamp": 1_500_000_000}) == 1.5
    with pytest.raises(CaptureError, match="SensorTimestamp"):
        sensor_time_s({})


def test_picamera_checks_its_arguments():
    with pytest.raises(InputError, match="fps"):
        PicameraSource(fps=0, picamera2_class=FakePicamera2)


def test_missing_picamera2_is_one_line_with_the_apt_hint():
    if importlib.util.find_spec("picamera2") is not None:  # pragma: no cover - on a Pi
        pytest.skip("picamera2 is installed here")
    res = subprocess.run([sys.executable, "-m", "edge", "run", "picamera"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "apt install python3-picamera2" in res.stderr and "--system-site-packages" in res.stderr


def test_no_camera_0_is_one_line_and_exit_2():
    if Path("/dev/video0").exists():  # pragma: no cover - live mode would run forever
        pytest.skip("a camera 0 is present")
    res = subprocess.run([sys.executable, "-m", "edge", "run", "--camera", "0"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == ("edge-vitals: error: cannot open camera 0 (/dev/video0): "
                                  "no such device or it is busy")
