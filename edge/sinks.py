"""Where readings go: text or JSON lines on a stream, a CSV file, an MQTT broker.

Every sink has ``write(reading)`` and ``close()`` and is a context manager. Nothing is
written or sent anywhere unless a sink is made for it. MQTT needs the optional
``paho-mqtt`` (``pip install edge-vitals[mqtt]``), imported when an `MqttSink` is made.

MQTT topics (``BASE`` defaults to ``edge-vitals/<hostname>``):

- ``BASE/state``: one JSON object per reading (the `Reading.to_dict` keys), QoS 1.
- ``BASE/availability``: ``online`` / ``offline``, retained; the broker publishes
  ``offline`` itself (last will) if the device drops off without saying goodbye.
- ``homeassistant/sensor/<node>/<vital>/config``: Home Assistant MQTT discovery, retained,
  so the vitals appear as sensors of one device without any YAML.

While the broker is unreachable, readings are kept in a bounded buffer and sent on
reconnection (paho reconnects with exponential backoff); if the buffer overflows, the
oldest readings are dropped and the gap is logged and counted in `MqttSink.gaps`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from edge.errors import VitalsError
from edge.reasons import SHORT_NAMES, withheld_reason
from edge.types import Reading

__all__ = ["HA_SENSORS", "CsvSink", "JsonLinesSink", "MqttSink", "SinkError", "TextSink",
           "discovery_messages", "parse_host_port"]

log = logging.getLogger(__name__)

READING_KEYS = tuple(Reading(timestamp_s=0.0).to_dict())


class SinkError(VitalsError, RuntimeError):
    """A sink cannot be opened, or its broker refused the connection."""


class _SinkBase:
    def write(self, reading: Reading) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release the sink."""

    def __enter__(self) -> _SinkBase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _field(value: float | None, width: int, decimals: int) -> str:
    """`value` right-aligned in `width` characters, or ``--`` when it is ``None``."""
    return f"{'--':>{width}}" if value is None else f"{value:{width}.{decimals}f}"


class TextSink(_SinkBase):
    """One human-readable line per reading: every vital, ``--`` where there is none.

    ``   40.0 s  HR   71.8 bpm  BR  12.1 /min  SpO2  94.6 %*  SDNN   41 ms  quality 0.65  ok``
    (``*``: SpO2 from the uncalibrated default line; the heart rate's quality and status),
    then the other vitals withheld and why (``(BR: warming up; SpO2: skin pixels saturated)``),
    except those in `off` (turned off in the config).
    """

    def __init__(self, stream: IO[str], *, off: Collection[str] = ()):
        self.stream = stream
        self.off = frozenset(off)

    def line(self, reading: Reading) -> str:
        """The reading as one line of text (no newline)."""
        spo2_mark = "*" if reading.spo2_pct is not None and not reading.spo2_calibrated else " "
        text = (f"{reading.timestamp_s:8.1f} s  HR {_field(reading.heart_rate_bpm, 6, 1)} bpm  "
                f"BR {_field(reading.breathing_rate_bpm, 5, 1)} /min  "
                f"SpO2 {_field(reading.spo2_pct, 5, 1)} %{spo2_mark}  "
                f"SDNN {_field(reading.sdnn_ms, 4, 0)} ms  quality {reading.quality:4.2f}  "
                f"{reading.status.value}")
        if reading.heart_rate_bpm is None:  # the status column says why already
            return text
        why: dict[str, list[str]] = {}  # reason -> vitals, so that one reason is said once
        for key, name in SHORT_NAMES.items():
            reason = None if key in self.off else withheld_reason(reading, key)
            if reason is not None:
                why.setdefault(reason, []).append(name)
        said = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in why.items())
        return f"{text}  ({said})" if said else text

    def write(self, reading: Reading) -> None:
        """Print the reading as a line of text."""
        print(self.line(reading), file=self.stream, flush=True)


class JsonLinesSink(_SinkBase):
    """One JSON object per reading and line (the `Reading.to_dict` keys)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, reading: Reading) -> None:
        """Print the reading as one JSON line."""
        print(json.dumps(reading.to_dict()), file=self.stream, flush=True)


class CsvSink(_SinkBase):
    """A CSV file with a header row of the `Reading.to_dict` keys; ``face_box`` as "x y w h"."""

    def __init__(self, path: str | Path):
        try:
            self._handle: IO[str] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"cannot write the CSV file {path}: {exc.strerror}") from None
        self._writer = csv.DictWriter(self._handle, fieldnames=READING_KEYS)
        self._writer.writeheader()

    def write(self, reading: Reading) -> None:
        """Append one row."""
        row = reading.to_dict()
        box = row["face_box"]
        row["face_box"] = "" if box is None else " ".join(str(v) for v in box)
        self._writer.writerow(row)
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


# -- MQTT ---------------------------------------------------------------------------------

HA_SENSORS: dict[str, dict[str, Any]] = {
    "heart_rate_bpm": {"name": "Heart rate", "unit_of_measurement": "bpm",
                       "icon": "mdi:heart-pulse", "suggested_display_precision": 0},
    "breathing_rate_bpm": {"name": "Breathing rate", "unit_of_measurement": "breaths/min",
                           "icon": "mdi:lungs", "suggested_display_precision": 0},
    "spo2_pct": {"name": "SpO2", "unit_of_measurement": "%", "icon": "mdi:water-percent"},
    "sdnn_ms": {"name": "HRV SDNN", "unit_of_measurement": "ms", "device_class": "duration"},
    "rmssd_ms": {"name": "HRV RMSSD", "unit_of_measurement": "ms", "device_class": "duration"},
    "quality": {"name": "Signal quality", "icon": "mdi:signal",
                "suggested_display_precision": 2},
    "status": {"name": "Status", "icon": "mdi:information-outline"},
}
"""Reading key -> Home Assistant sensor fields (the discovery payload adds the topics)."""


def parse_host_port(value: str, *, default_port: int) -> tuple[str, int]:
    """``"host"``, ``"host:port"`` or ``"[v6addr]:port"`` -> (host, port)."""
    match = re.fullmatch(r"\[(?P<h6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<h>[^:\[\]]+)(?::(?P<p>\d+))?",
                         value.strip())
    if not match:
        raise SinkError(f"MQTT broker must be HOST or HOST:PORT; got {value!r}")
    host = match["h6"] or match["h"]
    port = int(match["p6"] or match["p"] or default_port)
    if not 0 < port < 65536:
        raise SinkError(f"MQTT port must be 1-65535; got {port}")
    return host, port


def _node_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "edge-vitals"


def discovery_messages(node: str, state_topic: str, availability_topic: str, *,
                       prefix: str = "homeassistant",
                       version: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery (topic, payload) pairs: one sensor per reading key."""
    device = {"identifiers": [f"edge-vitals-{node}"], "name": f"edge-vitals {node}",
              "manufacturer": "edge-vitals", "model": "camera vital signs (not a medical device)",
              "sw_version": version}
    messages = []
    for key, fields in HA_SENSORS.items():
        payload = {
            **fields, "unique_id": f"{node}_{key}", "object_id": f"{node}_{key}",
            "state_topic": state_topic, "value_template": f"{{{{ value_json.{key} }}}}",
            "availability_topic": availability_topic, "payload_available": "online",
            "payload_not_available": "offline", "device": device,
        }
        if key != "status":
            payload["state_class"] = "measurement"
        messages.append((f"{prefix}/sensor/{node}/{key}/config", payload))
    return messages


def _import_paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise SinkError("MQTT needs paho-mqtt; pip install 'edge-vitals[mqtt]' "
                        "(or pip install 'paho-mqtt>=2.0')") from None
    return mqtt


@dataclass(frozen=True, slots=True)
class Gap:
    """A time the broker was unreachable."""

    seconds: float
    """From the disconnection to the reconnection."""
    buffered: int
    """Readings kept and sent after reconnecting."""
    dropped: int
    """Readings lost because the buffer was full."""


class MqttSink(_SinkBase):
    """Publish readings to an MQTT broker, with Home Assistant discovery.

    Parameters
    ----------
    host : str
        Broker host name or address.
    port : int, optional
        1883, or 8883 with TLS.
    topic : str, optional
        Base topic; default ``edge-vitals/<hostname>``.
    username, password : str, optional
        Broker login.
    tls : bool
        Use TLS (implied by `ca_certs`); without `ca_certs` the system CAs verify the broker.
    ca_certs : str or Path, optional
        CA certificate file (PEM) that signed the broker's certificate.
    discovery : bool
        Publish Home Assistant discovery configs (retained) on every connection.
    discovery_prefix : str
        Home Assistant's discovery prefix.
    buffer_readings : int
        Readings kept while the broker is unreachable (1 per second: an hour by default).
    reconnect_min_s, reconnect_max_s : float
        Backoff between reconnection attempts (doubling from min to max).
    connect_timeout_s : float
        How long to wait for the broker's answer when starting.

    Raises
    ------
    SinkError
        paho-mqtt missing, broker unreachable, TLS failure, or login refused.
    """

    def __init__(self, host: str, port: int | None = None, *, topic: str | None = None,
                 username: str | None = None, password: str | None = None, tls: bool = False,
                 ca_certs: str | Path | None = None, discovery: bool = True,
                 discovery_prefix: str = "homeassistant", buffer_readings: int = 3600,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 60.0,
                 connect_timeout_s: float = 10.0, keepalive_s: int = 30):
        from edge import __version__

        tls = tls or ca_certs is not None
        self.host, self.port = host, port or (8883 if tls else 1883)
        self.where = f"{self.host}:{self.port}"
        self.topic = (topic or f"edge-vitals/{socket.gethostname()}").rstrip("/")
        self.node = _node_id(self.topic.rsplit("/", 1)[-1])
        self.state_topic = f"{self.topic}/state"
        self.availability_topic = f"{self.topic}/availability"
        self._discovery = (discovery_messages(self.node, self.state_topic,
                                              self.availability_topic, prefix=discovery_prefix,
                                              version=__version__) if discovery else [])
        self._pending: deque[str] = deque()
        self._buffer_readings = int(buffer_readings)
        self._lock = threading.Lock()
        self._connected = self._closing = False
        self._first = threading.Event()
        self._refused: str | None = None
        self._down_since: float | None = None
        self._dropped_now = self._buffered_now = 0
        self.gaps: list[Gap] = []
        """Every disconnection, once reconnected (seconds, readings buffered and dropped)."""
        self.published = 0
        """Readings handed to the MQTT client."""

        self._client = self._make_client(username, password, tls, ca_certs)
        self._client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)
        self._start(connect_timeout_s, keepalive_s)

    def _make_client(self, username: str | None, password: str | None, tls: bool,
                     ca_certs: str | Path | None) -> Any:
        mqtt = _import_paho()
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-vitals-{self.node}",
                             protocol=mqtt.MQTTv311)
        if username is not None:
            client.username_pw_set(username, password)
        if tls:
            try:
                client.tls_set(ca_certs=None if ca_certs is None else str(ca_certs),
                               cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError) as exc:
                raise SinkError(f"cannot use the CA file {ca_certs}: {exc}") from None
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _start(self, timeout_s: float, keepalive_s: int) -> None:
        try:
            self._client.connect(self.host, self.port, keepalive=keepalive_s)
        except ssl.SSLError as exc:
            raise SinkError(f"TLS with MQTT broker {self.where} failed: "
                            f"{exc.reason or exc}") from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise SinkError(f"cannot connect to MQTT broker {self.where}: {reason}") from None
        self._client.loop_start()
        if not self._first.wait(timeout_s):
            self._stop()
            raise SinkError(f"MQTT broker {self.where} did not answer within {timeout_s:g} s")
        if self._refused is not None:
            self._stop()
            raise SinkError(f"MQTT broker {self.where} refused the connection: {self._refused}")

    # paho callbacks, on paho's network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if reason_code.is_failure:
            if not self._first.is_set():  # at start: stop retrying and tell the caller
                self._refused = str(reason_code)
                client.disconnect()
                self._first.set()
            else:
                log.error("MQTT broker %s refused the reconnection: %s", self.where, reason_code)
            return
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        for topic, payload in self._discovery:
            client.publish(topic, json.dumps(payload), qos=1, retain=True)
        with self._lock:
            self._connected = True
            pending, self._pending = self._pending, deque()
            for message in pending:
                client.publish(self.state_topic, message, qos=1)
            if self._down_since is not None:
                gap = Gap(time.monotonic() - self._down_since, self._buffered_now,
                          self._dropped_now)
                self.gaps.append(gap)
                log.warning("MQTT reconnected to %s after %.1f s; %d buffered readings sent, "
                            "%d dropped", self.where, gap.seconds, gap.buffered, gap.dropped)
                self._down_since = None
        self._first.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        with self._lock:
            if self._connected and not self._closing:
                self._connected = False
                self._down_since = time.monotonic()
                self._buffered_now = self._dropped_now = 0
                log.warning("MQTT connection to %s lost (%s); buffering readings, reconnecting",
                            self.where, reason_code)

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected

    def write(self, reading: Reading) -> None:
        """Publish one reading (QoS 1), or buffer it while the broker is unreachable."""
        message = json.dumps(reading.to_dict())
        with self._lock:
            if self._connected:
                self._client.publish(self.state_topic, message, qos=1)
            else:
                if len(self._pending) >= self._buffer_readings:
                    self._pending.popleft()
                    self._dropped_now += 1
                else:
                    self._buffered_now += 1
                self._pending.append(message)
            self.published += 1

    def _stop(self) -> None:
        self._client.loop_stop()

    def close(self, *, timeout_s: float = 2.0) -> None:
        """Say ``offline`` (retained), wait for the in-flight messages, and disconnect."""
        self._closing = True
        if self._connected:
            info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # disconnected meanwhile:
                info.wait_for_publish(timeout_s)                  # the last will says it
            self._client.disconnect()
        self._connected = False
        if self._pending:
            log.warning("MQTT: %d readings not sent (broker %s unreachable at exit)",
                        len(self._pending), self.where)
        self._stop()
