"""``edge-vitals synth OUT.avi``: render a synthetic face video with known vitals.

Writes the video (MJPG by default, or FFV1 lossless, in an ``.avi`` or ``.mkv`` file: the
codec must fit the container the file name asks for) plus ``OUT.truth.csv`` (per-frame true
timestamps, pulse, heart rate and breathing rate) and ``OUT.truth.json`` (config, beat times,
seed). A constant-frame-rate container cannot hold timestamp jitter or drops; the CSV can.
MJPG is the default because FFV1 fills a disk (about 15 MB per second at 640x480).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.cli.options import check_output_file
from edge.errors import ConfigError, InputError

if TYPE_CHECKING:
    from firmware_sim.world import WorldConfig

__all__ = ["HELP", "add_arguments", "main"]

HELP = "render a synthetic face video with known vitals"

LIGHT_LEVELS = {"normal": 1.0, "dim": 0.35}

CONTAINERS = {".avi": ("MJPG", "FFV1"), ".mkv": ("MJPG", "FFV1")}
"""File suffix -> the codecs the simulator writes into it, the default first."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synth`` options to ``parser``."""
    from firmware_sim.world import MOTION_PRESETS, SKIN_TONES_RGB

    parser.add_argument("output", metavar="OUT.avi", help="video file to write")
    parser.add_argument("--hr", type=float, default=72.0, help="heart rate, bpm (default 72)")
    parser.add_argument(
        "--hr-end",
        type=float,
        default=None,
        metavar="BPM",
        help="heart rate at the end (linear ramp from --hr)",
    )
    parser.add_argument("--br", type=float, default=15.0, help="breaths per minute (default 15)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration, s (default 30)")
    parser.add_argument("--motion", choices=sorted(MOTION_PRESETS), default="still")
    parser.add_argument("--light", choices=sorted(LIGHT_LEVELS), default="normal")
    parser.add_argument("--skin", choices=sorted(SKIN_TONES_RGB), default="light")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate, Hz (default 30)")
    parser.add_argument("--size", default="640x480", metavar="WxH", help="frame size (640x480)")
    parser.add_argument(
        "--jpeg-quality",
        type=int,
        default=None,
        metavar="Q",
        help="JPEG-compress every frame at quality Q (1-100) before writing",
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=0.0,
        metavar="X",
        help="timestamp jitter (standard deviation), ms",
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of dropping each frame (0-0.5)",
    )
    parser.add_argument(
        "--pulse-source",
        default=None,
        metavar="PATH.csv[:COLUMN]",
        help="take the pulse shape from a real PPG column of a CSV file",
    )
    parser.add_argument(
        "--codec", choices=("MJPG", "FFV1"), default=None,
        help="MJPG (default, about 1 MB/s) or FFV1 (lossless, about 15 MB/s at 640x480)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--size must look like 640x480; got {text!r}")
    return int(parts[0]), int(parts[1])


def _parse_pulse_source(text: str | None) -> tuple[str | None, str | None]:
    """``"PATH.csv[:COLUMN]"`` -> ``(path, column)``; a colon inside the path is kept."""
    if text is None:
        return None, None
    path, sep, column = text.rpartition(":")
    if sep and path.lower().endswith(".csv") and column and "/" not in column:
        return path, column
    return text, None


def _config_from_args(args: argparse.Namespace) -> WorldConfig:
    """Map the options onto a ``WorldConfig``; bad values raise ``InputError``."""
    from firmware_sim.world import WorldConfig

    width, height = _parse_size(args.size)
    source, column = _parse_pulse_source(args.pulse_source)
    fields = {
        "width": width,
        "height": height,
        "fps": args.fps,
        "duration_s": args.seconds,
        "heart_rate_bpm": args.hr,
        "heart_rate_end_bpm": args.hr_end,
        "breathing_rate_bpm": args.br,
        "motion": args.motion,
        "skin_tone": args.skin,
        "light_level": LIGHT_LEVELS[args.light],
        "jpeg_quality": args.jpeg_quality,
        "jitter_s": args.jitter_ms / 1000.0,
        "drop_rate": args.drop_rate,
        "pulse_source": source,
        "pulse_source_column": column,
        "seed": args.seed,
    }
    try:
        return WorldConfig(**fields)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc


def _codec(output: Path, codec: str | None) -> str:
    """The codec for `output`: `codec` if its container holds it, else the default."""
    suffix = output.suffix.lower()
    if suffix not in CONTAINERS:
        raise InputError(f"synth writes {' or '.join(CONTAINERS)} files (MJPG or FFV1); "
                         f"got {output.name!r}: name it {output.stem}.avi")
    return codec or CONTAINERS[suffix][0]


def main(args: argparse.Namespace) -> int:
    """Render the clip and write it with its ground truth; returns the exit code (0)."""
    from firmware_sim.world import make_clip, write_clip

    config = _config_from_args(args)
    output = Path(args.output)
    codec = _codec(output, args.codec)
    for path in (output, output.with_name(f"{output.stem}.truth.csv"),
                 output.with_name(f"{output.stem}.truth.json")):
        check_output_file(path, flag="synth")
    try:
        clip = make_clip(config)
    except ConfigError as exc:  # e.g. a pulse source without enough clean beats
        raise InputError(str(exc)) from exc
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(clip), unit="frame", desc=output.name, file=sys.stderr)
    try:
        write_clip(clip, output, codec=codec, on_frame=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    print(
        f"wrote {output} ({len(clip)} frames, {config.width}x{config.height} @ {config.fps:g} fps)"
        f" + {output.stem}.truth.csv + {output.stem}.truth.json; {codec}, "
        f"{output.stat().st_size / 2**20:.1f} MB"
    )
    return 0
