"""Speed benchmark: our per-frame cost, end-to-end frames/s, peak RSS, cold start, and peers.

Usage::

    python -m firmware_sim.bench.speed [--cache-dir .bench/clips] [--no-peers] [--json out.json]

On one cached 60 s 640x480 30 fps MJPG world-simulator clip: the pipeline's cost per frame
(decode excluded) per stage; end-to-end ``edge-vitals run`` wall time and peak RSS on one
core (with ahead-of-time kernels and with numba); cold start to the first frame; and the
peers of `firmware_sim.bench.peers` on the same clip. Progress to stderr, Markdown to stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["CLIP_CONFIG", "Row", "format_markdown", "main", "parse_cli_summary", "parse_marker",
           "report_rows", "summarize_ms", "verdict"]

CLIP_CONFIG = {"width": 640, "height": 480, "fps": 30.0, "duration_s": 60.0,
               "heart_rate_bpm": 72.0, "motion": "mild", "seed": 60}
"""`WorldConfig` fields of the benchmark clip (written as MJPG)."""

CODEC = "MJPG"
MARKER = "EDGE_BENCH_FIRST_FRAME "
"""Prefix of the cold-start child's line, followed by its JSON timing breakdown."""

CHILD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""Added to the environment of our child processes (which are also pinned with taskset)."""

TARGET_PIPELINE_MS, TARGET_RSS_MB, TARGET_COLD_S = 1.0, 150.0, 1.5
TARGET_RATIO = {"vitallens": 10.0, "open-rppg": 5.0}

COLD_START_SCRIPT = """\
import json, sys, time
t = [time.perf_counter()]
import edge
from edge.capture.video_file import VideoFileSource
from edge.pipeline import Pipeline
t.append(time.perf_counter()); src = VideoFileSource(sys.argv[1], decode_scale="auto")
t.append(time.perf_counter()); pipe = Pipeline()
t.append(time.perf_counter()); pipe.warmup()
t.append(time.perf_counter()); frame, timestamp_s = next(iter(src))
t.append(time.perf_counter()); pipe.push(frame, timestamp_s)
t.append(time.perf_counter())
import cv2
names = ("import_s", "open_s", "pipeline_init_s", "warmup_s", "decode_s", "push_s")
steps = {n: b - a for n, a, b in zip(names, t, t[1:])}
print(%r + json.dumps({**steps, "in_process_s": t[-1] - t[0], "cv2_threads": cv2.getNumThreads()}),
      flush=True)
""" % MARKER
"""What ``edge-vitals run FILE`` does up to the first ``push``; prints `MARKER` + JSON."""

PROBE_SCRIPT = """\
import json, os, sys, time
out = os.open(os.devnull, os.O_WRONLY)
err = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)])
_, status, ru = os.wait4(pid, 0)
print(json.dumps({"wall_s": time.perf_counter() - t0,
                  "exit_code": os.waitstatus_to_exitcode(status),
                  "peak_rss_mb": ru.ru_maxrss / 1024.0, "cpu_s": ru.ru_utime + ru.ru_stime}))
"""
"""Run by a bare interpreter: spawn ``argv[2:]``, wait, print its wall s, peak RSS, CPU s."""

def _log(message: str) -> None:
    print(f"[speed] {message}", file=sys.stderr, flush=True)


# -- pure helpers --------------------------------------------------------------------
def summarize_ms(durations_s: np.ndarray) -> dict[str, float]:
    """Median, p90, p99, max and mean of durations given in seconds, in milliseconds.

    Parameters
    ----------
    durations_s : np.ndarray [shape=(n,)]
        Durations in seconds, ``n >= 1``.

    Returns
    -------
    dict
        ``median_ms``, ``p90_ms``, ``p99_ms``, ``max_ms``, ``mean_ms``.
    """
    ms = 1000.0 * np.asarray(durations_s, dtype=float).ravel()
    if ms.size == 0:
        raise ValueError("summarize_ms needs at least one duration; got an empty array")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"median_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "max_ms": float(ms.max()), "mean_ms": float(ms.mean())}


def parse_marker(line: str) -> dict[str, float] | None:
    """The cold-start child's breakdown from a line starting with `MARKER`, else ``None``."""
    if not line.startswith(MARKER):
        return None
    try:
        data = json.loads(line[len(MARKER):])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


_SUMMARY_RE = re.compile(r"edge-vitals: (\d+) frames in ([\d.]+) s")
_HR_RE = re.compile(r"heart rate median ([\d.]+) bpm")


def parse_cli_summary(stderr: str) -> dict[str, float | None]:
    """``frames``, ``loop_s`` and ``heart_rate_bpm`` from ``edge-vitals run``'s stderr."""
    found, hr = _SUMMARY_RE.search(stderr), _HR_RE.search(stderr)
    return {"frames": int(found.group(1)) if found else None,
            "loop_s": float(found.group(2)) if found else None,
            "heart_rate_bpm": float(hr.group(1)) if hr else None}


def verdict(value: float | None, target: float, *, higher_is_better: bool = False) -> str:
    """``met`` if ``value`` is within ``target`` (``<=``, or ``>=``), else ``MISSED``; ``n/a``."""
    if value is None or not np.isfinite(value):
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "MISSED"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report table."""

    what: str
    value: str
    target: str = "-"
    verdict: str = "-"


def format_markdown(rows: list[Row]) -> str:
    """Markdown table with columns what, value, target, verdict (cells padded to align)."""
    cells = [("what", "value", "target", "verdict")]
    cells += [(r.what, r.value.replace("|", "/"), r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# -- the clip and the in-process pipeline cost ---------------------------------------
def ensure_clip(cache_dir: Path) -> Path:
    """The benchmark clip in ``cache_dir``; rendered unless it is there with this config."""
    from tqdm import tqdm

    from firmware_sim.world import WORLD_VERSION, WorldConfig, make_clip, write_clip

    config, c = WorldConfig(**CLIP_CONFIG), CLIP_CONFIG
    stem = f"world-{c['width']}x{c['height']}-{c['fps']:g}fps-{c['duration_s']:g}s-seed{c['seed']}"
    path = Path(cache_dir) / f"{stem}.avi"
    meta_path = path.with_name(f"{stem}.bench.json")
    meta = {"world_version": WORLD_VERSION, "codec": CODEC, "config": config.to_dict()}
    if path.is_file() and meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        _log(f"reusing clip {path}")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)  # written last: an interrupted render is redone
    clip = make_clip(config)
    with tqdm(total=len(clip), unit="frame", desc="rendering clip", file=sys.stderr) as bar:
        write_clip(clip, path, codec=CODEC, on_frame=bar.update)
    meta_path.write_text(json.dumps(meta, indent=1))
    return path


def time_pipeline(frames: list[np.ndarray], times_s: list[float]) -> dict[str, object]:
    """Time `Pipeline.push` per frame after `Pipeline.warmup`; summaries in ms."""
    from edge.pipeline import Pipeline
    from edge.probe import STAGES, RecordingProbe

    per_frame_s = np.empty(len(frames))
    stages_s = np.empty((len(frames), len(STAGES)))
    clock = time.perf_counter
    probe = RecordingProbe()
    with Pipeline(probe=probe) as pipe:  # __enter__ warms up
        for i, (frame, timestamp_s) in enumerate(zip(frames, times_s, strict=True)):
            t0 = clock()
            pipe.push(frame, timestamp_s)
            per_frame_s[i] = clock() - t0
            stages_s[i] = [probe.stage_s[name] for name in STAGES]
    return {**summarize_ms(per_frame_s),
            "stage_median_ms": dict(zip(STAGES, 1000.0 * np.median(stages_s, 0), strict=True)),
            "stage_mean_ms": dict(zip(STAGES, 1000.0 * stages_s.mean(0), strict=True))}


def bench_pipeline(clip: Path, decode_scale: int) -> dict[str, object]:
    """Streaming decode cost, then all frames in memory and `time_pipeline` on them."""
    from edge.capture.video_file import VideoFileSource

    with VideoFileSource(clip, decode_scale=decode_scale) as src:  # frames dropped, as the CLI
        t0 = time.perf_counter()
        n_frames = sum(1 for _ in src)
        decode_ms = 1000.0 * (time.perf_counter() - t0) / max(1, n_frames)
    _log(f"decoding all frames at decode_scale={decode_scale} into memory")
    with VideoFileSource(clip, decode_scale=decode_scale) as src:
        frames, times_s = map(list, zip(*src, strict=True))
    height, width = frames[0].shape[:2]
    _log(f"timing Pipeline.push on {len(frames)} frames of {width}x{height}")
    result = time_pipeline(frames, times_s)
    del frames
    gc.collect()
    predicted = 1000.0 / (decode_ms + result["mean_ms"])  # type: ignore[operator]
    return {"decode_scale": decode_scale, "size": f"{width}x{height}",
            "decode_ms_per_frame": decode_ms, "predicted_frames_per_s": predicted, **result}


# -- child processes -----------------------------------------------------------------
def _child_env() -> dict[str, str]:
    return {**os.environ, **CHILD_ENV}


def _pinned(cmd: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0", *cmd] if taskset else cmd


def spawn_measured(cmd: list[str], *, stderr_path: Path,
                   env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` (stdout to /dev/null) from a bare probe interpreter; wall s, peak RSS, CPU s.

    ``ru_maxrss`` of a child spawned straight from this process is wrong: on Linux the exec'd
    child inherits the RSS high-water mark of the process it was (v)forked from (here up to
    1.7 GB of decoded frames). The probe's own ~10 MB is the floor instead (`_rss_floor_mb`).
    """
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE_SCRIPT, str(stderr_path), *cmd],
                         capture_output=True, text=True, env={**_child_env(), **(env or {})},
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def _rss_floor_mb() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return spawn_measured(["true"], stderr_path=Path(tmp) / "err")["peak_rss_mb"]


def run_cli_once(clip: Path, decode_scale: str, kernels: str) -> dict[str, object]:
    """One ``edge-vitals run CLIP --json`` on core 0: wall s, frames/s, peak RSS, CPU s.

    ``kernels`` is ``EDGE_VITALS_KERNELS`` of the child (``auto`` or ``jit``).
    """
    exe = Path(sys.executable).parent / "edge-vitals"
    exe_name = str(exe) if exe.exists() else (shutil.which("edge-vitals") or "edge-vitals")
    cmd = _pinned([exe_name, "run", str(clip), "--json", "--decode-scale", decode_scale])
    with tempfile.TemporaryDirectory() as tmp:
        run = spawn_measured(cmd, stderr_path=Path(tmp) / "stderr.txt",
                             env={"EDGE_VITALS_KERNELS": kernels})
        stderr = (Path(tmp) / "stderr.txt").read_text()
    if run["exit_code"] != 0:
        raise RuntimeError(f"edge-vitals exit {run['exit_code']}: {stderr.strip()[-500:]}")
    summary = parse_cli_summary(stderr)
    frames, wall_s = summary["frames"] or 0, run["wall_s"]
    return {**run, **summary, "frames_per_s": frames / wall_s}


def bench_cli(clip: Path, decode_scale: str, *, kernels: str = "auto",
              repeats: int = 2) -> dict[str, object]:
    """Run the CLI ``repeats`` times; keep every run and the best (highest frames/s)."""
    from edge import kernels as kernel_module

    backend = kernel_module.BACKEND if kernels == "auto" else kernels
    runs = []
    for i in range(repeats):
        _log(f"edge-vitals run --decode-scale {decode_scale}, {backend} kernels "
             f"(run {i + 1}/{repeats})")
        runs.append(run_cli_once(clip, decode_scale, kernels))
    best = max(runs, key=lambda r: r["frames_per_s"])
    return {"decode_scale": decode_scale, "kernels": backend, "best": best, "runs": runs}


def cold_start_once(clip: Path) -> tuple[float, dict[str, float]]:
    """Seconds from ``Popen`` to reading the child's marker line, and the child's breakdown."""
    cmd = _pinned([sys.executable, "-c", COLD_START_SCRIPT, str(clip)])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=_child_env())
    breakdown, seconds = None, float("nan")
    for line in proc.stdout or ():
        breakdown = parse_marker(line)
        if breakdown is not None:
            seconds = time.perf_counter() - t0
            break
    proc.wait()
    if breakdown is None:
        raise RuntimeError(f"cold-start child exited {proc.returncode} without its marker line")
    return seconds, breakdown


def bench_cold_start(clip: Path, *, runs: int = 3) -> dict[str, object]:
    """One warm-up run (fills the numba and page caches), then the median of ``runs``."""
    _log(f"cold start: 1 warm-up + {runs} runs")
    cold_start_once(clip)
    results = sorted((cold_start_once(clip) for _ in range(runs)), key=lambda r: r[0])
    median_s, breakdown = results[len(results) // 2]
    return {"median_s": median_s, "runs_s": [s for s, _ in results],
            "breakdown_of_median": breakdown}


def bench_peers(clip: Path, root: Path) -> list[dict[str, object]]:
    """Install (if needed) and run every peer on ``clip`` with ``python -m ...bench.peers``.

    That command calls `ensure_peer_venv` and `run_peer` for each name in `PEERS`. It runs in
    a fresh interpreter because the peer runners take their peak RSS with ``getrusage``, which
    starts at the RSS high-water mark of the process that spawned them (this one held all
    decoded frames). Its table goes to our stderr.
    """
    from firmware_sim.bench.peers import PEERS

    _log(f"peers {', '.join(PEERS)}: install check and runs (can take minutes)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peers.json"
        cmd = [sys.executable, "-m", "firmware_sim.bench.peers", str(clip), "--root", str(root),
               "--json", str(out)]
        proc = subprocess.run(cmd, stdout=sys.stderr, check=False)
        if not out.is_file():
            return [{"name": name, "error": f"peers command exit {proc.returncode}, no result"}
                    for name in PEERS]
        return json.loads(out.read_text())


# -- report --------------------------------------------------------------------------
def machine_facts() -> dict[str, object]:
    """`firmware_sim.calibrate.machine_facts` plus onnxruntime, cores used, OPENBLAS_CORETYPE."""
    from firmware_sim.calibrate import machine_facts as base_facts

    facts: dict[str, object] = {**base_facts(), "cores_used": 1}
    facts["opencv-python-headless"] = facts.pop("opencv")
    try:
        facts["onnxruntime"] = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        facts["onnxruntime"] = None
    facts["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    from edge import kernels

    facts["kernels"] = kernels.BACKEND
    return facts


def format_machine(m: dict[str, object]) -> str:
    """One line of machine facts from `machine_facts`."""
    return (f"machine: {m['cpu']}, cores used {m['cores_used']} of {m['cores_online']}, "
            f"Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, "
            f"onnxruntime {m['onnxruntime']}, opencv {m['opencv-python-headless']}, "
            f"OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}, kernels {m.get('kernels')}")


def _num(value: object, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _ms(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in values.items())


def report_rows(results: dict) -> list[Row]:
    """Table rows for the ``results`` dict built by `main` (``peers`` optional)."""
    rows = []
    for p in results["pipeline"]:
        full = p["decode_scale"] == 1
        rows += [Row(f"pipeline ms/frame excl. decode, {p['size']}",
                     "median {median_ms:.3f}, p90 {p90_ms:.3f}, p99 {p99_ms:.3f}, "
                     "max {max_ms:.2f}, mean {mean_ms:.3f}".format(**p),
                     f"<= {TARGET_PIPELINE_MS:g} ms median" if full else "-",
                     verdict(p["median_ms"], TARGET_PIPELINE_MS) if full else "-"),
                 Row(f"  stage medians ms, {p['size']}", _ms(p["stage_median_ms"])),
                 Row(f"  stage means ms, {p['size']}", _ms(p["stage_mean_ms"])),
                 Row(f"  decode ms/frame -> 1000/(decode + pipeline mean), {p['size']}",
                     f"{p['decode_ms_per_frame']:.3f} -> {p['predicted_frames_per_s']:.0f} "
                     "frames/s")]
    for c in results["cli"]:
        best, how = c["best"], f"--decode-scale {c['decode_scale']}, {c['kernels']} kernels"
        both = " / ".join(f"{r['frames_per_s']:.0f}" for r in c["runs"])
        rows += [Row(f"edge-vitals run frames/s, {how}",
                     f"{best['frames_per_s']:.0f} (runs {both}; wall {best['wall_s']:.2f} s, "
                     f"frame loop {best['loop_s']} s, CPU {best['cpu_s']:.2f} s, "
                     f"HR {best['heart_rate_bpm']} bpm)"),
                 Row(f"  peak RSS MB, {how}", f"{best['peak_rss_mb']:.0f}",
                     f"<= {TARGET_RSS_MB:g} MB", verdict(best["peak_rss_mb"], TARGET_RSS_MB))]
    rows.append(Row("  (RSS probe floor: peak RSS MB of `true`)", f"{results['rss_floor_mb']:.0f}"))
    cold = results["cold_start"]
    breakdown = dict(cold["breakdown_of_median"])
    threads = breakdown.pop("cv2_threads", None)
    rows += [Row(f"cold start to first frame s ({results['machine']['kernels']} kernels, warm)",
                 f"{cold['median_s']:.3f} (runs {', '.join(f'{s:.3f}' for s in cold['runs_s'])})",
                 f"<= {TARGET_COLD_S:g} s", verdict(cold["median_s"], TARGET_COLD_S)),
             Row("  in the child, s", _ms(breakdown) + f"; cv2 threads {threads}")]
    our_fps = results["cli"][0]["best"]["frames_per_s"]
    for p in results.get("peers") or []:
        name, target = p["name"], TARGET_RATIO.get(p["name"])
        if p.get("error") or not p.get("frames_per_s"):
            rows.append(Row(f"peer {name}", f"error: {p.get('error')}"[:300], "-", "n/a"))
            continue
        ratio = our_fps / p["frames_per_s"]
        rows += [Row(f"peer {name} {p.get('version')} ({p.get('model')})",
                     f"{p['frames_per_s']:.1f} frames/s, HR {_num(p.get('heart_rate_bpm'))} bpm, "
                     f"peak RSS {_num(p.get('peak_rss_mb'), '.0f')} MB, "
                     f"load {_num(p.get('load_seconds'), '.2f')} s (not in its frames/s)"),
                 Row(f"  our frames/s / {name}'s", f"{ratio:.1f}x",
                     f">= {target:g}x" if target else "-",
                     verdict(ratio, target, higher_is_better=True) if target else "-")]
    return rows


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m firmware_sim.bench.speed",
                                     description="Our speed numbers and the peer comparison.")
    parser.add_argument("--cache-dir", type=Path, default=Path(".bench/clips"))
    parser.add_argument("--venv-root", type=Path, default=Path(".bench/venvs"))
    parser.add_argument("--no-peers", action="store_true", help="skip the peer packages")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write all figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and print the report; returns 0 (verdicts are in the table)."""
    args = _parse_args(argv)
    clip = ensure_clip(args.cache_dir)
    import cv2

    os.sched_setaffinity(0, {0})
    cv2.setNumThreads(1)
    results: dict = {"clip": str(clip), "machine": machine_facts()}
    if results["machine"]["kernels"] != "aot":
        _log("the kernels are numba's JIT here: run `edge-vitals warmup` first to measure the "
             "ahead-of-time kernels that a warmed-up device runs")
    results["pipeline"] = [bench_pipeline(clip, scale) for scale in (1, 2)]
    results["cli"] = [bench_cli(clip, scale) for scale in ("auto", "1", "4")]
    results["cli"].append(bench_cli(clip, "auto", kernels="jit"))
    results["rss_floor_mb"] = _rss_floor_mb()
    results["cold_start"] = bench_cold_start(clip)
    if not args.no_peers:
        results["peers"] = bench_peers(clip, args.venv_root)
    print(format_machine(results["machine"]))
    print(f"clip: {clip} ({CODEC}, {CLIP_CONFIG})")
    print("edge-vitals frames/s = frames / wall time of the whole process (interpreter start, "
          "imports, kernel load included); the first CLI row (auto = decode scale 2 here) "
          "is the one compared with the peers.\n")
    print(format_markdown(report_rows(results)))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
