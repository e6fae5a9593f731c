"""``edge-vitals calibrate device``: measure a board's slowdown factors.

Each stage class has a micro-benchmark, run pinned to one core; its median time divided
by the reference host's (``profiles/host_reference.json``) is the class's factor. Classes
without a benchmark (``cnn``) keep the base profile's prior.

    edge-vitals calibrate device --base pi4 --out my-pi4.toml
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli.options import check_output_file
from edge.errors import ConfigError
from firmware_sim.profiles import (
    SHIPPED_PROFILES,
    STAGE_CLASS_NAMES,
    DeviceProfile,
    FactorSources,
    StageFactors,
    load_profile,
)

__all__ = [
    "BENCHMARKS",
    "HELP",
    "MEASURED_CLASSES",
    "add_arguments",
    "calibrate_device",
    "detect_board",
    "format_table",
    "load_host_reference",
    "machine_facts",
    "main",
    "measure_host_reference",
    "median_call_s",
    "run_microbenchmarks",
    "write_host_reference",
]

HELP = "measure this board's slowdown factors for the latency simulator"

FRAME_SHAPE = (480, 640, 3)
REFERENCE = "host_reference.json"
BOARDS = (("Raspberry Pi Zero 2", "zero2w"), ("Raspberry Pi 3 Model B Plus", "pi3bplus"),
          ("Raspberry Pi 4", "pi4"), ("Raspberry Pi 5", "pi5"))
"""``/proc/device-tree/model`` prefix -> shipped profile used as the default base."""


# -- the micro-benchmarks: each setup returns the callable that is timed -------------
def _test_frame() -> np.ndarray:
    """A 640x480 RGB frame: seeded noise on a gradient, with the asset face if present."""
    import cv2

    rng = np.random.default_rng(0)
    ramp = np.linspace(60, 200, FRAME_SHAPE[1])[None, :, None]
    frame = np.clip(ramp + rng.normal(0, 12, FRAME_SHAPE), 0, 255).astype(np.uint8)
    face = cv2.imread(str(resources.files("firmware_sim").joinpath("assets", "face.png")))
    if face is not None:
        h, w = face.shape[:2]
        frame[100:100 + h, 140:140 + w] = cv2.cvtColor(face, cv2.COLOR_BGR2RGB)
    return frame


def _setup_decode() -> Callable[[], object]:
    import cv2

    bgr = cv2.cvtColor(_test_frame(), cv2.COLOR_RGB2BGR)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:  # pragma: no cover - OpenCV always encodes JPEG
        raise ConfigError("OpenCV could not encode the test JPEG")
    return lambda: cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _setup_frame() -> Callable[[], object]:
    from edge.roi import FaceDetector

    frame = _test_frame()
    detector = FaceDetector(detect_width_px=160)  # resize to 160 px, grey, CLAHE, Haar
    return lambda: detector.detect(frame)


def _setup_numba() -> Callable[[], object]:
    from edge.config import RoiConfig
    from edge.roi import RoiSampler
    from edge.rppg import PulseStream
    from edge.types import Box

    frame = _test_frame()
    sampler = RoiSampler(RoiConfig())  # face mode: the sub-ROIs, skin mask on
    face = Box(149, 69, 342, 342)  # sub-ROIs of ~40,000 px, as the former 200x200 box
    stream = PulseStream("pos", fs=30.0)

    def run() -> None:
        stream.push(sampler.sample(frame, face))

    return run


def _setup_python() -> Callable[[], object]:
    from edge.rates import power_spectrum
    from edge.validate import valid_frame

    frame = _test_frame()
    x = np.sin(2 * np.pi * 1.2 * np.arange(300) / 30.0)
    x = x + 0.1 * np.random.default_rng(1).standard_normal(300)

    def run() -> None:
        power_spectrum(x, 30.0)
        valid_frame(frame)

    return run


BENCHMARKS: dict[str, Callable[[], Callable[[], object]]] = {
    "decode": _setup_decode,
    "frame": _setup_frame,
    "numba": _setup_numba,
    "python": _setup_python,
}
"""Stage class -> setup returning the timed call. ``cnn`` has none yet (no onnx model)."""

MEASURED_CLASSES = tuple(BENCHMARKS)


def run_microbenchmarks(*, repeats: int = 50, warmup: int = 5) -> dict[str, float]:
    """Median seconds per call of each stage-class micro-benchmark on this machine.

    Runs pinned to one core (when ``os.sched_setaffinity`` exists) with
    ``cv2.setNumThreads(1)``; both are restored afterwards. The first `warmup` calls
    (numba cache load, cascade load) are not timed.

    Returns
    -------
    dict of str to float
        ``{stage_class: median_s}`` for `MEASURED_CLASSES`.
    """
    import cv2

    if repeats < 1 or warmup < 0:
        raise ConfigError(f"repeats must be >= 1 and warmup >= 0; got {repeats}, {warmup}")
    pinned = hasattr(os, "sched_setaffinity")
    affinity = os.sched_getaffinity(0) if pinned else set()
    threads = cv2.getNumThreads()
    try:
        if pinned:
            os.sched_setaffinity(0, {min(affinity)})
        cv2.setNumThreads(1)
        return {name: median_call_s(setup(), repeats, warmup) for name, setup in BENCHMARKS.items()}
    finally:
        cv2.setNumThreads(threads)
        if pinned:
            os.sched_setaffinity(0, affinity)


def median_call_s(call: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median seconds of `repeats` calls of `call`, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    times = np.empty(repeats)
    for i in range(repeats):
        start = clock()
        call()
        times[i] = clock() - start
    return float(np.median(times)) * 1e-9


# -- the reference host --------------------------------------------------------------
def machine_facts() -> dict[str, Any]:
    """CPU model (device-tree model on a Pi), cores, Python and library versions, date."""
    cpu = ""
    model_file = Path("/proc/device-tree/model")
    if model_file.is_file():
        cpu = model_file.read_text(errors="replace").strip("\x00\n ")
    cpuinfo = Path("/proc/cpuinfo")
    if not cpu and cpuinfo.is_file():
        found = re.findall(r"^(?:model name|Model)\s*:\s*(.*)$", cpuinfo.read_text(), re.M)
        cpu = found[0].strip() if found else ""
    facts: dict[str, Any] = {"cpu": cpu or platform.processor() or platform.machine(),
                             "cores_online": os.cpu_count(), "machine": platform.machine(),
                             "python": platform.python_version()}
    for key, dist in (("numpy", "numpy"), ("numba", "numba"),
                      ("opencv", "opencv-python-headless")):
        try:
            facts[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            facts[key] = None
    facts["date"] = datetime.date.today().isoformat()
    return facts


def measure_host_reference(*, repeats: int = 200, rounds: int = 5) -> dict[str, Any]:
    """Machine facts plus micro-benchmark medians: the content of host_reference.json.

    Each class keeps the smallest median of `rounds` runs, the least disturbed by
    other processes on a shared machine; every round is recorded too.
    """
    facts = machine_facts()
    runs = [run_microbenchmarks(repeats=repeats) for _ in range(rounds)]
    facts.update(repeats=repeats, rounds=rounds,
                 median_s={c: min(run[c] for run in runs) for c in MEASURED_CLASSES},
                 round_medians_s={c: [run[c] for run in runs] for c in MEASURED_CLASSES})
    facts["note"] = ("median_s: smallest per-round median of "
                     "firmware_sim.calibrate.run_microbenchmarks on the reference host; "
                     "shipped profile factors and calibrate device are relative to it. "
                     "Regenerate with firmware_sim.calibrate.write_host_reference().")
    return facts


def write_host_reference(path: str | Path | None = None, **kwargs: int) -> Path:
    """Measure this machine and write it as the reference (the shipped file by default)."""
    path = Path(path) if path is not None else Path(__file__).parent / "profiles" / REFERENCE
    path.write_text(json.dumps(measure_host_reference(**kwargs), indent=2) + "\n",
                    encoding="utf-8")
    return path


def load_host_reference() -> dict[str, Any]:
    """The stored reference host measurement (``profiles/host_reference.json``)."""
    text = resources.files("firmware_sim").joinpath("profiles", REFERENCE)
    return json.loads(text.read_text(encoding="utf-8"))


# -- calibration ---------------------------------------------------------------------
def detect_board() -> str | None:
    """The shipped profile matching this Raspberry Pi, or ``None`` elsewhere."""
    model_file = Path("/proc/device-tree/model")
    if not model_file.is_file():
        return None
    model = model_file.read_text(errors="replace")
    return next((name for prefix, name in BOARDS if model.startswith(prefix)), None)


def calibrate_device(*, name: str, base_profile: str | Path | None = "pi4",
                     out_path: str | Path | None = None, repeats: int = 50,
                     rounds: int = 3) -> DeviceProfile:
    """Measure this machine and write a device profile with measured factors.

    Parameters
    ----------
    name : str
        Name of the new profile.
    base_profile : str or Path or None
        Shipped name or TOML path giving the camera, jitter, thermal and budget sections
        and the priors of classes that are not measured. ``None``: the ``host`` profile
        with this machine's cores and memory, and the ``cnn`` prior set to the measured
        ``numba`` factor.
    out_path : str or Path or None
        Where to write the TOML; ``None`` writes nothing.
    repeats : int
        Timed calls per micro-benchmark.
    rounds : int
        Runs of the suite; each class keeps its smallest median (as the reference does).

    Returns
    -------
    DeviceProfile
        The new profile; ``factor = measured median / reference median`` per class.
    """
    reference = load_host_reference()
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1; got {rounds}")
    runs = [run_microbenchmarks(repeats=repeats) for _ in range(rounds)]
    measured = {c: min(run[c] for run in runs) for c in runs[0]}
    facts = machine_facts()
    base = _base_profile(base_profile)
    factors = {c: getattr(base.factors, c) for c in STAGE_CLASS_NAMES}
    sources = {c: getattr(base.factors_source, c) for c in STAGE_CLASS_NAMES}
    where = f"on {facts['cpu']} {facts['date']} by edge-vitals calibrate device"
    for cls, median_s in measured.items():
        ref_s = reference["median_s"].get(cls)
        if ref_s is None or ref_s <= 0:
            continue
        factors[cls] = float(f"{median_s / ref_s:.4g}")
        sources[cls] = (f"measured {where}: {median_s * 1e3:.4g} ms / reference "
                        f"{ref_s * 1e3:.4g} ms on {reference['cpu']} ({reference['date']})")
    if base_profile is None and "numba" in measured:
        factors["cnn"] = factors["numba"]
        sources["cnn"] = "[E] no CNN benchmark yet; set to the measured numba factor"
    profile = replace(base, name=name,
                      description=f"{facts['cpu']}, calibrated {facts['date']} "
                                  f"(base: {base.name})",
                      factors=StageFactors(**factors), factors_source=FactorSources(**sources))
    if out_path is not None:
        try:
            Path(out_path).write_text(profile.to_toml(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {out_path}: {exc.strerror}") from None
    return profile


def _base_profile(base: str | Path | None) -> DeviceProfile:
    if base is not None:
        return load_profile(base)
    host = load_profile("host")
    meminfo = Path("/proc/meminfo")
    found = re.search(r"MemTotal:\s*(\d+)", meminfo.read_text()) if meminfo.is_file() else None
    memory_mb = int(found.group(1)) // 1024 if found else host.memory_mb
    return replace(host, cores=os.cpu_count() or host.cores, memory_mb=memory_mb)


# -- command line --------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``edge-vitals calibrate device``."""
    parser.add_argument("--name", help="profile name (default: BASE-measured, or 'measured')")
    parser.add_argument("--base", metavar="PROFILE",
                        help=f"profile giving camera, jitter, thermal and budgets and the "
                             f"unmeasured priors: {', '.join(SHIPPED_PROFILES)} or a .toml "
                             f"path; 'none' = this machine's host profile (default: this "
                             f"board if it is a known Pi, else none)")
    parser.add_argument("--out", type=Path, metavar="PROFILE.toml",
                        help="where to write the profile (default: NAME.toml)")
    parser.add_argument("--repeats", type=int, default=50,
                        help="timed calls per micro-benchmark (default: 50)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of the suite; the smallest median counts (default: 3)")


def main(args: argparse.Namespace) -> int:
    """Run the calibration, print the table and where the profile went; returns 0."""
    base = args.base if args.base not in (None, "none") else None
    if args.base is None:
        base = detect_board()
    name = args.name or (f"{Path(str(base)).stem}-measured" if base else "measured")
    out = check_output_file(args.out or Path(f"{name}.toml"), flag="--out")
    if args.repeats < 1 or args.rounds < 1:
        raise ConfigError(f"--repeats and --rounds must be >= 1; got {args.repeats}, "
                          f"{args.rounds}")
    print(f"calibrating {name} (base: {base or 'this machine'}), "
          f"{args.rounds} x {args.repeats} calls per benchmark, pinned to one core ...",
          flush=True)
    reference = load_host_reference()
    profile = calibrate_device(name=name, base_profile=base, out_path=out,
                               repeats=args.repeats, rounds=args.rounds)
    print(format_table(profile, reference))
    for note in _version_notes(reference):
        print(note)
    print(f"wrote {out}")
    print(f"use it: edge-vitals simulate VIDEO --device {out}")
    return 0


def format_table(profile: DeviceProfile, reference: dict[str, Any]) -> str:
    """Reference vs measured median per class, and the factor written."""
    rows = [f"{'class':<8} {'reference ms':>13} {'measured ms':>12} {'factor':>8}  source"]
    for cls in STAGE_CLASS_NAMES:
        factor = getattr(profile.factors, cls)
        ref_s = reference["median_s"].get(cls)
        source = getattr(profile.factors_source, cls)
        if source.startswith("measured") and ref_s:
            rows.append(f"{cls:<8} {ref_s * 1e3:>13.3f} {factor * ref_s * 1e3:>12.3f} "
                        f"{factor:>8.3g}  measured")
        else:
            rows.append(f"{cls:<8} {'-':>13} {'not measured':>12} {factor:>8.3g}  "
                        f"{source[:60] or 'prior kept'}")
    rows.append(f"reference host: {reference['cpu']} ({reference['date']})")
    return "\n".join(rows)


def _version_notes(reference: dict[str, Any]) -> list[str]:
    here = machine_facts()
    return [f"note: {key} {here[key]} here, {reference.get(key)} on the reference host; "
            f"factors include the version difference"
            for key in ("numpy", "numba", "opencv") if here[key] != reference.get(key)]
