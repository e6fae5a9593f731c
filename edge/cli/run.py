"""``edge-vitals run``: readings from a video file, a camera or the demo clip.

The frames go through `edge.cli.loop.run_loop`, which keeps no readings (a camera run
lasts months): the summary and the ``--png`` plot are kept in bounded memory.

The demo clip comes from the source registered as ``demo`` (`edge.cli.registry`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from edge.cli import registry
from edge.cli.loop import run_loop
from edge.cli.options import check_outputs, config_from_args, require_extra
from edge.cli.plot import PlotSeries, write_png
from edge.cli.summary import RunSummary
from edge.config import METHOD_NAMES, PipelineConfig
from edge.errors import InputError
from edge.live import LiveSource
from edge.pipeline import Pipeline
from edge.sinks import CsvSink, JsonLinesSink, TextSink
from edge.types import Reading

__all__ = ["HELP", "add_arguments", "add_mqtt_arguments", "main", "make_sinks", "summarise"]

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
    parser.add_argument("--png", metavar="FILE", help="plot heart rate, breathing rate and SpO2 "
                        "over time, with quality and status (pip install 'edge-vitals[plot]')")
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


def live_config(config: PipelineConfig) -> PipelineConfig:
    """`config` for a live source: face detection on a worker thread where there is a second
    core, and the readings' estimates on another where there is a third, so that capture
    never waits for either (files stay inline: deterministic).
    """
    cores = os.cpu_count() or 1
    if cores < 2:
        return config
    return config.with_changes(roi={"detect_in_background": True},
                               rppg={"estimate_in_background": cores >= 3})


class SourcePixels:
    """A pipeline whose readings give ``face_box`` in the source video's pixels.

    A file decoded at a reduced scale hands the pipeline smaller frames; users want the box
    in the video's own coordinates, whatever the decode scale.
    """

    def __init__(self, pipe: Pipeline, source_size_px: tuple[int, int]):
        self.pipe = pipe
        self.width_px, self.height_px = source_size_px

    def push(self, frame: Any, timestamp_s: float) -> Reading | None:
        """`Pipeline.push`, with the face box scaled from the frame to the source."""
        reading = self.pipe.push(frame, timestamp_s)
        if reading is None or reading.face_box is None or self.width_px <= 0:
            return reading
        height, width = frame.shape[:2]
        if (width, height) == (self.width_px, self.height_px):
            return reading
        box = reading.face_box.scaled(self.width_px / width, self.height_px / height)
        return replace(reading, face_box=box)


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


def make_sinks(args: argparse.Namespace, config: PipelineConfig, stack: ExitStack, *,
               stream: IO[str] | None = None) -> list[Any]:
    """The sinks `args` ask for: text or JSON lines on `stream` (stdout), CSV, MQTT."""
    stream = sys.stdout if stream is None else stream
    off = [key for key, on in (("breathing_rate_bpm", config.vitals.breathing),
                               ("spo2_pct", config.vitals.spo2),
                               ("sdnn_ms", config.vitals.hrv)) if not on]
    sinks: list[Any] = [JsonLinesSink(stream) if args.json else TextSink(stream, off=off)]
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


def _progress(frames: Iterable[Any], total: int | None, enabled: bool) -> Any:
    """A tqdm bar over `frames` (None when not shown)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(frames, total=total, unit="frame", file=sys.stderr, leave=False,
                dynamic_ncols=True)


def _check(args: argparse.Namespace) -> None:
    """Everything that can be checked before the work starts: output paths, extras."""
    check_outputs(args, files=("csv", "png"))
    if args.png:
        require_extra("matplotlib", needed_by="--png")


def main(args: argparse.Namespace) -> int:
    """Run the pipeline over the source and print readings."""
    config = config_from_args(args)
    _check(args)
    summary = RunSummary(config)
    plot = PlotSeries() if args.png else None
    with ExitStack() as stack:
        page = _live_page(args, config, stack)  # bound first: a busy port stops us before any work
        sinks = make_sinks(args, config, stack)  # a broker that says no: before the camera
        frames, total, clip = _source(args, stack)
        live = frames if isinstance(frames, LiveSource) else None
        source_size_px = getattr(frames, "source_size_px", None)
        if args.realtime and live is None:  # a file paced like a camera
            frames = live = stack.enter_context(LiveSource(_paced(frames), queue_size=args.queue))
        if live is not None:
            config = live_config(config)
        pipe = stack.enter_context(Pipeline(config))
        if source_size_px is not None:  # a file decoded at a reduced scale
            pipe = SourcePixels(pipe, source_size_px)
        bar = _progress(frames, total, not args.no_progress and sys.stderr.isatty()
                        and live is None)
        if bar is not None:
            stack.callback(bar.close)
        elapsed_s = run_loop(frames if bar is None else bar, pipe, sinks=sinks,
                             summary=summary, live=live, page=page, plot=plot, progress=bar)
        if live is not None:
            stats = live.stats
            print(f"edge-vitals: live: {stats.captured} frames captured, {stats.dropped} dropped "
                  f"(processing behind), queue high-water {stats.queue_high_water}",
                  file=sys.stderr)
    if plot is not None:  # before the summary, which fails a face run that found no face
        write_png(plot, args.png, title=f"edge-vitals run {_source_name(args)}")
        print(f"edge-vitals: plot written to {args.png}", file=sys.stderr)
    summary.print(elapsed_s, truth=None if clip is None else clip.truth)
    return 0


def _source_name(args: argparse.Namespace) -> str:
    if args.demo:
        return "--demo"
    return f"--camera {args.camera}" if args.camera is not None else str(args.source)


def summarise(readings: Iterable[Reading], n_frames: int, elapsed_s: float,
              config: PipelineConfig, clip: registry.ClipSource | None = None) -> int:
    """Print the summary lines of `readings` to stderr, as a run does; returns 0.

    Raises `InputError` when face mode found no face in any reading.
    """
    summary = RunSummary(config)
    for reading in readings:
        summary.add(reading)
    summary.frames = n_frames
    summary.print(elapsed_s, truth=None if clip is None else clip.truth)
    return 0
