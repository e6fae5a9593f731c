"""Heart-rate accuracy on world-simulator clips with known ground truth.

Three groups of 30 s, 30 fps, 640x480 clips (design targets in brackets):

- ``still``: a sweep of 8 heart rates over 45-180 bpm, still head (MAE <= 1 bpm);
- ``motion``: moderate head motion (MAE <= 2.5 bpm);
- ``dim_dark``: dark skin tone in dim light (MAE <= 3 bpm);
- ``strong_motion``: head motion of ±24 px / ±12° up to 1.2 Hz, inside the heart-rate
  band (no target: what matters is that readings are withheld, not wrong).

Each reading is compared with the time-average of the true heart rate over the
reading's analysis window; MAE is over all ``ok`` readings of a group, coverage the
share of readings after warm-up that are ``ok``. Clips render in memory (lossless);
``--mjpg Q`` routes them through JPEG at quality Q first.

``--seed-offset N`` (N >= 1000) renders the same groups with every seed moved up by N:
development clips of the benchmark's shape, for making choices without looking at the
benchmark (whose 4-clip groups are also too small to tell 0.05 bpm apart). Keep the seeds
clear of those the CNN trained on as well (`export.data.SEEDS`: 10000+ and 20000+):
``--seed-offset 50000`` for example.

    python -m firmware_sim.bench.accuracy [--method pos] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import edge
from firmware_sim.world import WorldConfig, make_clip

TARGETS_BPM = {"still": 1.0, "motion": 2.5, "dim_dark": 3.0}


MIN_SEED_OFFSET = 1000
"""Smallest non-zero `clip_configs` seed offset: above every benchmark seed (100-399)."""


def clip_configs(*, seconds: float = 30.0, width: int = 640, height: int = 480,
                 seed_offset: int = 0) -> dict[str, list[WorldConfig]]:
    """The benchmark's clips by group (fixed seeds), or with `seed_offset` development clips.

    Raises
    ------
    InputError
        If `seed_offset` is neither 0 nor at least `MIN_SEED_OFFSET`.
    """
    if seed_offset != 0 and seed_offset < MIN_SEED_OFFSET:
        raise edge.InputError(f"seed_offset must be 0 (the benchmark) or >= {MIN_SEED_OFFSET}"
                              f" (clear of its seeds); got {seed_offset}")
    base = WorldConfig(width=width, height=height, duration_s=seconds, fps=30.0)
    still = [dataclasses.replace(base, heart_rate_bpm=hr, seed=100 + i,
                                 skin_tone=("light", "medium")[i % 2])
             for i, hr in enumerate((45, 58, 72, 88, 105, 125, 150, 180))]
    motion = [dataclasses.replace(base, heart_rate_bpm=hr, motion="moderate", seed=200 + i)
              for i, hr in enumerate((55, 75, 95, 120))]
    dim_dark = [dataclasses.replace(base, heart_rate_bpm=hr, skin_tone="dark", light_level=0.35,
                                    seed=300 + i)
                for i, hr in enumerate((52, 70, 90, 115))]
    strong = [dataclasses.replace(w, motion="strong", seed=w.seed + 50) for w in motion]
    groups = {"still": still, "motion": motion, "dim_dark": dim_dark, "strong_motion": strong}
    return {g: [dataclasses.replace(w, seed=w.seed + seed_offset) for w in ws]
            for g, ws in groups.items()}


def evaluate_clip(world: WorldConfig, config: edge.PipelineConfig | None = None,
                  ) -> dict[str, object]:
    """Run the pipeline over one clip; per-reading errors against the truth."""
    config = config or edge.PipelineConfig()
    clip = make_clip(world)
    window_s = config.rppg.hr_window_s
    errors, times, n_after_warmup, statuses = [], [], 0, {}
    with edge.Pipeline(config) as pipe:
        for frame, t in clip.frames():
            reading = pipe.push(frame, t)
            if reading is None:
                continue
            statuses[reading.status.value] = statuses.get(reading.status.value, 0) + 1
            if t < window_s:
                continue
            n_after_warmup += 1
            if reading.heart_rate_bpm is not None:
                truth = clip.truth.mean_heart_rate_bpm(max(0.0, t - window_s), t)
                errors.append(reading.heart_rate_bpm - truth)
                times.append(t)
    return {"heart_rate_bpm": world.heart_rate_bpm, "seed": world.seed,
            "errors_bpm": errors, "reading_times_s": times,
            "coverage": len(errors) / max(1, n_after_warmup), "statuses": statuses}


def _run(job: tuple[str, WorldConfig, dict]) -> tuple[str, dict[str, object]]:
    group, world, config_dict = job
    return group, evaluate_clip(world, edge.PipelineConfig.from_dict(config_dict))


def run(groups: dict[str, list[WorldConfig]], config: edge.PipelineConfig, *,
        workers: int = 2) -> dict[str, list[dict[str, object]]]:
    """Evaluate every clip, in `workers` processes."""
    jobs = [(g, w, config.to_dict()) for g, worlds in groups.items() for w in worlds]
    out: dict[str, list[dict[str, object]]] = {g: [] for g in groups}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for group, result in pool.map(_run, jobs):
            out[group].append(result)
    return out


def _table(results: dict[str, list[dict[str, object]]]) -> str:
    lines = ["| group | clips | true HR bpm | MAE bpm | max abs err bpm | coverage | target |",
             "|---|---|---|---|---|---|---|"]
    for group, rows in results.items():
        errs = np.concatenate([np.abs(r["errors_bpm"]) for r in rows]) if rows else np.zeros(0)
        hrs = ", ".join(f"{r['heart_rate_bpm']:g}" for r in rows)
        cover = np.mean([r["coverage"] for r in rows])
        mae = f"{errs.mean():.2f}" if errs.size else "n/a"
        worst = f"{errs.max():.1f}" if errs.size else "n/a"
        target = TARGETS_BPM.get(group)
        verdict = "" if target is None or not errs.size else (
            f"<= {target} {'met' if errs.mean() <= target else 'MISSED'}")
        lines.append(f"| {group} | {len(rows)} | {hrs} | {mae} | {worst} | "
                     f"{100 * cover:.0f} % | {verdict} |")
    return "\n".join(lines)


def paired_table(results: dict[str, list[dict[str, object]]],
                 other: dict[str, list[dict[str, object]]], *, name: str, other_name: str,
                 ) -> str:
    """MAE of both runs on the readings both gave (same clip, same time): a comparison
    that coverage does not skew (a method that answers in more hard windows is otherwise
    scored on more of them).
    """
    lines = [f"| group | readings both gave | {name} MAE bpm | {other_name} MAE bpm |",
             "|---|---|---|---|"]
    for group, rows in results.items():
        ours, theirs = [], []
        others = {r["seed"]: r for r in other.get(group, [])}
        for row in rows:
            match = others.get(row["seed"])
            if match is None or "reading_times_s" not in match:
                continue
            at = {round(t, 3): e for t, e in zip(match["reading_times_s"], match["errors_bpm"],
                                                 strict=True)}
            for t, e in zip(row["reading_times_s"], row["errors_bpm"], strict=True):
                if round(t, 3) in at:
                    ours.append(abs(e))
                    theirs.append(abs(at[round(t, 3)]))
        if ours:
            lines.append(f"| {group} | {len(ours)} | {np.mean(ours):.2f} | {np.mean(theirs):.2f} |")
        else:
            lines.append(f"| {group} | 0 | n/a | n/a |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the accuracy table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="pos", choices=edge.config.METHOD_NAMES)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mjpg", type=int, metavar="Q", help="JPEG quality to pass frames through")
    parser.add_argument("--json", type=Path, help="also write per-clip results as JSON")
    parser.add_argument("--against", type=Path, metavar="JSON",
                        help="another run's --json (e.g. --method pos): also print both MAEs "
                             "on the readings both gave")
    parser.add_argument("--seed-offset", type=int, default=0, metavar="N",
                        help=f"development clips: every seed + N (N >= {MIN_SEED_OFFSET}; "
                             "default 0, the benchmark)")
    args = parser.parse_args(argv)
    other = None
    if args.against:
        try:
            other = json.loads(args.against.read_text())
        except (OSError, ValueError) as exc:
            parser.error(f"--against {args.against}: {exc}")
    try:
        groups = clip_configs(seconds=args.seconds, seed_offset=args.seed_offset)
    except edge.InputError as exc:
        parser.error(str(exc))
    if args.mjpg:
        groups = {g: [dataclasses.replace(w, jpeg_quality=args.mjpg) for w in ws]
                  for g, ws in groups.items()}
    config = edge.PipelineConfig().with_changes(rppg={"method": args.method})
    results = run(groups, config, workers=args.workers)
    print(f"heart rate on world-simulator clips ({args.seconds:g} s, 30 fps, 640x480, "
          f"method {args.method}{f', JPEG q{args.mjpg}' if args.mjpg else ''}"
          f"{f', development seeds +{args.seed_offset}' if args.seed_offset else ''})")
    print(_table(results))
    if other is not None:
        print(f"\nagainst {args.against} (same clips, same reading times)")
        print(paired_table(results, other, name=args.method, other_name=args.against.stem))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
