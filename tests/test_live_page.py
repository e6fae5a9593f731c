"""The live page's server: address parsing, binding errors, endpoints, bounded history, and
clients that go away mid-response. Loopback addresses only."""

import json
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest

from edge.errors import InputError
from edge.live_page import LivePage, parse_address
from edge.types import Box, Reading, Status

KEYS = set(Reading(timestamp_s=0.0).to_dict())


def reading(t, **kw):
    return Reading(timestamp_s=float(t), heart_rate_bpm=60.0 + t, status=Status.OK,
                   face_box=Box(1, 2, 30, 40), latency_ms=1.5, **kw)


def get(url):
    """(HTTP status, headers, body bytes), also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def page():
    with LivePage("127.0.0.1", 0, history_size=50) as p:
        yield p


@pytest.mark.parametrize("value, expected", [
    ("8080", ("127.0.0.1", 8080)),
    (" 0 ", ("127.0.0.1", 0)),
    ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("localhost:65535", ("localhost", 65535)),
    ("[::1]:8080", ("::1", 8080)),
    ("[::]:1", ("::", 1)),
])
def test_parse_address(value, expected):
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", ["", "http", ":8080", "host:", "65536", "127.0.0.1:99999",
                                   "::1:8080", "[::1]", "8080/", "http://127.0.0.1:80", "-1",
                                   "a b:80", None, 8080])
def test_parse_address_rejects(value):
    with pytest.raises(InputError, match=r"\[HOST:\]PORT"):
        parse_address(value)


def test_a_port_in_use_is_an_input_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"127.0.0.1:{port}: port in use"):
            LivePage("127.0.0.1", port)


def test_a_second_page_on_the_same_port_and_the_port_freed_on_close():
    with LivePage("127.0.0.1", 0) as first:
        port = first.address[1]
        with pytest.raises(InputError, match="port in use"):
            LivePage("127.0.0.1", port)
    with LivePage("127.0.0.1", port) as again:  # close() released it
        assert get(again.url)[0] == 200


@pytest.mark.parametrize("args, kwargs, match", [
    (({"timestamp_s": 1.0},), {}, "Reading; got dict"),
    ((reading(1),), {"frames_dropped": -1}, "frames_dropped"),
    ((reading(1),), {"frames_dropped": 2.0}, "frames_dropped"),
])
def test_publish_checks_its_input(page, args, kwargs, match):
    with pytest.raises(InputError, match=match):
        page.publish(*args, **kwargs)
    assert page.latest() is None


def test_an_unknown_host_is_an_input_error(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(InputError, match="nowhere:8080: unknown host"):
        LivePage("nowhere", 8080)


@pytest.mark.parametrize("kwargs, match", [({"history_size": 0}, "history_size"),
                                           ({"history_size": 2.5}, "history_size"),
                                           ({"stale_after_s": 0.0}, "stale_after_s")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        LivePage("127.0.0.1", 0, **kwargs)


def test_ipv6_loopback(page):
    try:
        v6 = LivePage("::1", 0)
    except InputError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with v6:
        assert v6.url.startswith("http://[::1]:")
        assert get(v6.url + "api/health")[0] == 503


def test_latest_and_health_before_and_after_the_first_reading(page):
    status, _, body = get(page.url + "api/latest")
    assert (status, body) == (204, b"")
    status, _, body = get(page.url + "api/health")
    health = json.loads(body)
    assert status == 503 and health["status"] == "starting"
    assert health["readings_published"] == 0 and health["seconds_since_reading"] is None

    page.publish(reading(1), frames_dropped=0)
    page.publish(reading(2, spo2_pct=97.0, spo2_status=Status.OK), frames_dropped=7)
    status, headers, body = get(page.url + "api/latest")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    latest = json.loads(body)
    assert set(latest) == KEYS
    assert latest["timestamp_s"] == 2.0 and latest["heart_rate_bpm"] == 62.0
    assert latest["spo2_pct"] == 97.0 and latest["spo2_status"] == "ok"
    assert latest["face_box"] == [1, 2, 30, 40] and latest["status"] == "ok"
    status, _, body = get(page.url + "api/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert health["readings_published"] == 2 and health["frames_dropped"] == 7
    assert 0 <= health["seconds_since_reading"] <= health["uptime_s"]


def test_health_goes_stale_when_readings_stop():
    with LivePage("127.0.0.1", 0, stale_after_s=1e-9) as page:
        page.publish(reading(1))
        status, _, body = get(page.url + "api/health")
    assert status == 503 and json.loads(body)["status"] == "stale"


def test_history_is_a_bounded_ring_oldest_first(page):
    for t in range(120):  # the ring holds 50
        page.publish(reading(t), frames_dropped=t // 10)
    held = [r.timestamp_s for r in page.history()]
    assert held == [float(t) for t in range(70, 120)]
    status, _, body = get(page.url + "api/history")
    rows = json.loads(body)
    assert status == 200 and len(rows) == 50 and all(set(row) == KEYS for row in rows)
    assert [row["timestamp_s"] for row in rows] == held
    assert rows == [reading(t).to_dict() for t in range(70, 120)]
    assert json.loads(get(page.url + "api/health")[2])["readings_published"] == 120


def test_history_since(page):
    for t in range(10):
        page.publish(reading(t + 0.5))
    rows = json.loads(get(page.url + "api/history?since=6.5")[2])
    assert [row["timestamp_s"] for row in rows] == [7.5, 8.5, 9.5]
    assert json.loads(get(page.url + "api/history?since=9.5")[2]) == []
    assert len(json.loads(get(page.url + "api/history?since=-1")[2])) == 10
    status, _, body = get(page.url + "api/history?since=soon")
    assert status == 400 and "since" in json.loads(body)["error"]


def test_the_page_is_self_contained(page):
    status, headers, html = get(page.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == "default-src 'self'"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.decode())
    assert sorted(assets) == ["/app.js", "/style.css"]
    for path in ("", "app.js", "style.css"):
        status, _, body = get(page.url + path)
        assert status == 200 and body
        assert not re.search(rb"""https?:|["'(]//""", body)  # nothing external
    html = html.decode()
    for element in ("hr-value", "br-value", "spo2-value", "hr-status", "hr-quality", "face",
                    "dropped", "latency"):
        assert f'id="{element}"' in html
    assert get(page.url + "nothing-here")[0] == 404
    assert get(page.url + "../edge/live_page.py")[0] == 404


def _request_threads():
    return [t for t in threading.enumerate() if "process_request" in t.name]


def test_clients_that_go_away_harm_nothing(page, capfd):
    for t in range(50):
        page.publish(reading(t))
    host, port = page.address
    for i in range(20):
        with socket.create_connection((host, port)) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.sendall(b"GET /api/history HTTP/1.1\r\nHost: x\r\n\r\n")
            if i % 2:
                client.recv(64)  # read a little, then reset the connection mid-response
    with socket.create_connection((host, port)):
        pass  # connect and leave without a word
    with socket.create_connection((host, port)) as client:
        client.sendall(b"GET /api/hi")  # half a request
    deadline = time.monotonic() + 10
    while _request_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    status, _, body = get(page.url + "api/history")
    assert status == 200 and len(json.loads(body)) == 50
    assert capfd.readouterr().err == ""  # no traceback, no access log


def test_publish_is_safe_beside_readers(page):
    seen = []

    def read_often():
        for _ in range(50):
            rows = json.loads(get(page.url + "api/history")[2])
            seen.append([row["timestamp_s"] for row in rows])

    readers = [threading.Thread(target=read_often) for _ in range(2)]
    for r in readers:
        r.start()
    for t in range(2000):
        page.publish(reading(t))
    for r in readers:
        r.join()
    assert len(seen) == 100
    assert all(len(times) <= 50 and times == sorted(times) for times in seen)
    assert [r.timestamp_s for r in page.history()] == [float(t) for t in range(1950, 2000)]
