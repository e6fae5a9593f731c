"""The latency report of a replay: numbers, budget verdicts, Markdown and a timeline plot.

`build_report` returns a plain dict (JSON). Its ``scenario`` and ``modelled`` parts depend
only on the clip, the configuration, the profile and the seed, so the default report is
the same for the same seed. With ``host=True`` it adds a ``host`` part of wall-clock
measurements of this machine (the cost model's check, startup, memory), which varies
between runs.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import numpy as np

from edge.types import Status
from firmware_sim.replay import STAGE_NAMES, ReplayResult
from firmware_sim.tail import summary_ms

__all__ = ["build_report", "to_markdown", "write_timeline_png"]


def _ms(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(1000.0 * float(x), 3)


def _latency(result: ReplayResult, deadline_s: float) -> dict[str, Any]:
    done = ~result.dropped
    latency = (result.end_s - result.arrival_s)[done]
    late = latency > deadline_s
    edges = np.flatnonzero(np.diff(np.r_[0, late.astype(int), 0]))
    runs = edges[1::2] - edges[::2]  # lengths of the runs of consecutive misses
    return {"latency_ms": summary_ms(latency), "deadline_ms": _ms(deadline_s),
            "deadline_misses": int(late.sum()),
            "deadline_miss_fraction": float(late.mean()) if latency.size else 0.0,
            "longest_miss_run": int(max(runs, default=0))}


def _readings(result: ReplayResult) -> dict[str, Any]:
    published = [(t, r) for t, r in result.readings]
    estimated = [t for t, r in published if r.status in (Status.OK, Status.LOW_QUALITY)]
    first_hr = next((t for t, r in published if r.heart_rate_bpm is not None), None)
    errors = np.abs(result.truth_errors_bpm)
    statuses: dict[str, int] = {}
    for _, r in published:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    return {
        "readings": len(published), "statuses": statuses,
        "time_to_first_hr_s": None if first_hr is None else round(first_hr, 3),
        "hr_update_interval_ms": summary_ms(np.diff(estimated)) if len(estimated) > 1 else None,
        "hr_mae_bpm": round(float(errors.mean()), 3) if errors.size else None,
        "hr_readings_scored": int(errors.size),
    }


def _verdicts(result: ReplayResult, latency: dict[str, Any], drop_fraction: float,
              stages: dict[str, Any]) -> list[dict[str, Any]]:
    profile = result.profile
    budget = profile.budget
    p99 = latency["latency_ms"]["es_p99_ms"]
    p99_value = p99 if p99 is not None else latency["latency_ms"]["p99_ms"]
    checks = [
        ("per-frame latency p99", p99_value, profile.p99_frame_ms, "ms",
         None if p99 is not None else "too few frames to claim p99 at 99 % confidence; "
         "plain percentile shown"),
        ("dropped frames", 100 * drop_fraction, 100 * budget.max_drop_fraction, "%", None),
        ("deadline misses", 100 * latency["deadline_miss_fraction"],
         100 * budget.max_deadline_miss_fraction, "%", None),
    ]
    worst = max(stages, key=lambda s: stages[s]["p99_ms"] or 0.0)
    out = []
    for name, value, limit, unit, note in checks:
        ok = value is not None and value <= limit
        entry = {"check": name, "value": None if value is None else round(value, 3),
                 "limit": round(limit, 3), "unit": unit, "pass": bool(ok)}
        if note:
            entry["note"] = note
        if not ok:
            entry["culprit_stage"] = worst
        out.append(entry)
    return out


def build_report(result: ReplayResult, *, clip: str, host: bool = False) -> dict[str, Any]:
    """The report as a JSON-ready dict; `host` adds this machine's measurements."""
    profile = result.profile
    deadline_s = profile.frame_deadline_ms / 1000.0
    done = ~result.dropped
    stages = {name: summary_ms(result.stage_device_s[done, k])
              for k, name in enumerate(STAGE_NAMES)}
    latency = _latency(result, deadline_s)
    n = result.arrival_s.size
    drops: dict[str, int] = {}
    for cause in result.drop_cause[result.dropped]:
        drops[cause] = drops.get(cause, 0) + 1
    span = np.nanmax(result.end_s) - result.arrival_s[0] if done.any() else 1.0
    busy = np.nansum(result.stage_device_s)
    modelled = {
        "frames": int(n), "processed": int(done.sum()), "dropped": int(result.dropped.sum()),
        "drop_fraction": float(result.dropped.mean()), "drops_by_cause": drops,
        "queue_depth_max": int(result.queue_depth.max()),
        "queue_depth_mean": round(float(result.queue_depth.mean()), 3),
        "cpu_utilisation": round(float(busy / span), 4) if span > 0 else None,
        "per_stage_device_ms": stages, **latency, **_readings(result),
    }
    first = np.flatnonzero(done)[:1]
    modelled["first_frame_latency_ms"] = (
        _ms(result.end_s[first[0]] - result.arrival_s[first[0]]) if first.size else None)
    modelled["verdicts"] = _verdicts(result, latency, modelled["drop_fraction"], stages)
    modelled["pass"] = all(v["pass"] for v in modelled["verdicts"])
    scenario = {"clip": clip, "device": profile.name, "description": profile.description,
                "fps": result.fps, "seed": result.seed,
                "queue": {"capacity": result.policy.capacity,
                          "when_full": result.policy.when_full},
                "method": result.config.rppg.method, "roi": result.config.roi.mode,
                "detect_every_n_frames": result.config.roi.detect_every_n_frames,
                "detect_width_px": result.config.roi.detect_width_px}
    report = {"scenario": scenario, "modelled": modelled}
    if host:
        report["host"] = _host(result, done)
    return report


def _host(result: ReplayResult, done: np.ndarray) -> dict[str, Any]:
    startup = dict(result.startup_host_s)
    python_factor = result.profile.factor("python")
    return {
        "per_stage_measured_ms_median": {
            name: _ms(np.nanmedian(result.stage_host_measured_s[done, k]))
            for k, name in enumerate(STAGE_NAMES)},
        "per_stage_model_ms_median": {
            name: _ms(np.nanmedian(result.stage_host_model_s[done, k]))
            for k, name in enumerate(STAGE_NAMES)},
        "startup_s": {k: round(v, 4) for k, v in startup.items()},
        "startup_device_estimate_s": {k: round(v * python_factor, 3)
                                      for k, v in startup.items()},
        "rss_high_water_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def to_markdown(report: dict[str, Any]) -> str:
    """A human summary of `build_report`'s dict."""
    sc, m, h = report["scenario"], report["modelled"], report.get("host")
    verdict = "PASS" if m["pass"] else "FAIL"
    lines = [f"# {sc['device']} at {sc['fps']:g} fps: {verdict}", "",
             f"{sc['description']}; clip `{sc['clip']}`; seed {sc['seed']}; queue capacity "
             f"{sc['queue']['capacity']} ({sc['queue']['when_full']}); method {sc['method']}, "
             f"roi {sc['roi']}, face detection every {sc['detect_every_n_frames']} frames at "
             f"{sc['detect_width_px']} px.", "",
             "| check | value | limit | result |", "|---|---|---|---|"]
    for v in m["verdicts"]:
        why = "" if v["pass"] else f" (stage: {v['culprit_stage']})"
        note = f" — {v['note']}" if v.get("note") else ""
        lines.append(f"| {v['check']} | {v['value']} {v['unit']} | {v['limit']} {v['unit']} | "
                     f"{'pass' if v['pass'] else 'FAIL' + why}{note} |")
    lines += ["", "| per-frame latency, ms | p50 | p90 | p99 | max | p99 (early stopping) |",
              "|---|---|---|---|---|---|"]
    rows = [("end to end", m["latency_ms"]), *m["per_stage_device_ms"].items()]
    for name, s in rows:
        es = _f(s["es_p99_ms"]) if s["es_p99_ms"] is not None else (
            f"n/a (needs {s['es_p99_needed_n']} frames)")
        lines.append(f"| {name} | {_f(s['p50_ms'])} | {_f(s['p90_ms'])} | {_f(s['p99_ms'])} | "
                     f"{_f(s['max_ms'])} | {es} |")
    lines += ["", f"- frames {m['frames']}, processed {m['processed']}, dropped {m['dropped']} "
              f"{m['drops_by_cause']}; queue depth max {m['queue_depth_max']}, mean "
              f"{m['queue_depth_mean']}; CPU utilisation {m['cpu_utilisation']}",
              f"- deadline {m['deadline_ms']} ms: {m['deadline_misses']} misses, longest run "
              f"{m['longest_miss_run']}",
              f"- readings {m['readings']} {m['statuses']}; first heart rate at "
              f"{m['time_to_first_hr_s']} s; HR MAE under load {m['hr_mae_bpm']} bpm over "
              f"{m['hr_readings_scored']} readings",
              f"- first frame latency {m['first_frame_latency_ms']} ms (includes the first "
              "full face search)"]
    if h is not None:
        lines.append(
            f"- host check (this machine, wall clock): measured stage medians "
            f"{h['per_stage_measured_ms_median']} ms vs cost model "
            f"{h['per_stage_model_ms_median']} ms; startup {h['startup_s']} s (device "
            f"estimate {h['startup_device_estimate_s']} s); RSS high-water "
            f"{h['rss_high_water_mb']} MB (this simulator process, not the device)")
    return "\n".join(lines) + "\n"


def write_timeline_png(result: ReplayResult, path: str | Path) -> Path | None:
    """Per-frame latency against time, the deadline, drops and queue depth (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    done = ~result.dropped
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax1.plot(result.arrival_s[done], 1000 * (result.end_s - result.arrival_s)[done], ".",
             ms=2, label="latency")
    ax1.axhline(result.profile.frame_deadline_ms, color="r", lw=1, label="deadline")
    if result.dropped.any():
        ax1.plot(result.arrival_s[result.dropped], np.zeros(result.dropped.sum()), "x",
                 color="k", ms=4, label="dropped")
    ax1.set_ylabel("ms")
    ax1.set_yscale("symlog", linthresh=1.0)
    ax1.legend(loc="upper right")
    ax1.set_title(f"{result.profile.name} at {result.fps:g} fps")
    ax2.step(result.arrival_s, result.queue_depth, where="post")
    ax2.set_ylabel("queue")
    ax2.set_xlabel("capture time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
