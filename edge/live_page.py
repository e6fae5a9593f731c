"""A live page served by the device itself: the vitals, never the frames, over plain HTTP.

    with LivePage("127.0.0.1", 8080) as page:      # binds now: a busy port fails here
        for frame, timestamp_s in source:
            reading = pipe.push(frame, timestamp_s)
            if reading is not None:
                page.publish(reading, frames_dropped=0)

The standard library's `ThreadingHTTPServer` runs on a daemon thread beside the frame
loop. The loop's only cost is `publish`: a lock-protected append to a fixed-size ring
(so memory stays flat over months); every JSON encoding happens on the server's threads
when a client asks. A client that goes away mid-response is ignored (logged at debug
level), never a traceback on stderr.

Endpoints (all ``GET``):

- ``/``: the page, static HTML + JS + CSS shipped in ``edge/web`` (no CDN: works offline).
- ``/api/latest``: the newest reading, the `Reading.to_dict` keys (``204`` before the first).
- ``/api/history``: the readings held, oldest first, as a JSON list (at most `history_size`);
  ``?since=T`` gives only those with ``timestamp_s > T``.
- ``/api/health``: ``status`` (``ok``, ``starting`` or ``stale``), readings published,
  frames dropped, seconds since the last reading; HTTP 200 only while readings arrive.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import re
import socket
import socketserver
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.errors import InputError
from edge.types import Reading

__all__ = ["DEFAULT_HOST", "HISTORY_SIZE", "LivePage", "parse_address"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
HISTORY_SIZE = 900
"""Readings the history ring holds: 15 minutes at the default one reading a second."""

_STATIC = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
           "/style.css": ("style.css", "text/css")}
_ADDRESS = re.compile(r"(?:(?P<host>\[[0-9A-Za-z:.%]+\]|[0-9A-Za-z._-]+):)?(?P<port>\d{1,5})")


def parse_address(value: str) -> tuple[str, int]:
    """``"PORT"``, ``"HOST:PORT"`` or ``"[IPV6]:PORT"`` -> (host, port).

    The host defaults to `DEFAULT_HOST` (this device only); ``0.0.0.0`` opens the page
    to the network. Port 0 lets the system choose a free port.

    Raises
    ------
    InputError
        `value` is not of that form, or the port is not 0-65535.
    """
    match = _ADDRESS.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or int(match["port"]) > 65535:
        raise InputError(f"live page address must be [HOST:]PORT with a port 0-65535 "
                         f"(e.g. 8080, 0.0.0.0:8080, [::1]:8080); got {value!r}")
    host = (match["host"] or DEFAULT_HOST).strip("[]")
    return host, int(match["port"])


def _static_files() -> dict[str, tuple[bytes, str]]:
    """URL path -> (body, content type) of the shipped page."""
    web = resources.files("edge") / "web"
    return {path: (web.joinpath(name).read_bytes(), f"{ctype}; charset=utf-8")
            for path, (name, ctype) in _STATIC.items()}


class _Server(ThreadingHTTPServer):
    """The HTTP server, bound at construction, quiet about clients that go away."""

    daemon_threads = True

    def __init__(self, address: tuple[Any, ...], family: int, page: LivePage):
        self.address_family = family
        self.page = page
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall without DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("live page: client %s: request failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edge-vitals"
    timeout = 10.0  # an idle or stalled client frees its thread

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        page = self.server.page
        if url.path in page.static:
            body, ctype = page.static[url.path]
            self._send(200, body, ctype)
        elif url.path == "/api/latest":
            newest = page._entries(newest_only=True)
            self._send(204 if not newest else 200, b"".join(e.encoded() for e in newest),
                       "application/json")
        elif url.path == "/api/history":
            since = parse_qs(url.query).get("since", [None])[-1]
            try:
                since_s = -math.inf if since is None else float(since)
            except ValueError:
                self._send_json(400, {"error": f"since must be a number; got {since!r}"})
                return
            rows = b", ".join(e.encoded() for e in page._entries(since_s=since_s))
            self._send(200, b"[" + rows + b"]", "application/json")
        elif url.path == "/api/health":
            health = page.health()
            self._send_json(200 if health["status"] == "ok" else 503, health)
        else:
            self._send_json(404, {"error": f"no such page: {url.path}"})

    do_HEAD = do_GET  # noqa: N815 - the http.server name

    def _send_json(self, code: int, payload: Any) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'")  # nothing external
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("live page: %s " + format, self.address_string(), *args)


class _Entry:
    """A published reading and its JSON, encoded once, on the first request that needs it."""

    __slots__ = ("json", "reading")

    def __init__(self, reading: Reading):
        self.reading = reading
        self.json: bytes | None = None

    def encoded(self) -> bytes:
        if self.json is None:  # two server threads may both encode it: the same bytes
            self.json = json.dumps(self.reading.to_dict()).encode()
        return self.json


class LivePage:
    """Serve the live page and its JSON endpoints on ``host:port`` (bound at construction).

    Parameters
    ----------
    host : str
        Address to listen on: ``127.0.0.1`` (this device only), ``0.0.0.0`` or ``::``
        (the network), or a host name.
    port : int
        TCP port; 0 picks a free one (see `address`).
    history_size : int
        Readings kept for ``/api/history`` (a ring: the oldest goes first).
    stale_after_s : float
        ``/api/health`` says ``stale`` (HTTP 503) when no reading came for this long.

    Raises
    ------
    InputError
        The address cannot be served: port in use, no such local address, no permission.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 8080, *,
                 history_size: int = HISTORY_SIZE, stale_after_s: float = 10.0):
        if not isinstance(history_size, int) or history_size < 1:
            raise InputError(f"history_size must be an integer >= 1; got {history_size!r}")
        if not stale_after_s > 0:
            raise InputError(f"stale_after_s must be > 0; got {stale_after_s!r}")
        self.static = _static_files()
        self.stale_after_s = float(stale_after_s)
        self._lock = threading.Lock()
        self._ring: deque[_Entry] = deque(maxlen=history_size)
        self._published = 0
        self._frames_dropped = 0
        self._last_published: float | None = None
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._server = self._bind(host, port)

    def _bind(self, host: str, port: int) -> _Server:
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        try:
            family, _, _, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            return _Server(address, family, self)
        except socket.gaierror as exc:
            raise InputError(f"cannot serve the live page on {where}: unknown host "
                             f"({exc.strerror})") from None
        except OSError as exc:
            reason = "port in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise InputError(f"cannot serve the live page on {where}: {reason}") from None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The page's URL (with the bound address)."""
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def start(self) -> LivePage:
        """Start serving on a daemon thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.2},
                                            name="edge-vitals-live-page", daemon=True)
            self._thread.start()
        return self

    def publish(self, reading: Reading, *, frames_dropped: int = 0) -> None:
        """Add `reading` to the page (the newest first in line); cheap, for the frame loop.

        `frames_dropped` is the run's total so far (live mode's full queue).
        """
        if not isinstance(reading, Reading):
            raise InputError(f"publish needs a Reading; got {type(reading).__name__}")
        if not isinstance(frames_dropped, int) or frames_dropped < 0:
            raise InputError(f"frames_dropped must be an integer >= 0; got {frames_dropped!r}")
        now = time.monotonic()
        with self._lock:
            self._ring.append(_Entry(reading))
            self._published += 1
            self._frames_dropped = frames_dropped
            self._last_published = now

    def latest(self) -> Reading | None:
        """The newest reading published, if any."""
        newest = self._entries(newest_only=True)
        return newest[0].reading if newest else None

    def history(self, *, since_s: float = -math.inf) -> list[Reading]:
        """Readings held with ``timestamp_s > since_s``, oldest first."""
        return [e.reading for e in self._entries(since_s=since_s)]

    def _entries(self, *, since_s: float = -math.inf, newest_only: bool = False) -> list[_Entry]:
        with self._lock:
            if newest_only:
                return [self._ring[-1]] if self._ring else []
            newer = []
            for entry in reversed(self._ring):
                if not entry.reading.timestamp_s > since_s:
                    break
                newer.append(entry)
        return newer[::-1]

    def health(self) -> dict[str, Any]:
        """The ``/api/health`` payload."""
        now = time.monotonic()
        with self._lock:
            last, published, dropped = self._last_published, self._published, self._frames_dropped
            latest = self._ring[-1].reading if self._ring else None
        age_s = None if last is None else now - last
        status = "starting" if age_s is None else "ok" if age_s <= self.stale_after_s else "stale"
        return {"status": status, "readings_published": published, "frames_dropped": dropped,
                "seconds_since_reading": age_s, "uptime_s": now - self._started,
                "reading_status": None if latest is None else latest.status.value}

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LivePage:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
