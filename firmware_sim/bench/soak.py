"""Soak benchmark: one hour of simulated time through `Pipeline.push`, much faster than real time.

A world-simulator clip is played forwards and backwards in turn (seams continuous) with
increasing timestamps through one `Pipeline` for `--hours` of simulated time. Each minute
records RSS, the median thread CPU time of `push` and the readings. Targets: RSS growth
<= 5 MB after the first minute, per-frame cost drift <= 10 % (last five minutes against
the first five), and readings as good in the last ten minutes as in the first ten.

    python -m firmware_sim.bench.soak [--hours 1] [--size 320x240] [--json out.json]

With ``--through-cli`` it soaks the loop of ``edge-vitals run --camera`` instead (its
sinks, live queue and running summary) for ``--hours`` of simulated time, in minutes
(`firmware_sim.bench.soak_cli`); target: RSS growth <= 5 MB over a simulated week.

Exit code 1 when a target is missed; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

import edge
from firmware_sim.world import WorldConfig, make_clip

__all__ = ["main", "soak"]

RSS_TARGET_MB = 5.0
DRIFT_TARGET = 0.10


def _rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _ping_pong(n: int) -> np.ndarray:
    """Frame order 0..n-1, n-2..1: a loop without a jump at the seams."""
    return np.r_[np.arange(n), np.arange(n - 2, 0, -1)]


def soak(*, hours: float = 1.0, width: int = 320, height: int = 240, clip_s: float = 20.0,
         fps: float = 30.0, config: edge.PipelineConfig | None = None,
         progress: bool = False) -> dict[str, object]:
    """Run the soak; returns per-minute records and the summary."""
    world = WorldConfig(width=width, height=height, duration_s=clip_s, fps=fps,
                        heart_rate_bpm=72.0, motion="mild", seed=11)
    clip = make_clip(world)
    frames = [f.copy() for f, _ in clip.frames()]
    true_bpm = clip.truth.mean_heart_rate_bpm(0.0, float(clip.truth.timestamp_s[-1]))
    order = _ping_pong(len(frames))
    n_total = round(hours * 3600.0 * fps)
    per_minute = round(60.0 * fps)
    minutes: list[dict[str, float]] = []
    costs = np.empty(per_minute)  # CPU time of this thread: other processes' load stays out
    walls = np.empty(per_minute)
    hr: list[float] = []
    n_readings = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_total // per_minute, unit="sim-min", file=sys.stderr, leave=False)
    started = time.perf_counter()
    cpu, wall = time.thread_time, time.perf_counter
    with edge.Pipeline(config) as pipe:
        for i in range(n_total):
            frame = frames[order[i % order.size]]
            c0, w0 = cpu(), wall()
            reading = pipe.push(frame, i / fps)
            costs[i % per_minute] = cpu() - c0
            walls[i % per_minute] = wall() - w0
            if reading is not None:
                n_readings += 1
                if reading.heart_rate_bpm is not None:
                    hr.append(reading.heart_rate_bpm)
            if (i + 1) % per_minute == 0:
                err = np.abs(np.asarray(hr) - true_bpm)
                minutes.append({
                    "minute": len(minutes) + 1, "rss_mb": _rss_mb(),
                    "median_cost_ms": 1000.0 * float(np.median(costs)),
                    "p99_cost_ms": 1000.0 * float(np.percentile(costs, 99)),
                    "median_wall_ms": 1000.0 * float(np.median(walls)),
                    "coverage": len(hr) / max(1, n_readings),
                    "mae_bpm": float(err.mean()) if err.size else float("nan"),
                    "max_err_bpm": float(err.max()) if err.size else float("nan"),
                })
                hr.clear()
                n_readings = 0
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    wall_s = time.perf_counter() - started
    gc.collect()
    return {"world": world.to_dict(), "true_bpm": true_bpm, "frames": n_total,
            "simulated_s": n_total / fps, "wall_s": wall_s, "minutes": minutes,
            "summary": _summary(minutes, rss_end_mb=_rss_mb())}


def _summary(minutes: list[dict[str, float]], *, rss_end_mb: float) -> dict[str, float | bool]:
    rss = [m["rss_mb"] for m in minutes]
    cost = np.array([m["median_cost_ms"] for m in minutes])
    wall = np.array([m["median_wall_ms"] for m in minutes])
    k = min(5, max(1, (len(minutes) - 1) // 2))
    early, late = float(np.median(cost[1 : 1 + k])), float(np.median(cost[-k:]))
    slope = float(np.polyfit(np.arange(cost.size), cost, 1)[0]) if cost.size > 2 else 0.0
    ten = min(10, max(1, len(minutes) // 2))
    cover = np.array([m["coverage"] for m in minutes])
    mae = np.array([m["mae_bpm"] for m in minutes])
    growth = rss[-1] - rss[0]
    drift = late / early - 1.0
    return {
        "rss_first_minute_mb": rss[0], "rss_end_mb": rss[-1], "rss_after_gc_mb": rss_end_mb,
        "rss_max_mb": max(rss), "rss_growth_mb": growth,
        "cost_early_ms": early, "cost_late_ms": late, "cost_drift": drift,
        "wall_drift": float(np.median(wall[-k:]) / np.median(wall[1 : 1 + k]) - 1.0),
        "cost_trend_pct_per_hour": 100.0 * slope * 60.0 / max(early, 1e-12),
        "coverage_first": float(cover[:ten].mean()), "coverage_last": float(cover[-ten:].mean()),
        "mae_first_bpm": float(np.nanmean(mae[:ten])),
        "mae_last_bpm": float(np.nanmean(mae[-ten:])),
        "max_err_bpm": float(np.nanmax([m["max_err_bpm"] for m in minutes])),
        "rss_ok": growth <= RSS_TARGET_MB, "drift_ok": drift <= DRIFT_TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the summary; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours (default 1)")
    parser.add_argument("--size", default="320x240", help="frame size WxH (default 320x240)")
    parser.add_argument("--clip-seconds", type=float, default=20.0)
    parser.add_argument("--method", default="pos", choices=edge.config.METHOD_NAMES)
    parser.add_argument("--json", type=Path, help="also write the per-minute records")
    cli = parser.add_argument_group("--through-cli: the loop of 'edge-vitals run --camera'")
    cli.add_argument("--through-cli", action="store_true",
                     help="soak the run loop (sinks, live queue, summary), not just Pipeline")
    cli.add_argument("--pipeline", choices=("replay", "real"), default="replay",
                     help="replay: recorded readings, fast (default); real: edge.Pipeline")
    cli.add_argument("--fps", type=float, default=2.0,
                     help="camera frame rate (default 2: a reading a second needs no more)")
    cli.add_argument("--speed", type=float, default=3000.0,
                     help="simulated seconds per wall second (default 3000)")
    args = parser.parse_args(argv)
    if args.through_cli:
        return _through_cli(args)
    width, height = (int(v) for v in args.size.lower().split("x"))
    config = edge.PipelineConfig().with_changes(rppg={"method": args.method})
    result = soak(hours=args.hours, width=width, height=height, clip_s=args.clip_seconds,
                  config=config, progress=sys.stderr.isatty())
    s = result["summary"]
    print(f"soak: {result['simulated_s'] / 3600:.2f} h simulated ({result['frames']} frames, "
          f"{args.size}) in {result['wall_s']:.0f} s wall "
          f"({result['simulated_s'] / result['wall_s']:.0f}x real time)")
    print(f"RSS: {s['rss_first_minute_mb']:.1f} MB after minute 1 -> {s['rss_end_mb']:.1f} MB at "
          f"the end (max {s['rss_max_mb']:.1f}): growth {s['rss_growth_mb']:+.2f} MB "
          f"(target <= {RSS_TARGET_MB:g}) {'ok' if s['rss_ok'] else 'MISSED'}")
    print(f"per-frame cost (median of per-minute medians): {s['cost_early_ms']:.4f} ms early, "
          f"{s['cost_late_ms']:.4f} ms late: drift {100 * s['cost_drift']:+.1f} % (target <= "
          f"{100 * DRIFT_TARGET:.0f} %) {'ok' if s['drift_ok'] else 'MISSED'}; linear trend "
          f"{s['cost_trend_pct_per_hour']:+.1f} %/h (thread CPU time; wall-clock drift "
          f"{100 * s['wall_drift']:+.1f} %)")
    print(f"readings: coverage {100 * s['coverage_first']:.0f} % (first 10 min) vs "
          f"{100 * s['coverage_last']:.0f} % (last 10), MAE {s['mae_first_bpm']:.2f} vs "
          f"{s['mae_last_bpm']:.2f} bpm, worst error {s['max_err_bpm']:.1f} bpm "
          f"(true {result['true_bpm']:.1f} bpm)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0 if s["rss_ok"] and s["drift_ok"] else 1


def _through_cli(args: argparse.Namespace) -> int:
    from edge.cli.options import check_outputs
    from firmware_sim.bench.soak_cli import report, soak_through_cli

    check_outputs(args, files=("json",))
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = soak_through_cli(hours=args.hours, fps=args.fps, speed=args.speed,
                              pipeline=args.pipeline, size=(width // 2, height // 2))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0 if result["rss_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
