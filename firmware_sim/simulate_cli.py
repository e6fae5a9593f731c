"""``edge-vitals simulate VIDEO --device pi4``: does a device keep up with its camera.

Replays the clip through the real pipeline on the device's modelled clock (see
`firmware_sim.replay`) and prints the report; exit code 1 when a budget check fails,
so that the command can gate CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tomllib
from pathlib import Path

import edge
from edge.cli.options import check_outputs, require_extra
from edge.errors import ConfigError, InputError
from firmware_sim.profiles import DeviceProfile, load_profile

__all__ = ["HELP", "add_arguments", "main"]

HELP = "replay a video on a modelled device and check its latency budget"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals simulate``."""
    parser.add_argument("video", help="video file (a world-simulator clip's .truth.csv beside "
                        "it adds accuracy under load)")
    parser.add_argument("--device", default="pi4",
                        help="shipped profile (host, pi5, pi4, pi3bplus, zero2w) or a .toml file")
    parser.add_argument("--fps", type=float, help="camera frame rate (default: the profile's)")
    parser.add_argument("--budget", metavar="TOML", help="override the profile's [budget] keys")
    parser.add_argument("--seed", type=int, default=0, help="seed of jitter and noise")
    parser.add_argument("--config", metavar="TOML", help="pipeline config file")
    parser.add_argument("--method", choices=edge.config.METHOD_NAMES)
    parser.add_argument("--roi", choices=("face", "full"))
    parser.add_argument("--heavy", action="store_true",
                        help="face detection on every full-resolution frame, inline (a stress "
                        "case)")
    parser.add_argument("--detect-inline", action="store_true",
                        help="face detection inside push, on the frame path (one core); by "
                        "default it runs on a worker core, as on a live camera")
    parser.add_argument("--estimate-inline", action="store_true",
                        help="the readings' estimates inside push, on the frame path; by default "
                        "they run on a worker core (profiles with three cores or more)")
    parser.add_argument("--mode", choices=("modelled", "wall"), default="modelled",
                        help="modelled: deterministic device clock (default); wall: frames "
                        "released at the real frame rate into a capture thread")
    parser.add_argument("--host-check", action="store_true",
                        help="add this machine's wall-clock measurements (cost-model check, "
                        "startup, memory); they vary between runs")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--md", metavar="FILE", help="write the report as Markdown")
    parser.add_argument("--png", metavar="FILE", help="write a timeline plot (needs matplotlib)")


def _pipeline_config(args: argparse.Namespace, width: int) -> edge.PipelineConfig:
    config = edge.PipelineConfig.from_toml(args.config) if args.config else edge.PipelineConfig()
    if args.method:
        config = config.with_changes(rppg={"method": args.method})
    if args.roi:
        config = config.with_changes(roi={"mode": args.roi})
    # simulate models a live camera run (detection and estimates on worker cores);
    # --detect-inline, --estimate-inline or --heavy put them back on the frame path
    config = config.with_changes(roi={"detect_in_background": not (args.detect_inline
                                                                   or args.heavy)},
                                 rppg={"estimate_in_background": not args.estimate_inline})
    if args.heavy:
        config = config.with_changes(roi={"detect_every_n_frames": 1, "detect_width_px": width})
    return config


def _profile(args: argparse.Namespace) -> DeviceProfile:

    profile = load_profile(args.device)
    if args.fps:
        profile = profile.with_fps(args.fps)
    if args.budget:
        try:
            overrides = tomllib.loads(Path(args.budget).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read budget file {args.budget}: {exc}") from None
        overrides = overrides.get("budget", overrides)
        try:
            budget = dataclasses.replace(profile.budget, **overrides)
        except TypeError as exc:
            raise ConfigError(f"budget file {args.budget}: {exc}") from None
        profile = dataclasses.replace(profile, budget=budget)
    return profile


def main(args: argparse.Namespace) -> int:
    """Run the replay, print the Markdown report, return 1 if a budget fails."""
    from edge.capture.video_file import VideoFileSource
    from firmware_sim.replay import replay
    from firmware_sim.report import build_report, to_markdown, write_timeline_png
    from firmware_sim.world import GroundTruth

    check_outputs(args, files=("json", "md", "png"))  # before the work, not after it
    if args.png:
        require_extra("matplotlib", needed_by="--png")
    profile = _profile(args)
    source = VideoFileSource(args.video)
    if source.frame_count is None:
        raise InputError(f"{args.video} does not say how many frames it has")
    duration_s = source.frame_count / source.fps
    width = source.width_px or 640
    truth_path = Path(args.video).with_name(Path(args.video).stem + ".truth.csv")
    truth = GroundTruth.from_csv(truth_path) if truth_path.is_file() else None
    config = _pipeline_config(args, width)
    if args.mode == "wall":
        with source:
            return _wall(args, source, profile, config)
    with source:
        result = replay(source, duration_s=duration_s, profile=profile, fps=args.fps,
                        seed=args.seed, config=config, truth=truth,
                        frame_bytes=Path(args.video).stat().st_size / source.frame_count)
    report = build_report(result, clip=Path(args.video).name, host=args.host_check)
    print(to_markdown(report), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.md:
        Path(args.md).write_text(to_markdown(report), encoding="utf-8")
    if args.png and write_timeline_png(result, args.png) is None:
        print("edge-vitals: no plot: pip install matplotlib", file=sys.stderr)
    return 0 if report["modelled"]["pass"] else 1


def _wall(args: argparse.Namespace, source: object, profile: DeviceProfile,
          config: edge.PipelineConfig) -> int:
    """Wall-clock mode: real threads, real time; a short text summary and a verdict."""
    import numpy as np
    from tqdm import tqdm

    from firmware_sim.replay import config_for, policy_for
    from firmware_sim.tail import summary_ms
    from firmware_sim.wall import wall_clock_replay

    frames = [frame for frame, _ in tqdm(source, total=source.frame_count, desc="decoding",
                                         unit="frame", file=sys.stderr, leave=False,
                                         disable=None)]
    fps = args.fps or profile.camera.fps
    with tqdm(total=len(frames), desc=f"replaying at {fps:g} fps", unit="frame",
              file=sys.stderr, leave=False, disable=None) as bar:
        result = wall_clock_replay(frames, fps=fps, profile=profile, policy=policy_for(profile),
                                   config=config_for(profile, config),
                                   on_frame=lambda n: bar.update(n - bar.n))
    s = summary_ms(result.latency_s)
    drop_fraction = result.dropped / max(1, result.frames)
    deadline_ms = 1000.0 / fps
    misses = float(np.mean(1000.0 * result.latency_s > deadline_ms)) if result.processed else 1.0
    ok = (s["p99_ms"] or np.inf) <= profile.p99_frame_ms and \
        drop_fraction <= profile.budget.max_drop_fraction and \
        misses <= profile.budget.max_deadline_miss_fraction
    print(f"# {profile.name} at {fps:g} fps, wall clock: {'PASS' if ok else 'FAIL'}\n")
    print(f"- frames {result.frames}, processed {result.processed}, dropped {result.dropped} "
          f"({100 * drop_fraction:.2f} %), max queue depth {result.max_queue_depth}")
    print(f"- latency ms: p50 {s['p50_ms']:.3g}, p90 {s['p90_ms']:.3g}, p99 {s['p99_ms']:.3g}, "
          f"max {s['max_ms']:.3g}; deadline {deadline_ms:.3g} ms missed by "
          f"{100 * misses:.2f} % of processed frames; readings {result.readings}\n")
    print("| per-frame latency, ms | p50 | p90 | p99 | max |\n|---|---|---|---|---|")
    rows = [("end to end", result.latency_s), *result.stage_s.items()]
    for name, seconds in rows:
        t = summary_ms(seconds)
        print(f"| {name} | " + " | ".join(f"{t[k]:.3g}" if t[k] is not None else "n/a"
                                        for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")) + " |")
    return 0 if ok else 1
