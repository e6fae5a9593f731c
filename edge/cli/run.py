"""``edge-vitals run``: readings from a video file, a camera or the demo clip.

The demo clip comes from the source registered as ``demo`` (`edge.cli.registry`).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli import registry
from edge.cli.options import config_from_args
from edge.config import METHOD_NAMES, PipelineConfig
from edge.errors import InputError
from edge.live import LiveSource
from edge.pipeline import Pipeline
from edge.sinks import CsvSink, JsonLinesSink, TextSink
from edge.types import Reading, Status

__all__ = ["HELP", "add_arguments", "add_mqtt_arguments", "main", "summarise"]

HELP = "measure vitals from a video file, a camera or the demo clip"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals run``."""
    parser.add_argument("source", nargs="?", help="video file, or 'picamera'")
    parser.add_argument("--camera", type=int, metavar="N", help="OpenCV camera index")
    parser.add_argument("--demo", action="store_true",
                        help="run on a clip made on the spot by the world simulator")
    parser.add_argument("--method", choices=METHOD_NAMES, help="rPPG method (default pos)")
    parser.add_argument("--model", metavar="PATH",
                        help="--method cnn: an .onnx or .tflite model (default: the shipped one)")
    parser.add_argument("--roi", choices=("face", "full"),
                        help="face: detect the face; full: the whole frame is skin")
    parser.add_argument("--config", metavar="TOML", help="pipeline config file")
    parser.add_argument("--spo2-calibration", metavar="JSON",
                        help="SpO2 calibration from 'edge-vitals calibrate spo2' (default: "
                        "uncalibrated, readings say spo2_calibrated=false)")
    parser.add_argument("--fps", type=float, help="override the video's frame rate")
    parser.add_argument("--decode-scale", default="auto", choices=("auto", "1", "2", "4", "8"),
                        help="decode files reduced by this factor (MJPG: inside the JPEG "
                        "decoder); auto keeps >= 320 px width (default)")
    parser.add_argument("--json", action="store_true", help="one JSON object per reading")
    parser.add_argument("--csv", metavar="FILE", help="also write the readings to a CSV file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cam = parser.add_argument_group("cameras (--camera N, picamera)")
    cam.add_argument("--size", default="640x480", metavar="WxH",
                     help="camera capture size (default 640x480); --fps sets the camera's rate")
    cam.add_argument("--queue", type=int, default=2, metavar="N",
                     help="live mode: frames held between capture and processing; when full, "
                     "the oldest is dropped (default 2)")
    add_mqtt_arguments(parser)
    add_live_page_arguments(parser)


def add_mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--mqtt*`` flags of ``edge-vitals run``."""
    mq = parser.add_argument_group("MQTT (pip install 'edge-vitals[mqtt]')")
    mq.add_argument("--mqtt", metavar="HOST[:PORT]",
                    help="publish readings to this broker, with Home Assistant discovery")
    mq.add_argument("--mqtt-user", metavar="NAME", help="broker user name")
    pw = mq.add_mutually_exclusive_group()
    pw.add_argument("--mqtt-password", metavar="PW", help="broker password (visible in ps; "
                    "prefer --mqtt-password-file)")
    pw.add_argument("--mqtt-password-file", metavar="FILE", help="file holding the password")
    mq.add_argument("--mqtt-tls", action="store_true", help="TLS (port 8883 unless given)")
    mq.add_argument("--mqtt-ca", metavar="PEM", help="CA certificate of the broker (implies TLS)")
    mq.add_argument("--mqtt-topic", metavar="BASE",
                    help="base topic (default edge-vitals/<hostname>): BASE/state, "
                    "BASE/availability")


# -- live page (#21): --serve and --realtime ------------------------------------------------
def add_live_page_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--serve`` and ``--realtime`` flags of ``edge-vitals run``."""
    parser.add_argument("--serve", metavar="[HOST:]PORT",
                        help="serve a live page of the vitals (never the video) at "
                        "http://HOST:PORT/ (default host 127.0.0.1: this device only; "
                        "0.0.0.0:PORT opens it to the network)")
    parser.add_argument("--realtime", action="store_true",
                        help="play a file (or --demo) at its own pace, through the live queue "
                        "like a camera (cameras are real time already)")


def _live_page(args: argparse.Namespace, config: PipelineConfig,
               stack: ExitStack) -> Any | None:
    """The page of ``--serve``, bound now so that a busy port fails before any work."""
    if args.serve is None:
        return None
    from edge.live_page import LivePage, parse_address

    host, port = parse_address(args.serve)
    stale_after_s = max(10.0, 5 * config.rppg.output_interval_s)
    page = stack.enter_context(LivePage(host, port, stale_after_s=stale_after_s))
    print(f"edge-vitals: live page at {page.url}", file=sys.stderr)
    return page


def _paced(frames: Iterable[Any]) -> Iterator[Any]:
    """Each frame held back until its timestamp comes round (``--realtime``)."""
    start_s = None
    for frame, timestamp_s in frames:
        if start_s is None:
            start_s = time.monotonic() - timestamp_s
        delay_s = start_s + timestamp_s - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        yield frame, timestamp_s
# -- end of live page (#21) ----------------------------------------------------------------


def _source(args: argparse.Namespace, stack: ExitStack) -> tuple[Iterable[Any], int | None, Any]:
    """(frames, frame count or None, demo clip or None)."""
    chosen = [bool(args.source), args.camera is not None, args.demo]
    if sum(chosen) != 1:
        raise InputError("give exactly one source: a video file, --camera N, or --demo")
    if args.demo:
        clip: registry.ClipSource = registry.load(registry.SOURCES_GROUP, "demo")()
        return clip.frames, clip.frame_count, clip
    if args.camera is not None or args.source == "picamera":
        return _camera(args, stack), None, None
    from edge.capture.video_file import VideoFileSource

    scale = args.decode_scale if args.decode_scale == "auto" else int(args.decode_scale)
    src = stack.enter_context(VideoFileSource(args.source, fps=args.fps, decode_scale=scale))
    return src, src.frame_count, None


def _camera(args: argparse.Namespace, stack: ExitStack) -> LiveSource:
    """A camera on a capture thread (live mode: the newest frames, drops counted)."""
    match = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if not match:
        raise InputError(f"--size must be WIDTHxHEIGHT, e.g. 640x480; got {args.size!r}")
    width, height = int(match[1]), int(match[2])
    fps = 30.0 if args.fps is None else args.fps
    if args.source == "picamera":
        from edge.capture.picamera import PicameraSource

        cam: Any = PicameraSource(width=width, height=height, fps=fps)
    else:
        from edge.capture.usb import CameraSource

        cam = CameraSource(args.camera, width=width, height=height, fps=fps)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # systemd's stop ends the run like Ctrl-C
    return stack.enter_context(LiveSource(cam, queue_size=args.queue))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _sinks(args: argparse.Namespace, stack: ExitStack) -> list[Any]:
    sinks: list[Any] = [JsonLinesSink(sys.stdout) if args.json else TextSink(sys.stdout)]
    if args.csv:
        sinks.append(stack.enter_context(CsvSink(args.csv)))
    if args.mqtt:
        from edge.sinks import MqttSink, parse_host_port

        tls = args.mqtt_tls or args.mqtt_ca is not None
        host, port = parse_host_port(args.mqtt, default_port=8883 if tls else 1883)
        password = args.mqtt_password
        if args.mqtt_password_file:
            try:
                password = Path(args.mqtt_password_file).read_text().strip()
            except OSError as exc:
                raise InputError(f"cannot read --mqtt-password-file {args.mqtt_password_file}: "
                                 f"{exc.strerror}") from None
        sinks.append(stack.enter_context(MqttSink(
            host, port, topic=args.mqtt_topic, username=args.mqtt_user, password=password,
            tls=tls, ca_certs=args.mqtt_ca)))
    return sinks


def _progress(frames: Iterable[Any], total: int | None, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield from frames
        return
    from tqdm import tqdm

    yield from tqdm(frames, total=total, unit="frame", file=sys.stderr, leave=False,
                    dynamic_ncols=True)


def main(args: argparse.Namespace) -> int:
    """Run the pipeline over the source and print readings."""
    config = config_from_args(args)
    readings: list[Reading] = []
    n_frames = 0
    with ExitStack() as stack:
        page = _live_page(args, config, stack)  # live page (#21): a busy port stops us first
        sinks = _sinks(args, stack)  # first: a broker that says no stops us before the camera
        frames, total, clip = _source(args, stack)
        live = frames if isinstance(frames, LiveSource) else None
        pipe = stack.enter_context(Pipeline(config))
        if args.realtime and live is None:  # live page (#21): a file paced like a camera
            frames = live = stack.enter_context(LiveSource(_paced(frames), queue_size=args.queue))
        show_progress = not args.no_progress and sys.stderr.isatty() and live is None
        started = time.perf_counter()
        try:
            for frame, timestamp_s in _progress(frames, total, show_progress):
                n_frames += 1
                reading = pipe.push(frame, timestamp_s)
                if reading is None:
                    continue
                readings.append(reading)
                for sink in sinks:
                    sink.write(reading)
                if page is not None:  # live page (#21)
                    page.publish(reading, frames_dropped=live.queue.dropped if live else 0)
        except KeyboardInterrupt:
            if live is None:
                raise
            print("edge-vitals: stopped", file=sys.stderr)  # Ctrl-C or SIGTERM ends a camera run
        elapsed = time.perf_counter() - started
        if live is not None:
            stats = live.stats
            print(f"edge-vitals: live: {stats.captured} frames captured, {stats.dropped} dropped "
                  f"(processing behind), queue high-water {stats.queue_high_water}",
                  file=sys.stderr)
    return summarise(readings, n_frames, elapsed, config, clip)


def summarise(readings: list[Reading], n_frames: int, elapsed_s: float, config: PipelineConfig,
              clip: registry.ClipSource | None = None) -> int:
    """Print the run's summary lines to stderr; returns 0.

    Raises `InputError` when face mode found no face in any reading.
    """
    err = sys.stderr
    fps = n_frames / elapsed_s if elapsed_s > 0 else float("nan")
    print(f"edge-vitals: {n_frames} frames in {elapsed_s:.1f} s ({fps:.0f} frames/s), "
          f"{len(readings)} readings", file=err)
    if config.roi.mode == "face" and readings and all(r.status is Status.NO_FACE
                                                      for r in readings):
        raise InputError("no face found in the video; for a pre-cropped skin video use --roi full")
    hr = np.array([r.heart_rate_bpm for r in readings if r.heart_rate_bpm is not None])
    if hr.size == 0:
        print("edge-vitals: no reliable heart rate (see the status column)", file=err)
        return 0
    print(f"edge-vitals: heart rate median {np.median(hr):.1f} bpm over {hr.size} readings",
          file=err)
    br = np.array([r.breathing_rate_bpm for r in readings if r.breathing_rate_bpm is not None])
    if br.size:
        print(f"edge-vitals: breathing rate median {np.median(br):.1f} breaths/min over "
              f"{br.size} readings", file=err)
    spo2 = [r for r in readings if r.spo2_pct is not None]
    if spo2:
        note = "" if all(r.spo2_calibrated for r in spo2) else " (uncalibrated: see the README)"
        print(f"edge-vitals: SpO2 median {np.median([r.spo2_pct for r in spo2]):.1f} % over "
              f"{len(spo2)} readings{note}", file=err)
    if clip is not None:
        print(f"edge-vitals: demo clip truth {clip.truth}", file=err)
    return 0
