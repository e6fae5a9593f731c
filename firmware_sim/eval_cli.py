"""``edge-vitals eval DATASET_DIR --format ubfc|pure|generic``: heart-rate accuracy on a dataset.

Every recording goes through the real pipeline in worker processes and is scored in
consecutive 10 s windows (the reading at each window's end; a missing or withheld one counts
against the coverage, not the error) and over the whole video, against the reference HR of
the dataset's contact signal (`firmware_sim.datasets.REFERENCE_METHOD`). Exit code 1 when
``--max-mae`` is given and the 10 s-window MAE is above it (or there is no reading at all).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli.options import check_outputs, config_from_args, require_extra
from edge.config import METHOD_NAMES, PipelineConfig
from edge.errors import InputError, VitalsError
from firmware_sim import metrics
from firmware_sim.datasets import FORMATS, REFERENCE_METHOD, Recording, find_recordings

__all__ = ["HELP", "add_arguments", "evaluate_recording", "main", "run_eval"]

HELP = "heart-rate accuracy on a dataset (UBFC-rPPG, PURE or generic layout)"

WINDOW_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals eval``."""
    parser.add_argument("dataset", metavar="DATASET_DIR", help="dataset folder")
    parser.add_argument("--format", required=True, choices=FORMATS, help="dataset layout")
    parser.add_argument("--method", choices=METHOD_NAMES, help="rPPG method (default pos)")
    parser.add_argument("--roi", choices=("face", "full"),
                        help="face: detect the face; full: the whole frame is skin")
    parser.add_argument("--config", metavar="TOML", help="pipeline config file")
    parser.add_argument("--fps", type=float, help="override the videos' frame rate")
    parser.add_argument("--window", type=float, default=WINDOW_S, metavar="S",
                        help="evaluation window, s (default 10)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker processes (default 2; 1 = in this process)")
    parser.add_argument("--json", metavar="FILE", help="write every result as JSON")
    parser.add_argument("--md", metavar="FILE", help="write the tables as Markdown")
    parser.add_argument("--png", metavar="FILE", help="write a Bland-Altman plot (matplotlib)")
    parser.add_argument("--max-mae", type=float, metavar="BPM",
                        help="exit 1 if the 10 s-window MAE is above this")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# -- one recording (runs in a worker) -----------------------------------------------------
def _run_pipeline(rec: Recording, config: PipelineConfig, window_s: float,
                  fps: float | None) -> dict[str, Any]:
    """Readings, the window-end readings and the pulse of each window.

    Window k gets the last reading at or after ``(k + 1) * window_s - output_interval_s`` and
    up to half an interval after the window's end: the reading that analyses the window.
    """
    from edge.pipeline import Pipeline

    interval = config.rppg.output_interval_s
    half = 0.5 * interval
    t0 = t_last = None
    hr_all: list[float] = []
    win: dict[int, tuple[float, float]] = {}
    win_pulse: dict[int, np.ndarray] = {}
    statuses: dict[str, int] = defaultdict(int)
    k = 0
    n_frames = 0
    with rec.open(fps=fps) as source, Pipeline(config) as pipe:
        for frame, t in source:
            t0 = t if t0 is None else t0
            t_last = t
            n_frames += 1
            reading = pipe.push(frame, t)
            if reading is None:
                continue
            statuses[reading.status.value] += 1
            hr = math.nan if reading.heart_rate_bpm is None else reading.heart_rate_bpm
            if math.isfinite(hr):
                hr_all.append(hr)
            t_rel = t - t0
            while t_rel > (k + 1) * window_s + half:
                k += 1
            if t_rel >= (k + 1) * window_s - interval - 1e-6:  # the last reading near the end
                win[k] = (t_rel, hr)
                stream = getattr(pipe, "stream", None)
                if stream is not None:
                    win_pulse[k] = stream.final_pulse(round(window_s * pipe.fs)).copy()
    duration = 0.0 if t0 is None else t_last - t0
    return {"t0": t0, "duration_s": duration, "n_frames": n_frames, "hr_all": hr_all,
            "win": win, "win_pulse": win_pulse, "statuses": dict(statuses),
            "fs": config.rppg.sample_rate_hz, "half": half}


def evaluate_recording(rec: Recording, config: PipelineConfig, *, window_s: float = WINDOW_S,
                       fps: float | None = None) -> dict[str, Any]:
    """Run one recording and compare with its reference; JSON-ready dict.

    A recording that cannot be read gives ``{"name", "subject", "error"}`` instead.
    """
    started = time.perf_counter()
    try:
        reference = rec.reference()
        run = _run_pipeline(rec, config, window_s, fps)
    except VitalsError as exc:
        return {"name": rec.name, "subject": rec.subject, "error": str(exc)}
    truth = None
    if rec.truth_path is not None:
        from firmware_sim.physiology import GroundTruth

        truth = GroundTruth.from_csv(rec.truth_path)
    n_windows = int((run["duration_s"] + run["half"]) // window_s)
    windows = []
    for k in range(n_windows):
        start, end = k * window_s, (k + 1) * window_s
        if k in run["win"]:  # the reading's own analysis span
            end, est = run["win"][k]
            start = max(0.0, end - window_s)
        else:
            est = math.nan
        ref = reference.heart_rate(start, end)
        pulse = run["win_pulse"].get(k)
        snr = math.nan if pulse is None else metrics.snr_db(pulse, fs=run["fs"], reference_bpm=ref)
        true = math.nan
        if truth is not None:
            true = truth.mean_heart_rate_bpm(run["t0"] + start, run["t0"] + end)
        windows.append({"start_s": start, "end_s": end, "estimate_bpm": est,
                        "reference_bpm": ref, "truth_bpm": true, "snr_db": snr})
    hr = np.asarray(run["hr_all"])
    video_est = float(np.median(hr)) if hr.size else math.nan
    video_ref = reference.heart_rate(0.0, run["duration_s"] + 1e-9)
    video_truth = math.nan
    if truth is not None and run["duration_s"] > 0:
        video_truth = truth.mean_heart_rate_bpm(run["t0"], run["t0"] + run["duration_s"])
    snrs = np.array([w["snr_db"] for w in windows], dtype=float)
    return {
        "name": rec.name, "subject": rec.subject, "reference_kind": reference.kind,
        "n_frames": run["n_frames"], "duration_s": run["duration_s"],
        "statuses": run["statuses"], "windows": windows,
        "video": {"estimate_bpm": video_est, "reference_bpm": video_ref,
                  "truth_bpm": video_truth,
                  "snr_db": float(np.nanmean(snrs)) if np.isfinite(snrs).any() else math.nan},
        "seconds": time.perf_counter() - started,
    }


def _work(job: tuple[Recording, dict[str, Any], float, float | None]) -> dict[str, Any]:
    rec, config_dict, window_s, fps = job
    return evaluate_recording(rec, PipelineConfig.from_dict(config_dict), window_s=window_s,
                              fps=fps)


def run_eval(recordings: list[Recording], config: PipelineConfig, *, window_s: float = WINDOW_S,
             workers: int = 2, fps: float | None = None,
             progress: bool = False) -> list[dict[str, Any]]:
    """Evaluate every recording (in `workers` processes); results in dataset order."""
    jobs = [(rec, config.to_dict(), window_s, fps) for rec in recordings]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="video", file=sys.stderr, leave=False)
    results: dict[str, dict[str, Any]] = {}
    try:
        if workers <= 1:
            for job in jobs:
                results[job[0].name] = _work(job)
                if bar is not None:
                    bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_work, job): job[0].name for job in jobs}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[rec.name] for rec in recordings]


# -- summaries and reports ----------------------------------------------------------------
def _arrays(results: list[dict[str, Any]], key: str) -> dict[str, np.ndarray]:
    rows = [w for r in results if "error" not in r for w in r["windows"]] if key == "window" \
        else [r["video"] for r in results if "error" not in r]
    names = ("estimate_bpm", "reference_bpm", "truth_bpm", "snr_db")
    return {n: np.array([row[n] for row in rows], dtype=float) for n in names}


def summaries(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Overall metrics for windows and whole videos, vs the reference (and the sim truth)."""
    out = {}
    for key in ("window", "video"):
        a = _arrays(results, key)
        out[key] = metrics.summarize(a["estimate_bpm"], a["reference_bpm"], a["snr_db"]).to_dict()
        if np.isfinite(a["truth_bpm"]).any():
            out[f"{key}_vs_truth"] = metrics.summarize(a["estimate_bpm"], a["truth_bpm"]).to_dict()
            out[f"{key}_reference_vs_truth"] = metrics.summarize(
                a["reference_bpm"], a["truth_bpm"]).to_dict()
    return out


def _f(value: Any, fmt: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, fmt)


def _video_table(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| video | subject | reference bpm | estimate bpm | error bpm | 10 s MAE bpm | "
             "10 s coverage | SNR dB |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['subject']} | error: {r['error']} | | | | | |")
            continue
        v = r["video"]
        est = np.array([w["estimate_bpm"] for w in r["windows"]], dtype=float)
        ref = np.array([w["reference_bpm"] for w in r["windows"]], dtype=float)
        err = v["estimate_bpm"] - v["reference_bpm"]
        lines.append(
            f"| {r['name']} | {r['subject']} | {_f(v['reference_bpm'])} | "
            f"{_f(v['estimate_bpm'])} | {_f(err, '+.1f')} | {_f(metrics.mae(est, ref))} | "
            f"{_f(100 * metrics.coverage(est, ref), '.0f')} % | {_f(v['snr_db'])} |")
    return lines


def _subject_table(results: list[dict[str, Any]]) -> list[str]:
    """Per subject: the median of its videos' whole-video estimates against its reference."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if "error" not in r:
            groups[r["subject"]].append(r["video"])
    lines = ["| subject | videos | reference bpm | estimate bpm | error bpm |",
             "|---|---|---|---|---|"]
    for subject, vids in groups.items():
        est = np.array([v["estimate_bpm"] for v in vids], dtype=float)
        ref = float(np.nanmean([v["reference_bpm"] for v in vids]))
        e = float(np.median(est[np.isfinite(est)])) if np.isfinite(est).any() else math.nan
        lines.append(f"| {subject} | {len(vids)} | {_f(ref)} | {_f(e)} | {_f(e - ref, '+.1f')} |")
    return lines


def _overall_table(summary: dict[str, dict[str, Any]], window_s: float) -> list[str]:
    lines = ["| evaluation | n | coverage | MAE bpm (SE) | RMSE bpm | MAPE % | Pearson r | "
             "SNR dB | bias [95 % LoA] bpm |", "|---|---|---|---|---|---|---|---|---|"]
    labels = {"window": f"{window_s:g} s windows vs reference",
              "video": "whole videos vs reference",
              "window_vs_truth": f"{window_s:g} s windows vs simulator truth",
              "video_vs_truth": "whole videos vs simulator truth",
              "window_reference_vs_truth": f"reference vs simulator truth, {window_s:g} s",
              "video_reference_vs_truth": "reference vs simulator truth, whole videos"}
    for key, label in labels.items():
        s = summary.get(key)
        if s is None:
            continue
        cov = _f(None if s["coverage"] is None else 100 * s["coverage"], ".0f")
        lines.append(
            f"| {label} | {s['n']} | {cov} % | {_f(s['mae_bpm'], '.2f')} "
            f"({_f(s['se_mae_bpm'], '.2f')}) | {_f(s['rmse_bpm'], '.2f')} | "
            f"{_f(s['mape_pct'], '.1f')} | {_f(s['pearson_r'], '.3f')} | {_f(s['snr_db'])} | "
            f"{_f(s['bias_bpm'], '+.2f')} [{_f(s['loa_lower_bpm'], '.1f')}, "
            f"{_f(s['loa_upper_bpm'], '.1f')}] |")
    return lines


def report_markdown(results: list[dict[str, Any]], summary: dict[str, dict[str, Any]], *,
                    title: str, window_s: float) -> str:
    """The per-video, per-subject and overall tables."""
    parts = [f"## {title}", "", f"Reference HR: {REFERENCE_METHOD}.", "", "### Per video", "",
             *_video_table(results), ""]
    if len({r["subject"] for r in results}) < len(results):
        parts += ["### Per subject", "", *_subject_table(results), ""]
    parts += ["### Overall", "", *_overall_table(summary, window_s), ""]
    return "\n".join(parts)


def write_bland_altman(results: list[dict[str, Any]], path: str | Path) -> None:
    """Bland-Altman plots (windows, whole videos) as a PNG; needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError("--png needs matplotlib; pip install 'edge-vitals[plot]'") from exc
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, label in zip(axes, ("window", "video"), ("10 s windows", "whole videos"),
                              strict=True):
        a = _arrays(results, key)
        ok = np.isfinite(a["estimate_bpm"]) & np.isfinite(a["reference_bpm"])
        est, ref = a["estimate_bpm"][ok], a["reference_bpm"][ok]
        ba = metrics.bland_altman(est, ref)
        ax.scatter((est + ref) / 2, est - ref, s=12, alpha=0.7)
        for y, style in ((ba.bias, "-"), (ba.lower, "--"), (ba.upper, "--")):
            if math.isfinite(y):
                ax.axhline(y, color="k", linestyle=style, linewidth=1)
        ax.set_title(f"{label}: bias {_f(ba.bias, '+.2f')}, LoA [{_f(ba.lower)}, "
                     f"{_f(ba.upper)}] bpm (n={ba.n})", fontsize=9)
        ax.set_xlabel("mean of estimate and reference, bpm")
        ax.set_ylabel("estimate - reference, bpm")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    return obj


def main(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, write the requested files; returns the exit code."""
    config = config_from_args(args)
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1; got {args.workers}")
    if not 6.0 <= args.window <= 600.0:
        raise InputError(f"--window must be 6-600 s; got {args.window:g}")
    if args.max_mae is not None and not args.max_mae > 0:
        raise InputError(f"--max-mae must be a positive number of bpm; got {args.max_mae:g}")
    check_outputs(args, files=("json", "md", "png"))
    if args.png:
        require_extra("matplotlib", needed_by="--png")
    recordings = find_recordings(args.dataset, args.format)
    progress = not args.no_progress and sys.stderr.isatty()
    results = run_eval(recordings, config, window_s=args.window, workers=args.workers,
                       fps=args.fps, progress=progress)
    failed = [r for r in results if "error" in r]
    for r in failed:
        print(f"edge-vitals: {r['name']}: {r['error']}", file=sys.stderr)
    if len(failed) == len(results):
        raise InputError(f"none of the {len(results)} recordings could be evaluated")
    summary = summaries(results)
    title = (f"{Path(args.dataset).name} ({args.format}, {len(results)} videos, method "
             f"{config.rppg.method}, roi {config.roi.mode})")
    text = report_markdown(results, summary, title=title, window_s=args.window)
    print(text)
    if args.md:
        Path(args.md).write_text(text, encoding="utf-8")
    if args.json:
        payload = {"dataset": str(args.dataset), "format": args.format,
                   "reference_method": REFERENCE_METHOD, "window_s": args.window,
                   "config": config.to_dict(), "overall": summary, "recordings": results}
        Path(args.json).write_text(json.dumps(_finite_or_none(payload), indent=1),
                                   encoding="utf-8")
    if args.png:
        write_bland_altman(results, args.png)
    if args.max_mae is not None:
        mae = summary["window"]["mae_bpm"]
        if mae is None or mae > args.max_mae:
            print(f"edge-vitals: 10 s-window MAE {_f(mae, '.2f')} bpm is above --max-mae "
                  f"{args.max_mae:g}", file=sys.stderr)
            return 1
    return 0
