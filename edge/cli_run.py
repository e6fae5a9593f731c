"""``edge-vitals run``: readings from a video file, a camera or the built-in demo clip."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import IO, Any

import numpy as np

from edge.config import METHOD_NAMES, PipelineConfig
from edge.errors import InputError
from edge.pipeline import Pipeline
from edge.types import Reading, Status

__all__ = ["add_arguments", "main"]

READING_KEYS = tuple(Reading(timestamp_s=0.0).to_dict())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals run``."""
    parser.add_argument("source", nargs="?", help="video file, or 'picamera'")
    parser.add_argument("--camera", type=int, metavar="N", help="OpenCV camera index")
    parser.add_argument("--demo", action="store_true",
                        help="run on a clip made on the spot by the world simulator")
    parser.add_argument("--method", choices=METHOD_NAMES, help="rPPG method (default pos)")
    parser.add_argument("--roi", choices=("face", "full"),
                        help="face: detect the face; full: the whole frame is skin")
    parser.add_argument("--config", metavar="TOML", help="pipeline config file")
    parser.add_argument("--fps", type=float, help="override the video's frame rate")
    parser.add_argument("--decode-scale", default="auto", choices=("auto", "1", "2", "4", "8"),
                        help="decode files reduced by this factor (MJPG: inside the JPEG "
                        "decoder); auto keeps >= 320 px width (default)")
    parser.add_argument("--json", action="store_true", help="one JSON object per reading")
    parser.add_argument("--csv", metavar="FILE", help="also write the readings to a CSV file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace) -> PipelineConfig:
    config = PipelineConfig.from_toml(args.config) if args.config else PipelineConfig()
    if args.method:
        config = config.with_changes(rppg={"method": args.method})
    if args.roi:
        config = config.with_changes(roi={"mode": args.roi})
    return config


def _source(args: argparse.Namespace, stack: ExitStack) -> tuple[Iterable[Any], int | None, Any]:
    """(frames, frame count or None, demo clip or None)."""
    chosen = [bool(args.source), args.camera is not None, args.demo]
    if sum(chosen) != 1:
        raise InputError("give exactly one source: a video file, --camera N, or --demo")
    if args.demo:
        from firmware_sim.world import demo_config, make_clip

        clip = make_clip(demo_config())
        return clip.frames(), len(clip), clip
    if args.camera is not None:
        from edge.capture.usb import CameraSource

        return stack.enter_context(CameraSource(args.camera)), None, None
    if args.source == "picamera":
        raise InputError("the Pi camera source needs picamera2 (apt install python3-picamera2) "
                         "and is not available in this version; use --camera N for a USB camera")
    from edge.capture.video_file import VideoFileSource

    scale = args.decode_scale if args.decode_scale == "auto" else int(args.decode_scale)
    src = stack.enter_context(VideoFileSource(args.source, fps=args.fps, decode_scale=scale))
    return src, src.frame_count, None


def _format(reading: Reading) -> str:
    hr = "  --  " if reading.heart_rate_bpm is None else f"{reading.heart_rate_bpm:6.1f}"
    return (f"{reading.timestamp_s:8.1f} s  HR {hr} bpm  quality {reading.quality:4.2f}  "
            f"{reading.status.value}")


def _csv_row(reading: Reading) -> dict[str, Any]:
    row = reading.to_dict()
    box = row["face_box"]
    row["face_box"] = "" if box is None else " ".join(str(v) for v in box)
    return row


def _progress(frames: Iterable[Any], total: int | None, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield from frames
        return
    from tqdm import tqdm

    yield from tqdm(frames, total=total, unit="frame", file=sys.stderr, leave=False,
                    dynamic_ncols=True)


def main(args: argparse.Namespace) -> int:
    """Run the pipeline over the source and print readings."""
    config = _config(args)
    out: IO[str] = sys.stdout
    readings: list[Reading] = []
    n_frames = 0
    with ExitStack() as stack:
        frames, total, clip = _source(args, stack)
        writer = None
        if args.csv:
            handle = stack.enter_context(open(args.csv, "w", newline="", encoding="utf-8"))
            writer = csv.DictWriter(handle, fieldnames=READING_KEYS)
            writer.writeheader()
        show_progress = not args.no_progress and sys.stderr.isatty() and args.camera is None
        pipe = stack.enter_context(Pipeline(config))
        started = time.perf_counter()
        for frame, timestamp_s in _progress(frames, total, show_progress):
            n_frames += 1
            reading = pipe.push(frame, timestamp_s)
            if reading is None:
                continue
            readings.append(reading)
            print(json.dumps(reading.to_dict()) if args.json else _format(reading), file=out,
                  flush=True)
            if writer is not None:
                writer.writerow(_csv_row(reading))
        elapsed = time.perf_counter() - started
    return _summary(readings, n_frames, elapsed, config, clip, args)


def _summary(readings: list[Reading], n_frames: int, elapsed_s: float, config: PipelineConfig,
             clip: Any, args: argparse.Namespace) -> int:
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
    if clip is not None:
        truth = clip.truth.mean_heart_rate_bpm(0.0, clip.config.duration_s)
        print(f"edge-vitals: demo clip truth {truth:.1f} bpm", file=err)
    return 0
