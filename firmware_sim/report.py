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


def _worker_core(background: bool, jobs: list[Any], span_s: float) -> dict[str, Any]:
    """Where a kind of job ran, how many there were and the share of time its core worked."""
    busy_s = sum(job.end_s - job.start_s for job in jobs)
    return {"mode": "worker" if background else "inline", "jobs": len(jobs) if jobs else None,
            "worker_utilisation": round(busy_s / span_s, 4) if jobs and span_s > 0 else None}


def _p50_p99_ms(seconds: np.ndarray) -> dict[str, float | None]:
    if not seconds.size:
        return {"p50_ms": None, "p99_ms": None}
    return {"p50_ms": _ms(np.percentile(seconds, 50)), "p99_ms": _ms(np.percentile(seconds, 99))}


def _detector(result: ReplayResult, done: np.ndarray, span_s: float) -> dict[str, Any]:
    """Where detection ran, the worker core's utilisation and the age of the box in use."""
    age = result.box_age_s[done]
    out = _worker_core(result.config.roi.detect_in_background, result.worker_jobs, span_s)
    out["detections"] = out.pop("jobs")
    return {**out, "box_age_ms": _p50_p99_ms(age[np.isfinite(age)])}


def _estimates(result: ReplayResult, span_s: float) -> dict[str, Any]:
    """Where the readings' estimates ran, the estimate core's utilisation, the delay from a
    reading's time to its publication, and the pushes' waits for the GIL.
    """
    delay = np.array([t - r.timestamp_s for t, r in result.readings
                      if r.status in (Status.OK, Status.LOW_QUALITY)])
    gil = result.gil_wait_s[np.isfinite(result.gil_wait_s)]
    waited = gil[gil > 0]
    return {**_worker_core(result.config.rppg.estimate_in_background, result.estimate_jobs,
                           span_s),
            "reading_delay_ms": _p50_p99_ms(delay), "gil_waits": int(waited.size),
            "gil_wait_p99_ms": _p50_p99_ms(waited)["p99_ms"]}


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
        "detector": _detector(result, done, float(span)),
        "estimates": _estimates(result, float(span)),
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
                "detect_in_background": result.config.roi.detect_in_background,
                "detect_width_px": result.config.roi.detect_width_px,
                "estimate_in_background": result.config.rppg.estimate_in_background}
    report = {"scenario": scenario, "modelled": modelled}
    if host:
        report["host"] = _host(result, done)
    return report


MEDIAN_TOLERANCE = 0.25
"""The cost model agrees with this host when each stage's modelled median is within this
share of the measured one..."""
P99_TOLERANCE = 0.50
"""...and its modelled p99 within this share of the measured p99..."""
RESOLUTION_S = 5e-6
"""...or the two differ by less than this: a probe lap reads a thread clock that costs
about 0.8 us a read on the host, so a stage of a few microseconds is mostly the lap."""


def _agreement(model_s: np.ndarray, measured_s: np.ndarray) -> dict[str, Any]:
    """Median and p99 of the model and the measurement of one stage, and whether they agree."""
    out: dict[str, Any] = {}
    agree = True
    for name, q, tolerance in (("median", 50, MEDIAN_TOLERANCE), ("p99", 99, P99_TOLERANCE)):
        model, measured = np.nanpercentile(model_s, q), np.nanpercentile(measured_s, q)
        ratio = model / measured if measured > 0 else float("inf")
        out[f"model_{name}_ms"], out[f"measured_{name}_ms"] = _ms(model), _ms(measured)
        out[f"{name}_ratio"] = round(float(ratio), 3) if np.isfinite(ratio) else None
        agree &= bool(abs(ratio - 1.0) <= tolerance or abs(model - measured) < RESOLUTION_S)
    out["agrees"] = agree
    return out


def _host(result: ReplayResult, done: np.ndarray) -> dict[str, Any]:
    startup = dict(result.startup_host_s)
    python_factor = result.profile.factor("python")
    # the pipeline's stages run at the host's speed now; decode and detection are OpenCV's
    # C code, which a shared host's load slows by its own amount
    speed = [result.host_decode_slowdown if name == "decode" else result.host_slowdown
             for name in STAGE_NAMES]
    checked = done & ~result.after_reference
    stages = {name: _agreement(speed[k] * result.stage_host_model_s[checked, k],
                               result.stage_host_measured_s[checked, k])
              for k, name in enumerate(STAGE_NAMES)}
    if result.worker_jobs:
        stages["detect (worker)"] = _agreement(
            result.host_decode_slowdown * np.array([j.host_model_s for j in result.worker_jobs]),
            np.array([j.host_measured_s for j in result.worker_jobs]))
    if result.estimate_jobs:
        stages["estimates (worker)"] = _agreement(
            result.host_slowdown * np.array([j.host_model_s for j in result.estimate_jobs]),
            np.array([j.host_measured_s for j in result.estimate_jobs]))
    return {
        "cost_model": stages,
        "cost_model_agrees": all(s["agrees"] for s in stages.values()),
        "host_slowdown": round(result.host_slowdown, 3),
        "host_decode_slowdown": round(result.host_decode_slowdown, 3),
        "startup_s": {k: round(v, 4) for k, v in startup.items()},
        "startup_device_estimate_s": {k: round(v * python_factor, 3)
                                      for k, v in startup.items()},
        "rss_high_water_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _host_markdown(h: dict[str, Any]) -> list[str]:
    verdict = ("the cost model agrees with this host" if h["cost_model_agrees"] else
               "THE COST MODEL DISAGREES WITH THIS HOST on "
               + ", ".join(n for n, s in h["cost_model"].items() if not s["agrees"]))
    lines = ["", f"Host check (this machine): {verdict} (median within "
             f"±{100 * MEDIAN_TOLERANCE:.0f} %, p99 within ±{100 * P99_TOLERANCE:.0f} %, or "
             f"{1e6 * RESOLUTION_S:.0f} us apart). "
             "Host times are this thread's CPU seconds; the pipeline stages' model is scaled "
             f"by {h['host_slowdown']} (decode and detection by {h['host_decode_slowdown']}), "
             "this host's speed now at a reference push (and a reference decode) relative to "
             "when the unit costs were measured.", "",
             "| stage (host ms) | model median | measured median | ratio | model p99 | "
             "measured p99 | ratio | agrees |", "|---|---|---|---|---|---|---|---|"]
    for name, s in h["cost_model"].items():
        lines.append(f"| {name} | {_f(s['model_median_ms'])} | {_f(s['measured_median_ms'])} "
                     f"| {_f(s['median_ratio'])} | {_f(s['model_p99_ms'])} | "
                     f"{_f(s['measured_p99_ms'])} | {_f(s['p99_ratio'])} | "
                     f"{'yes' if s['agrees'] else '**NO**'} |")
    lines += ["", f"- startup {h['startup_s']} s (device estimate "
              f"{h['startup_device_estimate_s']} s); RSS high-water {h['rss_high_water_mb']} MB "
              "(this simulator process, not the device)"]
    return lines


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
              f"- first frame latency {m['first_frame_latency_ms']} ms"
              + (" (includes the first full face search)"
                 if m["detector"]["mode"] == "inline" else "")]
    d = m["detector"]
    if d["mode"] == "worker":
        lines.append(f"- face detection on a worker core: {d['detections']} detections, worker "
                     f"utilisation {d['worker_utilisation']}; age of the box in use p50 "
                     f"{d['box_age_ms']['p50_ms']} ms, p99 {d['box_age_ms']['p99_ms']} ms")
    else:
        lines.append(f"- face detection inline (on the frame path); age of the box in use p50 "
                     f"{d['box_age_ms']['p50_ms']} ms, p99 {d['box_age_ms']['p99_ms']} ms")
    e = m["estimates"]
    delay = (f"reading delay p50 {e['reading_delay_ms']['p50_ms']} ms, p99 "
             f"{e['reading_delay_ms']['p99_ms']} ms")
    if e["mode"] == "worker":
        lines.append(f"- estimates on a worker core: {e['jobs']} readings, worker utilisation "
                     f"{e['worker_utilisation']}; {delay}; {e['gil_waits']} pushes waited for "
                     f"the GIL (p99 {e['gil_wait_p99_ms']} ms)")
    else:
        lines.append(f"- estimates inline (on the frame path); {delay}")
    if h is not None:
        lines += _host_markdown(h)
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
