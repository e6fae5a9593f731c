"""Dataset loaders for ``edge-vitals eval``, and writers of simulator datasets in those layouts.

Layouts (``--format``):

- ``ubfc``: UBFC-rPPG (Bobbia et al., Pattern Recognit. Lett. 2017). ``ROOT/subject*/vid.avi``
  with ``ground_truth.txt`` (DATASET_2: line 1 the PPG, line 2 the oximeter's HR, line 3 the
  sample times in s) or ``gtdump.xmp`` (DATASET_1: CSV of time ms, HR, SpO2, PPG).
- ``pure``: PURE (Stricker et al., RO-MAN 2014). ``ROOT/NN-NN/`` holding the frames as
  ``Image<ns>.png`` (directly or in ``NN-NN/NN-NN/``) and ``NN-NN.json`` (beside the folder or
  inside it) with ``/Image`` (frame times, ns) and ``/FullPackage`` (oximeter packets: time ns,
  ``Value.waveform`` PPG, ``Value.pulseRate``).
- ``generic``: a folder of videos plus either ``ground_truth.csv`` with ``subject,heart_rate_bpm``
  (each subject is the leading part of its video file names, followed by ``_``, ``-``, ``.`` or
  the end, as in ``real-skin-dev``: ``india_video12`` -> ``india_video12_forehead.avi``), or per
  video a CSV of a reference pulse, ``<video stem>.csv`` or ``<video stem>.truth.csv`` (what
  ``edge-vitals synth`` writes), with a ``timestamp_s`` column and one of ``ppg``, ``pulse``,
  ``bvp``, ``waveform``, ``signal``. A per-video pulse CSV wins over ``ground_truth.csv``.

Reference heart rate, the same documented method for every dataset (`REFERENCE_METHOD`):
the contact signal is resampled linearly onto a uniform grid at its median rate, cut to the
window, and its heart rate is ``edge.analyze_pulse(...).heart_rate_bpm`` (mean beat interval of
the clean beats, else the spectral peak). The oximeter's own HR column is not used. Where the
dataset gives only a mean HR per recording (generic ``ground_truth.csv``), that value is the
reference of the whole video and of each of its windows. Time zero is the first video frame;
the contact signal's first sample is taken to coincide with it (UBFC, generic) or is placed by
its own clock (PURE: both streams carry nanosecond times).

Writers of world-simulator datasets (for tests and the acceptance check)::

    python -m firmware_sim.datasets make-ubfc OUT --subjects 4 [--seconds 30] [--size 160x120]
    python -m firmware_sim.datasets make-pure OUT ...
    python -m firmware_sim.datasets make-generic OUT [--reference csv|signal] ...
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import edge
from edge.capture.base import SourceBase
from edge.capture.video_file import VideoFileSource, import_cv2
from edge.errors import InputError

__all__ = ["FORMATS", "REFERENCE_METHOD", "ImageFolderSource", "Recording", "Reference",
           "find_recordings", "make_dataset", "subject_worlds"]

FORMATS = ("ubfc", "pure", "generic")
REFERENCE_METHOD = ("edge.analyze_pulse on the contact PPG, linearly resampled to its median "
                    "rate and cut to the window (mean clean-beat interval, else spectral peak)")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm")
SIGNAL_COLUMNS = ("ppg", "pulse", "bvp", "waveform", "signal")
MIN_REFERENCE_S = 6.0
"""Shortest stretch of contact signal `analyze_pulse` accepts."""


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference of one recording: a contact pulse signal or a constant heart rate.

    Attributes
    ----------
    timestamp_s : np.ndarray [shape=(n,)] or None
        Sample times of the contact signal, seconds from the first video frame.
    signal : np.ndarray [shape=(n,)] or None
        The contact pulse (PPG); systolic peaks upwards.
    heart_rate_bpm : float or None
        A constant reference HR (when the dataset gives only that).
    """

    timestamp_s: np.ndarray | None = None
    signal: np.ndarray | None = None
    heart_rate_bpm: float | None = None

    @property
    def kind(self) -> str:
        """``signal`` or ``constant``."""
        return "constant" if self.signal is None else "signal"

    def heart_rate(self, start_s: float, end_s: float) -> float:
        """Reference HR over ``[start_s, end_s]`` in bpm; ``NaN`` when it cannot be derived."""
        if self.signal is None or self.timestamp_s is None:
            return math.nan if self.heart_rate_bpm is None else float(self.heart_rate_bpm)
        t, x = self.timestamp_s, self.signal
        start_s, end_s = max(start_s, float(t[0])), min(end_s, float(t[-1]))
        if end_s - start_s < MIN_REFERENCE_S or t.size < 16:
            return math.nan
        fs = 1.0 / float(np.median(np.diff(t)))
        grid = np.arange(start_s, end_s, 1.0 / fs)
        try:
            result = edge.analyze_pulse(np.interp(grid, t, x), fs=fs)
        except InputError:
            return math.nan
        return math.nan if result.heart_rate_bpm is None else float(result.heart_rate_bpm)


def _signal_reference(t: np.ndarray, x: np.ndarray, source: Path) -> Reference:
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if t.ndim != 1 or t.shape != x.shape or t.size < 2:
        raise InputError(f"{source}: the reference signal and its times must be 1-D and of the "
                         f"same length; got {t.shape} and {x.shape}")
    keep = np.isfinite(t) & np.isfinite(x)
    t, x = t[keep], x[keep]
    order = np.argsort(t, kind="stable")
    t, x = t[order], x[order]
    unique = np.concatenate([[True], np.diff(t) > 0])  # repeated times: keep the first
    t, x = t[unique], x[unique]
    if t.size < 16:
        raise InputError(f"{source}: fewer than 16 usable reference samples")
    return Reference(timestamp_s=t, signal=x)


class ImageFolderSource(SourceBase):
    """Frames stored as image files (PURE), as ``(frame_rgb, timestamp_s)``."""

    def __init__(self, paths: list[Path], timestamps_s: np.ndarray):
        if len(paths) != len(timestamps_s) or not paths:
            raise InputError(f"image sequence needs one timestamp per image; got {len(paths)} "
                             f"images and {len(timestamps_s)} timestamps")
        self.paths, self.timestamps_s = paths, np.asarray(timestamps_s, dtype=np.float64)
        self.frame_count = len(paths)
        span = float(self.timestamps_s[-1] - self.timestamps_s[0])
        self.fps = (len(paths) - 1) / span if span > 0 else None

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        cv2 = import_cv2()
        for path, t in zip(self.paths, self.timestamps_s, strict=True):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError(f"cannot read image {path}")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), float(t)


@dataclass(frozen=True, slots=True)
class Recording:
    """One video of a dataset and where its reference lives (picklable, loads lazily).

    Attributes
    ----------
    name, subject : str
        The recording's name and the subject it belongs to (several videos may share one).
    layout : str
        One of `FORMATS`.
    video : Path
        Video file, or the image folder (PURE).
    reference_path : Path or None
        ``ground_truth.txt``, ``gtdump.xmp``, the PURE JSON or a pulse CSV.
    reference_bpm : float or None
        Constant reference HR (generic ``ground_truth.csv``).
    truth_path : Path or None
        World-simulator truth (``*.truth.csv``) beside the video, when there is one.
    """

    name: str
    subject: str
    layout: str
    video: Path
    reference_path: Path | None = None
    reference_bpm: float | None = None
    truth_path: Path | None = None

    def open(self, *, fps: float | None = None) -> SourceBase:
        """The frames: a `VideoFileSource` or, for PURE, an `ImageFolderSource`."""
        if self.layout == "pure":
            if self.reference_path is None:
                raise InputError(f"{self.video}: a PURE recording needs its JSON file")
            data = _read_json(self.reference_path)
            frame_ns = np.array([_ns(r) for r in _records(data, "/Image", self.reference_path)])
            return ImageFolderSource(_pure_images(self.video, frame_ns), (frame_ns - frame_ns[0])
                                     / 1e9)
        return VideoFileSource(self.video, fps=fps)

    def reference(self) -> Reference:
        """Load the reference (`Reference`); raises `InputError` on a malformed file."""
        path = self.reference_path
        if path is None:
            return Reference(heart_rate_bpm=self.reference_bpm)
        if self.layout == "ubfc":
            return _ubfc_reference(path)
        if self.layout == "pure":
            return _pure_reference(path)
        return _csv_reference(path)


# -- UBFC ---------------------------------------------------------------------------------
def _ubfc_reference(path: Path) -> Reference:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".xmp":  # DATASET_1: time ms, HR, SpO2, PPG
            lines = [line for line in text.splitlines() if line.strip()]
            if not lines:
                raise InputError(f"{path}: empty ground-truth file")
            table = np.loadtxt(lines, delimiter=",", ndmin=2, comments=None)
            with np.errstate(all="ignore"):  # non-finite times are dropped afterwards
                t = (table[:, 0] - table[0, 0]) / 1000.0
            return _signal_reference(t, table[:, 3], path)
        lines = [np.array(line.split(), dtype=np.float64) for line in text.splitlines()
                 if line.strip()]
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path}: not a UBFC ground-truth file ({exc})") from None
    if len(lines) == 1 and lines[0].size % 3 == 0:  # all three rows on one line
        lines = list(lines[0].reshape(3, -1))
    if len(lines) < 3:
        raise InputError(f"{path}: expected 3 lines (PPG, HR, time s); got {len(lines)}")
    ppg, _, t = lines[:3]
    with np.errstate(all="ignore"):  # non-finite times are dropped afterwards
        t = t - t[0] if t.size else t
    return _signal_reference(t, ppg, path)


def _ubfc_recordings(root: Path) -> list[Recording]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        gt = next((folder / n for n in ("ground_truth.txt", "gtdump.xmp")
                   if (folder / n).is_file()), None)
        if not videos or gt is None:
            continue
        video = folder / "vid.avi" if (folder / "vid.avi").is_file() else videos[0]
        out.append(Recording(folder.name, folder.name, "ubfc", video, reference_path=gt,
                             truth_path=_truth_beside(video)))
    return out


# -- PURE ---------------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object with /Image and /FullPackage")
    return data


def _records(data: dict, key: str, path: Path) -> list:
    records = data.get(key)
    if not isinstance(records, list) or not records:
        raise InputError(f"{path}: no {key} records")
    return records


def _ns(record: object) -> int:
    if not isinstance(record, dict) or not isinstance(record.get("Timestamp"), int | float):
        raise InputError(f"PURE record without a numeric Timestamp: {str(record)[:80]}")
    return int(record["Timestamp"])


def _pure_reference(path: Path) -> Reference:
    data = _read_json(path)
    start_ns = _ns(_records(data, "/Image", path)[0])
    package = _records(data, "/FullPackage", path)
    try:
        t = np.array([(_ns(r) - start_ns) / 1e9 for r in package])
        x = np.array([float(r["Value"]["waveform"]) for r in package])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: /FullPackage records need Value.waveform ({exc})") from None
    return _signal_reference(t, x, path)


def _pure_images(folder: Path, frame_ns: np.ndarray) -> list[Path]:
    named = [folder / f"Image{int(ns)}.png" for ns in frame_ns]
    if all(p.is_file() for p in named):
        return named
    found = sorted(folder.glob("*.png"))
    if len(found) != len(frame_ns):
        raise InputError(f"{folder}: {len(found)} PNG images but {len(frame_ns)} /Image records")
    return found


def _pure_recordings(root: Path) -> list[Recording]:
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(
            r"\d+-\d+", p.name)):
        name = folder.name
        images = folder / name if (folder / name).is_dir() else folder
        meta = next((p for p in (folder / f"{name}.json", root / f"{name}.json") if p.is_file()),
                    None)
        if meta is None or not any(images.glob("*.png")):
            continue
        out.append(Recording(name, name.split("-")[0], "pure", images, reference_path=meta))
    return out


# -- generic ------------------------------------------------------------------------------
def _csv_reference(path: Path) -> Reference:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    columns = {c.strip().lower(): c for c in (rows[0].keys() if rows else []) if c}
    value = next((columns[c] for c in SIGNAL_COLUMNS if c in columns), None)
    if "timestamp_s" not in columns or value is None:
        raise InputError(f"{path}: a reference pulse CSV needs a timestamp_s column and one of "
                         f"{', '.join(SIGNAL_COLUMNS)}; got {sorted(columns)}")
    try:
        t = np.array([float(r[columns["timestamp_s"]]) for r in rows])
        x = np.array([float(r[value]) for r in rows])
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: non-numeric value ({exc})") from None
    return _signal_reference(t, x, path)


def _read_ground_truth_csv(path: Path) -> dict[str, float]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        truth = {r["subject"].strip(): float(r["heart_rate_bpm"]) for r in rows}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: needs the columns subject,heart_rate_bpm with a number per "
                         f"row ({exc!r})") from None
    bad = [s for s, v in truth.items() if not (math.isfinite(v) and 20 <= v <= 300)]
    if bad:
        raise InputError(f"{path}: heart_rate_bpm must be 20-300 bpm; check {', '.join(bad)}")
    return truth


def subject_of(stem: str, subjects: list[str]) -> str | None:
    """The longest subject that `stem` starts with, followed by ``_ - .`` or the end."""
    for subject in sorted(subjects, key=len, reverse=True):
        rest = stem[len(subject):]
        if stem.startswith(subject) and (not rest or rest[0] in "_-. "):
            return subject
    return None


def _generic_recordings(root: Path) -> list[Recording]:
    gt_path = root / "ground_truth.csv"
    truth = _read_ground_truth_csv(gt_path) if gt_path.is_file() else {}
    out = []
    for video in sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
        pulse_csv = next((p for p in (video.with_suffix(".csv"),
                                      video.with_name(f"{video.stem}.truth.csv")) if p.is_file()),
                         None)
        subject = subject_of(video.stem, list(truth))
        if pulse_csv is not None:
            out.append(Recording(video.stem, subject or video.stem, "generic", video,
                                 reference_path=pulse_csv, truth_path=_truth_beside(video)))
        elif subject is not None:
            out.append(Recording(video.stem, subject, "generic", video,
                                 reference_bpm=truth[subject], truth_path=_truth_beside(video)))
    return out


def _truth_beside(video: Path) -> Path | None:
    path = video.with_name(f"{video.stem}.truth.csv")
    return path if path.is_file() else None


def find_recordings(root: str | Path, layout: str) -> list[Recording]:
    """Every recording of the dataset at `root` in `layout` (one of `FORMATS`).

    Raises
    ------
    InputError
        Unknown layout, missing folder, or no recording with a reference in it.
    """
    if layout not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}; got {layout!r}")
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset folder not found: {root}")
    finder = {"ubfc": _ubfc_recordings, "pure": _pure_recordings,
              "generic": _generic_recordings}[layout]
    found = finder(root)
    if not found:
        expected = {
            "ubfc": "subject*/vid.avi with ground_truth.txt",
            "pure": "NN-NN/ image folders with NN-NN.json",
            "generic": "videos with ground_truth.csv (subject,heart_rate_bpm) or <video>.csv",
        }[layout]
        raise InputError(f"no {layout} recordings in {root} (expected {expected})")
    return found


# -- writers of simulator datasets --------------------------------------------------------
def subject_worlds(n: int, *, seconds: float = 30.0, width: int = 160, height: int = 120,
                   fps: float = 30.0, seed: int = 0, **world: object) -> list:
    """`n` world-simulator subjects: heart rates spread over 55-125 bpm, still, two skin tones.

    Extra keyword arguments are `WorldConfig` fields (e.g. ``pulse_amplitude``).
    """
    from firmware_sim.world import WorldConfig

    base = WorldConfig(width=width, height=height, fps=fps, duration_s=seconds, **world)
    rates = np.linspace(55.0, 125.0, n) if n > 1 else np.array([72.0])
    return [dataclasses.replace(base, heart_rate_bpm=float(hr), seed=seed + i,
                                skin_tone=("light", "medium")[i % 2])
            for i, hr in enumerate(rates)]


def _write_ubfc(out: Path, index: int, world: object) -> None:
    from firmware_sim.world import make_clip, write_clip

    clip = make_clip(world)
    folder = out / f"subject{index + 1}"
    folder.mkdir(parents=True, exist_ok=True)
    write_clip(clip, folder / "vid.avi")
    truth = clip.truth
    with open(folder / "ground_truth.txt", "w", encoding="utf-8") as f:
        for row in (truth.pulse, truth.heart_rate_bpm, truth.timestamp_s - truth.timestamp_s[0]):
            f.write(" ".join(f"{v:.7e}" for v in row) + "\n")


def _write_pure(out: Path, index: int, world: object, *, ppg_hz: float = 60.0) -> None:
    from firmware_sim.world import make_clip

    cv2 = import_cv2()
    clip = make_clip(world)
    name = f"{index + 1:02d}-01"
    images = out / name / name
    images.mkdir(parents=True, exist_ok=True)
    start_ns = 1_400_000_000_000_000_000 + index * 10**12
    frame_ns = []
    for frame, t in clip.frames():
        ns = start_ns + round(t * 1e9)
        frame_ns.append(ns)
        cv2.imwrite(str(images / f"Image{ns}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    truth = clip.truth
    t_ppg = np.arange(0.0, truth.timestamp_s[-1], 1.0 / ppg_hz)
    wave = np.interp(t_ppg, truth.timestamp_s, truth.pulse)
    hr = np.interp(t_ppg, truth.timestamp_s, truth.heart_rate_bpm)
    package = [{"Timestamp": start_ns + round(t * 1e9),
                "Value": {"pulseRate": round(h), "o2saturation": 98, "signalStrength": 4,
                          "waveform": round(float(w) * 100 + 100)}}
               for t, w, h in zip(t_ppg, wave, hr, strict=True)]
    data = {"/FullPackage": package, "/Image": [{"Timestamp": ns} for ns in frame_ns]}
    (out / name / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def _write_generic(out: Path, index: int, world: object, *, reference: str = "csv") -> None:
    from firmware_sim.world import make_clip, write_clip

    clip = make_clip(world)
    subject = f"sim{index + 1:02d}"
    out.mkdir(parents=True, exist_ok=True)
    path = write_clip(clip, out / f"{subject}_face.avi")
    if reference == "csv":
        truth_csv = path.with_name(f"{path.stem}.truth.csv")
        truth_csv.rename(path.with_name(f"{path.stem}.sim-truth.csv"))  # not a pulse reference
        mean = clip.truth.mean_heart_rate_bpm(0.0, float(clip.truth.timestamp_s[-1]))
        gt = out / "ground_truth.csv"
        new = not gt.is_file()
        with open(gt, "a", encoding="utf-8") as f:
            f.write("subject,heart_rate_bpm\n" if new else "")
            f.write(f"{subject},{mean:.2f}\n")


WRITERS = {"ubfc": _write_ubfc, "pure": _write_pure, "generic": _write_generic}


def make_dataset(out: str | Path, layout: str, *, subjects: int = 4, seconds: float = 30.0,
                 width: int = 160, height: int = 120, fps: float = 30.0, seed: int = 0,
                 reference: str = "csv", **world: object) -> list:
    """Write a world-simulator dataset in `layout`; returns the subjects' `WorldConfig` s.

    ``generic`` with ``reference="csv"`` writes ``ground_truth.csv`` (each clip's mean true
    HR); with ``"signal"`` it keeps each clip's ``.truth.csv`` (a per-video pulse CSV).
    Extra keyword arguments are `WorldConfig` fields for every subject.
    """
    if layout not in WRITERS:
        raise InputError(f"layout must be one of {', '.join(WRITERS)}; got {layout!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    worlds = subject_worlds(subjects, seconds=seconds, width=width, height=height, fps=fps,
                            seed=seed, **world)
    for i, world in enumerate(worlds):
        if layout == "generic":
            _write_generic(out, i, world, reference=reference)
        else:
            WRITERS[layout](out, i, world)
    return worlds


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware_sim.datasets make-ubfc|make-pure|make-generic OUT ...``."""
    parser = argparse.ArgumentParser(description="write a world-simulator dataset")
    parser.add_argument("command", choices=[f"make-{k}" for k in WRITERS])
    parser.add_argument("out", type=Path)
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="160x120", help="WxH (default 160x120)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", choices=("csv", "signal"), default="csv",
                        help="generic only: ground_truth.csv or per-video pulse CSVs")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        worlds = make_dataset(args.out, args.command.removeprefix("make-"),
                              subjects=args.subjects, seconds=args.seconds, width=width,
                              height=height, fps=args.fps, seed=args.seed,
                              reference=args.reference)
    except (InputError, ValueError, edge.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    hrs = ", ".join(f"{w.heart_rate_bpm:.0f}" for w in worlds)
    print(f"wrote {len(worlds)} subjects ({hrs} bpm) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
